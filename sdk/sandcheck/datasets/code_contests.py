"""CodeContests rows: Hugging Face ``deepmind/code_contests``, and SandboxFusion's layout of them.

Hugging Face rows have ``name`` (the task_id), ``public_tests``,
``private_tests`` and ``generated_tests``, each ``{"input": [...], "output":
[...]}``, ``time_limit`` (``{"seconds", "nanos"}``, or null) and
``memory_limit_bytes`` (0: none). Every test of the three lists runs, in
that order; each test is judged as DeepMind's tester judges it
(``compare: code_contests``): by its output alone, however the program
ended, as tokens, case ignored, numbers within 1e-5.
The time limit is the problem's CPU limit (its wall backstop twice that),
whatever the language, as the data gives it. A row with an ``input_file``
or ``output_file`` (a few Codeforces problems do file I/O) is refused.

SandboxFusion's rows have ``id`` (its string is the task_id), ``content``
(the statement) and ``test``: a JSON list of ``{"input": {"stdin"},
"output": {"stdout"}}``. They carry no limits. They are judged as
SandboxFusion judges them (``compare: sandbox_fusion``): the program must
end well, and its lines match the expected ones lowercased and stripped,
or as numbers within 1e-5. (So an answer per line where the data has them
on one line, as in 1342_C, fails here as it fails there; DeepMind's rule,
``compare: code_contests`` in the row, would pass it.)
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from .._exceptions import InvalidInput

NAME = "CodeContests (Hugging Face)"
FIELDS = ("name", "public_tests", "private_tests", "generated_tests")
SANDBOX_FUSION_NAME = "CodeContests (SandboxFusion)"
SANDBOX_FUSION_FIELDS = ("id", "content", "test")
_TEST_LISTS = ("public_tests", "private_tests", "generated_tests")


def matches(row: Mapping[str, Any]) -> bool:
    return all(f in row for f in FIELDS)


def matches_sandbox_fusion(row: Mapping[str, Any]) -> bool:
    return all(f in row for f in SANDBOX_FUSION_FIELDS) and isinstance(row.get("test"), str)


def problem(row: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A Hugging Face row as a stdin/stdout problem."""
    if not isinstance(row["name"], str):
        raise InvalidInput(f"{where}: name must be a string")
    task_id, tests = row["name"], []
    where = f"{where} ({task_id})"
    files = [row.get(f) for f in ("input_file", "output_file") if row.get(f)]
    if files:  # a handful of Codeforces problems: their data is not on stdin/stdout
        raise InvalidInput(f"{where} reads or writes {' and '.join(files)}, not stdin/stdout, which this judge does "
                           "not do; leave out rows with an input_file or output_file")
    for field in _TEST_LISTS:
        group = row.get(field) or {"input": [], "output": []}
        ins, outs = (group.get("input"), group.get("output")) if isinstance(group, Mapping) else (None, None)
        if not isinstance(ins, list) or not isinstance(outs, list) or len(ins) != len(outs):
            raise InvalidInput(f"{where}: {field} must be {{input: [...], output: [...]}} of equal length")
        tests += [{"input": i, "output": o} for i, o in zip(ins, outs)]
    out: dict[str, Any] = {"task_id": task_id, "tests": tests, "compare": "code_contests",
                           "source": "code_contests"}
    limit = row.get("time_limit")
    if isinstance(limit, Mapping):
        seconds = (limit.get("seconds") or 0) + (limit.get("nanos") or 0) / 1e9
        if seconds > 0:
            out["time_limit_s"] = seconds
    memory = row.get("memory_limit_bytes")
    if isinstance(memory, int) and memory > 0:
        out["memory_mb"] = math.ceil(memory / (1 << 20))
    return out


def sandbox_fusion_problem(row: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A SandboxFusion row as a stdin/stdout problem (its other fields kept)."""
    if not isinstance(row.get("id"), (int, str)):
        raise InvalidInput(f"{where}: id must be a number or a string")
    task_id = str(row["id"])
    try:
        tests = [{"input": t["input"]["stdin"], "output": t["output"]["stdout"]} for t in json.loads(row["test"])]
    except (ValueError, TypeError, KeyError):
        raise InvalidInput(f"{where} ({task_id}): test must be a JSON list of "
                           "{input: {stdin}, output: {stdout}}") from None
    kept = {k: v for k, v in row.items() if k not in ("test", "tests")}
    return {**kept, "task_id": task_id, "tests": tests, "compare": "sandbox_fusion",
            "source": "code_contests_sandbox_fusion"}
