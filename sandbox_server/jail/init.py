"""Process 1 inside the jail: load seccomp, fork the program, reap, report.

This file is not imported by the server. Its text is handed to the jail's
interpreter with ``-c`` and runs there under the jail's Python (stdlib only),
so it must stay small, self-contained and compatible with Python 3.8+.

Why an init at all: a program that runs as PID 1 of its pid namespace cannot
signal itself, and orphans it leaves behind are never reaped. This init keeps
the program off PID 1, forwards termination signals to it, kills whatever the
program left behind once it exits, and reports how the program ended on a
channel the program cannot reach.

argv: PAYLOAD_FD GO_FD STATUS_FD REPORT_FD
  PAYLOAD_FD  memfd: u32 little-endian BPF length, the seccomp BPF program,
              then the program source.
  GO_FD       pipe from the supervisor: one byte once the supervisor has put
              this process into its cgroups; EOF means abort.
  STATUS_FD   pipe to the supervisor: b"R" when ready, then one JSON line.
  REPORT_FD   pipe to the supervisor, handed to the program as fd 3.
"""

import json
import os
import signal
import sys


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _load_seccomp(bpf):
    """Install a classic-BPF seccomp filter on this process and its children."""
    import ctypes

    if not bpf or len(bpf) % 8:
        raise OSError("bad seccomp program")

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = SockFprog(len(bpf) // 8, ctypes.cast(buf, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 1, 38, 22, 2
    # If nsjail dies (its own parent, the server, was killed), so does the jail.
    libc.prctl(PR_SET_PDEATHSIG, 9, None, 0, 0)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, None, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS failed")
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_SECCOMP failed")


def _run_program(source, report_fd):
    """In the forked child: run `source` as __main__, exit like `python file.py`."""
    os.dup2(report_fd, 3)
    if report_fd != 3:
        os.close(report_fd)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    import builtins
    import linecache
    import traceback
    import types

    filename = "/tmp/main.py"
    main = types.ModuleType("__main__")
    main.__dict__.update({"__builtins__": builtins, "__file__": filename})
    sys.modules["__main__"] = main
    sys.argv = [filename]
    lines = source.decode("utf-8", "replace").splitlines(True)
    linecache.cache[filename] = (len(source), None, lines, filename)
    code = 0
    try:
        exec(compile(source, filename, "exec", dont_inherit=True), main.__dict__)
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException as exc:
        # Show the traceback as `python main.py` would: without this frame.
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)
        code = 1
    try:
        import atexit

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


def main():
    payload_fd, go_fd, status_fd, report_fd = (int(a) for a in sys.argv[1:5])
    payload = _read_all(payload_fd)
    os.close(payload_fd)
    bpf_len = int.from_bytes(payload[:4], "little")
    bpf, source = payload[4 : 4 + bpf_len], payload[4 + bpf_len :]
    del payload

    status = os.fdopen(status_fd, "wb", buffering=0)
    try:
        _load_seccomp(bpf)
    except Exception as exc:
        status.write(json.dumps({"error": "seccomp: %s" % exc}).encode() + b"\n")
        os._exit(70)
    status.write(b"R")
    if os.read(go_fd, 1) != b"G":
        os._exit(71)
    os.close(go_fd)

    child = os.fork()
    if child == 0:
        status.close()
        del bpf
        _run_program(source, report_fd)
    os.close(report_fd)
    del source

    def forward(signum, _frame):
        try:
            os.kill(child, signum)
        except OSError:
            pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)

    result = None
    while True:
        try:
            pid, wstatus = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child:
            if os.WIFSIGNALED(wstatus):
                result = {"exit_code": -1, "signal": os.WTERMSIG(wstatus)}
            else:
                result = {"exit_code": os.WEXITSTATUS(wstatus), "signal": 0}
            # Whatever the program left behind dies with it.
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
    status.write(json.dumps(result).encode() + b"\n")
    os._exit(0)


main()
