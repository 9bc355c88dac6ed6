"""One eval run as `sandcheck eval` makes it: samples in; results, journal and run record out.

    params = run_params(samples_path="s.jsonl", problems_path=None, timeout=3.0, memory_mb=None)
    outcome = evaluate_to_file(samples, problems, "s.jsonl_results.jsonl", params=params,
                               targets=["a:50051", "b:50051"])   # or None: an embedded server
    outcome.evaluation.pass_at_k

`evaluate` scores samples; this adds what a long run on shared servers
needs: the output path checked before any work, a journal tied to the run's
parameters (so `resume` continues only the same run), work spread over every
server with failover, and the run record beside the results.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ._types import Limits
from .analysis import DEFAULT_KS
from .client import Client
from .caveats import caveats
from .data import check_writable, default_problem_file, sha256_file, write_jsonl
from .dispatch import Dispatcher
from .judges.languages import languages_of
from .judges.run import Evaluation, evaluate
from .journal import Journal, Start
from .progress import phase
from .run_record import server_facts, write_meta


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a journaled run; the message says how to resume it."""


@dataclass
class EvalOutcome:
    evaluation: Evaluation
    results: Path | None = None
    meta: Path | None = None
    caveats: list[str] = field(default_factory=list)  # what the pass@k figure does not say (caveats.py)
    tests: dict[str, Any] | None = None  # stdin/stdout runs: tests run and their CPU cost (`test_costs`)


def run_params(*, samples_path: str | os.PathLike[str] | None, problems_path: str | os.PathLike[str] | None,
               timeout: float, memory_mb: int | None, **extra: Any) -> dict[str, Any]:
    """What makes two runs the same run, as the journal records it."""
    return {"samples_sha256": sha256_file(samples_path) if samples_path else "canonical solutions",
            "problems_sha256": sha256_file(problems_path or default_problem_file()),
            "timeout": timeout, "memory_mb": memory_mb, **extra}


def evaluate_to_file(
    samples: Sequence[Mapping[str, Any]],
    problems: Mapping[str, Mapping[str, Any]],
    output: str | os.PathLike[str] | None,
    *,
    targets: Sequence[str] | None,
    params: Mapping[str, Any],
    workers: int = 0,
    evaluator: Callable[..., Evaluation] = evaluate,
    record_extra: Mapping[str, Any] | None = None,
    k: Iterable[int] | None = None,
    timeout: float = 3.0,
    memory_mb: int | None = None,
    resume: bool | None = None,
    auth: Mapping[str, Any] | None = None,
    argv: Sequence[str] = (),
    problems_path: str | None = None,
    on_start: Callable[[Start], None] | None = None,
    on_result: Callable[[int, dict[str, Any]], None] | None = None,
) -> EvalOutcome:
    """Evaluate on `targets` (failing over between them), or on an embedded
    server with `workers` slots when None. With an `output`, journal every
    result, then write the results in sample order and the run record (plus
    `record_extra`). `evaluator` is `evaluate` or one with its signature (a
    problem set's own judge: `problem_sets.py`).

    `params` (see `run_params`) ties the journal to this run: an earlier
    journal's rows are kept only if its parameters are the same. `resume`
    None starts over when they differ, True refuses then (InvalidInput),
    False always starts over. `k` None: those of 1, 10 and 100 that every
    problem has enough samples for. Every InvalidInput comes before a server
    starts or a check runs.
    """
    k = fitting_ks(samples) if k is None else list(k)
    limits = Limits.for_timeout(timeout, memory_mb)
    auth = dict(auth or {}) if targets else {}
    journal, start = None, Start()
    if output is not None:
        output = check_writable(output)
        journal = Journal(f"{output}.journal", params)
        start = journal.start(resume=resume)
    if on_start is not None:
        on_start(start)
    with contextlib.ExitStack() as stack:
        if targets is None:
            from .embedded import EmbeddedServer

            embedded = EmbeddedServer(concurrency=workers, processes=0)  # the server's default processes
            with phase("starting a local sandbox server"):
                stack.enter_context(embedded)
            targets = embedded.targets
        run = partial(evaluator, samples, problems, client=Dispatcher(targets, client_factory=partial(Client, **auth)),
                      k=k, timeout=timeout, memory_mb=memory_mb)
        if journal is None:
            with phase("checks", total=len(samples), unit="check") as step:
                evaluation = run(on_result=_counted(on_result, step))
            notes = caveats(samples, problems, k, asdict(limits)) + language_notes(evaluation.rows)
            return EvalOutcome(evaluation, caveats=notes, tests=test_costs(evaluation.rows))
        facts = server_facts(targets, limits, auth)
        with phase("checks", total=len(samples), unit="check", initial=len(start.kept)) as step:
            evaluation = _journaled(run, journal, start, total=len(samples), on_result=_counted(on_result, step))
    notes = caveats(samples, problems, k, asdict(limits), facts.get("effective_limits"))
    notes += language_notes(evaluation.rows)
    write_jsonl(output, evaluation.rows)
    journal.close(remove=True)
    extra: dict[str, Any] = {**(record_extra or {}), "caveats": notes}
    if any("language" in r for r in evaluation.rows):
        extra["languages"] = languages_of(evaluation.rows)
    costs = test_costs(evaluation.rows)
    if costs:
        extra["tests"] = costs
    meta = write_meta(output, argv=argv, problems_path=problems_path, evaluation=evaluation, server=facts,
                      limits=limits, k=k, extra=extra)
    return EvalOutcome(evaluation, output, meta, notes, costs)


def test_costs(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Tests run (stdin/stdout rows) and their CPU time: total, mean and median per test, and compiles.

    None when no row has per-test results."""
    cpu = [t["cpu_time_ms"] for r in rows for t in r.get("tests") or ()
           if isinstance(t, Mapping) and isinstance(t.get("cpu_time_ms"), int)]
    if not cpu:
        return None
    compiles = [r["compile"] for r in rows if isinstance(r.get("compile"), Mapping)]
    return {"run": len(cpu), "cpu_ms_total": sum(cpu), "cpu_ms_per_test": round(sum(cpu) / len(cpu), 2),
            "cpu_ms_median": sorted(cpu)[len(cpu) // 2],
            "compiles": sum(c.get("compiles", 0) for c in compiles),
            "compile_cpu_ms_total": sum(c.get("cpu_time_ms", 0) for c in compiles)}


def language_notes(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """A warning per kind of sample judged as Python by default that looks like another language."""
    from collections import Counter

    notes = Counter(r["language_note"] for r in rows if r.get("language_note"))
    return [f"{n} sample{'s' if n > 1 else ''} {note}; give each a 'language' field or pass --language"
            for note, n in notes.items()]


def _counted(on_result: Callable[[int, dict[str, Any]], None] | None,
             step: Callable[[int], None]) -> Callable[[int, dict[str, Any]], None]:
    """`on_result`, counting each result as a step of the checks' phase."""
    def counted(index: int, row: dict[str, Any]) -> None:
        step(1)
        if on_result is not None:
            on_result(index, row)

    return counted


def fitting_ks(samples: Iterable[Mapping[str, Any]], ks: Iterable[int] = DEFAULT_KS) -> list[int]:
    """The `ks` that every problem in `samples` has enough samples for (at least [1])."""
    per_problem = Counter(s["task_id"] for s in samples)
    fewest = min(per_problem.values(), default=1)
    return [k for k in ks if k <= fewest] or [1]


def _journaled(run: Callable[..., Evaluation], journal: Journal, start: Start, *, total: int,
               on_result: Callable[[int, dict[str, Any]], None] | None) -> Evaluation:
    """`run` with every result journaled as it arrives; on Ctrl-C, say how to resume."""
    def record(index: int, row: dict[str, Any]) -> None:
        journal.append(index, row)
        if on_result is not None:
            on_result(index, row)

    try:
        return run(on_result=record, done=start.kept)
    except KeyboardInterrupt:
        journal.close()
        # Counted from the journal itself: a count kept beside the appends could miss the
        # row whose append the Ctrl-C landed just after (it said 153 where 154 were kept).
        kept = len(journal.read()[1])
        raise Interrupted(f"{kept} of {total} results are kept in {journal.path}; "
                          "run the same command again to continue") from None
    except BaseException:
        journal.close()
        raise
