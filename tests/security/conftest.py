"""Fixtures for the hostile-program suite: run, then prove nothing was left behind."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from sandbox_server.jail.cgroups import instance_name

from sandcheck import Client, Limits

from ..conftest import REPO, RunningServer, jail_processes

# Set before the session server starts (conftests load at collection), so the
# server inherits it: no jailed program may ever see it.
SECRET = "sandcheck-test-secret-" + os.urandom(8).hex()
os.environ["SANDCHECK_TEST_SECRET"] = SECRET

FAST = Limits(cpu_time_ms=1000, wall_time_ms=2000, memory_bytes=256 * 1024 * 1024)

# Host paths a program may try to create; none may exist after any run.
HOST_MARKERS = [Path(p) for p in ("/tmp/sandcheck-pwned", "/sandcheck-pwned", "/root/sandcheck-pwned",
                                  str(REPO / "sandcheck-pwned"))]


def leftover_processes(server_pid: int) -> list[int]:
    """Processes in the server's jail cgroups (at any depth) other than a jail's own init.

    A cold jail leaves nothing between runs; a warm jail keeps only its
    zygote, which is PID 1 of its pid namespace, and after a judged check
    (the isolated judge's) the zygote's warm judge process: its child, with
    every signal blocked, one per jail (the server recycles a jail that holds
    any other). A slot's warm javac (javac_service.py) is one JVM, the child
    of its compile jail's init, alone in a cgroup `javac-N`. Anything else is
    a program's leftover.
    """
    base = Path("/sys/fs/cgroup/pids/sandcheck") / instance_name(server_pid)
    left = []
    for f in base.rglob("cgroup.procs"):
        pids = [int(p) for p in f.read_text().split() if _ns_pid(int(p)) != 1]
        if f.parent.name.startswith("javac-") and len(pids) == 1 and _is_javac_service(pids[0]):
            continue
        left += pids
    judges = [p for p in left if _is_judge_process(p)]
    by_jail = [_status(p).get("PPid") for p in judges]
    return [p for p in left if p not in judges] + ([] if len(by_jail) == len(set(by_jail)) else judges)


def _is_javac_service(pid: int) -> bool:
    parent = _status(pid).get("PPid", "").strip()
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(parent) and _ns_pid(int(parent)) == 1 and b"JavacService" in argv


def _status(pid: int) -> dict[str, str]:
    try:
        return dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                    if ":\t" in line)
    except OSError:
        return {}


def _is_judge_process(pid: int) -> bool:
    status = _status(pid)
    blocked = int(status.get("SigBlk", "0"), 16)
    parent = status.get("PPid", "").strip()
    return bool(parent) and _ns_pid(int(parent)) == 1 and all(
        blocked >> (sig - 1) & 1 for sig in (1, 2, 10, 12, 14, 15))


def _ns_pid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except OSError:
        return None  # gone meanwhile
    return None


def assert_clean(server: RunningServer) -> None:
    """No program process left in the server's jail cgroups, no marker files."""
    deadline = time.monotonic() + 10
    while leftover_processes(server.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leftover_processes(server.proc.pid) == []
    # at most one live jail (its init) per slot
    assert len([p for p in jail_processes(server.proc.pid)]) <= 2 * max(1, os.cpu_count() or 1)
    for marker in HOST_MARKERS:
        assert not marker.exists(), marker
    # The server's private dir holds only its nsjail configs (Python's, and each language's compile and run).
    workdirs = [d for d in Path("/tmp").glob("sandcheck.server-*") if _owned_by(d, server.proc.pid)]
    for d in workdirs:
        assert "nsjail.cfg" in {p.name for p in d.iterdir()}
        assert all(re.fullmatch(r"nsjail(-[a-z_]+-(compile|run))?\.cfg", p.name) for p in d.iterdir())


def _owned_by(d: Path, pid: int) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(str(d)) for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def assert_serves(client: Client) -> None:
    r = client.execute("print(6 * 7)", limits=FAST)
    assert (r.status, r.stdout) == ("OK", b"42\n")
    assert client.info()["concurrency"] >= 1


@pytest.fixture()
def hostile(server: RunningServer, client: Client):
    """The client, and afterwards: nothing left behind, the server still serves."""
    assert server.proc.poll() is None
    yield client
    assert server.proc.poll() is None, server.output()[-2000:]
    assert_clean(server)
    assert_serves(client)


@pytest.fixture(scope="session", params=["default", "cold"])
def server(request, server: RunningServer):
    """Every hostile program runs twice: on the session server (default jail mode,
    warm jails), and on a server with one cold jail per execution."""
    if request.param == "default":
        yield server
        return
    cold = RunningServer("--jail-mode", "cold")
    yield cold
    assert cold.stop() == 0
    for ctrl in ("memory", "pids", "cpuacct"):
        assert not list((Path("/sys/fs/cgroup") / ctrl / "sandcheck").glob(f"server-*-{cold.proc.pid}"))
