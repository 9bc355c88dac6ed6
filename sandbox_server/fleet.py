"""Several server processes, each owning part of the slots, behind one address.

One Python process serving gRPC and supervising jails tops out near 500
checks/s whatever the host (the GIL), so a server with many cores runs N
worker processes, each a whole `Server` with its own gRPC front end,
executor, cgroup subtree and outside uids. The parent checks the host once
(root, nsjail, the runtime, cgroup delegation), then forks the workers: they
start with everything imported and probed, so a fleet is ready about as
soon as one server would be. Afterwards the parent only restarts a worker
that dies, forwards SIGTERM/SIGINT and reports ready once all are; it never
touches requests (and never creates a gRPC object, so forking is safe).

Where the workers listen, from `--listen`:
- HOST:PORT: all on the same port (SO_REUSEPORT); the kernel spreads
  connections across them, so a client should open several connections.
- unix:PATH: worker 0 on PATH, worker i on PATH.i; ServerInfo's `endpoints`
  lists them all, and the SDK's dispatcher uses every one.

Every check still gets exactly one result: a worker that dies breaks its
clients' streams, and the SDK resends what it had not answered.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import selectors
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable

from .config import ServerConfig
from .executor import StartupError, preflight, sweep_workdirs
from .jail.cgroups import CgroupError, CgroupV2Tree, MissingCgroups, open_tree
from .jail.runtime import Runtime

log = logging.getLogger("sandcheck.server")

_START_TIMEOUT_S = 120.0
_RESTART_BACKOFF_S = (0.5, 30.0)

# Runs one worker in the forked child: (its index, its config, the runtime,
# every worker's address, its ready fd) -> exit status.
RunWorker = Callable[[int, ServerConfig, Runtime, list[str], int], int]


def worker_addresses(listen: str, processes: int) -> list[str]:
    """Where each worker listens (see the module docstring)."""
    if listen.startswith("unix:"):
        return [listen if i == 0 else f"{listen}.{i}" for i in range(processes)]
    return [listen] * processes


def split_slots(concurrency: int, processes: int) -> list[int]:
    """Slots per worker: as even as possible, each at least one."""
    processes = max(1, min(processes, concurrency))
    return [concurrency // processes + (1 if i < concurrency % processes else 0) for i in range(processes)]


class Worker:
    """A forked worker process, as the parent sees it."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> bool:
        """True if it ended within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


class Fleet:
    """The parent of N worker servers."""

    def __init__(self, config: ServerConfig, run_worker: RunWorker) -> None:
        self.config = config
        self.slots = split_slots(config.effective_concurrency(), config.effective_processes())
        self.addresses = worker_addresses(config.listen, len(self.slots))
        self.run_worker = run_worker
        self.workers: list[Worker | None] = [None] * len(self.slots)
        self.metrics_ports: list[int | None] = [None] * len(self.slots)
        self.runtime: Runtime | None = None
        self.failure = ""  # the first reason a worker gave for not starting ('failed REASON')

    def _config(self, i: int) -> ServerConfig:
        """Worker i's share: its slots, its address, outside uids of its own, and its metrics
        on an ephemeral loopback port (fleet_metrics.py serves them all on the configured one)."""
        metrics = "127.0.0.1:0" if self.config.metrics_listen else ""
        return dataclasses.replace(self.config, concurrency=self.slots[i], processes=1, listen=self.addresses[i],
                                   uid_base=self.config.uid_base + sum(self.slots[:i]), metrics_listen=metrics)

    def _read_ready(self, i: int, fd: int) -> bool:
        """Worker i's 'ready ADDR [metrics=PORT]' line; True if it said ready.
        A worker that cannot start says 'failed REASON' instead (server.py)."""
        text = os.read(fd, 4096).decode(errors="replace")
        if text.startswith("failed "):
            self.failure = self.failure or text[len("failed "):].strip()
            return False
        words = text.split()
        for word in words[2:]:
            if word.startswith("metrics="):
                self.metrics_ports[i] = int(word[len("metrics="):])
        return bool(words) and words[0] == "ready"

    def _spawn(self, i: int) -> int:
        """Fork worker i; return the read end of its ready pipe."""
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                # The parent's handlers only set its own stop flag: until the worker's
                # server installs its own, SIGTERM and SIGINT must simply end it.
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                os.close(ready_r)
                code = self.run_worker(i, self._config(i), self.runtime, self.addresses, ready_w)
            except BaseException as exc:  # never return into the parent's code
                sys.stderr.write(f"sandcheck serve: worker {i}: {exc!r}\n")  # one write: workers share stderr
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(ready_w)
        self.workers[i] = Worker(pid)
        return ready_r

    def start(self) -> bool:
        """Start every worker; False (all stopped again) if one could not start."""
        tree = open_tree(self.config.cgroup_root)
        try:
            self.runtime = preflight(self.config)  # what every worker would refuse on, said once
            if isinstance(tree, CgroupV2Tree):
                tree.delegate()  # once, before the workers race to do it (they find it done)
        except (StartupError, CgroupError) as exc:
            prefix = "cgroups: " if isinstance(exc, CgroupError) else ""
            print(f"sandcheck serve: cannot start: {prefix}{exc}", file=sys.stderr)
            return False
        if self._spawn_and_wait(range(len(self.slots))) != set(range(len(self.slots))):
            # Once, for all: workers that fail together fail alike.
            why = self.failure or f"a worker was not ready within {_START_TIMEOUT_S:.0f} s, or ended without a reason"
            sys.stderr.write(f"sandcheck serve: cannot start: {why}\n")
            self.stop()
            return False
        return True

    def _spawn_and_wait(self, indices: Iterable[int], stop: threading.Event | None = None) -> set[int]:
        """Fork workers `indices`; return those that said ready, waiting until all have,
        one has died, `stop` is set, or _START_TIMEOUT_S has passed."""
        sel = selectors.DefaultSelector()
        for i in indices:
            self.metrics_ports[i] = None
            sel.register(self._spawn(i), selectors.EVENT_READ, i)
        ready: set[int] = set()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while sel.get_map() and time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            for key, _ in sel.select(0.5):
                if self._read_ready(key.data, key.fd):
                    ready.add(key.data)
                sel.unregister(key.fd)
                os.close(key.fd)
            if any(self.workers[key.data].poll() is not None for key in sel.get_map().values()):
                break
        for key in list(sel.get_map().values()):
            os.close(key.fd)
        sel.close()
        return ready

    def watch(self, stop: threading.Event) -> None:
        """Restart workers that die, until `stop` is set. Call it on the main thread:
        forking from another thread could copy a lock that thread holds."""
        failures = [0] * len(self.workers)
        while not stop.wait(0.5):
            for i, worker in enumerate(self.workers):
                if worker is None or worker.poll() is None:
                    continue
                failures[i] += 1
                delay = min(_RESTART_BACKOFF_S[1], _RESTART_BACKOFF_S[0] * 2 ** (failures[i] - 1))
                log.warning("worker %d exited with %s; restarting in %.1f s", i, worker.returncode, delay)
                if stop.wait(delay):
                    return
                self.failure = ""
                if self._spawn_and_wait([i], stop):
                    failures[i] = 0
                elif self.failure:
                    log.warning("worker %d cannot start again: %s", i, self.failure)

    def stop(self) -> None:
        for worker in self.workers:
            if worker is not None:
                worker.signal(signal.SIGTERM)
        for worker in self.workers:
            if worker is not None and not worker.wait(self.config.max_limits.wall_time_ms / 1000 + 30):
                worker.signal(signal.SIGKILL)
                worker.wait(30)
        self._sweep()

    def _sweep(self) -> None:
        """Remove what workers that ended without cleaning up left: a worker stopped
        while it starts (another one failed to) ends at once, its slots' cgroups and
        private dirs still there. The next start would sweep them; a failed start must
        leave nothing behind."""
        tree = open_tree(self.config.cgroup_root)
        try:
            if not isinstance(tree, MissingCgroups):
                tree.sweep()
            sweep_workdirs()
        except OSError as exc:
            log.warning("cannot remove what stopped workers left: %s (the next start removes it)", exc)
