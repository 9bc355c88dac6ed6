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
