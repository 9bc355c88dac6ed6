"""How the end of a program the supervisor did not kill is classified."""

from __future__ import annotations

import signal

import pytest

from sandbox_server.jail.outcome import Outcome, classify_end
from sandbox_server.limits import Limits

BUDGET = Limits(cpu_time_ms=2000, wall_time_ms=4000)


@pytest.mark.parametrize("sig,cpu_ms,oom_kills,expected", [
    (signal.SIGXCPU, 1500, 0, ("TIMEOUT", "CPU")),
    # RLIMIT_CPU's hard limit (a program that ignored SIGXCPU) on a spent budget
    (signal.SIGKILL, 2000, 0, ("TIMEOUT", "CPU")),
    (signal.SIGKILL, 3100, 0, ("TIMEOUT", "CPU")),
    # a SIGKILL before the budget is spent is the program's own doing
    (signal.SIGKILL, 1999, 0, ("SIGNALED", "")),
    (signal.SIGKILL, 2500, 1, ("MEMORY_LIMIT", "")),
    (signal.SIGSEGV, 2500, 0, ("SIGNALED", "")),
])
def test_signal_deaths(sig, cpu_ms, oom_kills, expected) -> None:
    out = classify_end(Outcome(status="", cpu_time_ms=cpu_ms, limits=BUDGET), {"exit_code": -1, "signal": sig},
                       oom_kills)
    assert (str(out.status), str(out.timeout_kind)) == expected
    assert out.signal == sig


def test_exits() -> None:
    ok = classify_end(Outcome(status="", cpu_time_ms=2500, limits=BUDGET), {"exit_code": 0, "signal": 0}, 0)
    assert ok.status == "OK"
    bad = classify_end(Outcome(status="", limits=BUDGET), {"exit_code": 3, "signal": 0}, 0)
    assert (bad.status, bad.exit_code) == ("NONZERO_EXIT", 3)
