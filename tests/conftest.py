"""Shared fixtures: a real sandcheck server on loopback, real nsjail, real gRPC."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox_server.jail.cgroups import instance_name
from sandbox_server.jail.runtime import default_python

from sandcheck import Client

# The jail's runtime, as the servers under test pick it (any CPython >= 3.10 works).
JAIL_PYTHON = os.environ.get("SANDCHECK_INTERPRETER") or default_python()
REPO = Path(__file__).resolve().parent.parent
CGROUP_ROOTS = [Path("/sys/fs/cgroup") / c / "sandcheck" for c in ("memory", "pids", "cpuacct")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningServer:
    """A `sandcheck serve` subprocess on a loopback port: one server process
    unless `extra` says --processes, so tests can find its cgroups by its pid.
    With `http`, also its HTTP door on a port of its own, at `url`."""

    def __init__(self, *extra: str, port: int | None = None, host: str = "127.0.0.1", token: str | None = None,
                 http: bool = False) -> None:
        self.port = port or free_port()
        self.target = f"{host}:{self.port}"
        self.http_port = free_port() if http else 0
        self.url = f"http://{host}:{self.http_port}" if http else ""
        if http:
            extra = ("--http-listen", f"{host}:{self.http_port}", *extra)
        self.log = open(f"/tmp/sandcheck-test-server-{host}-{self.port}.log", "w+b")
        processes = () if "--processes" in extra else ("--processes", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sandbox_server", "--listen", self.target, *processes, *extra],
            stdout=self.log, stderr=self.log, start_new_session=True,
        )
        with Client(self.target, token=token) as c:  # a server started with --token-file needs one
            deadline = time.monotonic() + 60
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.output()}")
                try:
                    c.wait_ready(timeout=1)
                    c.info()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGUSR1)  # its threads' stacks, into its log
                time.sleep(2)
                self.proc.kill()
                self.proc.wait()
                sys.stderr.write(f"server {self.target} did not stop within 60 s of SIGTERM; its log ends:\n"
                                 f"{self.output()[-20000:]}\n")
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)
        return self.proc.returncode


@contextlib.contextmanager
def serving(*extra: str, timeout: float = 120) -> Iterator[Client]:
    """A client of its own `RunningServer` (started with `extra`), which must stop cleanly after."""
    server = RunningServer(*extra)
    try:
        with Client(server.target, timeout=timeout) as c:
            yield c
    finally:
        assert server.stop() == 0


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    s = RunningServer()
    yield s
    assert s.stop() == 0
    # The server removed its cgroup subtree on a clean stop.
    for root in CGROUP_ROOTS:
        assert not list(root.glob(f"server-*-{s.proc.pid}"))


@pytest.fixture()
def client(server: RunningServer) -> Iterator[Client]:
    with Client(server.target, timeout=120) as c:
        yield c


def jail_processes(server_pid: int) -> list[int]:
    """Processes still in the server's jail cgroups (there should be none between runs)."""
    base = Path("/sys/fs/cgroup/pids/sandcheck") / instance_name(server_pid)
    pids: list[int] = []
    for slot in base.glob("slot-*"):
        pids += [int(p) for p in (slot / "cgroup.procs").read_text().split()]
    return pids
