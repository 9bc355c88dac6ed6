"""Process 1 inside the jail: load seccomp, fork the program, reap, report.

This file is not imported by the server. Its text is handed to the jail's
interpreter with ``-c`` and runs there under the jail's Python (stdlib only),
so it must stay small, self-contained and compatible with Python 3.8+.

Why an init at all: a program that runs as PID 1 of its pid namespace cannot
signal itself, and orphans it leaves behind are never reaped. This init keeps
the program off PID 1, forwards termination signals to it, kills whatever the
program left behind once it exits, and reports how the program ended on a
channel the program cannot reach.

Runs after program.py's text (`load_seccomp`, `site_builtins`, `run_as_main`, `how_it_ended`).

argv: PAYLOAD_FD GO_FD STATUS_FD REPORT_FD [exec]
  PAYLOAD_FD  memfd: u32 little-endian BPF length, the seccomp BPF program,
              u32 length of the packed files, the files, then the source;
              with `exec`, the source is instead a JSON object {"argv": [...]}:
              the program (a compiler, an artifact, an interpreter) that the
              child execs in place of Python, after putting the files in /tmp.
  GO_FD       pipe from the supervisor: one byte once the supervisor has put
              this process into its cgroups; EOF means abort.
  STATUS_FD   pipe to the supervisor: b"R" when ready, then one JSON line.
  REPORT_FD   pipe to the supervisor, handed to the program as fd 3.
"""

import json
import os
import signal
import sys


def _run_program(source, files, report_fd):
    """In the forked child: the report pipe becomes fd 3, then the program runs."""
    os.dup2(report_fd, 3)
    if report_fd != 3:
        os.close(report_fd)
    run_as_main(source, unpack_files(files))


def _exec_program(spec, files, report_fd):
    """In the forked child, for a program that is not Python source: fd 3
    set, then `exec_program` (its files in /tmp, its working directory)."""
    os.dup2(report_fd, 3)
    if report_fd != 3:
        os.close(report_fd)
    exec_program(spec["argv"], unpack_files(files))


def _run_judged(source, files, judge, report_fd, target):
    """A judged check (program.py) in a cold jail: fork a judge process for
    this one check and the program; how the check ended."""
    import socket

    judge_pid, judge_ctrl = start_judge(judge, None)
    program_end, judge_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    child = os.fork()
    if child == 0:
        judge_ctrl.close()
        judge_end.close()
        soft_cpu_limit()
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(program_end.fileno(), 3)
        os.closerange(4, 1 << 16)
        run_as_main(source, files, judge=(judge, None))
    target[0] = child
    program_end.close()
    answer = judge_check(judge_ctrl, judge_pid, [0, 1, 2, report_fd, judge_end.fileno()])
    judge_end.close()
    os.close(report_fd)
    for pid in (child, judge_pid):
        try:
            os.kill(pid, signal.SIGKILL)  # the program ends with its check
        except OSError:
            pass
    result = _reap(child)
    if answer is not None and "exit_code" in answer:
        result = {"exit_code": answer["exit_code"], "signal": 0}
    return result


def _reap(child):
    """Wait until no process of the jail is left; how `child` ended (whatever it left behind dies with it)."""
    result = None
    while True:
        try:
            pid, wstatus = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child:
            result = how_it_ended(wstatus)
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
    return result


def main():
    payload_fd, go_fd, status_fd, report_fd = (int(a) for a in sys.argv[1:5])
    exec_mode = sys.argv[5:6] == ["exec"]
    payload = read_to_end(payload_fd, 1 << 20)
    os.close(payload_fd)
    bpf_len = int.from_bytes(payload[:4], "little")
    bpf, rest = payload[4 : 4 + bpf_len], payload[4 + bpf_len :]
    files_len = int.from_bytes(rest[:4], "little")
    files, source = rest[4 : 4 + files_len], rest[4 + files_len :]
    del payload, rest

    status = os.fdopen(status_fd, "wb", buffering=0)
    try:
        load_seccomp(bpf)
    except Exception as exc:
        status.write(json.dumps({"error": "seccomp: %s" % exc}).encode() + b"\n")
        os._exit(70)
    status.write(b"R")
    if os.read(go_fd, 1) != b"G":
        os._exit(71)
    os.close(go_fd)

    # Termination signals sent to this init go to the program. The handler
    # is in place before the fork: a program that signals PID 1 at once
    # must not find Python's default SIGINT handler (KeyboardInterrupt here
    # would end the jail without a report). The child resets them.
    target = [0]

    def forward(signum, _frame):
        if target[0] > 0:
            try:
                os.kill(target[0], signum)
            except OSError:
                pass

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)

    if not exec_mode:
        site_builtins()
        try:
            judge, program_files = split_judge(unpack_files(files))
        except ValueError:
            judge = None  # malformed: the program's own unpacking reports it
        if judge is not None:
            del bpf
            status.write(json.dumps(_run_judged(source, program_files, judge, report_fd, target)).encode() + b"\n")
            os._exit(0)

    child = os.fork()
    if child == 0:
        status.close()
        del bpf
        soft_cpu_limit()
        if exec_mode:
            _exec_program(json.loads(source), files, report_fd)
        _run_program(source, files, report_fd)
    target[0] = child
    os.close(report_fd)
    del source, files

    result = _reap(child)
    status.write(json.dumps(result).encode() + b"\n")
    os._exit(0)


main()
