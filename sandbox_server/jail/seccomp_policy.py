"""The seccomp policy every jailed program runs under, compiled by libseccomp.

Default ALLOW with a deny list: the jail's namespaces and cgroups already
bound what a program can reach; the filter removes kernel attack surface that
no test program needs. libseccomp compiles it (through ``pyseccomp``), which
gets the architecture checks right: calls through the i386 ABI (``int 0x80``)
and the x32 ABI are killed, which a name-based policy language cannot say.
The jail's init loads the compiled BPF before it forks the program.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

# Each denied syscall with the reason it is denied (printed in SECURITY.md).
DENIED_SYSCALLS: dict[str, str] = {
    "ptrace": "inspect or control other processes",
    "process_vm_readv": "read another process's memory",
    "process_vm_writev": "write another process's memory",
    "pidfd_getfd": "copy another process's file descriptors (PID 1's control socket or status pipe)",
    "kcmp": "compare another process's kernel objects (learn which files PID 1 holds)",
    "process_madvise": "act on another process's memory",
    "migrate_pages": "move another process's memory",
    "move_pages": "move another process's memory",
    "mbind": "NUMA memory placement: nothing here needs it",
    "set_mempolicy": "NUMA memory placement: nothing here needs it",
    "set_mempolicy_home_node": "NUMA memory placement: nothing here needs it",
    "get_mempolicy": "NUMA memory placement: nothing here needs it",
    "ioprio_set": "sets other processes' I/O priority too (PID 1's, by pid, process group or uid)",
    "execveat": "exec of a file descriptor (a memfd): code from outside the read-only root",
    "uselib": "obsolete: maps a library from a path, outside the dynamic loader",
    "modify_ldt": "x86 segment descriptors: a history of kernel bugs, nothing here needs them",
    "landlock_create_ruleset": "a kernel sandboxing interface no program here needs",
    "landlock_add_rule": "a kernel sandboxing interface no program here needs",
    "landlock_restrict_self": "a kernel sandboxing interface no program here needs",
    "mq_open": "POSIX message queues outlive the program in the jail's IPC namespace",
    "mq_unlink": "POSIX message queues outlive the program in the jail's IPC namespace",
    "mq_timedsend": "POSIX message queues outlive the program in the jail's IPC namespace",
    "mq_timedreceive": "POSIX message queues outlive the program in the jail's IPC namespace",
    "mq_notify": "POSIX message queues outlive the program in the jail's IPC namespace",
    "mq_getsetattr": "POSIX message queues outlive the program in the jail's IPC namespace",
    "kexec_load": "replace the running kernel",
    "kexec_file_load": "replace the running kernel",
    "init_module": "load kernel code",
    "finit_module": "load kernel code",
    "delete_module": "unload kernel code",
    "mount": "change the jail's filesystem view",
    "umount2": "change the jail's filesystem view",
    "pivot_root": "change the jail's filesystem view",
    "chroot": "change the jail's filesystem view",
    "fsopen": "new mount API",
    "fsconfig": "new mount API",
    "fsmount": "new mount API",
    "fspick": "new mount API",
    "open_tree": "new mount API",
    "move_mount": "new mount API",
    "mount_setattr": "new mount API",
    "unshare": "new namespaces reach code paths meant for root",
    "setns": "enter other namespaces",
    "keyctl": "kernel keyrings are shared beyond the jail",
    "add_key": "kernel keyrings are shared beyond the jail",
    "request_key": "kernel keyrings are shared beyond the jail",
    "bpf": "load programs into the kernel",
    "perf_event_open": "kernel profiling interface, frequent source of bugs",
    "userfaultfd": "widens race windows in kernel exploits",
    "io_uring_setup": "large, bug-prone kernel interface",
    "io_uring_enter": "large, bug-prone kernel interface",
    "io_uring_register": "large, bug-prone kernel interface",
    "swapon": "host administration",
    "swapoff": "host administration",
    "reboot": "host administration",
    "acct": "host administration",
    "quotactl": "host administration",
    "quotactl_fd": "host administration",
    "settimeofday": "host clock",
    "clock_settime": "host clock",
    "clock_adjtime": "host clock",
    "adjtimex": "host clock",
    "syslog": "kernel log",
    "name_to_handle_at": "file handles bypass path checks",
    "open_by_handle_at": "file handles bypass path checks",
    "lookup_dcookie": "kernel internals",
    "iopl": "raw port I/O",
    "ioperm": "raw port I/O",
    "vhangup": "terminal control",
    "fanotify_init": "filesystem-wide monitoring",
    "memfd_secret": "memory hidden from the kernel's own checks",
    "ustat": "obsolete",
    "sysfs": "obsolete",
    "_sysctl": "obsolete",
    "nfsservctl": "obsolete",
}

# clone() flags that would create namespaces; clone3 is refused with ENOSYS
# (not EPERM) because glibc falls back to clone() only on ENOSYS, and clone's
# flags, unlike clone3's, are a register that seccomp can inspect.
NAMESPACE_CLONE_FLAGS: dict[str, int] = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
    "CLONE_NEWTIME": 0x00000080,
}

# Terminal ioctls that inject input into, or control, a terminal outside the
# jail. The command is a 32-bit int: compare only the low 32 bits, or a
# program could dodge the rule by setting the high bits.
DENIED_IOCTLS: dict[str, int] = {"TIOCSTI": 0x5412, "TIOCLINUX": 0x541C}

# personality(): only the personas Docker's default profile allows (PER_LINUX,
# PER_LINUX32, UNAME26 and their union); every other bit (READ_IMPLIES_EXEC,
# ADDR_NO_RANDOMIZE, ...) is refused, one rule per bit of the 32-bit persona.
# That refuses the 0xffffffff query too, which nothing in the jail uses.
ALLOWED_PERSONALITY_BITS = 0x0008 | 0x0020000


@dataclass(frozen=True)
class ArgRule:
    """Refuse `syscall` with `errno` when all `conditions` hold on its
    arguments: (index, libseccomp comparison, value[, value two])."""

    syscall: str
    conditions: tuple[tuple, ...]
    errno: int
    reason: str


# Calls refused only with some arguments, each with its reason (printed in SECURITY.md).
ARG_RULES: list[ArgRule] = [
    ArgRule("clone3", (), errno.ENOSYS,
            "its flags sit in memory seccomp cannot read; ENOSYS makes glibc fall back to clone"),
    *(ArgRule("clone", ((0, "MASKED_EQ", flag, flag),), errno.EPERM,
              f"{name}: new namespaces reach code paths meant for root")
      for name, flag in NAMESPACE_CLONE_FLAGS.items()),
    *(ArgRule("ioctl", ((1, "MASKED_EQ", 0xFFFFFFFF, cmd),), errno.EPERM,
              f"{name}: inject input into, or control, a terminal outside the jail")
      for name, cmd in DENIED_IOCTLS.items()),
    # AF_UNIX stays (socketpair for multiprocessing); no network family,
    # netlink, packet or vsock, whatever the namespace allows.
    ArgRule("socket", ((0, "NE", socket.AF_UNIX),), errno.EAFNOSUPPORT, "no network of any kind"),
    ArgRule("socketpair", ((0, "NE", socket.AF_UNIX),), errno.EAFNOSUPPORT, "no network of any kind"),
    # Reading stays allowed, and so does setting one's own (glibc passes pid 0).
    ArgRule("prlimit64", ((0, "NE", 0), (2, "NE", 0)), errno.EPERM,
            "another process's rlimits: lower PID 1's and it dies mid-check"),
    *(ArgRule("personality", ((0, "MASKED_EQ", 1 << bit, 1 << bit),), errno.EPERM,
              f"persona bit {1 << bit:#x}: READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE and the like weaken exec and ASLR")
      for bit in range(32) if not (1 << bit) & ALLOWED_PERSONALITY_BITS),
]


@dataclass(frozen=True)
class SeccompPolicy:
    """A compiled filter: raw BPF for the jail's init, and a readable listing."""

    bpf: bytes
    pfc: str


def build_policy() -> SeccompPolicy:
    """Compile the policy for the native architecture (x86_64 here)."""
    import pyseccomp as sc

    filt = sc.SyscallFilter(defaction=sc.ALLOW)
    # Only the native ABI: foreign-arch and x32 calls kill the process.
    filt.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    eperm = sc.ERRNO(errno.EPERM)
    for name in DENIED_SYSCALLS:
        try:
            filt.add_rule(eperm, name)
        except (OSError, RuntimeError, ValueError):
            pass  # not a syscall on this architecture
    for rule in ARG_RULES:
        args = [sc.Arg(i, getattr(sc, op), *values) for i, op, *values in rule.conditions]
        filt.add_rule(sc.ERRNO(rule.errno), rule.syscall, *args)
    return SeccompPolicy(bpf=_export(filt.export_bpf), pfc=_export(filt.export_pfc, text=True))


def _export(method, text: bool = False):
    import tempfile

    with tempfile.TemporaryFile() as f:
        method(f)
        f.flush()
        f.seek(0)
        data = f.read()
    return data.decode() if text else data
