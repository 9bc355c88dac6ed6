"""Per-execution cgroups owned by the supervisor (cgroup v1).

The supervisor, not nsjail, owns the cgroups: it moves the jail's init into
them before the program starts, so it can read what nsjail deletes with its
own cgroups (OOM kills, peak memory, CPU time) and tell a timeout from an OOM
kill, which both end with SIGKILL.

Layout: /sys/fs/cgroup/<controller>/<root>/<instance>/<slot>. One slot is a
concurrency slot, reused from run to run (creating a memory cgroup is slow).
A restarted server removes the instances its killed predecessors left.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_V1 = Path("/sys/fs/cgroup")
CONTROLLERS = ("memory", "pids", "cpuacct")


class CgroupError(Exception):
    """cgroups cannot be created or used: the server must not start."""


@dataclass
class Usage:
    """What one run used, read from its cgroups after it ended."""

    cpu_ns: int
    peak_memory_bytes: int
    oom_kills: int
    pids_limit_hits: int


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read_int(path: Path) -> int:
    return int(path.read_text().split()[0])


def _read_field(path: Path, key: str) -> int:
    for line in path.read_text().splitlines():
        k, _, v = line.partition(" ")
        if k == key:
            return int(v)
    return 0


class CgroupSlot:
    """The memory, pids and cpuacct cgroups of one concurrency slot."""

    def __init__(self, base: dict[str, Path], name: str) -> None:
        self.dirs = {c: base[c] / name for c in CONTROLLERS}
        for d in self.dirs.values():
            d.mkdir(exist_ok=True)
        mem = self.dirs["memory"]
        # No swap on a jail: memory over the limit is an OOM kill, not swapping.
        _try_write(mem / "memory.swappiness", "0")
        self._oom_base = 0
        self._pids_base = 0

    def prepare(self, memory_bytes: int, max_tasks: int) -> None:
        """Set limits and reset counters before a run."""
        mem = self.dirs["memory"]
        self.kill_all()
        memsw = mem / "memory.memsw.limit_in_bytes"
        # memsw (memory+swap) may never be below the memory limit: raise it
        # first when raising, lower it last when lowering.
        if memsw.exists():
            _try_write(memsw, str(memory_bytes))
        _write(mem / "memory.limit_in_bytes", str(memory_bytes))
        if memsw.exists():
            _write(memsw, str(memory_bytes))
        _try_write(mem / "memory.max_usage_in_bytes", "0")
        _write(self.dirs["pids"] / "pids.max", str(max_tasks))
        _write(self.dirs["cpuacct"] / "cpuacct.usage", "0")
        self._oom_base = _read_field(mem / "memory.oom_control", "oom_kill")
        self._pids_base = _read_field(self.dirs["pids"] / "pids.events", "max")

    def attach(self, pid: int) -> None:
        """Move `pid` (and so every process it later creates) into this slot."""
        for d in self.dirs.values():
            _write(d / "cgroup.procs", str(pid))

    def cpu_ns(self) -> int:
        return _read_int(self.dirs["cpuacct"] / "cpuacct.usage")

    def usage(self) -> Usage:
        mem = self.dirs["memory"]
        return Usage(
            cpu_ns=self.cpu_ns(),
            peak_memory_bytes=_read_int(mem / "memory.max_usage_in_bytes"),
            oom_kills=_read_field(mem / "memory.oom_control", "oom_kill") - self._oom_base,
            pids_limit_hits=_read_field(self.dirs["pids"] / "pids.events", "max") - self._pids_base,
        )

    def pids(self) -> list[int]:
        text = (self.dirs["pids"] / "cgroup.procs").read_text()
        return [int(p) for p in text.split()]

    def kill_all(self, timeout: float = 5.0) -> bool:
        """SIGKILL everything in the slot until it is empty; True when it is."""
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return True
            if time.monotonic() > deadline:
                return False
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.002)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs.values():
            _rmdir(d)


class CgroupTree:
    """The server instance's cgroup subtree, with one `CgroupSlot` per slot."""

    def __init__(self, root: str = "sandcheck", mount: Path = CGROUP_V1) -> None:
        self.mount = mount
        self.root = root
        self.instance = f"server-{os.getpid()}"
        self.base: dict[str, Path] = {}

    def create(self) -> None:
        """Create the subtree, after sweeping instances left by killed servers."""
        for c in CONTROLLERS:
            ctrl = self.mount / c
            if not ctrl.is_dir():
                raise CgroupError(f"cgroup v1 controller '{c}' is not mounted at {ctrl}")
            root = ctrl / self.root
            try:
                root.mkdir(exist_ok=True)
            except OSError as exc:
                raise CgroupError(f"cannot create {root}: {exc.strerror}; run as root or delegate it") from exc
            self.base[c] = root / self.instance
            self.base[c].mkdir(exist_ok=True)
        self.sweep()

    def sweep(self) -> int:
        """Kill and remove every other instance whose server is gone; return how many."""
        swept = 0
        for c in CONTROLLERS:
            root = self.mount / c / self.root
            for inst in root.iterdir() if root.is_dir() else []:
                if not inst.is_dir() or inst.name == self.instance or _server_alive(inst.name):
                    continue
                for slot in [p for p in inst.iterdir() if p.is_dir()]:
                    _kill_cgroup(slot)
                    _rmdir(slot)
                _rmdir(inst)
                swept += 1
        return swept

    def slot(self, index: int) -> CgroupSlot:
        return CgroupSlot(self.base, f"slot-{index}")

    def remove(self) -> None:
        for d in self.base.values():
            for slot in [p for p in d.iterdir() if p.is_dir()]:
                _kill_cgroup(slot)
                _rmdir(slot)
            _rmdir(d)


def _server_alive(instance: str) -> bool:
    try:
        pid = int(instance.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"sandcheck" in cmdline or b"sandbox_server" in cmdline


def _kill_cgroup(d: Path) -> None:
    for _ in range(100):
        try:
            pids = [int(p) for p in (d / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def _rmdir(d: Path) -> None:
    # A slot may hold a nested cgroup (the warm path's jail, jail/warm.py).
    for sub in [p for p in d.iterdir() if p.is_dir()] if d.is_dir() else []:
        _kill_cgroup(sub)
        _rmdir(sub)
    for _ in range(50):
        try:
            d.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            time.sleep(0.01)


def _try_write(path: Path, value: str) -> None:
    try:
        _write(path, value)
    except OSError:
        pass
