"""What both jail scripts (init.py, zygote.py) do the same way, in the jail.

Not imported by the server: its text is put in front of init.py's and
zygote.py's (see `jail_script`), and runs under the jail's Python (stdlib
only, 3.8+). It makes PID 1 non-dumpable and loads the seccomp filter, and
runs a program in a forked child as ``python /tmp/main.py`` would, after
putting the request's files in /tmp.

The files arrive packed (sandbox_server/jail/files.py): u32 little-endian
count, then per file u32 name length, name (UTF-8), u32 size, content. A
``NAME.py`` among them is importable as ``NAME`` (only those: /tmp itself
is not on sys.path, so a file a program writes there imports nothing).
"""

import os
import signal
import sys


def load_seccomp(bpf):
    """Make this process non-dumpable, then install a classic-BPF seccomp
    filter on it and its children."""
    import ctypes

    if not bpf or len(bpf) % 8:
        raise OSError("bad seccomp program")

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = SockFprog(len(bpf) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 1, 4, 38, 22, 2
    # If nsjail dies (its own parent, the server, was killed), so does the jail.
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, None, 0, 0)
    # Not dumpable: the kernel's ptrace access check then refuses every
    # process of the jail (same uid, no CAP_SYS_PTRACE) this process's fds
    # and memory (pidfd_getfd, kcmp, process_vm_*), even through a call the
    # filter missed. Forked children inherit it; an exec'd program resets it.
    if libc.prctl(PR_SET_DUMPABLE, 0, None, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_DUMPABLE failed")
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP failed")


def soft_cpu_limit():
    """In a cold jail's program process: RLIMIT_CPU's soft limit a second below
    the hard one nsjail set, so the kernel's backstop sends SIGXCPU (a CPU
    timeout) before its SIGKILL."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY and hard > 1:
        resource.setrlimit(resource.RLIMIT_CPU, (hard - 1, hard))


def unpack_files(blob):
    """[(name, content)] from the packed files; raise ValueError if malformed."""
    def u32(at):
        if at + 4 > len(blob):
            raise ValueError("truncated files")
        return int.from_bytes(blob[at:at + 4], "little"), at + 4

    files, (count, at) = [], u32(0)
    for _ in range(count):
        size, at = u32(at)
        name, at = blob[at:at + size].decode("utf-8"), at + size
        size, at = u32(at)
        files.append((name, blob[at:at + size]))
        at += size
        if at > len(blob):
            raise ValueError("truncated files")
    return files


def put_files(files):
    """Write the request's files into /tmp (names were checked by the server)."""
    for name, content in files:
        fd = os.open("/tmp/" + name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)


def exec_program(argv, files):
    """In a forked child whose fds 0-3 are set, for a program that is not
    Python source (a compiler, an artifact, an interpreter): put the
    request's files in /tmp, then exec `argv`. The cold jail's init and an
    exec jail's zygote both end a run's child here, so a program starts
    the same way in either."""
    # Python ignores SIGPIPE and SIGXFSZ, and an exec keeps ignored signals:
    # give the program the defaults (`yes | head` ends yes with SIGPIPE).
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(sig, signal.SIG_DFL)
    try:
        put_files(files)
        os.execv(argv[0], argv)
    except OSError as exc:
        os.write(2, ("cannot run %s: %s\n" % (argv[0], exc.strerror)).encode())
    os._exit(127)


def module_files(files):
    """{module name: path} for the files a program may import: NAME.py."""
    return {name[:-3]: "/tmp/" + name for name, _ in files
            if name.endswith(".py") and name[:-3].isidentifier()}


def read_to_end(fd, chunk_size=1 << 16):
    """Everything left on `fd`, with plain reads (in a freshly forked child,
    cheaper than io's file objects)."""
    chunks = []
    while True:
        chunk = os.read(fd, chunk_size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def sha256(data):
    import hashlib

    return hashlib.sha256(data).digest()


_FILE_FINDER = []  # the finder class, built once (a warm zygote builds it before it forks)


def _file_finder():
    """The meta path finder for arrived files (its classes built on first use)."""
    if _FILE_FINDER:
        return _FILE_FINDER[0]
    import importlib.machinery
    import importlib.util

    class Loader(importlib.machinery.SourceFileLoader):
        from_cache = None  # after the import: whether the zygote's code ran

        def get_data(self, path):
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                return read_to_end(fd)
            finally:
                os.close(fd)

        def get_code(self, fullname):
            data = self.get_data(self.path)
            entry = Finder.compiled.get(fullname)
            self.from_cache = entry is not None and data == entry[0]
            if self.from_cache:
                return entry[1]
            return compile(data, self.path, "exec", dont_inherit=True)

    class Finder:
        modules = {}
        compiled = {}

        @classmethod
        def find_spec(cls, fullname, path=None, target=None):
            if path is None and fullname in cls.modules:
                return importlib.util.spec_from_file_location(fullname, cls.modules[fullname],
                                                              loader=Loader(fullname, cls.modules[fullname]))
            return None

    _FILE_FINDER.append(Finder)
    return Finder


def install_file_importer(modules, compiled):
    """Make `modules` importable from /tmp. `compiled` maps a module name to
    (a text, the code the zygote compiled from it): used only while the
    file's bytes, read at import time, are still that text."""
    finder = _file_finder()
    finder.modules, finder.compiled = modules, compiled
    sys.meta_path.insert(0, finder)


def site_builtins():
    """exit, quit, help, copyright, credits and license, as ``python main.py``
    has them. The jail's Python runs with -S (no site module: no dist-packages
    on sys.path), which leaves them out too, and ``print(answer); exit()``, a
    competitive programmer's early stop, ended in a NameError. Made once, before
    the first fork: by a warm jail's zygote, or by a cold jail's init."""
    import builtins

    if "exit" not in vars(builtins):
        import site  # under -S, importing it runs none of its main()

        site.setquit()
        site.setcopyright()
        site.sethelper()


def run_as_main(source, files=(), compiled=None, judge=None):
    """In a forked child whose fds 0-3 are set: put `files` in /tmp, run
    `source`, exit as Python would. `compiled`: see install_file_importer.
    `judge`: (text, code or None[, its lines]) of a judged check's judge,
    whose module the program then finds run and in sys.modules as ``__judge__``."""
    import atexit
    import builtins
    import linecache
    import traceback
    import types

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    filename = "/tmp/main.py"
    main = types.ModuleType("__main__")
    main.__dict__.update({"__builtins__": builtins, "__file__": filename})
    sys.modules["__main__"] = main
    sys.argv = [filename]
    lines = source.decode("utf-8", "replace").splitlines(True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    code = 0
    try:
        if files:
            put_files(files)
            modules = module_files(files)
            if modules:
                install_file_importer(modules, compiled or {})
        if judge is not None:
            load_judge_module(*judge)
        exec(compile(source, filename, "exec", dont_inherit=True), main.__dict__)
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException as exc:
        # Show the traceback as `python main.py` would: without this frame.
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
        code = 1
    try:
        atexit._run_exitfuncs()
        if "threading" in sys.modules:
            sys.modules["threading"]._shutdown()
    except BaseException:
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(code)


def how_it_ended(wstatus):
    """The report line for a reaped program: its exit code, or the signal that ended it."""
    if os.WIFSIGNALED(wstatus):
        return {"exit_code": -1, "signal": os.WTERMSIG(wstatus)}
    return {"exit_code": os.WEXITSTATUS(wstatus), "signal": 0}


def _exit_code(exc):
    """The process exit status Python itself would use for SystemExit."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    try:
        print(exc.code, file=sys.stderr)
    except BaseException:
        pass
    return 1


# -- judged checks ------------------------------------------------------------
# A Python check whose files hold JUDGE_FILE runs in two processes. The
# program gets /dev/null on fd 0 and, on fd 3, a socket to the judge instead
# of the report channel; the judge's module is already run in it, as
# ``__judge__`` in sys.modules, so that it can use the judge's own code for
# its side without importing or compiling it (the file is not put in /tmp).
# The judge is that file's text, run in a process of
# its own that never runs the program: its ``judge()`` is called with the
# check's stdin, stdout, stderr and report channel on fds 0-3 and the other
# end of the program's socket on fd 4, and returns the check's exit status,
# or None for "as the program ended". A warm jail keeps one judge process
# per judge text across checks (`serve_judge`), so that a check forks only
# its program; a cold jail starts one per check.
JUDGE_FILE = ".judge.py"
JUDGE_NAME = "<judge>"  # its code's file name: no path, so no traceback opens a file for it
JUDGE_MODULE = "__judge__"  # its module's name, in the judge process and the program's
_JUDGE_FDS = 5  # on 0-4 while judge() runs; a sixth, the answer's socket, is new per check


def load_judge_module(text, code, lines=None, module=None):
    """Run the judge's text as the module ``__judge__`` in this process (the
    program's of a judged check): its code (and `lines`, its text split for
    tracebacks) comes from memory, neither imported nor read from a file.
    `module`: the same text already run (`judge_module`, by the zygote
    before it forked), put in sys.modules as it is."""
    import linecache

    if lines is None:
        lines = text.decode("utf-8", "replace").splitlines(True)
    linecache.cache[JUDGE_NAME] = (len(text), None, lines, JUDGE_NAME)
    if module is not None:
        sys.modules[JUDGE_MODULE] = module
    else:
        judge_module(text, code, installed=True)


def judge_module(text, code=None, installed=False):
    """The judge's text run as a new module ``__judge__`` (`installed`: put in
    sys.modules first, as an import would)."""
    import builtins
    import types

    module = types.ModuleType(JUDGE_MODULE)
    module.__dict__["__builtins__"] = builtins
    if installed:
        sys.modules[JUDGE_MODULE] = module
    exec(code if code is not None else compile(text, JUDGE_NAME, "exec", dont_inherit=True), module.__dict__)
    return module


def split_judge(files):
    """(the judge's text or None, the files the program gets)."""
    judge, rest = None, []
    for name, content in files:
        if name == JUDGE_FILE:
            judge = content
        else:
            rest.append((name, content))
    return judge, rest


def serve_judge(text, code, ctrl_fd):
    """The judge process, forked by PID 1: run the judge's text once (`code`,
    or compiled here), then one ``judge()`` per message on `ctrl_fd` (b"C"
    and the check's stdin, stdout, stderr, report and channel fds); answer
    each on that check's own answer socket (b"exit N", or b"mirror": the
    check ends as the program did), so that no answer can be read as
    another check's. On b"S", after a check it did not judge, it kills every
    other process but PID 1 and says whether there were any (`judge_sweep`).
    It never reads a file: its code and its traceback lines come from
    `text`, in memory."""
    import builtins
    import gc
    import linecache
    import socket
    import traceback

    # Every signal a program could send it stays pending (SIGKILL and SIGSTOP
    # cannot be blocked: PID 1 watches for those).
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    os.dup2(ctrl_fd, 9)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 8)  # fds 0-4 are /dev/null between checks; 8 stays it
    null = 8
    os.closerange(0, 8)
    os.closerange(10, 1 << 16)
    for fd in range(_JUDGE_FDS):
        os.dup2(null, fd)
    ctrl = socket.socket(fileno=9)
    gc.enable()
    source = text.decode("utf-8", "replace")
    linecache.cache[JUDGE_NAME] = (len(text), None, source.splitlines(True), JUDGE_NAME)
    namespace = {"__name__": JUDGE_MODULE, "__builtins__": builtins}
    try:
        exec(code if code is not None else compile(text, JUDGE_NAME, "exec", dont_inherit=True), namespace)
        judge, broken = namespace["judge"], None
    except BaseException as exc:
        judge, broken = None, exc
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctrl, 16, _JUDGE_FDS + 1)
        except InterruptedError:
            continue
        if msg == b"S" and not fds:  # a check it did not judge ended: what it left goes (`judge_sweep`)
            try:
                os.kill(-1, signal.SIGKILL)
                swept = b"left"
            except OSError:  # no process to signal
                swept = b"swept"
            try:
                ctrl.send(swept)
            except OSError:
                os._exit(0)
            continue
        if msg != b"C" or len(fds) != _JUDGE_FDS + 1:
            os._exit(0)  # PID 1 closed the channel (or broke the protocol): done
        reply = fds.pop()  # a plain fd: a socket object costs system calls to make
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        try:
            if broken is not None:
                raise broken
            status = judge()
            answer = b"mirror" if status is None else b"exit %d" % (int(status) & 0xFF)
        except SystemExit as exc:
            answer = b"exit %d" % _exit_code(exc)
        except BaseException as exc:
            try:  # from judge() on, as `python judge.py` would show it
                traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next or exc.__traceback__)
            except BaseException:
                pass
            answer = b"exit 1"
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        for fd in range(_JUDGE_FDS):
            os.dup2(null, fd)
        # The program and all it started end with the check, before the
        # answer, whatever judge() did (PID 1 waits for the program first).
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.write(reply, answer)  # one record of a SEQPACKET socket
        except OSError:
            pass
        try:
            os.close(reply)
        except OSError:
            pass


def start_judge(text, code):
    """Fork the judge process; (its pid, PID 1's end of its control socket).

    It runs SCHED_BATCH (same share of CPU, no priority): a process of that
    policy does not preempt the running one when it wakes. Each reply the
    candidate wrote woke the judge process, which then took the candidate's
    CPU at once, read the one reply and slept again: about six more context
    switches a check than an in-process check has, each costing both. Now
    the candidate answers the calls sent ahead in a row and the judge reads
    what has come when it runs (W2: the candidate's preemptions 8.8 -> 3.0 a
    check, as in-process; the judge's and the zygote's sleeps 12.1 -> 7.9).
    Set here, by PID 1, before the judge runs a check; a candidate that
    changes it is seen (zygote.py, `JudgeProcess.usable`)."""
    import socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            ours.close()
            serve_judge(text, code, theirs.fileno())
        finally:
            os._exit(70)
    theirs.close()
    try:
        os.sched_setscheduler(pid, os.SCHED_BATCH, os.sched_param(0))
    except OSError:  # it died already: its first check finds out
        pass
    return pid, ours


def judge_check(ctrl, pid, fds):
    """Hand one check's fds (stdin, stdout, stderr, report, channel) to the
    judge process and wait for its answer: a dict, or None if it ended, was
    stopped or answered nonsense (the caller then kills it)."""
    import _socket

    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    sent = send_check(ctrl, check_message([*fds, theirs.fileno()]))
    theirs.close()
    return judge_answer(ours if sent else ours.close(), pid)


def check_message(fds):
    """The control message that hands one check's fds (stdin, stdout, stderr,
    report, channel, and the far end of the check's own answer socket) to
    the judge process; built before the fork (`send_check`)."""
    import _socket
    import array

    return [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds))]


def send_check(ctrl, message):
    """Send `check_message`'s message to the judge process; False if it is gone."""
    try:
        ctrl.sendmsg([b"C"], message)
    except OSError:
        return False
    return True


def judge_answer(ours, pid):
    """The judge process's answer on `ours` (closed here; None: no answer
    will come): {"exit_code": N} or {"mirror": True}, or None if it ended,
    was stopped or answered nonsense (the caller then kills it). PID 1
    watches it for a stop, which no one can block; most often the answer is
    there already (the judge ends the program before it answers)."""
    if ours is None:
        return None
    try:
        msg = judge_reply(ours, pid)
        if msg is None:
            return None
        if msg == b"mirror":
            return {"mirror": True}
        code = msg[5:] if msg.startswith(b"exit ") else b""
        if code.isdigit() and len(code) <= 3 and int(code) <= 255:
            return {"exit_code": int(code)}
        return None
    finally:
        ours.close()


def judge_reply(sock, pid):
    """The judge process's next message on `sock` (16 bytes at most), or None
    if it ended, was stopped, or the socket failed first."""
    import _socket
    import select

    try:
        return sock.recv(16, _socket.MSG_DONTWAIT)
    except BlockingIOError:
        pass
    except OSError:
        return None
    while True:
        try:
            ready = select.select([sock], [], [], 0.05)[0]
        except InterruptedError:
            continue
        if ready:
            try:
                return sock.recv(16)
            except OSError:
                return None
        try:
            ended, _status = os.waitpid(pid, os.WNOHANG | os.WUNTRACED)
        except ChildProcessError:
            return None
        if ended:
            return None


def judge_sweep(ctrl, pid):
    """Have the judge process kill every process in the jail but itself and
    PID 1, as it does before it answers a check: for a check it did not judge,
    PID 1 would kill it too with kill(-1). b"left" (it killed some), b"swept"
    (there were none), or None if it did not say (it ended, was stopped, or
    answered nonsense: the caller then kills it and sweeps itself)."""
    try:
        ctrl.send(b"S")
    except OSError:
        return None
    reply = judge_reply(ctrl, pid)
    return reply if reply in (b"left", b"swept") else None
