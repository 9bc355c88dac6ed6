"""APPS (``codeparrot/apps``) and TACO (``BAAI/TACO``) rows, as their testing_util reads them.

A row's ``input_output`` is JSON: ``inputs`` and ``outputs``, and
``fn_name`` for call-based problems. Without ``fn_name`` each input is a
program's stdin and each output what it must print (a list of lines is
joined with newlines), compared as APPS compares (``compare: apps``, see
`sandcheck.judges.outputs`). With ``fn_name`` each ``inputs[i]`` is the
argument list and ``outputs[i]`` the expected value (``harness: apps``).

APPS rows carry ``problem_id``, the task_id; TACO rows have no id, so a
TACO problem's task_id is its row's index in the file (0, 1, ...). TACO's
``time_limit`` ("2 seconds") and ``memory_limit`` ("256 megabytes") become
the problem's limits; APPS has none (testing_util's alarm is 4 s of wall
time; sandcheck gives `--timeout` of CPU, twice that of wall).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from .._exceptions import InvalidInput

NAME = "APPS/TACO"
FIELDS = ("input_output",)  # and problem_id (APPS), or question (TACO)
_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:s|sec|second|seconds)\s*$", re.I)
_MEGABYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:mb|megabytes?)\s*$", re.I)


def matches(row: Mapping[str, Any]) -> bool:
    return "input_output" in row and ("problem_id" in row or "question" in row)


def problem(row: Mapping[str, Any], where: str, index: int) -> dict[str, Any]:
    """One row as a stdin/stdout or function-call problem."""
    task_id = str(row["problem_id"]) if "problem_id" in row else str(index)
    where = f"{where} ({task_id})"
    try:
        io = json.loads(row["input_output"]) if isinstance(row["input_output"], str) else row["input_output"]
        inputs, outputs = io["inputs"], io["outputs"]
    except (ValueError, TypeError, KeyError):
        raise InvalidInput(f"{where}: input_output must be JSON with 'inputs' and 'outputs'") from None
    if not isinstance(inputs, list) or not isinstance(outputs, list) or not inputs or len(inputs) != len(outputs):
        raise InvalidInput(f"{where}: input_output needs as many inputs as outputs, at least one")
    out: dict[str, Any] = {"task_id": task_id, "source": "apps" if "problem_id" in row else "taco"}
    out.update(_limits(row))
    if io.get("fn_name"):
        if not all(isinstance(a, list) for a in inputs):
            raise InvalidInput(f"{where}: a call-based problem's inputs are argument lists")
        return {**out, "fn_name": str(io["fn_name"]), "harness": "apps",
                "call_tests": [{"args": a, "expected": e} for a, e in zip(inputs, outputs)],
                "starter_code": row.get("starter_code") or None}
    tests = [{"input": _text(i), "output": _text(o)} for i, o in zip(inputs, outputs)]
    if any(t["input"] is None or t["output"] is None for t in tests):
        raise InvalidInput(f"{where}: a stdin problem's inputs and outputs are strings (or lists of lines)")
    harness = out["source"]  # "apps" or "taco": how each runs a Python answer
    return {**out, "tests": tests, "compare": "taco" if harness == "taco" else "apps", "harness": harness}


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    return None


def _limits(row: Mapping[str, Any]) -> dict[str, Any]:
    """TACO's "2 seconds" and "256 megabytes" (anything else is no limit from the data)."""
    limits: dict[str, Any] = {}
    seconds = _SECONDS.match(str(row.get("time_limit") or ""))
    if seconds and float(seconds.group(1)) > 0:
        limits["time_limit_s"] = float(seconds.group(1))
    megabytes = _MEGABYTES.match(str(row.get("memory_limit") or ""))
    if megabytes and float(megabytes.group(1)) > 0:
        limits["memory_mb"] = math.ceil(float(megabytes.group(1)))
    return limits
