"""Hostile programs, as source text. Each prints ESCAPE ... if an attempt worked."""

from __future__ import annotations

# Shared by the programs that poke the kernel: raw syscalls through ctypes.
PRELUDE = r'''
import ctypes, errno, os, signal, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sysc(nr, *a):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(x) for x in a])
    return r, ctypes.get_errno()
def denied(label, nr, *a, want=(errno.EPERM,)):
    r, e = sysc(nr, *a)
    if r == 0 and os.getpid() != PID:
        os._exit(0)  # a child that should never have been created
    if r != -1 or e not in want:
        print("ESCAPE", label, r, e, flush=True)
def fails(label, fn, *a, **k):
    try:
        fn(*a, **k)
    except (OSError, ValueError):
        return
    print("ESCAPE", label, flush=True)
PID = os.getpid()
'''

SAFE = '\nprint("SAFE")\n'

# x86_64 syscall numbers.
NR = dict(ioctl=16, clone=56, pivot_root=155, chroot=161, mount=165, umount2=166, init_module=175,
          kexec_load=246, keyctl=250, add_key=248, request_key=249, unshare=272, setns=308,
          perf_event_open=298, name_to_handle_at=303, open_by_handle_at=304, process_vm_readv=310,
          process_vm_writev=311, finit_module=313, bpf=321, userfaultfd=323, io_uring_setup=425,
          io_uring_enter=426, io_uring_register=427, open_tree=428, move_mount=429, fsopen=430,
          fsconfig=431, fsmount=432, fspick=433, clone3=435, mount_setattr=442, ptrace=101,
          iopl=172, ioperm=173, syslog=103, reboot=169, swapon=167, settimeofday=164)

NS_FLAGS = {"NEWNS": 0x00020000, "NEWCGROUP": 0x02000000, "NEWUTS": 0x04000000, "NEWIPC": 0x08000000,
            "NEWUSER": 0x10000000, "NEWPID": 0x20000000, "NEWNET": 0x40000000, "NEWTIME": 0x00000080}
SIGCHLD = 17


def kernel_surface() -> str:
    lines = [PRELUDE]
    for name in ("ptrace", "mount", "umount2", "pivot_root", "chroot", "keyctl", "add_key", "request_key",
                 "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
                 "io_uring_register", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
                 "mount_setattr", "kexec_load", "init_module", "finit_module", "process_vm_readv",
                 "process_vm_writev", "name_to_handle_at", "open_by_handle_at", "setns", "iopl", "ioperm",
                 "syslog", "reboot", "swapon", "settimeofday"):
        lines.append(f"denied({name!r}, {NR[name]}, 0, 0, 0, 0, 0)")
    for flag, bit in NS_FLAGS.items():
        lines.append(f"denied('unshare {flag}', {NR['unshare']}, {bit})")
        lines.append(f"denied('clone {flag}', {NR['clone']}, {bit | SIGCHLD}, 0, 0, 0, 0)")
        # high bits set in the 64-bit flags word change nothing
        lines.append(f"denied('clone {flag} hi', {NR['clone']}, {bit | SIGCHLD | (1 << 40)}, 0, 0, 0, 0)")
    lines.append(f"denied('clone3', {NR['clone3']}, 0, 0, want=(errno.ENOSYS,))")
    lines.append("""
import struct
args = ctypes.create_string_buffer(struct.pack('<QQQQQQQQ', 0x10000000, 0, 0, 0, 17, 0, 0, 0), 88)
denied('clone3 NEWUSER', 435, ctypes.addressof(args), 88, want=(errno.ENOSYS,))
c = ctypes.create_string_buffer(b'x')
for cmd in (0x5412, 0x541C, 0x5412 | (1 << 32), 0xFFFFFFFF00005412, 0x5412 | (0xdead << 48)):
    for fd in (0, 1, 2):
        denied('ioctl %#x fd %d' % (cmd, fd), 16, fd, cmd, ctypes.addressof(c))
# a pty of its own: no /dev/pts or /dev/ptmx in the jail
fails('openpty', os.openpty)
# ptrace of a child, by its pid
kid = os.fork()
if kid == 0:
    import time; time.sleep(30); os._exit(0)
denied('ptrace attach', 101, 16, kid, 0, 0)
denied('ptrace seize', 101, 0x4206, kid, 0, 0)
fails('process_vm_readv via /proc', open, '/proc/%d/mem' % kid, 'rb')
os.kill(kid, signal.SIGKILL); os.waitpid(kid, 0)
""")
    lines.append(SAFE)
    return "\n".join(lines)


# Every socket family and type but AF_UNIX, with raw socket() so Python's
# own family table does not filter anything.
SOCKET_FAMILIES = PRELUDE + r'''
opened = []
for fam in range(0, 64):
    if fam == socket.AF_UNIX:
        continue
    for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_RAW, socket.SOCK_SEQPACKET, 4, 6, 10):
        for proto in (0, 1, 6, 17, 255):
            r, e = sysc(41, fam, typ, proto)
            if r >= 0:
                opened.append((fam, typ, proto)); os.close(r)
            r, e = sysc(41, fam | (1 << 40), typ, proto)
            if r >= 0:
                opened.append(("hi", fam, typ, proto)); os.close(r)
    sv = (ctypes.c_int * 2)()
    r, e = sysc(53, fam, socket.SOCK_STREAM, 0, ctypes.addressof(sv))
    if r == 0:
        opened.append(("pair", fam))
if opened:
    print("ESCAPE sockets", opened)
# AF_UNIX itself works (multiprocessing needs socketpair) but reaches nothing outside
a, b = socket.socketpair(); a.send(b"x"); assert b.recv(1) == b"x"
''' + SAFE


def network(tcp4: int, tcp6: int, udp4: int, abstract: str, path: str) -> str:
    """Try to reach the test's loopback listeners by every route."""
    return PRELUDE + f'''
for fam, addr, typ in ((socket.AF_INET, ("127.0.0.1", {tcp4}), socket.SOCK_STREAM),
                       (socket.AF_INET6, ("::1", {tcp6}), socket.SOCK_STREAM),
                       (socket.AF_INET, ("127.0.0.1", {udp4}), socket.SOCK_DGRAM)):
    try:
        s = socket.socket(fam, typ)
    except OSError as exc:
        assert exc.errno == errno.EAFNOSUPPORT, exc
        continue
    print("ESCAPE socket", fam, typ)
    try:
        s.settimeout(0.5)
        s.connect(addr); s.send(b"pwned")
        print("ESCAPE sent", addr)
    except OSError:
        pass
for target in ("\\0{abstract}", "{path}"):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(target); s.send(b"pwned")
        print("ESCAPE unix", target)
    except OSError:
        pass
    d = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        d.sendto(b"pwned", target)
        print("ESCAPE unix dgram", target)
    except OSError:
        pass
print(sorted(os.listdir("/sys/class/net")) if os.path.exists("/sys/class/net") else "no-sysfs")
''' + SAFE


INT80 = r'''
import ctypes, mmap
# mov eax, 20 (getpid, i386 ABI); int 0x80; ret
code = b"\xb8\x14\x00\x00\x00\xcd\x80\xc3"
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(code)
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
print("calling", flush=True)
print("ESCAPE int80 returned", ctypes.CFUNCTYPE(ctypes.c_long)(addr)())
'''

X32 = r'''
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
print("calling", flush=True)
print("ESCAPE x32 returned", libc.syscall(ctypes.c_long(0x40000000 | 39)))  # x32 getpid
'''

# A 64-bit `syscall` instruction emitted by hand: same filter as through libc.
RAW_SYSCALL = r'''
import ctypes, mmap, errno
# mov eax, 272 (unshare); mov edi, 0x10000000 (CLONE_NEWUSER); syscall; ret
code = b"\xb8\x10\x01\x00\x00\xbf\x00\x00\x00\x10\x0f\x05\xc3"
m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
m.write(code)
r = ctypes.CFUNCTYPE(ctypes.c_long)(ctypes.addressof(ctypes.c_char.from_buffer(m)))()
if r != -errno.EPERM:
    print("ESCAPE raw unshare", r)
''' + SAFE


# -- PID 1, the next check, the server (test_pid1_and_next_check.py) ----------

# pidfd_open(1) + pidfd_getfd: PID 1's control socket (warm) or status pipe
# (cold). If one came back, answer for PID 1 as the reported attack did.
PID1_FDS = PRELUDE + r'''
pidfd, e = sysc(434, 1, 0)
for fd in range(64):
    got, e = sysc(438, pidfd, fd, 0)
    if got >= 0 or e != errno.EPERM:
        print("ESCAPE pidfd_getfd", fd, got, e, flush=True)
    if got >= 0:
        try:
            for _ in range(20):
                socket.socket(fileno=os.dup(got)).send(b'{"exit_code": 0, "signal": 0, "dirty": []}')
        except OSError:
            os.write(got, b'{"exit_code": 0, "signal": 0}\n')
for kind in range(8):
    denied("kcmp %d" % kind, 312, os.getpid(), 1, kind, 0, 0)
iov = ctypes.create_string_buffer(16)
denied("process_madvise", 440, pidfd, ctypes.addressof(iov), 1, 20, 0)
print("SAFE", flush=True)
sys.exit(3)
'''

# 300 MiB on whatever PID 1 channel it can get, then floods on stdout,
# stderr and the report pipe until the time limit.
FLOOD_EVERY_CHANNEL = PRELUDE + r'''
import threading
pidfd, e = sysc(434, 1, 0)
for fd in range(64):
    got, e = sysc(438, pidfd, fd, 0)
    if got >= 0:
        print("ESCAPE pidfd_getfd", fd, flush=True)
        chunk = b"x" * (1 << 20)
        for _ in range(300):
            try:
                os.write(got, chunk)
            except OSError:
                break
def flood(fd):
    b = b"y" * 65536
    while True:
        try:
            os.write(fd, b)
        except OSError:
            return
for fd in (2, 3):
    threading.Thread(target=flood, args=(fd,), daemon=True).start()
flood(1)
'''

# What a check can observe of its jail's state; written to fd 3 as JSON.
JAIL_STATE = r'''
import ctypes, errno, json, os, resource
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
RLIMITS = sorted(getattr(resource, n) for n in dir(resource) if n.startswith("RLIMIT_"))
def tmp_state():
    st = os.stat("/tmp")
    return {"mode": oct(st.st_mode), "uid": st.st_uid, "gid": st.st_gid, "dev": st.st_dev,
            "times": [st.st_atime_ns, st.st_mtime_ns], "xattrs": sorted(os.listxattr("/tmp"))}
def proc_state(pid):
    return {"sched": os.sched_getscheduler(pid), "prio": os.sched_getparam(pid).sched_priority,
            "nice": os.getpriority(os.PRIO_PROCESS, pid), "ioprio": libc.syscall(ctypes.c_long(252), 1, pid),
            "affinity": sorted(os.sched_getaffinity(pid)), "rlimits": [resource.prlimit(pid, r) for r in RLIMITS]}
def ipc_state():
    counts = []
    for fn, cmd, off in ((libc.shmctl, 14, 0), (libc.msgctl, 12, 0)):
        buf = ctypes.create_string_buffer(256)
        counts.append(ctypes.c_int.from_buffer(buf, off).value if fn(0, cmd, buf) >= 0 else -1)
    buf = ctypes.create_string_buffer(256)
    counts.append(ctypes.c_int.from_buffer(buf, 28).value if libc.semctl(0, 0, 19, buf) >= 0 else -1)
    ctypes.set_errno(0)
    fd = libc.syscall(ctypes.c_long(240), b"leak", os.O_RDONLY, 0, None)
    e = ctypes.get_errno()
    return {"sysv": counts, "mqueue": "absent" if fd < 0 and e in (errno.ENOENT, errno.EPERM) else "present %d %d" % (fd, e)}
def jail_state():
    tmp = tmp_state()  # first: nothing below touches /tmp
    return {"tmp": tmp, "pid1": proc_state(1), "self": proc_state(0), "ipc": ipc_state()}
'''

LOOK_AT_JAIL_STATE = JAIL_STATE + r'''
os.write(3, json.dumps(jail_state()).encode())
'''

# Spoils /tmp's inode: the zygote resets it, the jail is kept.
SPOIL_TMP = JAIL_STATE + r'''
import struct, sys
os.write(3, json.dumps(jail_state()).encode())
planted = [1234567890123456789, 1234567890123456789]
def acl(*entries):
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
U = 0xFFFFFFFF
extended = acl((1, 7, U), (2, 0, 1000), (4, 7, U), (0x10, 7, U), (0x20, 7, U))
for name, value in (("user.leak", b"from the last check"), ("system.posix_acl_access", extended),
                    ("system.posix_acl_default", extended)):
    try:
        os.setxattr("/tmp", name, value)
    except OSError as exc:
        print("setxattr", name, exc, file=sys.stderr)
os.chmod("/tmp", 0o555)
os.utime("/tmp", ns=tuple(planted))
print(json.dumps({"times": planted, "xattrs": sorted(os.listxattr("/tmp"))}))
'''

# Spoils IPC and PID 1's scheduling and limits: refused, or the jail is recycled.
SPOIL_PID1 = JAIL_STATE + r'''
import sys
os.write(3, json.dumps(jail_state()).encode())
def attempt(label, fn, *args, must_fail=False):
    try:
        fn(*args)
    except OSError as exc:
        print(label, "refused", exc.errno, file=sys.stderr)
        return
    if must_fail:
        print("ESCAPE", label, flush=True)
attempt("SCHED_IDLE", os.sched_setscheduler, 1, os.SCHED_IDLE, os.sched_param(0))
attempt("nice", os.setpriority, os.PRIO_PROCESS, 1, 19)
attempt("nice pgrp", os.setpriority, os.PRIO_PGRP, 0, 18)
attempt("nice user", os.setpriority, os.PRIO_USER, 0, 17)
if len(os.sched_getaffinity(1)) > 1:
    attempt("affinity", os.sched_setaffinity, 1, {min(os.sched_getaffinity(1))})
for who, which in ((1, 1), (2, 0), (3, 0)):  # IOPRIO_WHO_PROCESS 1, PGRP, USER
    ctypes.set_errno(0)
    if libc.syscall(ctypes.c_long(251), who, which, (3 << 13) | 7) >= 0:
        print("ESCAPE ioprio_set", who, flush=True)
attempt("RLIMIT_CPU", resource.prlimit, 1, resource.RLIMIT_CPU, (1, 1), must_fail=True)
attempt("RLIMIT_NOFILE", resource.prlimit, 1, resource.RLIMIT_NOFILE, (4, 4), must_fail=True)
attempt("RLIMIT_AS", resource.prlimit, 1, resource.RLIMIT_AS, (1 << 20, 1 << 20), must_fail=True)
print("shm", libc.shmget(0, 4096, 0o1600), "sem", libc.semget(0x5eed, 1, 0o1600), "msg", libc.msgget(0x1ea4, 0o1600),
      file=sys.stderr)
ctypes.set_errno(0)
fd = libc.syscall(ctypes.c_long(240), b"leak", os.O_CREAT | os.O_RDWR, 0o600, None)
if fd >= 0:
    libc.syscall(ctypes.c_long(242), fd, b"from the last check", 19, 0, None)
    print("mq_open worked", file=sys.stderr)
print("spoiled")
'''

# Every signal at PID 1 (SIGKILL and SIGSTOP too), at the process group and
# at everything else; the ones the cold init forwards come back and are ignored.
SIGNAL_PID1 = r'''
import os, signal, sys, time
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
for sig in range(1, 65):
    try:
        os.kill(1, sig)
    except OSError as exc:
        print(sig, exc, file=sys.stderr)
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    os.killpg(0, s)
    try:
        os.kill(-1, s)  # everything but PID 1 and itself: nothing else here
    except ProcessLookupError:
        pass
time.sleep(0.3)
print("alive")
'''

# Exec of code that is not on the read-only root.
EXEC_FROM_ANYWHERE = PRELUDE + r'''
import mmap, shutil, subprocess
AT_EMPTY_PATH = 0x1000
fd = os.memfd_create("py", 0)
os.write(fd, open(sys.executable, "rb").read())
argv = ["python3", "-I", "-c", "print('ESCAPE exec from outside the root')"]
def in_child(label, fn, *a):
    kid = os.fork()
    if kid == 0:
        try:
            fn(*a)
        except OSError:
            pass
        os._exit(0)
    os.waitpid(kid, 0)
in_child("fexecve", os.execve, fd, argv, {})
for path in ("/proc/self/fd/%d" % fd, "/dev/fd/%d" % fd):
    in_child(path, os.execv, path, argv)
empty = ctypes.create_string_buffer(b"")
for f in (fd, 0):  # the memfd, and stdin (a memfd in a warm jail)
    denied("execveat fd %d" % f, 322, f, ctypes.addressof(empty), 0, 0, AT_EMPTY_PATH)
shutil.copy(sys.executable, "/tmp/py")
os.chmod("/tmp/py", 0o755)
for ld in ("/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"):
    if os.path.exists(ld):
        r = subprocess.run([ld, "/tmp/py", *argv[1:]], capture_output=True)
        if b"ESCAPE" in r.stdout or r.returncode == 0:
            print("ESCAPE", ld, r.returncode, r.stdout, flush=True)
with open("/tmp/py", "rb") as f:
    fails("PROT_EXEC map of a /tmp file", mmap.mmap, f.fileno(), 4096, prot=mmap.PROT_READ | mmap.PROT_EXEC)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    addr = libc.mmap(None, 4096, mmap.PROT_READ, mmap.MAP_PRIVATE, f.fileno(), 0)
    if libc.mprotect(ctypes.c_void_p(addr), 4096, mmap.PROT_READ | mmap.PROT_EXEC) == 0:
        print("ESCAPE mprotect PROT_EXEC of a /tmp file map", flush=True)
import glob, sysconfig
lib = sorted(glob.glob(sysconfig.get_path("platstdlib") + "/lib-dynload/*.so"))[0]
ctypes.CDLL(lib)  # from the read-only root: loads
shutil.copy(lib, "/tmp/lib.so")
fails("dlopen of a library copied to /tmp", ctypes.CDLL, "/tmp/lib.so")
''' + SAFE

# The calls added to the policy for this round: each refused with EPERM.
PROCESS_AND_EXEC_SURFACE = PRELUDE + r'''
buf = ctypes.create_string_buffer(64)
p = ctypes.addressof(buf)
kid = os.fork()
if kid == 0:
    import time; time.sleep(30); os._exit(0)
pidfd, e = sysc(434, kid, 0)
for fd in range(4):
    denied("pidfd_getfd child %d" % fd, 438, pidfd, fd, 0)
denied("kcmp child", 312, kid, os.getpid(), 0, 0, 0)
denied("process_madvise child", 440, pidfd, p, 1, 20, 0)
for name, nr, args in (("modify_ldt", 154, (1, p, 16)), ("modify_ldt read", 154, (0, p, 16)),
                       ("landlock_create_ruleset", 444, (0, 0, 1)), ("landlock_add_rule", 445, (0, 1, p, 0)),
                       ("landlock_restrict_self", 446, (0, 0)), ("ioprio_set self", 251, (1, 0, 0)),
                       ("uselib", 134, (p,)), ("mq_open", 240, (p, 0o100 | 2, 0o600, 0)), ("mq_unlink", 241, (p,)),
                       ("mq_timedsend", 242, (3, p, 1, 0, 0)), ("mq_getsetattr", 245, (3, 0, p)),
                       ("migrate_pages", 256, (1, 8, p, p)), ("move_pages", 279, (1, 1, p, 0, p, 0)),
                       ("mbind", 237, (p, 4096, 0, 0, 0, 0)), ("set_mempolicy", 238, (0, 0, 0)),
                       ("get_mempolicy", 239, (p, 0, 0, 0, 0)), ("ustat", 136, (0, p)), ("sysfs", 139, (3,)),
                       ("quotactl_fd", 443, (0, 0, 0, 0)),
                       ("prlimit64 pid 1", 302, (1, 7, p, 0)), ("prlimit64 child", 302, (kid, 0, p, p)),
                       ("prlimit64 own pid", 302, (os.getpid(), 7, p, 0)),
                       ("personality READ_IMPLIES_EXEC", 135, (0x0400000,)),
                       ("personality ADDR_NO_RANDOMIZE", 135, (0x0040000,)),
                       ("personality ADDR_NO_RANDOMIZE hi", 135, (0x0040000 | (1 << 40),)),
                       ("personality query", 135, (0xFFFFFFFF,))):
    denied(name, nr, *args)
os.kill(kid, signal.SIGKILL); os.waitpid(kid, 0)
''' + SAFE
