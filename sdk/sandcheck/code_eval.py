"""Hugging Face's ``code_eval`` metric, judged in the sandbox.

Same call, same return::

    from sandcheck import code_eval
    pass_at_k, results = code_eval(predictions=[["def add(a,b): return a+b"]],
                                   references=["assert add(2,3)==5"], k=[1])

`predictions` holds a list of candidate programs per problem; `references`
one test program per problem. Each candidate runs as ``candidate + "\\n" +
test`` (the metric's own program) and passes when it runs to its end within
the limits. `results` maps each problem's index to its ``(completion_id,
{"task_id", "passed", "result", "completion_id"})`` pairs, in completion
order. Unlike the metric, nothing runs on the calling host, so there is no
``HF_ALLOW_CODE_EVAL`` switch: the programs run in sandcheck's jails.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from ._exceptions import InvalidInput
from ._types import Limits
from .judges.function import Check, build_program_check
from .client import Client, Program
from .metrics import mean_pass_at_k

Results = dict[int, list[tuple[int, dict[str, Any]]]]


def code_eval(predictions: Sequence[Sequence[str]], references: Sequence[str],
              k: Sequence[int] | int = (1, 10, 100), num_workers: int = 4, timeout: float = 3.0, *,
              client: Any = None, server: str | None = None) -> tuple[dict[str, float], Results]:
    """pass@k and per-candidate results, as ``evaluate.load("code_eval").compute`` returns them.

    `client` (a `Client` or `Dispatcher`) or `server` (an address) picks
    where the programs run; with neither, an embedded server with
    `num_workers` slots runs them.
    """
    _validate(predictions, references)
    ks = [k] if isinstance(k, int) else list(k)
    checks: dict[str, tuple[int, int, Check]] = {}
    for task_id, (candidates, test) in enumerate(zip(predictions, references)):
        for completion_id, candidate in enumerate(candidates):
            check = build_program_check(str(task_id), candidate + "\n" + test)
            checks[f"{task_id}/{completion_id}"] = (task_id, completion_id, check)
    limits = Limits.for_timeout(timeout)
    results: Results = defaultdict(list)
    with _client(client, server, num_workers) as runner:
        programs = (Program(c.program, limits=limits, id=key) for key, (_, _, c) in checks.items())
        for result in runner.execute_batch(programs):
            task_id, completion_id, check = checks[result.id]
            passed, text = check.verdict(result)
            results[task_id].append((completion_id, {"task_id": task_id, "passed": passed, "result": text,
                                                     "completion_id": completion_id}))
    got = sum(len(rows) for rows in results.values())
    if got != len(checks):
        raise RuntimeError(f"server returned {got} results for {len(checks)} candidates")
    for rows in results.values():
        rows.sort(key=lambda pair: pair[0])
    counts = [(len(rows), sum(r["passed"] for _, r in rows)) for _, rows in sorted(results.items())]
    return mean_pass_at_k(counts, ks), results


def _validate(predictions: Any, references: Any) -> None:
    if isinstance(predictions, str) or not isinstance(predictions, Sequence):
        raise InvalidInput("predictions must be a list of candidate lists, one list per problem")
    if isinstance(references, str) or not isinstance(references, Sequence):
        raise InvalidInput("references must be a list of test programs, one per problem")
    if len(predictions) != len(references):
        raise InvalidInput(f"{len(predictions)} prediction lists but {len(references)} references")
    for i, (candidates, test) in enumerate(zip(predictions, references)):
        if isinstance(candidates, str) or not isinstance(candidates, Sequence) \
                or not all(isinstance(c, str) for c in candidates):
            raise InvalidInput(f"predictions[{i}] must be a list of strings (the candidates for problem {i})")
        if not isinstance(test, str):
            raise InvalidInput(f"references[{i}] must be a string (the test program of problem {i})")


@contextlib.contextmanager
def _client(client: Any, server: str | None, workers: int) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    if server:
        with Client(server) as c:
            yield c
        return
    from .embedded import EmbeddedServer

    with EmbeddedServer(concurrency=workers) as target, Client(target) as c:
        yield c
