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
        return _kill_until_empty(self.pids, timeout)

    def remove(self) -> None:
        self.kill_all()
        for d in self.dirs.values():
            _rmdir(d)


class CgroupTree:
    """The server instance's cgroup subtree, with one `CgroupSlot` per slot."""

    mode = "v1"

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


def _kill_until_empty(list_pids, timeout: float) -> bool:
    """SIGKILL what `list_pids()` returns until it returns nothing; True then.

    Repeated because a process may fork between the listing and the kill.
    """
    deadline = time.monotonic() + timeout
    while True:
        pids = list_pids()
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


def _server_alive(instance: str) -> bool:
    try:
        pid = int(instance.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return False
    return server_alive(pid)


def server_alive(pid: int) -> bool:
    """Is `pid` a running sandcheck server (not a pid reused by something else)?"""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"sandcheck" in cmdline or b"sandbox_server" in cmdline


def _kill_cgroup(d: Path) -> None:
    def procs() -> list[int]:
        try:
            return [int(p) for p in (d / "cgroup.procs").read_text().split()]
        except OSError:
            return []  # already gone

    _kill_until_empty(procs, 1.0)


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


# -- cgroup v2 ------------------------------------------------------------
#
# Most current hosts and Kubernetes nodes mount only the unified (v2)
# hierarchy. The slot interface is the same as v1's; the files differ:
#   memory.max (+ memory.swap.max 0)  the memory limit, no swap
#   memory.events "oom_kill"          OOM kills (a counter: read a baseline)
#   memory.peak                       peak memory (reset per fd on >= 6.12)
#   pids.max / pids.events "max"      the process limit and its hits
#   cpu.stat "usage_usec"             CPU time (not resettable: a baseline)
#   cgroup.kill                       kills the whole subtree at once (>= 5.14)
# The tree lives under the server's own cgroup (from /proc/self/cgroup), so a
# systemd unit with Delegate=yes or a container's cgroup namespace both work.

V2_CONTROLLERS = ("memory", "pids", "cpu")
# Where the server's own processes move when its cgroup must become an inner
# node: v2 lets a cgroup hand controllers to children only if it holds no
# processes itself ("no internal processes").
V2_SERVER_LEAF = "sandcheck-server"


def detect(mount: Path = CGROUP_V1) -> str:
    """'v2' or 'v1', whichever hierarchy holds the controllers; CgroupError if neither.

    A hybrid host (v1 controllers plus an empty unified mount, like this
    machine) is v1: the controllers are bound to v1 and v2 cannot use them.
    """
    controllers = mount / "cgroup.controllers"
    if controllers.exists():
        have = set(controllers.read_text().split())
        missing = [c for c in V2_CONTROLLERS if c not in have]
        if missing:
            raise CgroupError(f"cgroup v2 at {mount} lacks the {', '.join(missing)} controller(s); "
                              "refusing to run programs without memory, process and CPU accounting")
        return "v2"
    if all((mount / c).is_dir() for c in CONTROLLERS):
        return "v1"
    raise CgroupError(f"no usable cgroups at {mount} (neither v2 nor the v1 memory, pids and cpuacct "
                      "controllers); refusing to run programs without memory and process limits")


def own_cgroup(proc_self_cgroup: Path = Path("/proc/self/cgroup")) -> str:
    """This process's v2 cgroup path (the '0::' line), e.g. '/system.slice/x.service'."""
    for line in proc_self_cgroup.read_text().splitlines():
        if line.startswith("0::"):
            return line[3:] or "/"
    return "/"


class CgroupV2Slot:
    """One concurrency slot: one v2 cgroup carrying memory, pids and cpu."""

    def __init__(self, base: Path, name: str) -> None:
        self.dir = base / name
        self.dir.mkdir(exist_ok=True)
        self._cpu_base_usec = 0
        self._oom_base = 0
        self._pids_base = 0
        self._peak_file = None  # an fd whose memory.peak was reset for this run

    def prepare(self, memory_bytes: int, max_tasks: int) -> None:
        """Set limits and take counter baselines before a run."""
        self.kill_all()
        _write(self.dir / "memory.max", str(memory_bytes))
        # No swap on a jail: over the limit is an OOM kill, not swapping.
        _try_write(self.dir / "memory.swap.max", "0")
        _write(self.dir / "pids.max", str(max_tasks))
        self._cpu_base_usec = _read_field(self.dir / "cpu.stat", "usage_usec")
        self._oom_base = _read_field(self.dir / "memory.events", "oom_kill")
        self._pids_base = _read_field(self.dir / "pids.events", "max")
        self._reset_peak()

    def _reset_peak(self) -> None:
        """Reset memory.peak for this run if the kernel can (a write resets it per fd).

        Older kernels (< 6.12) refuse the write; memory.peak is then the
        slot's lifetime peak, an over-estimate that never weakens the limit.
        """
        if self._peak_file is not None:
            self._peak_file.close()
            self._peak_file = None
        try:
            f = open(self.dir / "memory.peak", "r+")
        except OSError:
            return
        try:
            f.write("reset\n")
            f.flush()
            self._peak_file = f
        except OSError:
            f.close()

    def attach(self, pid: int) -> None:
        """Move `pid` (and every process it later creates) into this slot."""
        _write(self.dir / "cgroup.procs", str(pid))

    def cpu_ns(self) -> int:
        return (_read_field(self.dir / "cpu.stat", "usage_usec") - self._cpu_base_usec) * 1000

    def peak_memory_bytes(self) -> int:
        if self._peak_file is not None:
            self._peak_file.seek(0)
            return int(self._peak_file.read().split()[0])
        path = self.dir / "memory.peak"
        return _read_int(path) if path.exists() else 0

    def usage(self) -> Usage:
        return Usage(
            cpu_ns=self.cpu_ns(),
            peak_memory_bytes=self.peak_memory_bytes(),
            oom_kills=_read_field(self.dir / "memory.events", "oom_kill") - self._oom_base,
            pids_limit_hits=_read_field(self.dir / "pids.events", "max") - self._pids_base,
        )

    def pids(self) -> list[int]:
        return [int(p) for p in (self.dir / "cgroup.procs").read_text().split()]

    def kill_all(self, timeout: float = 5.0) -> bool:
        """Kill everything in the slot until it is empty; True when it is."""
        if not self.pids():
            return True
        if (self.dir / "cgroup.kill").exists():
            _write(self.dir / "cgroup.kill", "1")  # atomic: no fork can escape it
        return _kill_until_empty(self.pids, timeout)

    def remove(self) -> None:
        self.kill_all()
        if self._peak_file is not None:
            self._peak_file.close()
            self._peak_file = None
        _rmdir(self.dir)


class CgroupV2Tree:
    """The server instance's v2 subtree: <own cgroup>/<root>/<instance>/slot-N."""

    mode = "v2"

    def __init__(self, root: str = "sandcheck", mount: Path = CGROUP_V1, own: str | None = None) -> None:
        self.mount = mount
        self.root = root
        self.instance = f"server-{os.getpid()}"
        self.parent = mount / (own if own is not None else own_cgroup()).lstrip("/")
        self.base: dict[str, Path] = {}

    def create(self) -> None:
        """Enable the controllers down to the instance, then sweep dead instances."""
        enable = " ".join(f"+{c}" for c in V2_CONTROLLERS)
        self._enable(self.parent, enable)
        top = self.parent / self.root
        inst = top / self.instance
        try:
            top.mkdir(exist_ok=True)
            _write(top / "cgroup.subtree_control", enable)
            inst.mkdir(exist_ok=True)
            _write(inst / "cgroup.subtree_control", enable)
        except OSError as exc:
            raise CgroupError(f"cannot set up {inst}: {exc.strerror}; run as root or delegate the cgroup") from exc
        self.base = {"unified": inst}
        self.sweep()

    def _enable(self, parent: Path, enable: str) -> None:
        """Hand the controllers to `parent`'s children, moving its own processes to a leaf if needed."""
        control = parent / "cgroup.subtree_control"
        try:
            _write(control, enable)
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise CgroupError(f"cannot enable {enable} in {control}: {exc.strerror}; "
                                  "run as root or delegate the cgroup (systemd Delegate=yes)") from exc
        # EBUSY: the parent holds processes (a container's or unit's own cgroup).
        leaf = parent / V2_SERVER_LEAF
        leaf.mkdir(exist_ok=True)
        for pid in (parent / "cgroup.procs").read_text().split():
            try:
                _write(leaf / "cgroup.procs", pid)
            except OSError:
                pass  # exited meanwhile, or a kernel thread
        try:
            _write(control, enable)
        except OSError as exc:
            raise CgroupError(f"cannot enable {enable} in {control}: {exc.strerror}") from exc

    def sweep(self) -> int:
        """Kill and remove every other instance whose server is gone; return how many."""
        top = self.parent / self.root
        swept = 0
        for inst in top.iterdir() if top.is_dir() else []:
            if not inst.is_dir() or inst.name == self.instance or _server_alive(inst.name):
                continue
            self._remove_instance(inst)
            swept += 1
        return swept

    def slot(self, index: int) -> CgroupV2Slot:
        return CgroupV2Slot(self.base["unified"], f"slot-{index}")

    def remove(self) -> None:
        for inst in self.base.values():
            self._remove_instance(inst)

    @staticmethod
    def _remove_instance(inst: Path) -> None:
        for slot in [p for p in inst.iterdir() if p.is_dir()]:
            if (slot / "cgroup.kill").exists():
                _try_write(slot / "cgroup.kill", "1")
            _kill_cgroup(slot)
            _rmdir(slot)
        _rmdir(inst)


class MissingCgroups:
    """Stands in when no usable hierarchy exists: creating it refuses to start."""

    mode = "none"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.base: dict[str, Path] = {}

    def create(self) -> None:
        raise CgroupError(self.reason)

    def remove(self) -> None:
        pass


def open_tree(root: str = "sandcheck", mount: Path = CGROUP_V1) -> CgroupTree | CgroupV2Tree | MissingCgroups:
    """The tree for whichever hierarchy this host has. Errors surface at create()."""
    try:
        mode = detect(mount)
    except CgroupError as exc:
        return MissingCgroups(str(exc))
    return CgroupV2Tree(root, mount) if mode == "v2" else CgroupTree(root, mount)
