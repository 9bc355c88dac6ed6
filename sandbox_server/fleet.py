"""Several server processes, each owning part of the slots, behind one address.

One Python process serving gRPC and supervising jails tops out near 500
checks/s whatever the host (the GIL), so a server with many cores runs N
worker processes, each a whole `Server` with its own gRPC front end,
executor, cgroup subtree and outside uids. The parent only starts them,
restarts one that dies, forwards SIGTERM/SIGINT and reports ready once all
are; it never touches requests.

Where the workers listen, from `--listen`:
- HOST:PORT: all on the same port (SO_REUSEPORT); the kernel spreads
  connections across them, so a client should open several connections.
- unix:PATH: worker 0 on PATH, worker i on PATH.i; ServerInfo's `endpoints`
  lists them all, and the SDK's dispatcher uses every one.

Every check still gets exactly one result: a worker that dies breaks its
clients' streams, and the SDK resends what it had not answered.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time

from .config import ServerConfig
from .executor import StartupError, preflight
from .jail.cgroups import CgroupError, CgroupV2Tree, open_tree

log = logging.getLogger("sandcheck.server")

_START_TIMEOUT_S = 120.0
_RESTART_BACKOFF_S = (0.5, 30.0)


def worker_addresses(listen: str, processes: int) -> list[str]:
    """Where each worker listens (see the module docstring)."""
    if listen.startswith("unix:"):
        return [listen if i == 0 else f"{listen}.{i}" for i in range(processes)]
    return [listen] * processes


def split_slots(concurrency: int, processes: int) -> list[int]:
    """Slots per worker: as even as possible, each at least one."""
    processes = max(1, min(processes, concurrency))
    return [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]


class Fleet:
    """The parent of N worker servers."""

    def __init__(self, config: ServerConfig, worker_argv: list[str]) -> None:
        self.config = config
        self.slots = split_slots(config.effective_concurrency(), config.effective_processes())
        self.addresses = worker_addresses(config.listen, len(self.slots))
        self.worker_argv = worker_argv  # the parent's own flags, passed on
        self.procs: list[subprocess.Popen | None] = [None] * len(self.slots)
        self.runtime_file = ""

    def _argv(self, i: int, ready_w: int) -> list[str]:
        argv = [sys.executable, "-m", "sandbox_server", *self.worker_argv, "--fleet-worker", ",".join(self.addresses),
                "--fleet-runtime", self.runtime_file,
                "--processes", "1", "--concurrency", str(self.slots[i]), "--listen", self.addresses[i],
                "--exit-with-parent", "--ready-fd", str(ready_w)]
        if self.config.metrics_listen:
            host, _, port = self.config.metrics_listen.rpartition(":")
            argv += ["--metrics-listen", f"{host}:{int(port) + i}"]
        return argv

    def _spawn(self, i: int) -> int:
        """Start worker i; return the read end of its ready pipe."""
        ready_r, ready_w = os.pipe()
        try:
            # Each worker's slots run as outside uids of their own.
            env = dict(os.environ, SANDCHECK_UID_BASE=str(self.config.uid_base + sum(self.slots[:i])))
            self.procs[i] = subprocess.Popen(self._argv(i, ready_w), stdin=subprocess.DEVNULL,
                                             pass_fds=(ready_w,), env=env)
        finally:
            os.close(ready_w)
        return ready_r

    def start(self) -> bool:
        """Start every worker; False (all stopped again) if one could not start."""
        tree = open_tree(self.config.cgroup_root)
        try:
            runtime = preflight(self.config)  # what every worker would refuse on, said once
            # Probed once for all workers (it runs ldd over the interpreter's modules).
            fd, self.runtime_file = tempfile.mkstemp(prefix="sandcheck-runtime-", suffix=".json")
            with os.fdopen(fd, "w") as f:
                f.write(runtime.to_json())
            if isinstance(tree, CgroupV2Tree):
                # Delegate once, before the workers race to do it (they find it done).
                tree.delegate()
        except (StartupError, CgroupError) as exc:
            prefix = "cgroups: " if isinstance(exc, CgroupError) else ""
            print(f"sandcheck serve: cannot start: {prefix}{exc}", file=sys.stderr)
            return False
        sel = selectors.DefaultSelector()
        for i in range(len(self.slots)):
            try:
                sel.register(self._spawn(i), selectors.EVENT_READ, i)
            except OSError as exc:
                print(f"sandcheck serve: cannot start: cannot run a server process ({exc})", file=sys.stderr)
                self.stop()
                return False
        waiting = set(range(len(self.slots)))
        deadline = time.monotonic() + _START_TIMEOUT_S
        while waiting and time.monotonic() < deadline:
            for key, _ in sel.select(0.5):
                if os.read(key.fd, 64).startswith(b"ready"):
                    waiting.discard(key.data)
                sel.unregister(key.fd)
                os.close(key.fd)
            if any(self.procs[i].poll() is not None for i in waiting):
                break
        for key in list(sel.get_map().values()):
            os.close(key.fd)
        sel.close()
        if waiting:
            self.stop()  # the worker printed why it could not start
            return False
        return True

    def watch(self, stop: threading.Event) -> None:
        """Restart workers that die, until `stop` is set."""
        failures = [0] * len(self.procs)
        while not stop.wait(0.5):
            for i, proc in enumerate(self.procs):
                if proc is None or proc.poll() is None:
                    continue
                failures[i] += 1
                delay = min(_RESTART_BACKOFF_S[1], _RESTART_BACKOFF_S[0] * 2 ** (failures[i] - 1))
                log.warning("worker %d exited with %s; restarting in %.1f s", i, proc.returncode, delay)
                if stop.wait(delay):
                    return
                ready_r = self._spawn(i)
                sel = selectors.DefaultSelector()
                sel.register(ready_r, selectors.EVENT_READ)
                if sel.select(_START_TIMEOUT_S):
                    os.read(ready_r, 64)
                    failures[i] = 0
                sel.close()
                os.close(ready_r)

    def stop(self) -> None:
        if self.runtime_file:
            os.unlink(self.runtime_file)
            self.runtime_file = ""
        for proc in self.procs:
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            if proc is not None:
                try:
                    proc.wait(timeout=self.config.max_limits.wall_time_ms / 1000 + 30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
