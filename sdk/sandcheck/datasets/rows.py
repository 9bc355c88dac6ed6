"""Problem rows as people download them, recognized by their fields and loaded into one shape.

    from datasets import load_dataset
    from sandcheck.datasets import load_rows
    problems = load_rows(load_dataset("deepmind/code_contests", split="test"))

The first row names the format; every row must then fit it. Each format's
loader (one module each) makes a stdin/stdout problem
(`sandcheck.judges.stdio`) or a function-call problem (``fn_name``,
``call_tests``, ``harness``). Human-eval rows (task_id, prompt, test,
entry_point) come back as they are. A row that fits no format is
InvalidInput naming what it lacks for each.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._exceptions import InvalidInput
from ..judges.stdio import stdio_problem
from . import apps, code_contests, livecodebench

Loader = Callable[[Mapping[str, Any], str, int], dict[str, Any]]


@dataclass(frozen=True)
class Format:
    name: str
    fields: tuple[str, ...]  # what a row needs (for the message when none fits)
    matches: Callable[[Mapping[str, Any]], bool]
    load: Loader


def _has(*fields: str) -> Callable[[Mapping[str, Any]], bool]:
    return lambda row: all(f in row for f in fields)


def _function_call(row: Mapping[str, Any], where: str, index: int) -> dict[str, Any]:
    calls = row.get("call_tests")
    if not isinstance(row.get("task_id"), str) or not isinstance(row.get("fn_name"), str):
        raise InvalidInput(f"{where} needs string fields 'task_id' and 'fn_name'")
    if not isinstance(calls, list) or not calls or not all(
            isinstance(c, Mapping) and isinstance(c.get("args"), list) and "expected" in c for c in calls):
        raise InvalidInput(f"{where} ({row['task_id']}) needs 'call_tests': a non-empty list of {{args, expected}}")
    return dict(row)


def _human_eval(row: Mapping[str, Any], where: str, index: int) -> dict[str, Any]:
    missing = [f for f in HUMAN_EVAL_FIELDS if not isinstance(row.get(f), str)]
    if missing:
        raise InvalidInput(f"{where} lacks string field(s) {', '.join(missing)}")
    return dict(row)


HUMAN_EVAL_FIELDS = ("task_id", "prompt", "test", "entry_point")
FORMATS: tuple[Format, ...] = (
    Format("sandcheck stdin/stdout", ("task_id", "tests"), _has("task_id", "tests"),
           lambda row, where, i: stdio_problem(row, where)),
    Format("sandcheck function-call", ("task_id", "fn_name", "call_tests"), _has("task_id", "fn_name", "call_tests"),
           _function_call),
    Format(livecodebench.NAME, livecodebench.FIELDS, livecodebench.matches,
           lambda row, where, i: livecodebench.problem(row, where)),
    Format(apps.NAME, ("problem_id or question", "input_output"), apps.matches, apps.problem),
    Format(code_contests.NAME, code_contests.FIELDS, code_contests.matches,
           lambda row, where, i: code_contests.problem(row, where)),
    Format(code_contests.SANDBOX_FUSION_NAME, code_contests.SANDBOX_FUSION_FIELDS,
           code_contests.matches_sandbox_fusion,
           lambda row, where, i: code_contests.sandbox_fusion_problem(row, where)),
    Format("human-eval", HUMAN_EVAL_FIELDS, _has("task_id", "prompt"), _human_eval),
)


def detect(row: Any, where: str = "problem 1") -> Format:
    """The format `row` is in; InvalidInput naming, for each format, the fields the row lacks."""
    if isinstance(row, Mapping):
        for fmt in FORMATS:
            if fmt.matches(row):
                return fmt
        lacks = "; ".join(f"{fmt.name} needs {', '.join(f for f in fmt.fields if f not in row)}" for fmt in FORMATS)
    else:
        lacks = "it is not a JSON object"
    raise InvalidInput(f"{where} fits no problem format ({lacks})")


def load_rows(rows: Iterable[Mapping[str, Any]], where: str = "") -> dict[str, dict[str, Any]]:
    """Problems by task_id from rows in one format (the first row's); InvalidInput for a row that does not fit."""
    prefix = f"{where}: " if where else ""
    problems: dict[str, dict[str, Any]] = {}
    fmt: Format | None = None
    for index, row in enumerate(rows):
        here = f"{prefix}problem {index + 1}"
        if fmt is None:
            fmt = detect(row, here)
        elif not isinstance(row, Mapping) or not fmt.matches(row):
            raise InvalidInput(f"{here} is not a {fmt.name} row like problem 1 (it needs {', '.join(fmt.fields)})")
        p = fmt.load(row, here, index)
        if p["task_id"] in problems:
            raise InvalidInput(f"{here}: task_id {p['task_id']!r} appears twice")
        problems[p["task_id"]] = p
    if not problems:
        raise InvalidInput(f"{prefix}no problems")
    return problems


def read_problem_rows(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """`load_rows` of a JSONL or JSONL.gz file."""
    from ..data import read_jsonl

    return load_rows(read_jsonl(path), str(path))


def is_function_call(problem: Mapping[str, Any]) -> bool:
    """A function-call problem (``fn_name`` and ``call_tests``), as opposed to stdin/stdout or human-eval."""
    return "call_tests" in problem and "fn_name" in problem
