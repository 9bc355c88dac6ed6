"""stdin/stdout problems, judged as online judges judge them, in any language the server runs.

A problem carries tests, each an ``input`` (the program's stdin) and the
``output`` it must print::

    {"task_id": "sum", "tests": [{"input": "1 2\\n", "output": "3\\n"}],
     "float_tolerance": 1e-6, "time_limit_s": 2.0, "memory_mb": 256,
     "language": "cpp", "compare": "lines"}

(all but the first two optional). The loaders in `sandcheck.datasets` make
this shape from LiveCodeBench, APPS/TACO and CodeContests rows, with their
limits, their harness's comparison (``compare``, see
`sandcheck.judges.outputs`) and, for LiveCodeBench, APPS and TACO, the
way their harness runs a Python answer (``harness``, see
`sandcheck.judges.stdio_harness`).

A sample is a whole program: ``solution`` (or ``completion``), in the
language `sandcheck.judges.languages` picks (its ``language``, else the
judge's default, else the problem's, else Python); a language the server
does not run is InvalidInput before anything runs. Every test is one
execution with the test's input on stdin, so each gets the server's own
facts: CPU time, peak memory and how it ended. A compiled language's
sample runs its first test alone, then the rest: the server compiles it
once and its build cache serves the other tests (a row's
``compile.compiles`` counts its tests' results that report a compile of
their own: 1, or 0 when the build of an identical program was cached; the
server's result cache replays an identical earlier run's report as it was).
Each test gets a verdict:

    accepted        ended OK and printed the expected output
    wrong_answer    ended OK, printed something else
    time_limit      CPU or wall limit
    memory_limit    killed by the memory limit
    runtime_error   non-zero exit or killed by a signal
    output_limit    printed more than the output cap, so it cannot be compared
    compile_error   the program did not compile (its first test says why; the rest are not run)
    sandbox_error   no verdict: the jail failed (counted as not passed)
    skipped         not run: an earlier test failed and stop_at_first_failure was set

Under DeepMind's rule (``compare: code_contests``, `outputs.STDOUT_ONLY`) a
test is judged by its output alone, as that tester judges it: right output
is ``accepted`` however the program ended (then a crash, a signal, a
timeout), and a failed end is only the verdict when the output does not
match. A problem's own ``time_limit_s`` (CPU seconds; the wall backstop is twice
that) and ``memory_mb`` override the run's. A sample passes when every
test is accepted; its ``score`` is the fraction accepted.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .._exceptions import InvalidInput
from .._types import ExecutionResult, Limits
from ..client import Program
from .checker import checker_of, run_checkers
from .languages import looks_like_other, require_served, sample_language
from .outputs import COMPARES, STDOUT_ONLY, outputs_match
from .run import Evaluation, check_problem_limits, checked_ks, kept_rows, summarize
from .stdio_harness import FILES as HARNESS_FILES
from .stdio_harness import HARNESSES
from .stdio_harness import program as harness_program

__all__ = ["evaluate_stdio", "is_stdio_problem", "outputs_match", "stdio_problem", "verdict_for"]

_STATUS_VERDICTS = {"TIMEOUT": "time_limit", "MEMORY_LIMIT": "memory_limit", "NONZERO_EXIT": "runtime_error",
                    "SIGNALED": "runtime_error", "OUTPUT_LIMIT": "output_limit", "SANDBOX_ERROR": "sandbox_error",
                    "INVALID_REQUEST": "sandbox_error", "COMPILE_ERROR": "compile_error"}
# A test with one of these statuses got no verdict: the jail or the checker failed.
_NO_VERDICT = ("SANDBOX_ERROR", "INVALID_REQUEST", "JUDGE_ERROR")
# How a program may end and still have its output judged, under a rule in STDOUT_ONLY.
_ENDS_JUDGED_BY_OUTPUT = ("OK", "NONZERO_EXIT", "SIGNALED", "TIMEOUT", "MEMORY_LIMIT")
_MIN_OUTPUT_CAP = 1 << 20
_STDERR_TAIL = 500


def is_stdio_problem(row: Mapping[str, Any]) -> bool:
    """A problem in this module's shape (a loader's output)."""
    return isinstance(row.get("tests"), list)


def stdio_problem(row: Mapping[str, Any], where: str = "problem") -> dict[str, Any]:
    """One problem in this module's shape, checked; InvalidInput naming `where` when malformed."""
    task_id, tests = row.get("task_id"), row.get("tests")
    if not isinstance(task_id, str):
        raise InvalidInput(f"{where} needs a string 'task_id'")
    if not isinstance(tests, list) or not tests or not all(
            isinstance(t, Mapping) and isinstance(t.get("input"), str) and isinstance(t.get("output"), str)
            for t in tests):
        raise InvalidInput(f"{where} ({task_id}) needs 'tests': a non-empty list of {{input, output}} strings")
    problem = dict(row)
    problem["tests"] = [{"input": t["input"], "output": t["output"]} for t in tests]
    tolerance = row.get("float_tolerance")
    if tolerance is not None and (isinstance(tolerance, bool) or not isinstance(tolerance, (int, float))
                                  or not 0 < tolerance < math.inf):
        raise InvalidInput(f"{where} ({task_id}): float_tolerance must be a positive number")
    check_problem_limits(row, f"{where} ({task_id})")
    if row.get("compare", "lines") not in COMPARES:
        raise InvalidInput(f"{where} ({task_id}): compare must be one of {', '.join(COMPARES)}")
    if row.get("harness") is not None and row["harness"] not in HARNESSES:
        raise InvalidInput(f"{where} ({task_id}): harness must be one of {', '.join(HARNESSES)}, or absent")
    return problem


def verdict_for(result: ExecutionResult, expected: str, float_tolerance: float | None = None,
                compare: str = "lines") -> str:
    """One test's verdict from the server's facts and the expected output."""
    if result.status == "OK" or (compare in STDOUT_ONLY and result.status in _ENDS_JUDGED_BY_OUTPUT):
        if result.stdout_truncated:
            return "output_limit"
        if outputs_match(result.stdout.decode("utf-8", "replace"), expected, float_tolerance, compare):
            return "accepted"
        if result.status == "OK":
            return "wrong_answer"
    # Else how it ended says why it failed (under STDOUT_ONLY: with output that does not match).
    return _STATUS_VERDICTS.get(result.status, "runtime_error")


def evaluate_stdio(
    samples: Sequence[Mapping[str, Any]],
    problems: Mapping[str, Mapping[str, Any]],
    *,
    client: Any,
    k: Iterable[int] = (1, 10, 100),
    timeout: float = 3.0,
    memory_mb: int | None = None,
    stop_at_first_failure: bool = False,
    language: str | None = None,
    on_result: Callable[[int, dict[str, Any]], None] | None = None,
    done: Mapping[int, dict[str, Any]] | None = None,
) -> Evaluation:
    """Run every sample on every test of its problem; per-test verdicts, score and pass@k.

    `language` is the default for samples that name none (see
    `sandcheck.judges.languages`). A problem's own ``time_limit_s`` and
    ``memory_mb`` override `timeout` and `memory_mb`. With
    `stop_at_first_failure`, tests run in rounds of growing size and a
    sample stops after the round where one failed.
    """
    k = checked_ks(k)
    langs: dict[int, tuple[str, bool]] = {}
    for i, s in enumerate(samples):
        _check_sample(s, problems, f"sample {i}")
        langs[i] = sample_language(s, problems[s["task_id"]], language, f"sample {i}")
    checkers = {t: checker_of(p, f"problem {t}") for t, p in problems.items()}
    rows = kept_rows(samples, done)
    todo = [i for i in range(len(samples)) if i not in rows]
    needed: dict[str, str] = {}
    for i in todo:
        own = langs[i][1]
        needed.setdefault(langs[i][0], f"sample {i}" if own else f"sample {i} (no language of its own: the default)")
        checker = checkers[samples[i]["task_id"]]
        if checker:
            needed.setdefault(checker.language, f"problem {samples[i]['task_id']}'s checker")
    # Python is always served; any other language is checked with the server before anything runs.
    compiled = require_served(needed, client.info()) if set(needed) - {"python"} else set()
    verdicts: dict[int, list[dict[str, Any] | None]] = {
        i: [None] * len(problems[samples[i]["task_id"]]["tests"]) for i in todo}
    builds: dict[int, list[ExecutionResult]] = {i: [] for i in todo}
    next_test = {i: 0 for i in todo}
    # A compiled sample's first test runs alone, so the server compiles it once and caches it for the
    # rest; a copy of a program already in this round waits a round (the cache serves it then).
    size: dict[int, int | None] = {}
    first_of: set[tuple[str, str]] = set()
    for i in todo:
        key = (langs[i][0], _code(samples[i]))
        size[i] = 0 if langs[i][0] in compiled and key in first_of else (
            1 if stop_at_first_failure or langs[i][0] in compiled else None)
        first_of.add(key)
    while next_test:
        programs = []
        for i, start in next_test.items():
            problem = problems[samples[i]["task_id"]]
            n = len(problem["tests"])
            end = n if size[i] is None else min(start + size[i], n)
            programs += [_program(samples[i], problem, langs[i][0], i, t, timeout, memory_mb)
                         for t in range(start, end)]
            next_test[i] = end
        to_check = []  # outputs that the problem's checker judges, after this round's runs
        for result in client.execute_batch(programs):
            i, t = (int(x) for x in result.id.split("/"))
            problem = problems[samples[i]["task_id"]]
            verdicts[i][t] = _test(result, problem, t)
            if result.compile is not None:
                builds[i].append(result)
            if verdicts[i][t]["verdict"] in ("accepted", "wrong_answer") and checkers[samples[i]["task_id"]]:
                to_check.append((checkers[samples[i]["task_id"]], problem["tests"][t], result.stdout, verdicts[i][t]))
        run_checkers(client, to_check)
        for i in list(next_test):
            if next_test[i] == 0:  # waited for its twin's compile
                size[i] = 1
                continue
            ran = verdicts[i][:next_test[i]]
            if any(v is None for v in ran):
                raise RuntimeError(f"server returned no result for a test of sample {i}")
            not_compiled = ran[0]["verdict"] == "compile_error"
            failed = stop_at_first_failure and any(v["verdict"] != "accepted" for v in ran)
            if not_compiled or failed or next_test[i] == len(verdicts[i]):
                del next_test[i]
                rows[i] = _row(samples[i], verdicts[i], langs[i], builds[i], not_compiled)
                if on_result is not None:
                    on_result(i, rows[i])
            else:
                size[i] = size[i] * 2 if stop_at_first_failure else None  # type: ignore[operator]
    finished = [rows[i] for i in range(len(samples))]
    return Evaluation(finished, summarize(finished, k), Counter(r["status"] for r in finished), "stdio")


def _check_sample(sample: Any, problems: Mapping[str, Any], where: str) -> None:
    if not isinstance(sample, Mapping) or not isinstance(sample.get("task_id"), str) or not any(
            isinstance(sample.get(f), str) for f in ("solution", "completion")):
        raise InvalidInput(f"{where} needs string fields 'task_id' and 'solution' (or 'completion')")
    if sample["task_id"] not in problems:
        raise InvalidInput(f"{where} has task_id {sample['task_id']!r}, which is not in the problem set")
    if "\x00" in _code(sample):
        raise InvalidInput(f"{where}: its code holds a NUL character, which no server runs; leave the sample "
                           "out or mark it failed")


def _code(sample: Mapping[str, Any]) -> str:
    return sample["solution"] if isinstance(sample.get("solution"), str) else sample["completion"]


def _program(sample: Mapping[str, Any], problem: Mapping[str, Any], language: str, i: int, t: int,
             timeout: float, memory_mb: int | None) -> Program:
    test = problem["tests"][t]
    base = Limits.for_timeout(problem.get("time_limit_s") or timeout, problem.get("memory_mb") or memory_mb)
    # Room for the expected output and then some, so a long right answer is never cut.
    cap = max(_MIN_OUTPUT_CAP, 2 * len(test["output"].encode()))
    limits = Limits(base.cpu_time_ms, base.wall_time_ms, base.memory_bytes, cap)
    code, files = _code(sample) or "\n", None  # an empty answer is a program too (a server refuses an empty source)
    if language == "python" and problem.get("harness"):
        code, files = harness_program(problem["harness"], code), HARNESS_FILES
    return Program(code, stdin=test["input"].encode(), limits=limits, id=f"{i}/{t}", language=language, files=files)


def _test(result: ExecutionResult, problem: Mapping[str, Any], t: int) -> dict[str, Any]:
    verdict = verdict_for(result, problem["tests"][t]["output"], problem.get("float_tolerance"),
                          problem.get("compare", "lines"))
    out = {"verdict": verdict, "status": result.status, "cpu_time_ms": result.cpu_time_ms,
           "memory_bytes": result.memory_bytes, "wall_time_ms": result.wall_time_ms}
    if verdict == "runtime_error":  # the end of the traceback says why
        out["stderr"] = result.stderr[-_STDERR_TAIL:].decode("utf-8", "replace")
    return out


def _row(sample: Mapping[str, Any], tests: list[dict[str, Any] | None], language: tuple[str, bool],
         builds: list[ExecutionResult], not_compiled: bool) -> dict[str, Any]:
    ran = [v for v in tests if v is not None]
    unrun = {"verdict": "compile_error"} if not_compiled else {"verdict": "skipped"}
    tests_out = [v if v is not None else dict(unrun) for v in tests]
    accepted = sum(v["verdict"] == "accepted" for v in ran)
    first_bad = next((n for n, v in enumerate(tests_out) if v["verdict"] != "accepted"), None)
    if any(v["status"] in _NO_VERDICT for v in ran):
        status = next(v["status"] for v in ran if v["status"] in _NO_VERDICT)
    else:
        status = "OK" if first_bad is None else tests_out[first_bad].get("status", "OK")
    result = "passed" if first_bad is None else f"failed: {tests_out[first_bad]['verdict']} on test {first_bad}"
    row = {**sample, "result": result, "passed": first_bad is None, "status": status,
           "score": accepted / len(tests), "language": language[0], "tests": tests_out}
    if builds:
        first = builds[0].compile
        ran = [b.compile for b in builds if not b.compile.cached]
        # What compiling cost this sample: the compiles its tests' results report (none when cached).
        row["compile"] = {"status": first.status, "compiles": len(ran), "cpu_time_ms": sum(c.cpu_time_ms for c in ran),
                          "wall_time_ms": sum(c.wall_time_ms for c in ran)}
        if not_compiled:
            row["compile"]["message"] = first.message[-_STDERR_TAIL:]
    if language == ("python", False):
        other = looks_like_other(_code(sample))
        if other:
            row["language_note"] = f"judged as python (no language given) but it looks like {other}"
    return row
