"""Function-call tests: call the candidate's function with JSON arguments, compare with a JSON value.

LiveCodeBench's ``functional`` tests, APPS/TACO's ``fn_name`` tests and
LeetCode's ``class Solution`` methods or top-level functions::

    {"task_id": "two-sum", "fn_name": "twoSum", "harness": "livecodebench",
     "call_tests": [{"args": [[2, 7, 11, 15], 9], "expected": [0, 1]}],
     "starter_code": "class Solution: ...", "time_limit_s": 6}

A sample is the candidate's Python source (``solution``, or ``completion``).
Each test is one isolated check (`sandcheck.judges.isolated`): the
candidate's code runs in a process of its own and answers one call; only
plain values cross, through the codec, and the comparison runs in the
trusted process (`function_call_check.py`). A result that is not plain
data (an always-equal object, anything with its own ``__eq__`` or
``__repr__``) fails the test, as it does for HumanEval; a builtin's
subclass (a Counter, a namedtuple) comes back as the builtin it holds, its
own ``__eq__`` unused, and numpy's scalars as the numbers they hold.

The call and the comparison follow each source's own harness:

- the code defines ``class Solution`` (the text appears in it): the call is
  ``Solution().fn_name(*args)``; else the top-level ``fn_name(*args)``;
- the candidate runs after the imports its harness puts in front of it
  (LiveCodeBench: every name of typing, collections, math, itertools...;
  APPS: its short list), so code that relies on them runs (a costly
  module only when the code mentions one of its names: see `prelude`);
- a tuple result is compared as a list; then ``==`` on plain values;
- ``apps`` also accepts ``[expected]`` for ``expected`` (APPS stores most
  expected values wrapped in a list), a list of tuples for the wrapped list
  of lists, and turns the string keys of a dict argument or expected value
  back into ints where it can, as APPS's testing_util does;
- ``leetcode`` is called and compared as ``livecodebench`` is (LiveCodeBench's
  functional problems are LeetCode's).

Verdicts per test: accepted, wrong_answer, runtime_error (an exception, a
crash, code that does not load), time_limit, memory_limit, sandbox_error.
Every test runs (LiveCodeBench stops at the first failure; pass/fail is the
same). A sample passes when every test is accepted; ``score`` is the
fraction accepted.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._exceptions import InvalidInput
from .._types import ExecutionResult, Limits
from ..client import Program
from . import isolated
from .run import Evaluation, check_problem_limits, checked_ks, pending, summarize

HARNESSES = ("apps", "livecodebench", "leetcode")
# The trusted side's test; `_CALL` is bound after it, per test.
_CHECK = (Path(__file__).resolve().parent / "function_call_check.py").read_text()
_ENTRY = "_sandcheck_call"
_NOT_PLAIN = "not plain data"  # in the isolated harness's report on such a result
_MESSAGE = 500

# What each harness puts in front of the candidate's code: its imports, in its order. A module a
# warm jail has not loaded already costs milliseconds (numpy about a hundred) in every check, so
# such a module is imported only when the code names it or a name it exports: a name the code
# never mentions cannot change what it does.
_COSTLY = ("datetime", "random", "statistics", "fractions", "numpy")
_LCB_STAR = ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random", "statistics",
             "itertools", "functools", "operator", "io", "sys", "json", "builtins", "typing")
_APPS_LINES = (  # (the module that makes the line costly, the line)
    (None, "import sys, time, itertools"),
    (None, "from itertools import accumulate, product, permutations, combinations"),
    (None, "import collections"),
    (None, "from collections import Counter, OrderedDict, deque, defaultdict, ChainMap"),
    (None, "from functools import lru_cache"),
    (None, "import math"),
    (None, "from math import sqrt, sin, cos, tan, ceil, fabs, floor, gcd, exp, log, log2"),
    ("fractions", "import fractions"),
    (None, "from typing import List, Tuple"),
    ("numpy", "try:\n    import numpy as np\nexcept ImportError:\n    pass"),  # APPS's np
    ("random", "import random"),
    (None, "import heapq"),
    (None, "from heapq import *"),
)


def _exported(module: str) -> frozenset[str]:
    """The names that mention `module` in code: its own name, and what ``from module import *`` binds."""
    if module == "numpy":
        return frozenset({"numpy", "np"})
    m = importlib.import_module(module)
    return frozenset({module, *getattr(m, "__all__", ()), *(n for n in dir(m) if not n.startswith("_"))})


_MENTIONS = {m: _exported(m) for m in _COSTLY}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def prelude(harness: str, code: str) -> str:
    """The imports `harness` runs before `code`, less the costly modules `code` never mentions."""
    words = set(_WORD.findall(code))
    used = {m for m in _COSTLY if words & _MENTIONS[m]}
    if harness == "apps":
        return "".join(line + "\n" for module, line in _APPS_LINES if module is None or module in used)
    star = [m for m in _LCB_STAR if m not in _COSTLY or m in used]
    return ("".join(f"from {m} import *\n" for m in star)
            + "import " + ", ".join(m for m in star if m not in ("builtins", "typing")) + "\n"
            + "sys.setrecursionlimit(50000)\n"
            # LiveCodeBench's grader sets this for its whole process (the 4,300-digit default
            # fails str() of a larger int there no more than here).
            + "getattr(sys, 'set_int_max_str_digits', lambda n: None)(50000)\n")


_STATUS_VERDICTS = {"TIMEOUT": "time_limit", "MEMORY_LIMIT": "memory_limit", "SANDBOX_ERROR": "sandbox_error",
                    "INVALID_REQUEST": "sandbox_error"}


def is_function_call_problem(problem: Mapping[str, Any]) -> bool:
    """A problem in this module's format: a function name and call tests."""
    return isinstance(problem.get("fn_name"), str) and "call_tests" in problem


def function_call_problem(row: Mapping[str, Any], where: str = "problem") -> dict[str, Any]:
    """One problem in this module's format; InvalidInput naming `where` when malformed."""
    task_id = row.get("task_id")
    if not isinstance(task_id, str):
        raise InvalidInput(f"{where} needs a string 'task_id'")
    where = f"{where} ({task_id})"
    fn_name = row.get("fn_name")
    if not isinstance(fn_name, str) or not fn_name.isidentifier():
        raise InvalidInput(f"{where}: 'fn_name' must be a Python identifier")
    if row.get("harness") not in HARNESSES:
        raise InvalidInput(f"{where}: 'harness' must be one of {', '.join(HARNESSES)}")
    tests = row.get("call_tests")
    if not isinstance(tests, list) or not tests or not all(
            isinstance(t, Mapping) and isinstance(t.get("args"), list) and "expected" in t for t in tests):
        raise InvalidInput(f"{where} needs 'call_tests': a non-empty list of {{args: list, expected}}")
    for n, t in enumerate(tests):
        try:
            json.dumps([t["args"], t["expected"]], allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"{where}: call test {n} is not JSON ({exc})") from None
    check_problem_limits(row, where)
    return {**row, "call_tests": [{"args": t["args"], "expected": t["expected"]} for t in tests]}


def read_function_call_problems(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Function-call problems from a JSONL(.gz) file, keyed by task_id."""
    from ..data import read_jsonl

    problems = {}
    for i, row in enumerate(read_jsonl(path), 1):
        p = function_call_problem(row, f"{path}: problem {i}")
        problems[p["task_id"]] = p
    if not problems:
        raise InvalidInput(f"{path}: no problems")
    return problems


def candidate_source(code: str, fn_name: str, harness: str) -> str:
    """What runs in the candidate's process: the harness's imports, the code, and
    the one function the trusted side calls."""
    if "class Solution" in code:  # how both harnesses tell LeetCode-style code
        call = f"    return getattr(Solution(), {fn_name!r})(*args)\n"
    else:
        call = f"    return globals()[{fn_name!r}](*args)\n"
    return f"{prelude(harness, code)}\n{code}\n\n\ndef {_ENTRY}(*args):\n{call}"


def call_program(problem: Mapping[str, Any], code: str, t: int, nonce: str, limits: Limits, id: str) -> Program:
    """The isolated check for test `t` of `problem` on the candidate's `code`."""
    test = problem["call_tests"][t]
    call = json.dumps({"harness": problem["harness"], "args": test["args"], "expected": test["expected"]})
    trusted = f"{_CHECK}\n_CALL = _json.loads({call!r})\n"
    source = candidate_source(code, problem["fn_name"], problem["harness"])
    check = {"prompt": "", "entry_point": _ENTRY, "test": trusted}
    return Program(isolated.program(check, source), isolated.stdin(check, nonce),
                   limits=limits, id=id, files=isolated.FILES)


def call_verdict(result: ExecutionResult, nonce: str) -> tuple[str, str]:
    """(verdict, why) for one test's check."""
    report = result.report.decode("utf-8", "replace")
    if report == f"{nonce} passed" and result.status in ("OK", "OUTPUT_LIMIT") and result.exit_code == 0:
        return "accepted", ""
    if result.status in _STATUS_VERDICTS:
        return _STATUS_VERDICTS[result.status], result.error
    prefix = f"{nonce} failed: "
    if report.startswith(prefix):
        why = report[len(prefix):]
        wrong = why.startswith("wrong answer:") or _NOT_PLAIN in why
        return ("wrong_answer" if wrong else "runtime_error"), why[:_MESSAGE]
    stderr = result.stderr[-_MESSAGE:].decode("utf-8", "replace").strip()
    how = f"killed by signal {result.signal}" if result.signal else f"exited with status {result.exit_code}"
    return "runtime_error", f"the candidate {how}" + (f": {stderr}" if stderr else "")


def evaluate_function_calls(
    samples: Sequence[Mapping[str, Any]],
    problems: Mapping[str, Mapping[str, Any]],
    *,
    client: Any,
    k: Iterable[int] = (1, 10, 100),
    timeout: float = 3.0,
    memory_mb: int | None = None,
    on_result: Callable[[int, dict[str, Any]], None] | None = None,
    done: Mapping[int, dict[str, Any]] | None = None,
) -> Evaluation:
    """Run every sample on every call test of its problem; per-test verdicts, score and pass@k.

    A problem's own ``time_limit_s``/``memory_mb`` override `timeout` and
    `memory_mb` (per test). `done` holds rows already known (a resumed run).
    """
    k = checked_ks(k)
    checked = {task_id: function_call_problem(p, f"problem {task_id}") for task_id, p in problems.items()}
    for i, s in enumerate(samples):
        _check_sample(s, checked, f"sample {i}")
    rows, todo = pending(samples, done)
    nonces: dict[tuple[str, str], str] = {}  # identical samples make identical checks (the server runs one)
    tests: dict[int, list[dict[str, Any] | None]] = {}
    programs = []
    for i in todo:
        sample, problem = samples[i], checked[samples[i]["task_id"]]
        code = _code(sample)
        nonce = nonces.setdefault((sample["task_id"], code), secrets.token_hex(16))
        limits = Limits.for_timeout(problem.get("time_limit_s") or timeout, problem.get("memory_mb") or memory_mb)
        tests[i] = [None] * len(problem["call_tests"])
        programs += [call_program(problem, code, t, nonce, limits, f"{i}/{t}") for t in range(len(tests[i]))]
    for result in client.execute_batch(programs):
        i, t = (int(x) for x in result.id.split("/"))
        if tests[i][t] is not None:
            continue  # a result for this test already arrived
        nonce = nonces[(samples[i]["task_id"], _code(samples[i]))]
        verdict, why = call_verdict(result, nonce)
        tests[i][t] = {"verdict": verdict, "status": result.status, "cpu_time_ms": result.cpu_time_ms,
                       "memory_bytes": result.memory_bytes, "wall_time_ms": result.wall_time_ms}
        if why:
            tests[i][t]["message"] = why
        if all(v is not None for v in tests[i]):
            rows[i] = _row(samples[i], tests[i])
            if on_result is not None:
                on_result(i, rows[i])
    missing = [i for i, r in enumerate(rows) if r is None]
    if missing:
        raise RuntimeError(f"server returned no result for {len(missing)} samples (first: {missing[0]})")
    finished = [r for r in rows if r is not None]
    return Evaluation(finished, summarize(finished, k), Counter(r["status"] for r in finished), "function_call")


def _code(sample: Mapping[str, Any]) -> str:
    return sample["solution"] if isinstance(sample.get("solution"), str) else sample["completion"]


def _check_sample(sample: Any, problems: Mapping[str, Any], where: str) -> None:
    if not isinstance(sample, Mapping) or not isinstance(sample.get("task_id"), str) or not any(
            isinstance(sample.get(f), str) for f in ("solution", "completion")):
        raise InvalidInput(f"{where} needs string fields 'task_id' and 'solution' (or 'completion')")
    if sample["task_id"] not in problems:
        raise InvalidInput(f"{where} has task_id {sample['task_id']!r}, which is not in the problem set")


def _row(sample: Mapping[str, Any], tests: list[dict[str, Any]]) -> dict[str, Any]:
    first_bad = next((n for n, v in enumerate(tests) if v["verdict"] != "accepted"), None)
    no_verdict = next((v["status"] for v in tests if v["verdict"] == "sandbox_error"), None)
    status = no_verdict or ("OK" if first_bad is None else tests[first_bad]["status"])
    result = "passed" if first_bad is None else f"failed: {tests[first_bad]['verdict']} on test {first_bad}"
    return {**sample, "result": result, "passed": first_bad is None, "status": status,
            "score": sum(v["verdict"] == "accepted" for v in tests) / len(tests), "tests": tests}
