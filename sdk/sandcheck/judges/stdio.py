"""stdin/stdout problems, judged as online judges judge them.

A problem carries tests, each an ``input`` (the program's stdin) and the
``output`` it must print::

    {"task_id": "sum", "tests": [{"input": "1 2\\n", "output": "3\\n"}],
     "float_tolerance": 1e-6, "time_limit_s": 2.0, "memory_mb": 256}

(the last three are optional). CodeContests rows as SandboxFusion ships
them (``id``, ``content``, ``test``: a JSON list of ``{"input": {"stdin"},
"output": {"stdout"}}``) load as they are; their task_id is ``str(id)``.

A sample is a whole program: ``solution`` (or ``completion``; a statement is
no code prefix). Every test is one execution with the test's input on stdin,
so each gets the server's own facts: CPU time, peak memory and how it ended.
On warm jails (the default) those executions are forks of one long-lived
jail, so many tests of one program cost no jail start each. Each test gets a
verdict:

    accepted        ended OK and printed the expected output
    wrong_answer    ended OK, printed something else
    time_limit      CPU or wall limit
    memory_limit    killed by the memory limit
    runtime_error   non-zero exit or killed by a signal
    output_limit    printed more than the output cap, so it cannot be compared
    sandbox_error   no verdict: the jail failed (counted as not passed)
    skipped         not run: an earlier test failed and stop_at_first_failure was set

Output is compared as judges do: line endings and trailing whitespace on
each line and at the end are ignored; with ``float_tolerance``, the outputs
are compared token by token and numbers may differ by that much, absolute or
relative. A sample passes when every test is accepted; its ``score`` is the
fraction accepted.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .._exceptions import InvalidInput
from .._types import ExecutionResult, Limits
from ..client import Program
from .checker import checker_of, run_checkers
from .run import Evaluation, summarize

_STATUS_VERDICTS = {"TIMEOUT": "time_limit", "MEMORY_LIMIT": "memory_limit", "NONZERO_EXIT": "runtime_error",
                    "SIGNALED": "runtime_error", "OUTPUT_LIMIT": "output_limit", "SANDBOX_ERROR": "sandbox_error",
                    "INVALID_REQUEST": "sandbox_error"}
# A test with one of these statuses got no verdict: the jail or the checker failed.
_NO_VERDICT = ("SANDBOX_ERROR", "INVALID_REQUEST", "JUDGE_ERROR")
_MIN_OUTPUT_CAP = 1 << 20
_STDERR_TAIL = 500


def is_stdio_problem(row: Mapping[str, Any]) -> bool:
    """A row in this module's format, or a SandboxFusion CodeContests row."""
    return isinstance(row.get("tests"), list) or ("content" in row and isinstance(row.get("test"), str))


def stdio_problem(row: Mapping[str, Any], where: str = "problem") -> dict[str, Any]:
    """One problem in this module's format; InvalidInput naming `where` when malformed."""
    if "tests" in row:
        task_id, raw = row.get("task_id"), row["tests"]
        tests = raw if isinstance(raw, list) else None
    else:  # SandboxFusion's CodeContests layout
        task_id = str(row["id"]) if isinstance(row.get("id"), (int, str)) else None
        try:
            tests = [{"input": t["input"]["stdin"], "output": t["output"]["stdout"]} for t in json.loads(row["test"])]
        except (ValueError, TypeError, KeyError):
            tests = None
    if not isinstance(task_id, str):
        raise InvalidInput(f"{where} needs a string 'task_id'")
    if not tests or not all(isinstance(t, Mapping) and isinstance(t.get("input"), str)
                            and isinstance(t.get("output"), str) for t in tests):
        raise InvalidInput(f"{where} ({task_id}) needs 'tests': a non-empty list of {{input, output}} strings")
    problem = {k: v for k, v in row.items() if k not in ("test", "tests")}
    problem.update(task_id=task_id, tests=[{"input": t["input"], "output": t["output"]} for t in tests])
    for key in ("float_tolerance", "time_limit_s", "memory_mb"):
        value = row.get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0):
            raise InvalidInput(f"{where} ({task_id}): {key} must be a positive number")
    return problem


def read_stdio_problems(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """stdin/stdout problems from a JSONL(.gz) file, keyed by task_id."""
    from ..data import read_jsonl

    problems = {}
    for i, row in enumerate(read_jsonl(path), 1):
        p = stdio_problem(row, f"{path}: problem {i}")
        problems[p["task_id"]] = p
    if not problems:
        raise InvalidInput(f"{path}: no problems")
    return problems


def outputs_match(got: str, expected: str, float_tolerance: float | None = None) -> bool:
    """Equal up to line endings and trailing whitespace; numbers within the tolerance, if one is given."""
    if float_tolerance is None:
        return _lines(got) == _lines(expected)
    a, b = got.split(), expected.split()
    return len(a) == len(b) and all(x == y or _close(x, y, float_tolerance) for x, y in zip(a, b))


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _close(got: str, expected: str, tolerance: float) -> bool:
    try:
        a, b = float(got), float(expected)
    except ValueError:
        return False
    if math.isnan(a) or math.isnan(b):
        return False
    return abs(a - b) <= tolerance * max(1.0, abs(b))


def verdict_for(result: ExecutionResult, expected: str, float_tolerance: float | None = None) -> str:
    """One test's verdict from the server's facts and the expected output."""
    if result.status == "OK":
        if result.stdout_truncated:
            return "output_limit"
        got = result.stdout.decode("utf-8", "replace")
        return "accepted" if outputs_match(got, expected, float_tolerance) else "wrong_answer"
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
    on_result: Callable[[int, dict[str, Any]], None] | None = None,
    done: Mapping[int, dict[str, Any]] | None = None,
) -> Evaluation:
    """Run every sample on every test of its problem; per-test verdicts, score and pass@k.

    A problem's own ``time_limit_s``/``memory_mb`` override `timeout` and
    `memory_mb`. With `stop_at_first_failure`, tests run in rounds of
    growing size and a sample stops after the round where one failed.
    """
    for i, s in enumerate(samples):
        _check_sample(s, problems, f"sample {i}")
    checkers = {t: checker_of(p, f"problem {t}") for t, p in problems.items()}
    rows: dict[int, dict[str, Any]] = {i: r for i, r in (done or {}).items() if 0 <= i < len(samples)}
    todo = [i for i in range(len(samples)) if i not in rows]
    verdicts: dict[int, list[dict[str, Any] | None]] = {
        i: [None] * len(problems[samples[i]["task_id"]]["tests"]) for i in todo}
    next_test = {i: 0 for i in todo}
    round_size = 1 if stop_at_first_failure else None
    while next_test:
        programs = []
        for i, start in next_test.items():
            problem = problems[samples[i]["task_id"]]
            end = len(problem["tests"]) if round_size is None else min(start + round_size, len(problem["tests"]))
            programs += [_program(samples[i], problem, i, t, timeout, memory_mb) for t in range(start, end)]
            next_test[i] = end
        to_check = []  # outputs that the problem's checker judges, after this round's runs
        for result in client.execute_batch(programs):
            i, t = (int(x) for x in result.id.split("/"))
            problem = problems[samples[i]["task_id"]]
            verdict = verdict_for(result, problem["tests"][t]["output"], problem.get("float_tolerance"))
            verdicts[i][t] = {"verdict": verdict, "status": result.status, "cpu_time_ms": result.cpu_time_ms,
                              "memory_bytes": result.memory_bytes, "wall_time_ms": result.wall_time_ms}
            if verdict == "runtime_error":  # the end of the traceback says why
                verdicts[i][t]["stderr"] = result.stderr[-_STDERR_TAIL:].decode("utf-8", "replace")
            if verdict in ("accepted", "wrong_answer") and checkers[samples[i]["task_id"]]:
                to_check.append((checkers[samples[i]["task_id"]], problem["tests"][t], result.stdout, verdicts[i][t]))
        run_checkers(client, to_check)
        for i in list(next_test):
            ran = verdicts[i][:next_test[i]]
            if any(v is None for v in ran):
                raise RuntimeError(f"server returned no result for a test of sample {i}")
            failed = stop_at_first_failure and any(v["verdict"] != "accepted" for v in ran)
            if failed or next_test[i] == len(verdicts[i]):
                del next_test[i]
                rows[i] = _row(samples[i], verdicts[i])
                if on_result is not None:
                    on_result(i, rows[i])
        round_size = round_size and round_size * 2
    finished = [rows[i] for i in range(len(samples))]
    return Evaluation(finished, summarize(finished, k), Counter(r["status"] for r in finished), "stdio")


def _check_sample(sample: Any, problems: Mapping[str, Any], where: str) -> None:
    if not isinstance(sample, Mapping) or not isinstance(sample.get("task_id"), str) or not any(
            isinstance(sample.get(f), str) for f in ("solution", "completion")):
        raise InvalidInput(f"{where} needs string fields 'task_id' and 'solution' (or 'completion')")
    if sample["task_id"] not in problems:
        raise InvalidInput(f"{where} has task_id {sample['task_id']!r}, which is not in the problem set")


def _program(sample: Mapping[str, Any], problem: Mapping[str, Any], i: int, t: int, timeout: float,
             memory_mb: int | None) -> Program:
    code = sample["solution"] if isinstance(sample.get("solution"), str) else sample["completion"]
    test = problem["tests"][t]
    base = Limits.for_timeout(problem.get("time_limit_s") or timeout, problem.get("memory_mb") or memory_mb)
    # Room for the expected output and then some, so a long right answer is never cut.
    cap = max(_MIN_OUTPUT_CAP, 2 * len(test["output"].encode()))
    limits = Limits(base.cpu_time_ms, base.wall_time_ms, base.memory_bytes, cap)
    return Program(code, stdin=test["input"].encode(), limits=limits, id=f"{i}/{t}")


def _row(sample: Mapping[str, Any], tests: list[dict[str, Any] | None]) -> dict[str, Any]:
    ran = [v for v in tests if v is not None]
    tests_out = [v if v is not None else {"verdict": "skipped"} for v in tests]
    accepted = sum(v["verdict"] == "accepted" for v in ran)
    first_bad = next((n for n, v in enumerate(tests_out) if v["verdict"] != "accepted"), None)
    if any(v["status"] in _NO_VERDICT for v in ran):
        status = next(v["status"] for v in ran if v["status"] in _NO_VERDICT)
    else:
        status = "OK" if first_bad is None else tests_out[first_bad].get("status", "OK")
    result = "passed" if first_bad is None else f"failed: {tests_out[first_bad]['verdict']} on test {first_bad}"
    return {**sample, "result": result, "passed": first_bad is None, "status": status,
            "score": accepted / len(tests), "tests": tests_out}
