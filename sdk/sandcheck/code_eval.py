"""Hugging Face's ``code_eval`` metric (evaluate 0.4.6), judged in the sandbox.

Same call, same return, value for value::

    from sandcheck import code_eval
    pass_at_k, results = code_eval(predictions=[["def add(a,b): return a*b", "def add(a, b): return a+b"]],
                                   references=["assert add(2,3)==5"], k=[1, 2])
    pass_at_k   # {'pass@1': np.float64(0.5), 'pass@2': np.float64(1.0)}
    results     # defaultdict(list, {0: [(0, {'task_id': 0, 'passed': False, 'result': 'failed: ',
                #                             'completion_id': 0}), (1, {... 'passed': True, ...})]})

`predictions` holds a list of candidate programs per problem; `references`
one test program per problem. pass@k is the metric's own numpy arithmetic
(`metrics.estimate_pass_at_k`), so the numbers agree with it to the last
bit; a k larger than some problem's number of candidates is left out, as
the metric leaves it out. Input the metric refuses is a `ValueError` here
too (`CodeEvalInputError`, also an `InvalidInput`), with the metric's
words where it has them, before anything runs.

Two judges (``judge=``):

- ``inprocess`` (the default): the metric's own program, ``candidate + "\\n"
  + test``, run to its end in one process: the numbers HF's metric gives.
  As there, the candidate can defeat an ``assert``: an object whose
  ``__eq__`` always returns True passes ``assert add(2,3)==5``.
- ``isolated``: the test runs in a trusted process apart from the candidate
  (`sandcheck.judges.isolated`); the names it looks up that the candidate
  defines as functions (or classes) are proxies that call into the
  candidate's process, and only plain values come back, so such an object
  fails. The candidate's other globals (``x = 1``) are not visible to the test.

Unlike the metric, nothing runs on the calling host, so there is no
``HF_ALLOW_CODE_EVAL`` switch: the programs run in sandcheck's jails.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from ._exceptions import InvalidInput
from ._types import Limits
from .client import Client, Program
from .judges.function import Check, build_check, build_program_check
from .metrics import estimate_pass_at_k

Results = dict[int, list[tuple[int, dict[str, Any]]]]
CodeEvalJudge = Literal["inprocess", "isolated"]

# The metric module folder: ``evaluate.load(METRIC_PATH)`` gives this metric through `evaluate`'s API.
METRIC_PATH = str(Path(__file__).resolve().parent / "hf_metric" / "code_eval")

# The isolated judge calls check(ENTRY_POINT); a code_eval test has none, so every candidate gets one.
_ENTRY = "_sandcheck_code_eval_entry"


class CodeEvalInputError(InvalidInput, ValueError):
    """Input the metric would refuse (a ValueError there too); nothing ran."""


def code_eval(predictions: Sequence[Sequence[str]], references: Sequence[str],
              k: Sequence[int] | int = (1, 10, 100), num_workers: int = 4, timeout: float = 3.0, *,
              judge: CodeEvalJudge = "inprocess", client: Any = None,
              server: str | None = None) -> tuple[dict[str, Any], Results]:
    """pass@k (numpy floats) and per-candidate results, as ``evaluate.load("code_eval").compute`` returns them.

    `client` (a `Client` or `Dispatcher`) or `server` (an address) picks
    where the programs run; with neither, an embedded server with
    `num_workers` slots runs them.
    """
    import numpy as np

    _validate(predictions, references)
    ks = _ks(k)
    if judge not in ("inprocess", "isolated"):
        raise CodeEvalInputError(f"judge must be 'inprocess' or 'isolated', got {judge!r}")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise CodeEvalInputError(f"timeout must be a positive number of seconds, got {timeout!r}")
    checks: dict[str, tuple[int, int, Check]] = {}
    for task_id, (candidates, test) in enumerate(zip(predictions, references)):
        for completion_id, candidate in enumerate(candidates):
            checks[f"{task_id}/{completion_id}"] = (task_id, completion_id, _check(task_id, candidate, test, judge))
    if not checks:
        raise CodeEvalInputError("no candidates to evaluate (every prediction list is empty)")
    # The metric's timeout is wall time (setitimer(ITIMER_REAL)): a program that sleeps or
    # blocks past it timed out there, where CPU time alone (and its 2x wall backstop) passed it.
    cpu = Limits.for_timeout(timeout).cpu_time_ms
    limits = Limits(cpu_time_ms=cpu, wall_time_ms=cpu)
    found: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    with _client(client, server, num_workers) as runner:
        programs = (Program(c.program, c.stdin, limits=limits, id=key, files=c.files)
                    for key, (_, _, c) in checks.items())
        for result in runner.execute_batch(programs):
            task_id, completion_id, check = checks[result.id]
            passed, text = check.verdict(result)
            found[task_id].append((completion_id, {"task_id": task_id, "passed": passed, "result": text,
                                                   "completion_id": completion_id}))
    got = sum(len(rows) for rows in found.values())
    if got != len(checks):
        raise RuntimeError(f"server returned {got} results for {len(checks)} candidates")
    results: Results = defaultdict(list)
    for task_id in sorted(found):
        results[task_id] = sorted(found[task_id], key=lambda pair: pair[0])
    total = np.array([len(rows) for rows in results.values()])
    correct = np.array([sum(r["passed"] for _, r in rows) for rows in results.values()])
    pass_at_k = {f"pass@{n}": estimate_pass_at_k(total, correct, n).mean() for n in ks if (total >= n).all()}
    return pass_at_k, results


def _check(task_id: int, candidate: str, test: str, judge: CodeEvalJudge) -> Check:
    if judge == "inprocess":
        return build_program_check(str(task_id), candidate + "\n" + test)
    problem = {"task_id": str(task_id), "prompt": "", "test": _isolated_test(test), "entry_point": _ENTRY}
    return build_check(problem, "", judge="isolated", solution=f"{candidate}\n\n\ndef {_ENTRY}():\n    pass\n")


def _isolated_test(reference: str) -> str:
    """The reference as the isolated judge's ``check``: run whole, as a module, in the test's globals,
    where the names it looks up are bound to the candidate's proxies. Those names are listed in a
    function that never runs, for the judge to find them (compiling the reference runs nothing)."""
    try:
        names = sorted(_global_names(compile(reference, "<string>", "exec")))
    except (SyntaxError, ValueError):
        names = []  # it fails to compile in the jail too, and the check fails as the metric's does
    listed = "".join(f"    {n}\n" for n in names if n.isidentifier()) or "    pass\n"
    return (f"def check(candidate):\n    exec(compile({reference!r}, '<string>', 'exec'), globals())\n\n\n"
            f"def _sandcheck_names():\n{listed}")


def _global_names(code: Any) -> set[str]:
    names, todo = set(), [code]
    while todo:
        c = todo.pop()
        names.update(c.co_names)
        todo.extend(k for k in c.co_consts if type(k) is type(code))
    return names


def _ks(k: Any) -> list[int]:
    ks = [k] if isinstance(k, int) and not isinstance(k, bool) else k
    if isinstance(ks, (str, bytes)) or not isinstance(ks, Sequence) \
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in ks):
        raise CodeEvalInputError(f"k must be a positive integer or a list of them, got {k!r}")
    return list(ks)


def _validate(predictions: Any, references: Any) -> None:
    """The metric's checks (evaluate's add_batch: its messages), then ours, item by item."""
    bad = "Predictions and/or references don't match the expected format: "
    if isinstance(predictions, str) or not isinstance(predictions, Sequence):
        raise CodeEvalInputError(bad + "predictions must be a list of candidate lists, one list per problem")
    if isinstance(references, str) or not isinstance(references, Sequence):
        raise CodeEvalInputError(bad + "references must be a list of test programs, one per problem")
    if len(predictions) != len(references):
        raise CodeEvalInputError(f"Mismatch in the number of predictions ({len(predictions)}) and references "
                                 f"({len(references)})")
    for i, (candidates, test) in enumerate(zip(predictions, references)):
        if isinstance(candidates, str):
            raise CodeEvalInputError(f"Got a string but expected a list instead: predictions[{i}] "
                                     "(a list of candidate programs per problem)")
        if not isinstance(candidates, Sequence) or not all(isinstance(c, str) for c in candidates):
            raise CodeEvalInputError(bad + f"predictions[{i}] must be a list of strings "
                                     f"(the candidates for problem {i})")
        if not isinstance(test, str):
            raise CodeEvalInputError(bad + f"references[{i}] must be a string (the test program of problem {i})")


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
