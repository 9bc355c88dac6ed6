"""Per-slot cgroups owned by the server, on cgroup v1 or v2.

The server, not nsjail, owns the cgroups: it moves a jail's PID 1 into them
before any program starts, so it can read what nsjail would delete with its
own cgroups (OOM kills, peak memory, CPU time) and tell a timeout from an OOM
kill, which both end with SIGKILL.

One slot is one concurrency slot, reused from run to run (creating a memory
cgroup is slow). Both hierarchies offer the same slot interface, so neither
the cold nor the warm runner knows which one the host has:

    prepare / attach / usage / pids / kill_all / remove     a cold run
    child / unlimit / set_memory_limit / counters           a warm jail

Layouts (a restarted server removes the instances its killed predecessors left):
    v1: /sys/fs/cgroup/<controller>/<root>/server-<pid>/slot-N
    v2: /sys/fs/cgroup/<own cgroup>/<root>/server-<pid>/slot-N
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

CGROUP_MOUNT = Path("/sys/fs/cgroup")
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


def _mkdir(path: Path) -> None:
    path.mkdir(exist_ok=True)


def _read_int(path: Path) -> int:
    return int(path.read_text().split()[0])


def _read_field(path: Path, key: str) -> int:
    for line in path.read_text().splitlines():
        k, _, v = line.partition(" ")
        if k == key:
            return int(v)
    return 0


def _field(text: bytes, key: bytes) -> int:
    for line in text.split(b"\n"):
        if line.startswith(key + b" "):
            return int(line.split()[1])
    return 0


class Counters:
    """One slot's counters as open files, read and reset per check without a
    path lookup each time (a warm check reads them several times)."""

    def __init__(self, paths: dict[str, Path]) -> None:
        flags = {"cpu": os.O_RDWR, "peak": os.O_RDWR}
        self.procs_path = paths["procs"]
        self.fds = {k: os.open(p, flags.get(k, os.O_RDONLY) | os.O_CLOEXEC) for k, p in paths.items() if k != "procs"}

    def read(self, name: str) -> bytes:
        return os.pread(self.fds[name], 4096, 0)

    def pids(self) -> list[int]:
        """The processes in the slot now. Opened anew each time: cgroup v1
        serves an open file the list it made at its first read for as long as
        it is read again within a second, so a kept file misses every process
        started since (the limit clock would miss a check's wait)."""
        with open(self.procs_path, "rb") as f:
            return [int(p) for p in f.read().split()]

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}


class V1Counters(Counters):
    """cpuacct.usage and memory.max_usage_in_bytes reset to 0 per check."""

    def cpu_ns(self) -> int:
        return int(self.read("cpu"))

    def peak_memory(self) -> int:
        return int(self.read("peak"))

    def oom_kills(self) -> int:
        return _field(self.read("oom"), b"oom_kill")

    def reset(self) -> None:
        os.pwrite(self.fds["cpu"], b"0", 0)
        try:
            os.pwrite(self.fds["peak"], b"0", 0)
        except OSError:
            pass


class V2Counters(Counters):
    """cpu.stat cannot be reset: a baseline per check. memory.peak resets per
    open file on kernels >= 6.12; before that it is the slot's lifetime peak,
    an over-estimate that never weakens the limit."""

    _cpu_base_usec = 0

    def cpu_ns(self) -> int:
        return (_field(self.read("cpu"), b"usage_usec") - self._cpu_base_usec) * 1000

    def peak_memory(self) -> int:
        return int(self.read("peak").split()[0])

    def oom_kills(self) -> int:
        return _field(self.read("oom"), b"oom_kill")

    def reset(self) -> None:
        self._cpu_base_usec = _field(self.read("cpu"), b"usage_usec")
        try:
            os.pwrite(self.fds["peak"], b"reset\n", 0)
        except OSError:
            pass


# -- cgroup v1 --------------------------------------------------------------


class CgroupSlot:
    """The memory, pids and cpuacct v1 cgroups of one concurrency slot."""

    def __init__(self, base: dict[str, Path], name: str) -> None:
        self.dirs = {c: base[c] / name for c in CONTROLLERS}
        for d in self.dirs.values():
            _mkdir(d)
        # No swap on a jail: memory over the limit is an OOM kill, not swapping.
        _try_write(self.dirs["memory"] / "memory.swappiness", "0")
        self._oom_base = 0
        self._pids_base = 0
        self._memory = 0

    def prepare(self, memory_bytes: int, max_tasks: int) -> None:
        """Set limits and reset counters before a run."""
        mem = self.dirs["memory"]
        self.kill_all()
        self.set_memory_limit(memory_bytes)
        _try_write(mem / "memory.max_usage_in_bytes", "0")
        _write(self.dirs["pids"] / "pids.max", str(max_tasks))
        _write(self.dirs["cpuacct"] / "cpuacct.usage", "0")
        self._oom_base = _read_field(mem / "memory.oom_control", "oom_kill")
        self._pids_base = _read_field(self.dirs["pids"] / "pids.events", "max")

    def set_memory_limit(self, memory_bytes: int) -> None:
        """memsw (memory+swap) may never be below the memory limit: try it
        first (that works when raising), then the limit, then memsw again
        (that works when lowering). OSError when the kernel cannot reclaim
        down to a lower limit."""
        if memory_bytes == self._memory:
            return
        mem = self.dirs["memory"]
        memsw = mem / "memory.memsw.limit_in_bytes"
        has_memsw = memsw.exists()
        if has_memsw:
            _try_write(memsw, str(memory_bytes))
        _write(mem / "memory.limit_in_bytes", str(memory_bytes))
        if has_memsw:
            _write(memsw, str(memory_bytes))
        self._memory = memory_bytes

    def unlimit(self) -> None:
        """No limits on this slot itself: a child cgroup carries them."""
        mem = self.dirs["memory"]
        for name in ("memory.memsw.limit_in_bytes", "memory.limit_in_bytes"):
            if (mem / name).exists():
                _write(mem / name, "-1")
        self._memory = -1
        _write(self.dirs["pids"] / "pids.max", "max")

    def child(self, name: str) -> "CgroupSlot":
        return CgroupSlot(self.dirs, name)

    def counters(self) -> V1Counters:
        mem = self.dirs["memory"]
        return V1Counters({"cpu": self.dirs["cpuacct"] / "cpuacct.usage", "peak": mem / "memory.max_usage_in_bytes",
                           "oom": mem / "memory.oom_control", "procs": self.dirs["pids"] / "cgroup.procs"})

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
    """The server instance's v1 subtree, with one `CgroupSlot` per slot."""

    mode = "v1"

    def __init__(self, root: str = "sandcheck", mount: Path = CGROUP_MOUNT) -> None:
        self.mount = mount
        self.root = root
        self.instance = instance_name()
        self.base: dict[str, Path] = {}

    def create(self) -> None:
        """Create the subtree. Instances left by killed servers are swept first, before
        ours is made: a host whose cgroups leaked servers used up heals here, where
        making ours would fail. `base` holds what was made, for remove() after a failure."""
        roots = [self._root(c) for c in CONTROLLERS]
        self.sweep()
        for c, root in zip(CONTROLLERS, roots):
            inst = root / self.instance
            try:
                _mkdir(inst)
            except OSError as exc:
                raise cannot_create(inst, exc) from exc
            self.base[c] = inst

    def _root(self, controller: str) -> Path:
        """The controller's <root> directory, made if missing (it is shared by every server)."""
        ctrl = self.mount / controller
        if not ctrl.is_dir():
            raise CgroupError(f"cgroup v1 controller '{controller}' is not mounted at {ctrl}")
        root = ctrl / self.root
        try:
            if not root.is_dir():  # mkdir of a memory cgroup may fail on a host out of them, even one that exists
                _mkdir(root)
        except OSError as exc:
            raise cannot_create(root, exc) from exc
        return root

    def sweep(self) -> int:
        """Kill and remove every other instance whose server is gone; return how many."""
        swept = 0
        for c in CONTROLLERS:
            root = self.mount / c / self.root
            for inst in root.iterdir() if root.is_dir() else []:
                if not inst.is_dir() or inst.name == self.instance or instance_alive(inst.name):
                    continue
                _remove_instance(inst)
                swept += 1
        return swept

    def slot(self, index: int, role: str = "") -> CgroupSlot:
        """Slot `index`'s cgroups; with `role`, a sibling named `role`-`index` for what else the slot keeps running."""
        return CgroupSlot(self.base, f"{role or 'slot'}-{index}")

    def remove(self) -> None:
        for d in self.base.values():
            _remove_instance(d)


def cannot_create(path: Path, exc: OSError) -> CgroupError:
    """Why mkdir of cgroup `path` failed, and how to fix the host. The kernel numbers
    memory cgroups from one space of 65,535 for the whole host; once they are all
    taken (by cgroups that were never removed), mkdir fails with EBUSY (ENOSPC on
    older kernels), whatever the directory."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EBUSY, errno.ENOSPC):
        return CgroupError(f"cannot create {path}: {reason}: the host may be out of cgroups (the kernel allows "
                           f"65,535 memory cgroups in all): remove (rmdir) the ones no process uses, or lower "
                           f"--concurrency")
    return CgroupError(f"cannot create {path}: {reason}; run as root or delegate it")


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


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def instance_name(pid: int | None = None) -> str:
    """`server-<start time>-<pid>`: names a server's cgroups and files so that a
    later server can tell whether their owner still runs (a pid alone may be
    reused). The pid comes last, where servers before this naming look for it."""
    pid = os.getpid() if pid is None else pid
    return f"server-{_start_time(pid)}-{pid}"


def instance_alive(name: str) -> bool:
    """Does the process that `instance_name()` named still run? A name without
    a start time counts as alive while its pid exists: never sweep a live server."""
    parts = name.split("-")
    try:
        pid = int(parts[-1])
    except ValueError:
        return False
    start = _start_time(pid)
    return len(parts) >= 2 and start is not None and (len(parts) < 3 or parts[-2] == start)


def _kill_cgroup(d: Path) -> None:
    if (d / "cgroup.kill").exists():
        _try_write(d / "cgroup.kill", "1")  # v2, atomic: no fork can escape it

    def procs() -> list[int]:
        try:
            return [int(p) for p in (d / "cgroup.procs").read_text().split()]
        except OSError:
            return []  # already gone

    _kill_until_empty(procs, 1.0)


def _remove_instance(inst: Path) -> None:
    for slot in _subdirs(inst):
        _kill_cgroup(slot)
        _rmdir(slot)
    _rmdir(inst)


def _subdirs(d: Path) -> list[Path]:
    """`d`'s child cgroups; none once `d` is gone. Servers that start together
    (a fleet's workers) sweep the same dead instance at once, so any directory
    may vanish between a listing and the next look at it."""
    try:
        return [p for p in d.iterdir() if p.is_dir()]
    except FileNotFoundError:
        return []


def _rmdir(d: Path) -> None:
    # A slot may hold a nested cgroup (a warm jail's, jail/warm.py).
    for sub in _subdirs(d):
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


# -- cgroup v2 ----------------------------------------------------------------
#
# Current hosts and Kubernetes nodes mount only the unified (v2) hierarchy.
# The tree lives below the server's own cgroup (from /proc/self/cgroup), so a
# systemd unit with Delegate=yes or a container's cgroup namespace both work.
# Two kernel rules shape `CgroupV2Tree.create`:
# - a cgroup offers a controller to its children only if its parent enabled
#   it in cgroup.subtree_control (else writing "+memory" fails with ENOENT);
# - a non-root cgroup with processes cannot enable controllers for children
#   (EBUSY, "no internal processes"): its processes must move to a leaf.

V2_CONTROLLERS = ("memory", "pids", "cpu")
# Where the server's own processes move when its cgroup must become an inner node.
V2_SERVER_LEAF = "sandcheck-server"
_V2_FIX = ("run the server in a cgroup it may manage: as root on the host, under systemd with Delegate=yes "
           "(deploy/systemd), or in a container with a writable cgroup (deploy/k8s)")


def detect(mount: Path = CGROUP_MOUNT) -> str:
    """'v2' or 'v1', whichever hierarchy holds the controllers; CgroupError if neither.

    A hybrid host (v1 controllers plus an empty unified mount, like the
    project's development machine) is v1: the controllers are bound to v1.
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


def _controllers(cg: Path) -> set[str]:
    try:
        return set((cg / "cgroup.controllers").read_text().split())
    except OSError:
        return set()


def _subtree(cg: Path) -> set[str]:
    try:
        return set((cg / "cgroup.subtree_control").read_text().replace("+", "").split())
    except OSError:
        return set()


class CgroupV2Slot:
    """One concurrency slot: one v2 cgroup carrying memory, pids and cpu."""

    def __init__(self, base: Path, name: str) -> None:
        self.dir = base / name
        _mkdir(self.dir)
        self._memory = 0  # the limit last set, so an unchanged one is not written again
        self._cpu_base_usec = 0
        self._oom_base = 0
        self._pids_base = 0
        self._peak_file = None  # an fd whose memory.peak was reset for this run

    def prepare(self, memory_bytes: int, max_tasks: int) -> None:
        """Set limits and take counter baselines before a run."""
        self.kill_all()
        self.set_memory_limit(memory_bytes)
        _write(self.dir / "pids.max", str(max_tasks))
        self._cpu_base_usec = _read_field(self.dir / "cpu.stat", "usage_usec")
        self._oom_base = _read_field(self.dir / "memory.events", "oom_kill")
        self._pids_base = _read_field(self.dir / "pids.events", "max")
        self._reset_peak()

    def set_memory_limit(self, memory_bytes: int) -> None:
        """OSError when the kernel cannot reclaim down to a lower limit."""
        if memory_bytes == self._memory:
            return
        _write(self.dir / "memory.max", str(memory_bytes))
        # No swap on a jail: over the limit is an OOM kill, not swapping.
        _try_write(self.dir / "memory.swap.max", "0")
        self._memory = memory_bytes

    def unlimit(self) -> None:
        """No limits on this slot itself, and its controllers handed to a child that carries them."""
        _write(self.dir / "memory.max", "max")
        self._memory = -1
        _write(self.dir / "pids.max", "max")
        _write(self.dir / "cgroup.subtree_control", " ".join(f"+{c}" for c in V2_CONTROLLERS))

    def child(self, name: str) -> "CgroupV2Slot":
        return CgroupV2Slot(self.dir, name)

    def counters(self) -> V2Counters:
        c = V2Counters({"cpu": self.dir / "cpu.stat", "peak": self.dir / "memory.peak",
                        "oom": self.dir / "memory.events", "procs": self.dir / "cgroup.procs"})
        c.reset()
        return c

    def _reset_peak(self) -> None:
        """Reset memory.peak for this run if the kernel can (a write resets it per fd)."""
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

    def __init__(self, root: str = "sandcheck", mount: Path = CGROUP_MOUNT, own: str | None = None) -> None:
        self.mount = mount
        self.root = root
        self.instance = instance_name()
        own = own if own is not None else own_cgroup()
        if own.rstrip("/").endswith("/" + V2_SERVER_LEAF):
            own = own.rstrip("/")[: -len(V2_SERVER_LEAF) - 1] or "/"  # moved there by a delegation: use what it delegated
        self.parent = mount / own.lstrip("/")
        self.base: dict[str, Path] = {}
        self.delegated: list[str] = []  # what create() changed above its own subtree, for logs and doctor

    def create(self) -> None:
        """Delegate the controllers down to the instance. Dead instances are swept
        before ours is made, as on v1: a host out of cgroups heals here."""
        self.delegate()
        enable = " ".join(f"+{c}" for c in V2_CONTROLLERS)
        top = self.parent / self.root
        inst = top / self.instance
        try:
            _mkdir(top)
            _write(top / "cgroup.subtree_control", enable)
        except OSError as exc:
            raise CgroupError(f"cannot set up {top}: {exc.strerror}; {_V2_FIX}") from exc
        self.sweep()
        try:
            _mkdir(inst)
        except OSError as exc:
            raise cannot_create(inst, exc) from exc
        self.base = {"unified": inst}
        try:
            _write(inst / "cgroup.subtree_control", enable)
        except OSError as exc:
            raise CgroupError(f"cannot set up {inst}: {exc.strerror}; {_V2_FIX}") from exc

    def delegate(self) -> None:
        """Make memory, pids and cpu available to children of the server's own cgroup.

        From the top of the mount down to the server's cgroup, each cgroup
        must enable for its children what the next one lacks. Only the
        server's own cgroup may be emptied into a leaf (its processes are
        ours); another cgroup on the way that holds processes is refused.
        """
        chain = [self.parent, *self.parent.parents]
        chain = [c for c in reversed(chain) if c == self.mount or self.mount in c.parents]
        for upper, lower in zip(chain, chain[1:]):
            missing = [c for c in V2_CONTROLLERS if c not in _controllers(lower)]
            if missing:
                self._enable(upper, missing, may_move=False)
        missing = [c for c in V2_CONTROLLERS if c not in _subtree(self.parent)]
        if missing:
            self._enable(self.parent, missing, may_move=True)

    def _enable(self, cg: Path, controllers: list[str], may_move: bool) -> None:
        control = cg / "cgroup.subtree_control"
        enable = " ".join(f"+{c}" for c in controllers)
        try:
            _write(control, enable)
            self.delegated.append(f"{enable} in {control}")
            return
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                lacking = [c for c in controllers if c not in _controllers(cg)]
                raise CgroupError(f"cannot enable {enable} in {control}: {cg} itself lacks {' '.join(lacking)} "
                                  f"and its parent cannot hand them down; {_V2_FIX}") from exc
            if exc.errno != errno.EBUSY:
                raise CgroupError(f"cannot enable {enable} in {control}: {exc.strerror}; {_V2_FIX}") from exc
            if not may_move:
                raise CgroupError(f"cannot enable {enable} in {control}: {cg} holds processes that are not the "
                                  f"server's (cgroup v2 gives controllers only to cgroups without processes); "
                                  f"{_V2_FIX}") from exc
        # EBUSY in the server's own cgroup (a container's or a unit's): move its processes to a leaf.
        leaf = cg / V2_SERVER_LEAF
        _mkdir(leaf)
        for pid in (cg / "cgroup.procs").read_text().split():
            try:
                _write(leaf / "cgroup.procs", pid)
            except OSError:
                pass  # exited meanwhile, or a kernel thread
        try:
            _write(control, enable)
        except OSError as exc:
            raise CgroupError(f"cannot enable {enable} in {control} after moving its processes to {leaf}: "
                              f"{exc.strerror}; {_V2_FIX}") from exc
        self.delegated.append(f"moved processes of {cg} to {leaf}; {enable} in {control}")

    def sweep(self) -> int:
        """Kill and remove every other instance whose server is gone; return how many."""
        top = self.parent / self.root
        swept = 0
        for inst in top.iterdir() if top.is_dir() else []:
            if not inst.is_dir() or inst.name == self.instance or instance_alive(inst.name):
                continue
            _remove_instance(inst)
            swept += 1
        return swept

    def slot(self, index: int, role: str = "") -> CgroupV2Slot:
        """Slot `index`'s cgroup; with `role`, a sibling named `role`-`index` for what else the slot keeps running."""
        return CgroupV2Slot(self.base["unified"], f"{role or 'slot'}-{index}")

    def remove(self) -> None:
        for inst in self.base.values():
            _remove_instance(inst)


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


def open_tree(root: str = "sandcheck", mount: Path = CGROUP_MOUNT) -> CgroupTree | CgroupV2Tree | MissingCgroups:
    """The tree for whichever hierarchy this host has. Errors surface at create()."""
    try:
        mode = detect(mount)
    except CgroupError as exc:
        return MissingCgroups(str(exc))
    return CgroupV2Tree(root, mount) if mode == "v2" else CgroupTree(root, mount)
