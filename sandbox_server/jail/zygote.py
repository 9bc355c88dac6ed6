"""Process 1 of a warm jail: a warm interpreter that forks one child per check.

This file is not imported by the server. Its text is handed to the jail's
interpreter with ``-c`` and runs there under the jail's Python (stdlib only),
so it must stay small, self-contained and compatible with Python 3.8+.

The zygote never runs request data. Per check it receives, over a unix
SEQPACKET socket, one fixed byte and five file descriptors: a memfd with
the check's header, source and files, a memfd with its stdin, and the write
ends of the stdout, stderr and report pipes. Of these it reads only the
Python files (``NAME.py`` and a judge's ``.judge.py``, up to
`_CACHE_FILE_MAX` bytes): it compiles each one's text itself, once, into a
small LRU of code objects keyed by the file's name and sha256 (compiling
runs nothing), so that a harness sent with every check is compiled once per
jail, not once per check. It forks; the child (only the child) reads its
program and files from the memfd, puts the fds on 0-3, closes everything
else (the control socket too), writes the files to /tmp and runs; its import
of such a file uses the cached code only if the file's bytes are still the
text it was compiled from. Nothing flows back from a child into the cache:
it holds only what the zygote compiled from request text, and the jail
serves one tenant. The zygote closes its copies at once, waits for the
child, kills whatever the child left behind (it is PID 1 of the jail's pid
namespace, so orphans are its children), empties /tmp and resets its inode
(mode, times, no xattrs), checks that nothing persistent changed (SysV IPC
objects; its own rlimits, scheduling, nice value, I/O priority, affinity),
and sends one JSON line. Any "dirty" answer makes the server recycle the
jail.

A judged check (program.py) forks only its program: the judge process is
the zygote's too, forked once per judge text and kept across checks
(`JudgeProcess`). The zygote hands it the check's stdin, stdout, stderr and
report and a socket to the program, waits for its answer while watching it
for a stop, then kills the program. The judge kills every other process
before it answers; the zygote skips its own sweep (which would kill the
judge) and reports the judge's pid, and the server counts the jail's
processes, so a judge that left one behind costs the jail. A judge that was
killed, stopped, rescheduled or answered out of protocol fails its check and
is replaced before the next one.

A check cannot reach the zygote itself: it is non-dumpable (no pidfd_getfd,
ptrace or process_vm_* on it, whatever the filter), and as PID 1 of its pid
namespace it never receives a signal from inside the jail that it leaves at
the default disposition, which is every signal it does not ignore.

Runs after program.py's text (`load_seccomp`, `site_builtins`, `run_as_main`, `how_it_ended`,
and the judged checks' `split_judge`, `judge_module`, `start_judge`,
`check_message`, `send_check`, `judge_answer`), itself after the line
``TRUSTED_JUDGES = (...)`` (warm.py: judge texts the server holds, run here
once before the first fork; see `_PRERUN`).

An exec jail (warm.py's `Artifact`: a built program run again, one run per
stdin test) holds a zygote too, in its language's run jail with the build
directory read-only at /build. Its checks carry no Python: each child execs
the argv its job names (`exec_program`, as the cold jail's init does), and
the zygote compiles nothing; the sweep, the /tmp reset and the checks after
each run are the same.

argv: BPF_FD CTRL_FD [--exec | MODULE...]
  BPF_FD   memfd: the seccomp BPF program, loaded once here (children
           inherit it: it cannot be removed).
  CTRL_FD  SEQPACKET socket to the server: b"R" when ready; per check the
           server sends b"G" with 5 fds, the zygote answers one JSON line.
  --exec   an exec jail: each job's source is {"argv": [...]}, run by exec.
  MODULE   modules the server's config preloads (`preload`), imported here
           under the filter, before the first fork.
"""

import gc
import json
import os
import signal
import socket
import sys
import _socket  # a judged check's sockets, without socket.py's wrapper objects

import collections
import ctypes
import resource

EXEC_FLAG = "--exec"
_EXEC_JAIL = sys.argv[3:4] == [EXEC_FLAG]  # an exec jail (see the docstring)
# Modules most checks import, loaded once so that children start warm.
# Nothing stateful that a forked child would share with its siblings (no
# random: its seed would be the same in every child). An exec jail's
# children run no Python: it skips them (~12 ms of CPU less per jail start).
if not _EXEC_JAIL:
    import builtins, linecache, traceback, types, atexit  # noqa: E401,F401  (used by the child)
    import typing, math, re, itertools, functools, string, heapq, bisect, copy  # noqa: E401,F401
    import hashlib  # noqa: F401  (sha256: the code cache's keys)
    import select  # noqa: F401  (waiting for a judge process's answer)
    import importlib.machinery, importlib.util  # noqa: E401,F401  (the child's importer of arrived files)
    import warnings

_NFDS = 5
# u32 CPU seconds, u32 source size, u32 packed files size, u32 the judge: k when
# it is TRUSTED_JUDGES[k - 1], which the server then leaves out of the files
# (trusted_judges.py, `leave_out`), 0 when it is in them or there is none.
_HEADER = 16
# The code cache: a file over _CACHE_FILE_MAX bytes is not compiled here (a
# hostile text of that size compiles in well under 0.1 s, and fails cleanly
# if it nests too deep), nor files past _CACHE_CHECK_MAX new bytes in one
# check; the LRU keeps _CACHE_ENTRIES code objects. The compiles count in
# the check's CPU and memory (the zygote sits in the check's cgroups).
_CACHE_FILE_MAX = 64 * 1024
_CACHE_CHECK_MAX = 256 * 1024
_CACHE_ENTRIES = 32
# Unjudged checks in a row after which the warm judge process goes: each one
# it outlives costs a wake-up of it to sweep up after the check, and a new
# one costs its start and a compile per problem (~3 ms of CPU a check, W2).
_JUDGE_IDLE_CHECKS = 16
_RLIMITS = [getattr(resource, n) for n in dir(resource) if n.startswith("RLIMIT_")]


# A fixed program (never request data) run once before the first fork: the
# first compile in a process costs ~1 ms of lazy set-up, and so does the
# first traceback. Run here, every child starts past them.
_WARMUP = """
from typing import List
def f(xs: List[int]) -> int:
    return sum(x * 2 for x in xs if x % 2 == 0)
def check(candidate):
    assert candidate([1, 2, 3, 4]) == 12
    assert abs(1.5 - 1.0) < 1 and [*map(str, range(3))] == ["0", "1", "2"]
check(f)
("%s %d" % ("a", 1)).encode("utf-8", "replace")[:10]
"""


def _preload(names):
    """Import the configured modules once, so a check that imports them finds
    them loaded. Each child still gets its own copy (a fork): nothing a check
    does to them reaches the next. NumPy's global random state, seeded at
    import, would be the same in every child: each child reseeds it, as
    CPython's `random` reseeds itself after a fork."""
    import importlib

    for name in names:
        importlib.import_module(name)
    np_random = sys.modules.get("numpy.random")
    if np_random is not None:
        os.register_at_fork(after_in_child=np_random.seed)


# A fixed module imported once the way a check imports a file it sent: the
# importer's classes and its first import's lazy set-up are then the
# zygote's, not every child's.
_WARMUP_MODULE = """
import json, os, signal
class Error(ValueError):
    pass
class Ended(BaseException):
    pass
def f(x):
    return json.dumps(x)
"""


def _warm_up():
    import io

    # Both ways checks arrive: the source as bytes, and a str compiled by it.
    exec(compile(_WARMUP.encode(), "/tmp/main.py", "exec", dont_inherit=True), {})
    exec(compile(_WARMUP, "<check>", "exec"), {})
    path, text = "/tmp/sandcheck_warmup.py", _WARMUP_MODULE.encode()
    put_files([(path[5:], text)])
    try:
        code = compile(text, path, "exec", dont_inherit=True)
        install_file_importer({"sandcheck_warmup": path}, {"sandcheck_warmup": (text, code)})
        __import__("sandcheck_warmup")
    finally:
        sys.meta_path.remove(_file_finder())
        sys.modules.pop("sandcheck_warmup", None)
        os.unlink(path)
    try:
        exec(compile("def g():\n    raise ValueError('x')\ng()\n", "<warmup>", "exec"), {})
    except ValueError as exc:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=io.StringIO())
    linecache.clearcache()


# The judge texts the server holds itself (warm.py puts its TRUSTED_JUDGES
# in front of this script; never request data), run here once each as the
# module a judged check's program finds (program.py, ``__judge__``): a check
# whose judge is byte for byte one of them (sha256) gets that module in its
# forked child, already run, instead of running the text itself (~0.35 ms of
# CPU and ~130 copied pages a check). {sha256: (module, code, lines)}; and
# by the header's number (`_header`), what `CodeCache._judge` gives a check.
_PRERUN = {}
_PRERUN_NUMBERED = {}


def _prerun_judges(texts):
    for number, text in enumerate(texts, 1):
        code = compile(text, JUDGE_NAME, "exec", dont_inherit=True)
        digest, lines = sha256(text), text.decode("utf-8", "replace").splitlines(True)
        _PRERUN[digest] = (judge_module(text, code), code, lines)
        _PRERUN_NUMBERED[number] = (digest, code, text, lines)


libc = ctypes.CDLL(None, use_errno=True)


def _ipc_objects():
    """How many SysV shm segments, semaphore sets and message queues exist."""
    buf = ctypes.create_string_buffer(256)
    count = 0
    if libc.shmctl(0, 14, buf) >= 0:  # SHM_INFO: struct shm_info, first int used_ids
        count += ctypes.c_int.from_buffer(buf, 0).value
    buf = ctypes.create_string_buffer(256)
    if libc.semctl(0, 0, 19, buf) >= 0:  # SEM_INFO: struct seminfo, semusz (8th int) = sets in use
        count += ctypes.c_int.from_buffer(buf, 7 * 4).value
    buf = ctypes.create_string_buffer(256)
    if libc.msgctl(0, 12, buf) >= 0:  # MSG_INFO: struct msginfo, msgpool (1st int) = queues in use
        count += ctypes.c_int.from_buffer(buf, 0).value
    return count


_SYS_SCHED_GETATTR, _SYS_IOPRIO_GET, _IOPRIO_WHO_PROCESS = 315, 252, 1
libc.syscall.restype = ctypes.c_long


def _scheduling(pid=0):
    """A process's struct sched_attr (policy, flags, nice, priority,
    deadline parameters, utilization clamps) and its I/O priority."""
    attr = ctypes.create_string_buffer(56)  # SCHED_ATTR_SIZE_VER1
    if libc.syscall(ctypes.c_long(_SYS_SCHED_GETATTR), pid, attr, 56, 0) != 0:
        raise OSError(ctypes.get_errno(), "sched_getattr")
    ioprio = libc.syscall(ctypes.c_long(_SYS_IOPRIO_GET), _IOPRIO_WHO_PROCESS, pid)
    return attr.raw[4:], ioprio  # bytes 0-3: the struct's size


def _state():
    """What a child can change in this process from outside (same uid):
    rlimits (the filter refuses it; checked anyway), scheduling policy,
    priority, nice, I/O priority, CPU affinity."""
    return (tuple(resource.getrlimit(r) for r in _RLIMITS), *_placement(0))


def _placement(pid):
    """A process's scheduling (`_scheduling`) and CPU affinity."""
    return _scheduling(pid), tuple(sorted(os.sched_getaffinity(pid)))


def _tmp_state():
    """/tmp's own inode: what a check could leave on it for the next one."""
    st = os.stat("/tmp")
    return (st.st_mode, st.st_uid, st.st_gid, st.st_atime_ns, st.st_mtime_ns, tuple(os.listxattr("/tmp")))


def _reset_tmp(baseline):
    """Empty /tmp and give it back its first mode, times and (no) xattrs;
    raise unless it then looks exactly as the first check found it. The
    zygote owns /tmp (uid 1000, like the checks), so it can."""
    mode, _uid, _gid, atime, mtime, xattrs = baseline
    st = os.stat("/tmp")
    if st.st_mode != mode:
        os.chmod("/tmp", mode & 0o7777)  # first, or a 0555 /tmp cannot be wiped
    _wipe("/tmp")
    for name in os.listxattr("/tmp"):  # user.*, and POSIX ACLs (system.posix_acl_*)
        if name not in xattrs:  # (a host's security.* label stays)
            os.removexattr("/tmp", name)
    os.utime("/tmp", ns=(atime, mtime))
    if _tmp_state() != baseline:
        raise OSError("/tmp differs from its first state")


def _wipe(path):
    """Remove everything under `path`; raise if something stays."""
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            os.chmod(entry.path, 0o700)
            _wipe(entry.path)
            os.rmdir(entry.path)
        else:
            os.unlink(entry.path)


def _child(fds, ctrl, compiled, channel=None):
    """In the forked child: take this check's fds, read the program, run it.
    A judged check's program gets /dev/null on fd 0 and its `channel` to the
    judge on fd 3; its stdin and report go to the judge process only."""
    job, stdin, out, err, report = fds
    ctrl.close()
    cpu_s, size, files_size, _judge_number = _header(job)
    source = _pread_all(job, size, _HEADER)
    files = unpack_files(_pread_all(job, files_size, _HEADER + size))
    judge = None
    if channel is not None:
        files = split_judge(files)[1]
        digest, code, text, lines = compiled[JUDGE_FILE]
        judge = (text, code, lines, _PRERUN.get(digest, (None,))[0])
        stdin, report = os.open("/dev/null", os.O_RDONLY), channel
    for src, dst in ((stdin, 0), (out, 1), (err, 2), (report, 3)):
        os.dup2(src, dst)
    os.closerange(4, 1 << 16)
    if cpu_s:
        # A per-process backstop; the server counts CPU across all processes.
        # Soft below hard: the kernel sends SIGXCPU (a CPU timeout) a second
        # before its SIGKILL.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    # The zygote's own objects stay frozen (never collected, so their pages
    # are not copied by the collector); the program's objects are collected.
    gc.enable()

    run_as_main(source, files, compiled, judge)


def _exec_child(fds, ctrl, _compiled):
    """In the forked child of an exec jail: take this run's fds, read its
    argv and files, and exec it under the same CPU backstop as a Python check."""
    job, stdin, out, err, report = fds
    ctrl.close()
    cpu_s, size, files_size, _judge_number = _header(job)
    argv = json.loads(_pread_all(job, size, _HEADER))["argv"]
    files = unpack_files(_pread_all(job, files_size, _HEADER + size))
    for src, dst in ((stdin, 0), (out, 1), (err, 2), (report, 3)):
        os.dup2(src, dst)
    os.closerange(4, 1 << 16)
    if cpu_s:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 1))
    exec_program(argv, files)


def _header(job):
    header = os.pread(job, _HEADER, 0)
    return tuple(int.from_bytes(header[i:i + 4], "little") for i in (0, 4, 8, 12))


def _pread_all(fd, size, offset):
    data = b""
    while len(data) < size:
        chunk = os.pread(fd, size - len(data), offset + len(data))
        if not chunk:
            raise ValueError("short job memfd")
        data += chunk
    return data


class CodeCache:
    """Code objects the zygote compiled from the text of Python files that
    arrived with checks, keyed by (module name, sha256 of the text); LRU."""

    def __init__(self):
        self.entries = collections.OrderedDict()
        self.last_judge = None

    def for_check(self, job):
        """{module name: (text, code)} for this check's Python files,
        compiling those not cached yet. A file that does not compile cleanly
        (an error, even a warning) is left to the child, which reports it."""
        _cpu_s, size, files_size, judge_number = _header(job)
        compiled, budget = {}, _CACHE_CHECK_MAX
        if judge_number in _PRERUN_NUMBERED:  # a text the server holds, not in the files
            compiled[JUDGE_FILE] = _PRERUN_NUMBERED[judge_number]
        at, end = _HEADER + size, _HEADER + size + files_size
        count = int.from_bytes(os.pread(job, 4, at), "little")
        at += 4
        for _ in range(count):
            name_len = int.from_bytes(os.pread(job, 4, at), "little")
            name = os.pread(job, name_len, at + 4).decode("utf-8", "replace")
            at += 4 + name_len
            content_len = int.from_bytes(os.pread(job, 4, at), "little")
            at += 4
            module = name[:-3]
            if name == JUDGE_FILE and at + content_len <= end:
                compiled[JUDGE_FILE] = self._judge(_pread_all(job, content_len, at))
            elif name.endswith(".py") and module.isidentifier() and content_len <= _CACHE_FILE_MAX and at < end:
                text = _pread_all(job, content_len, at)
                key = (module, sha256(text))
                code = self.entries.get(key)
                if code is None and content_len <= budget:
                    budget -= content_len
                    code = self._compile(text, "/tmp/" + name)
                if code is not None:
                    self.entries[key] = code
                    self.entries.move_to_end(key)
                    compiled[module] = (text, code)
            at += content_len
        while len(self.entries) > _CACHE_ENTRIES:
            self.entries.popitem(last=False)
        return compiled

    def _judge(self, text):
        """(sha256, code or None, text, its lines) of a judge's text; compiled
        here at most once while it stays in the LRU (the judge process
        compiles a text left uncompiled itself, and reports what is wrong
        with it). The same text as the last check's (a harness sent with
        every check) is neither hashed nor split into lines again."""
        last = self.last_judge
        if last is not None and last[2] == text:
            digest, lines = last[0], last[3]
        else:
            digest, lines = sha256(text), text.decode("utf-8", "replace").splitlines(True)
        prerun = _PRERUN.get(digest)
        if prerun is not None:
            self.last_judge = (digest, prerun[1], text, prerun[2])
            return self.last_judge
        key = (JUDGE_NAME, digest)
        code = self.entries.get(key)
        if code is None and len(text) <= _CACHE_FILE_MAX:
            code = self._compile(text, JUDGE_NAME)
        if code is not None:
            self.entries[key] = code
            self.entries.move_to_end(key)
        self.last_judge = (digest, code, text, lines)
        return self.last_judge

    @staticmethod
    def _compile(text, filename):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                code = compile(text, filename, "exec", dont_inherit=True)
        except BaseException:  # SyntaxError, RecursionError, MemoryError, ValueError...
            return None
        return None if caught else code


class JudgeProcess:
    """The warm judge process of one judge text (program.py, judged checks):
    forked once, it judges check after check, and outlives unjudged checks
    in between (it sweeps up after them: `judge_sweep`). A program of the
    same uid can kill it, stop it or lower its scheduling; each costs that
    program's own check at most, and the next judged check finds it
    replaced (`usable`)."""

    def __init__(self, key, text, code):
        self.key = key
        self.pid, self.ctrl = start_judge(text, code)
        try:
            self.placement = _placement(self.pid)  # as started: SCHED_BATCH (start_judge)
        except OSError:
            self.placement = None

    def usable(self, key):
        """Alive, not stopped, for this text, and scheduled as it started."""
        try:
            if key != self.key or os.waitpid(self.pid, os.WNOHANG | os.WUNTRACED)[0]:
                return False
            return _placement(self.pid) == self.placement
        except OSError:
            return False

    def close(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        self.ctrl.close()


def _run_judged(fds, ctrl, compiled, judge):
    """Run a judged check: fork its program, hand the rest to the warm judge
    process (started or replaced first when needed), and wait for the
    program's end, then the judge's answer. (how it ended, the judge process
    or None if it must not judge again)."""
    key, code, text, _lines = compiled[JUDGE_FILE]
    if judge is not None and not judge.usable(key):
        judge.close()
        judge = None
    if judge is None:
        judge = JudgeProcess(key, text, code)
    # Made here, before the fork, and with _socket's own objects (fewer
    # pages touched: after the fork each one is a fault, and a copy while
    # the program lives).
    program_end, judge_end = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    answers, answer_end = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    handoff = [*fds[1:], judge_end.detach(), answer_end.detach()]
    message = check_message(handoff)
    ours = [program_end.detach(), *handoff[-2:], *fds]
    child = os.fork()
    if child == 0:
        try:
            judge.ctrl.close()
            answers.close()
            _child(fds, ctrl, compiled, ours[0])
        finally:
            os._exit(70)
    # Until the program ends, each page this process writes is copied: only
    # system calls here. The check goes to the judge once the program
    # exists, so that the judge's sweep before it answers finds it.
    sent = send_check(judge.ctrl, message)
    for fd in ours:
        os.close(fd)
    ended, judge_ok = _wait_program(child, judge.pid) if sent else (None, False)
    answer = judge_answer(answers if judge_ok else answers.close(), judge.pid)
    if answer is None:  # killed, stopped, or out of protocol: the check fails without its report
        judge.close()
        judge = None
    if ended is None:
        try:
            os.kill(child, signal.SIGKILL)  # the program ends with its check
        except OSError:
            pass
        while True:
            try:
                ended = how_it_ended(os.waitpid(child, 0)[1])
                break
            except InterruptedError:
                continue
    if answer is not None and "exit_code" in answer:
        ended = {"exit_code": answer["exit_code"], "signal": 0}
    return ended, judge


def _wait_program(child, judge_pid):
    """Block until the program ends (the judge ends it before it answers), or
    the judge process stops or dies first: (how the program ended or None,
    whether the judge may still answer). One wait, no polling."""
    while True:
        try:
            pid, wstatus = os.waitpid(-1, os.WUNTRACED)
        except InterruptedError:
            continue
        except ChildProcessError:
            return None, False
        if pid == child and not os.WIFSTOPPED(wstatus):
            return how_it_ended(wstatus), True
        if pid == judge_pid:
            return None, False
        # Else an orphan of the program, reaped here, or the program stopped (its check waits on).


def _answer(ended, dirty, judge_pid):
    """The check's one JSON answer: how it ended (two ints), the dirt found,
    the warm judge process's pid. The usual one, with no dirt, is formatted
    here without json: every page this process writes after a fork is a
    fault, and json.dumps writes ~20 of them a check."""
    if dirty:
        result = dict(ended, dirty=dirty)
        if judge_pid:
            result["judge_pid"] = judge_pid
        return json.dumps(result).encode()
    answer = b'{"exit_code": %d, "signal": %d, "dirty": []' % (ended["exit_code"], ended["signal"])
    return answer + (b', "judge_pid": %d}' % judge_pid if judge_pid else b"}")


def _serve(ctrl, baseline, tmp_baseline):
    cache = CodeCache()
    judge = None
    unjudged = 0  # checks since the judge process last judged one
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctrl, 16, _NFDS)
        except InterruptedError:
            continue
        if not msg:
            return  # the server closed the channel: this jail is done
        if msg != b"G" or len(fds) != _NFDS:
            for fd in fds:
                os.close(fd)
            ctrl.sendall(json.dumps({"error": "bad request on the control channel"}).encode())
            return
        try:
            compiled = {} if _EXEC_JAIL else cache.for_check(fds[0])
        except Exception:  # a short memfd: the child fails on it and says so
            compiled = {}
        if JUDGE_FILE in compiled:
            result, judge = _run_judged(fds, ctrl, compiled, judge)
            swept = b"swept"  # the judge killed the rest before it answered
            unjudged = 0
        else:
            unjudged += 1
            if judge is not None and unjudged > _JUDGE_IDLE_CHECKS:
                judge.close()  # the sweep below ends what the program leaves
                judge = None
            child = os.fork()
            if child == 0:
                try:
                    (_exec_child if _EXEC_JAIL else _child)(fds, ctrl, compiled)
                finally:
                    os._exit(70)
            for fd in fds:
                os.close(fd)
            result = None
            while result is None:
                try:
                    pid, wstatus = os.waitpid(-1, 0)
                except InterruptedError:
                    continue
                if pid == child:
                    result = how_it_ended(wstatus)
                elif judge is not None and pid == judge.pid:  # the program ended it
                    judge.ctrl.close()
                    judge = None
            # A warm judge process outlives a few of the tenant's checks that no
            # judge judges (a dataset may mix them with judged ones): it, not a
            # kill(-1) from here, which would end it too, kills what they leave.
            swept = judge_sweep(judge.ctrl, judge.pid) if judge is not None else None
            if judge is not None and swept is None:
                judge.close()
                judge = None
        if judge is None:
            # Whatever the program left behind dies with it (PID 1 is spared).
            try:
                os.kill(-1, signal.SIGKILL)
                leftovers = True
            except OSError:
                leftovers = False
            while True:
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    break
                except InterruptedError:
                    continue
        else:
            # The judge killed every other process before it answered, or when
            # asked after a check it did not judge (a judge that did not is
            # caught by the server: it counts the jail's processes). Reap
            # them; the judge itself stays. A program of an unjudged check
            # that left processes dirties the jail, as without a judge.
            leftovers = swept == b"left"
            while True:
                try:
                    pid, _status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                except InterruptedError:
                    continue
                if pid == 0:
                    break
                if pid == judge.pid:  # it died after answering
                    judge.ctrl.close()
                    judge = None
                    break
        dirty = []
        if leftovers:
            dirty.append("leftover processes")
        try:
            _reset_tmp(tmp_baseline)
        except Exception as exc:
            dirty.append("tmp not reset: %s" % type(exc).__name__)
        try:
            if _ipc_objects():
                dirty.append("SysV IPC objects left")
            if _state() != baseline:
                dirty.append("zygote limits or scheduling changed")
        except Exception as exc:
            dirty.append("state check failed: %s" % type(exc).__name__)
        ctrl.sendall(_answer(result, dirty, judge.pid if judge is not None else 0))


def main():
    bpf_fd, ctrl_fd = int(sys.argv[1]), int(sys.argv[2])
    ctrl = socket.socket(fileno=ctrl_fd)
    bpf = read_to_end(bpf_fd)
    os.close(bpf_fd)
    try:
        load_seccomp(bpf)
    except Exception as exc:
        ctrl.sendall(json.dumps({"error": "seccomp: %s" % exc}).encode())
        os._exit(70)
    del bpf
    # PID 1 of its pid namespace: a signal from inside the jail whose
    # disposition is the default is dropped by the kernel. Python's own
    # SIGINT handler would let a check kill the zygote with os.kill(1, 2);
    # the forked child puts it back (run_as_main).
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        _preload(sys.argv[4 if _EXEC_JAIL else 3:])
    except BaseException as exc:
        ctrl.sendall(json.dumps({"error": "preload: %s: %s" % (type(exc).__name__, exc)}).encode())
        os._exit(70)
    baseline = _state()
    if not _EXEC_JAIL:
        site_builtins()  # noqa: F821  (program.py's text)
        _warm_up()
        try:
            _prerun_judges(TRUSTED_JUDGES)  # noqa: F821  (put in front of this script by warm.py)
        except BaseException as exc:
            ctrl.sendall(json.dumps({"error": "trusted judge: %s: %s" % (type(exc).__name__, exc)}).encode())
            os._exit(70)
    tmp_baseline = _tmp_state()
    # Keep the warm heap out of the collector's way: children then touch
    # (and copy) fewer pages.
    gc.collect()
    gc.disable()
    gc.freeze()
    # Give back the heap that start-up freed (~1 MB): each fork copies the
    # page table of every resident page.
    getattr(libc, "malloc_trim", lambda _pad: 0)(0)
    ctrl.sendall(b"R")
    _serve(ctrl, baseline, tmp_baseline)
    os._exit(0)


main()
