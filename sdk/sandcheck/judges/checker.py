"""Checkers: a problem's own program decides whether an output is right.

A stdin/stdout problem whose answer is not unique (any valid permutation,
any shortest path) carries a checker in any language the server runs::

    {"task_id": "perm", "tests": [...],
     "checker": {"language": "cpp", "source": "#include \\"testlib.h\\" ..."}}

It is called as testlib checkers are, ``checker INPUT OUTPUT ANSWER``: the
test's input, the candidate's output and the test's expected output, as the
files ``input.txt``, ``output.txt`` and ``answer.txt`` in its working
directory, named in that order on its command line (a Python checker finds
them in ``sys.argv[1:4]``; an uncaught exception exits 3). It runs after the candidate, in a jail of its own
that holds those three files and nothing of the candidate's. Its exit status
is the verdict, in place of the exact comparison:

    0       accepted
    1       wrong_answer
    2, 4, 8 presentation_error (4: testlib's "extra information in the output";
            8: its unexpected end of the output, with ENABLE_UNEXPECTED_EOF)
    other   judge_error: exit 3 (testlib's FAIL), 7 (its points: no verdict
            of accepted or not), a crash, a time or memory limit, a checker
            that does not compile. The checker failed, not the candidate: the
            sample gets no verdict and is counted as a sandbox error is
            (``status`` JUDGE_ERROR).

C++ checkers may ``#include "testlib.h"`` (testlib 0.9.44, MIT, installed on
the server by scripts/setup). The data files reach the checker's run only
(``Program.run_files``), so a compiled checker is built once per problem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._exceptions import InvalidInput
from .._types import ExecutionResult, Limits
from ..client import Program
from .languages import canonical

ARGS = ("input.txt", "output.txt", "answer.txt")
# A checker reads three files and compares: generous, and the same for every problem.
CHECKER_LIMITS = Limits.for_timeout(10.0, 1024)
# testlib's exit codes: 4 its "extra information in the output", 8 its unexpected end of
# the output (a checker built with ENABLE_UNEXPECTED_EOF; else that is 2).
_VERDICTS = {0: "accepted", 1: "wrong_answer", 2: "presentation_error", 4: "presentation_error",
             8: "presentation_error"}
_POINTS = 7  # testlib's quitp: a score, which a verdict of accepted or not cannot say
_MESSAGE = 300
# Python checkers run as ``python checker.py input.txt output.txt answer.txt`` would,
# except that an uncaught exception exits 3, not 1: a checker that crashed failed,
# it did not find a wrong answer.
_PYTHON_LAUNCHER = """\
import os, runpy, sys, traceback
sys.argv = ["checker.py", %r, %r, %r]
try:
    runpy.run_path("checker.py", run_name="__main__")
except SystemExit:
    raise
except BaseException:
    traceback.print_exc()
    sys.stderr.flush()
    os._exit(3)
""" % ARGS


@dataclass(frozen=True)
class Checker:
    """A problem's checker: the program to run, in the server's language name."""

    language: str
    source: str


def checker_of(problem: Mapping[str, Any], where: str = "problem") -> Checker | None:
    """The problem's checker (None without one); InvalidInput naming `where` if malformed."""
    raw = problem.get("checker")
    if raw is None:
        return None
    if not (isinstance(raw, Mapping) and isinstance(raw.get("source"), str) and raw["source"].strip()
            and isinstance(raw.get("language"), str) and raw["language"].strip()):
        raise InvalidInput(f"{where}: 'checker' must be {{\"language\": str, \"source\": str}}, both non-empty")
    language = canonical(raw["language"])
    if language is None:
        raise InvalidInput(f"{where}: the checker's language {raw['language']!r} is not one sandcheck knows")
    return Checker(language, raw["source"])


def checker_program(checker: Checker, test: Mapping[str, str], output: bytes, id: str) -> Program:
    """The run of `checker` on one test's input, the candidate's `output` and the expected answer."""
    data = dict(zip(ARGS, (test["input"].encode(), output, test["output"].encode())))
    if checker.language == "python":
        return Program(_PYTHON_LAUNCHER, limits=CHECKER_LIMITS, id=id,
                       files={"checker.py": checker.source.encode()}, run_files=data)
    return Program(checker.source, limits=CHECKER_LIMITS, id=id, language=checker.language, run_files=data,
                   args=ARGS)


def checker_verdict(result: ExecutionResult) -> tuple[str, str]:
    """(verdict, what the checker said) for one run of a checker."""
    said = (result.stderr or result.stdout)[-_MESSAGE:].decode("utf-8", "replace").strip()  # a traceback ends with why
    if result.status in ("OK", "NONZERO_EXIT") and result.exit_code in _VERDICTS:
        return _VERDICTS[result.exit_code], said
    if result.status == "NONZERO_EXIT" and result.exit_code == _POINTS:
        why = "the checker gave points (testlib's quitp, exit 7); sandcheck judges accepted or not"
    elif result.status == "NONZERO_EXIT":
        why = f"the checker failed (exit {result.exit_code})"
    elif result.status == "COMPILE_ERROR":
        from .function import compile_error_text

        why, said = "the checker did not compile", compile_error_text(result)[len("compile error: "):]
    elif result.status in ("SANDBOX_ERROR", "INVALID_REQUEST"):
        why, said = "the checker could not run", result.error
    else:
        why = f"the checker ended with {result.status}" + (f" (signal {result.signal})" if result.signal else "")
    return "judge_error", f"{why}: {said}" if said else why


def run_checkers(client: Any, checks: Sequence[tuple[Checker, Mapping[str, str], bytes, dict[str, Any]]]) -> None:
    """Judge each (checker, test, candidate output, the test's verdict row) in one
    batch: each row's verdict becomes its checker's, and its status JUDGE_ERROR
    when the checker failed (or no result came back for it)."""
    programs = [checker_program(c, test, out, str(n)) for n, (c, test, out, _row) in enumerate(checks)]
    # Each checker's first run alone, then the rest: sent together, every slot
    # of the server would compile the same checker at once (a testlib checker
    # takes seconds of CPU to build); after its first run, the build is cached.
    first = set({c: n for n, (c, *_) in reversed(list(enumerate(checks)))}.values())
    leads = [p for n, p in enumerate(programs) if n in first]
    rest = [p for n, p in enumerate(programs) if n not in first]
    judged: dict[int, tuple[str, str]] = {}
    for part in (leads, rest):
        for result in client.execute_batch(part) if part else ():
            judged.setdefault(int(result.id), checker_verdict(result))
    for n, (*_, row) in enumerate(checks):
        verdict, said = judged.get(n, ("judge_error", "the server returned no result for the checker"))
        row["verdict"] = verdict
        if verdict == "judge_error":
            row["status"] = "JUDGE_ERROR"
        if said:
            row["checker"] = said
