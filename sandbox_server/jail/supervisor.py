"""Run one program in a fresh nsjail and report how it ended.

The supervisor starts nsjail, waits for the jail's init to report ready,
moves the init into the slot's cgroups, lets it start the program, and then
enforces the CPU and wall limits in milliseconds (polling the cgroup's CPU
counter), caps the output it keeps, and classifies the end from facts it
owns: which limit it fired, the cgroup's OOM counter, the init's report.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..limits import Limits
from .cgroups import CgroupSlot
from .limit_clock import LimitClock, runqueue_wait_s
from .nsjail_config import per_run_args
from .runtime import Runtime

def jail_script(name: str) -> str:
    """The text of a script run in the jail with ``-c``: program.py, then `name`."""
    here = Path(__file__).parent
    return (here / "program.py").read_text() + "\n\n" + (here / name).read_text()


INIT_SOURCE = jail_script("init.py")
# util-linux's setpriv sets PR_SET_PDEATHSIG and execs: no preexec_fn, which
# is unsafe in a threaded server.
PDEATHSIG_PREFIX = ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--"] if os.path.exists("/usr/bin/setpriv") else []
_LDSO_NOISE = re.compile(rb"^[^\n]*: no version information available \(required by [^\n]*\n", re.M)
_READY_TIMEOUT_S = 20.0
_REPORT_CAP = 4096
# The init's status channel carries b"R" and one short JSON line; the warm
# zygote's answer is one short JSON message. More than this is not theirs.
STATUS_CAP = 4096
_CHUNK = 65536


@dataclass
class Outcome:
    """Facts about one execution (the server's view; no verdict)."""

    status: str
    timeout_kind: str = ""
    exit_code: int = -1
    signal: int = 0
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    report: bytes = b""
    wall_time_ms: int = 0
    cpu_time_ms: int = 0
    memory_bytes: int = 0
    error: str = ""
    limits: Limits = field(default_factory=Limits)
    # SANDBOX_ERROR without running: overload or shutdown; safe to resend.
    rejected: bool = False


class SandboxFault(Exception):
    """The jail failed; the program's behaviour is unknown (SANDBOX_ERROR)."""


class JailBroken(Exception):
    """A channel only the jail's PID 1 can write carried something PID 1
    never sends: the program broke into PID 1. That is the program's
    result (`jail_broken`), not a fault of the service."""


def jail_broken(outcome: Outcome, why: str) -> Outcome:
    """The result of a program that broke its jail: killed (SIGNALED, SIGKILL), with the reason."""
    outcome.status, outcome.signal, outcome.exit_code = "SIGNALED", signal.SIGKILL, -1
    outcome.error = f"the program broke its jail: {why}"
    return outcome


class _Capped:
    """A byte buffer that keeps the first `cap` bytes and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parts: list[bytes] = []
        self.size = 0
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = self.cap - self.size
        if room > 0:
            kept = data[:room]
            self.parts.append(kept)
            self.size += len(kept)
        self.dropped += max(0, len(data) - max(room, 0))

    def value(self) -> bytes:
        return b"".join(self.parts)


class Supervisor:
    """Launches jails for one server: nsjail binary, config file, runtime, policy."""

    def __init__(self, nsjail: str, config_path: str, runtime: Runtime, seccomp_bpf: bytes, ncpu: int) -> None:
        self.nsjail = nsjail
        self.config_path = config_path
        self.runtime = runtime
        self.seccomp_bpf = seccomp_bpf
        self.ncpu = max(1, ncpu)

    def run(self, slot: CgroupSlot, outside_uid: int, source: bytes, stdin: bytes, limits: Limits, max_tasks: int) -> Outcome:
        slot.prepare(limits.memory_bytes, max_tasks)
        fds: list[int] = []
        proc = None
        try:
            payload = os.memfd_create("sandcheck-payload", os.MFD_CLOEXEC)
            fds.append(payload)
            os.write(payload, len(self.seccomp_bpf).to_bytes(4, "little") + self.seccomp_bpf)
            _write_all(payload, source)
            os.lseek(payload, 0, os.SEEK_SET)
            go_r, go_w = os.pipe()
            status_r, status_w = os.pipe()
            report_r, report_w = os.pipe()
            log_r, log_w = os.pipe()
            fds += [go_r, go_w, status_r, status_w, report_r, report_w, log_r, log_w]
            child_fds = [payload, go_r, status_w, report_w]
            argv = [
                # nsjail dies with the server thread that started it.
                *PDEATHSIG_PREFIX,
                self.nsjail, "--config", self.config_path,
                *per_run_args(outside_uid, limits.cpu_time_ms, limits.wall_time_ms, log_w, child_fds),
                "--", *self.runtime.argv(INIT_SOURCE, *(str(fd) for fd in child_fds)),
            ]
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(*child_fds, log_w),
                env={},
                start_new_session=True,
            )
            for fd in (payload, go_r, status_w, report_w, log_w):
                os.close(fd)
                fds.remove(fd)
            return self._supervise(proc, slot, go_w, status_r, report_r, log_r, stdin, limits)
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if proc is not None:
                _reap(proc)
            slot.kill_all()

    def _supervise(self, proc, slot, go_w, status_r, report_r, log_r, stdin, limits) -> Outcome:
        status_buf = bytearray()
        log = _Capped(65536)
        # 1. Wait for the init to be ready, then put it in the cgroups.
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while b"R" not in status_buf[:1]:
            if time.monotonic() > deadline:
                raise SandboxFault("jail did not start in time")
            chunk = _read_with_timeout(status_r, deadline - time.monotonic())
            if chunk is None:
                continue
            if not chunk:
                proc.wait(timeout=5)
                log.add(_drain(log_r))
                err = _drain(proc.stderr) if proc.stderr else b""
                raise SandboxFault(
                    "jail failed to start: " + _clean(log.value() + err + bytes(status_buf)).decode(errors="replace")
                )
            status_buf += chunk
            if len(status_buf) > STATUS_CAP:  # only the init writes here yet
                raise SandboxFault("jail init wrote more than a status")
        del status_buf[:1]
        init_pid = _child_of(proc.pid)
        slot.attach(init_pid)
        os.write(go_w, b"G")  # closed by run(), which owns every fd it made
        start = time.monotonic()

        # 2. Run: collect output, enforce limits.
        out, err, rep = _Capped(limits.output_bytes), _Capped(limits.output_bytes), _Capped(_REPORT_CAP)
        sel = selectors.DefaultSelector()
        for f, sink in ((proc.stdout, out), (proc.stderr, err)):
            os.set_blocking(f.fileno(), False)
            sel.register(f.fileno(), selectors.EVENT_READ, sink)
        for fd, sink in ((report_r, rep), (log_r, log), (status_r, None)):
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ, sink)
        stdin_view = memoryview(stdin)
        if stdin:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "stdin")
        clock = LimitClock(limits, start, self.ncpu, slot.cpu_ns, lambda: runqueue_wait_s(slot.pids()))
        killed = broken = ""
        while sel.get_map():
            now = time.monotonic()
            if not killed:
                killed = clock.expired(now)
                if killed:
                    _kill(init_pid)
            wait = 0.05 if killed else clock.next_poll(now)
            for key, _ in sel.select(wait):
                fd, sink = key.fd, key.data
                if sink == "stdin":
                    try:
                        n = os.write(fd, stdin_view[:_CHUNK])
                        stdin_view = stdin_view[n:]
                    except (BrokenPipeError, BlockingIOError) as exc:
                        if isinstance(exc, BlockingIOError):
                            continue
                        stdin_view = stdin_view[:0]
                    if not stdin_view:
                        sel.unregister(fd)
                        proc.stdin.close()
                    continue
                try:
                    chunk = os.read(fd, _CHUNK)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(fd)
                    continue
                if sink is None:
                    status_buf += chunk
                    if len(status_buf) > STATUS_CAP and not broken:
                        broken = f"more than {STATUS_CAP} bytes on the init's status pipe"
                        sel.unregister(fd)
                        if not killed:
                            killed = "broken"
                            _kill(init_pid)
                else:
                    sink.add(chunk)
            if killed and time.monotonic() - now > 10:
                break
        wall_ms = int((time.monotonic() - start) * 1000)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        slot.kill_all()
        usage = slot.usage()
        outcome = Outcome(
            status="",
            stdout=out.value(),
            stderr=_clean(err.value()),
            stdout_truncated=out.dropped > 0,
            stderr_truncated=err.dropped > 0,
            report=rep.value(),
            wall_time_ms=wall_ms,
            cpu_time_ms=usage.cpu_ns // 1_000_000,
            memory_bytes=usage.peak_memory_bytes,
            limits=limits,
        )
        if broken:
            return jail_broken(outcome, broken)
        try:
            init_report = _parse_status(bytes(status_buf))
        except JailBroken as exc:
            return jail_broken(outcome, str(exc))
        if killed:
            outcome.status, outcome.timeout_kind, outcome.signal = "TIMEOUT", killed, signal.SIGKILL
            return outcome
        if init_report is None:
            if usage.oom_kills:
                outcome.status, outcome.signal = "MEMORY_LIMIT", signal.SIGKILL
                return outcome
            raise SandboxFault(
                f"jail ended without a report (nsjail exit {proc.returncode}): "
                + _clean(log.value()).decode(errors="replace")[-2000:]
            )
        return classify_end(outcome, init_report, usage.oom_kills)


def classify_end(outcome: Outcome, report: dict, oom_kills: int) -> Outcome:
    """Status of a program the supervisor did not kill, from the init's
    report of how it ended and the cgroup's OOM-kill count."""
    outcome.exit_code = report.get("exit_code", -1)
    outcome.signal = report.get("signal", 0)
    if outcome.signal == signal.SIGXCPU:  # the per-process RLIMIT_CPU backstop
        outcome.status, outcome.timeout_kind = "TIMEOUT", "CPU"
    elif oom_kills and outcome.exit_code != 0:
        outcome.status = "MEMORY_LIMIT"
    elif outcome.signal:
        outcome.status = "SIGNALED"
    elif outcome.exit_code != 0:
        outcome.status = "NONZERO_EXIT"
    elif outcome.stdout_truncated or outcome.stderr_truncated:
        outcome.status = "OUTPUT_LIMIT"
    else:
        outcome.status = "OK"
    return outcome


def _parse_status(buf: bytes) -> dict | None:
    """The init's one report line after b"R": None if it wrote nothing (it
    died); JailBroken if there is anything but one report of its shape."""
    if not buf:
        return None
    return parse_report(buf, "the init's status pipe", newline=True)


def parse_report(msg: bytes, channel: str, newline: bool = False, error_is_fault: bool = False) -> dict:
    """A report from PID 1, exactly as init.py and zygote.py write it
    (`how_it_ended`, plus the zygote's "dirty" list); anything else is
    JailBroken, since no one else can write on `channel`. With
    `error_is_fault`, PID 1's own {"error": ...} answer is a SandboxFault."""
    if newline:
        if not msg.endswith(b"\n") or msg.count(b"\n") != 1:
            raise JailBroken(f"not one line on {channel}")
    try:
        value = json.loads(msg)
    except (ValueError, RecursionError):
        raise JailBroken(f"not JSON on {channel}") from None
    if not isinstance(value, dict):
        raise JailBroken(f"not a report on {channel}")
    if error_is_fault and set(value) == {"error"} and isinstance(value["error"], str):
        raise SandboxFault(f"jail failed: {value['error'][:500]}")
    code, sig = value.get("exit_code"), value.get("signal")
    if type(code) is not int or type(sig) is not int or not -1 <= code <= 255 or not 0 <= sig < 65:
        raise JailBroken(f"not a report on {channel}")
    dirty = value.get("dirty", [])
    if not isinstance(dirty, list) or not all(isinstance(d, str) for d in dirty) or set(value) - {"exit_code", "signal", "dirty"}:
        raise JailBroken(f"not a report on {channel}")
    return value


def _child_of(pid: int) -> int:
    """The host pid of nsjail's only child: the jail's init."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    if len(text) != 1:
        raise SandboxFault(f"expected one jail process under nsjail {pid}, found {text}")
    return int(text[0])


def _kill(pid: int) -> None:
    # SIGKILL to the jail's init ends its whole pid namespace.
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _reap(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            proc.kill()
            proc.wait()
    for f in (proc.stdin, proc.stdout, proc.stderr):
        if f is not None:
            try:
                f.close()
            except OSError:
                pass


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_with_timeout(fd: int, timeout: float) -> bytes | None:
    """Read what is there within `timeout` seconds: None if nothing came."""
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    try:
        if not sel.select(max(timeout, 0)):
            return None
        return os.read(fd, 4096)
    finally:
        sel.close()


def _drain(f) -> bytes:
    fd = f if isinstance(f, int) else f.fileno()
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""


def _clean(data: bytes) -> bytes:
    """Drop the dynamic loader's warnings about the nsjail binary's libnl."""
    return _LDSO_NOISE.sub(b"", data)
