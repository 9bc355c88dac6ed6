"""How a run ended, from the server's side: the result type and the rules that classify it.

Cold and warm runs (supervisor.py, warm.py) gather the same facts (which
limit the server fired, PID 1's report of how the program ended, the
cgroup's OOM count) and turn them into an `Outcome` with the functions here,
so one rule decides a status whichever path ran the program.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field

from sandcheck_api.status import Status, TimeoutKind

from ..limits import Limits

# PID 1 sends one short report (init: b"R" and a JSON line; the zygote: one
# JSON message); more than this on its channel is not PID 1's.
STATUS_CAP = 4096
# What a program may write on its report descriptor (fd 3) that is kept.
REPORT_CAP = 4096


@dataclass
class CompileInfo:
    """How the compile step of a compiled language ended (the API's CompileResult)."""

    status: Status | str
    timeout_kind: TimeoutKind | str = ""
    exit_code: int = -1
    stdout: bytes = b""
    stderr: bytes = b""
    wall_time_ms: int = 0
    cpu_time_ms: int = 0
    memory_bytes: int = 0
    cached: bool = False


@dataclass
class Outcome:
    """Facts about one execution (the server's view; no verdict)."""

    status: Status | str
    timeout_kind: TimeoutKind | str = ""
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
    # Compiled languages: the compile step (alone, with COMPILE_ERROR).
    compile: CompileInfo | None = None


class SandboxFault(Exception):
    """The jail failed; the program's behaviour is unknown (SANDBOX_ERROR)."""


class JailBroken(Exception):
    """A channel only the jail's PID 1 can write carried something PID 1
    never sends: the program broke into PID 1. That is the program's
    result (`jail_broken`), not a fault of the service."""


def timed_out(outcome: Outcome, kind: str) -> Outcome:
    """The server fired a time limit (`kind`: CPU or WALL) and killed the jail."""
    outcome.status, outcome.timeout_kind, outcome.signal = Status.TIMEOUT, TimeoutKind(kind), signal.SIGKILL
    return outcome


def oom_killed(outcome: Outcome) -> Outcome:
    """PID 1 itself died with the OOM killer's SIGKILL: the program's memory, not a fault."""
    outcome.status, outcome.signal = Status.MEMORY_LIMIT, signal.SIGKILL
    return outcome


def jail_broken(outcome: Outcome, why: str) -> Outcome:
    """The result of a program that broke its jail: killed (SIGNALED, SIGKILL), with the reason."""
    outcome.status, outcome.signal, outcome.exit_code = Status.SIGNALED, signal.SIGKILL, -1
    outcome.error = f"the program broke its jail: {why}"
    return outcome


def classify_end(outcome: Outcome, report: dict, oom_kills: int) -> Outcome:
    """Status of a program the supervisor did not kill, from PID 1's report
    of how it ended and the cgroup's OOM-kill count."""
    outcome.exit_code = report.get("exit_code", -1)
    outcome.signal = report.get("signal", 0)
    if outcome.signal == signal.SIGXCPU or (
            # The per-process RLIMIT_CPU backstop: SIGXCPU, or its SIGKILL a second
            # later (a program that ignores SIGXCPU) once the budget is spent.
            outcome.signal == signal.SIGKILL and not oom_kills and outcome.cpu_time_ms >= outcome.limits.cpu_time_ms):
        outcome.status, outcome.timeout_kind = Status.TIMEOUT, TimeoutKind.CPU
    elif oom_kills and outcome.exit_code != 0:
        outcome.status = Status.MEMORY_LIMIT
    elif outcome.signal:
        outcome.status = Status.SIGNALED
    elif outcome.exit_code != 0:
        outcome.status = Status.NONZERO_EXIT
    elif outcome.stdout_truncated or outcome.stderr_truncated:
        outcome.status = Status.OUTPUT_LIMIT
    else:
        outcome.status = Status.OK
    return outcome


def parse_report(msg: bytes, channel: str, newline: bool = False, error_is_fault: bool = False) -> dict:
    """A report from PID 1, exactly as init.py and zygote.py write it
    (`how_it_ended`, plus the zygote's "dirty" list and its warm judge
    process's pid); anything else is
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
    if not isinstance(dirty, list) or not all(isinstance(d, str) for d in dirty) or \
            set(value) - {"exit_code", "signal", "dirty", "judge_pid"}:
        raise JailBroken(f"not a report on {channel}")
    if "judge_pid" in value and (type(value["judge_pid"]) is not int or value["judge_pid"] <= 1):
        raise JailBroken(f"not a report on {channel}")
    return value
