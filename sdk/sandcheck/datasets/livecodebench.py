"""LiveCodeBench code-generation rows (``livecodebench/code_generation_lite``), as lcb_runner reads them.

A row has ``question_id``, ``starter_code``, ``metadata`` (JSON; ``func_name``
for LeetCode problems) and two test lists, ``public_test_cases`` and
``private_test_cases``: JSON lists of ``{"input", "output", "testtype"}``;
the private ones in the later releases are base64 of zlib of a pickled JSON
string. That pickle is never loaded: its opcodes are read
(`pickletools.genops`) and it is accepted only when it is exactly one
string, which is then parsed as JSON.

Tests run public then private, as ``get_evaluation_sample`` orders them.
``stdin`` problems are stdin/stdout problems compared as ``grade_stdio``
compares (``compare: livecodebench``); ``functional`` ones are function
calls: each input line is one JSON argument, the output the JSON value
expected (``harness: livecodebench``). Neither has a time limit in the data:
lcb_runner gives each test 6 s of wall time; sandcheck gives `--timeout` of
CPU (and twice that of wall).
"""

from __future__ import annotations

import base64
import binascii
import json
import pickletools
import zlib
from collections.abc import Mapping
from typing import Any

from .._exceptions import InvalidInput

NAME = "LiveCodeBench"
FIELDS = ("question_id", "public_test_cases", "private_test_cases")
_MAX_PRIVATE_BYTES = 1 << 30  # what one row's private tests may inflate to
# Opcodes a pickled str may hold besides the one string: framing and memo bookkeeping.
_FRAMING = {"PROTO", "FRAME", "MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "STOP"}
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"}


def matches(row: Mapping[str, Any]) -> bool:
    return all(f in row for f in FIELDS)


def problem(row: Mapping[str, Any], where: str) -> dict[str, Any]:
    """One row as a stdin/stdout or function-call problem."""
    task_id = str(row["question_id"])
    where = f"{where} ({task_id})"
    tests = _tests(row["public_test_cases"], f"{where}: public_test_cases", private=False)
    tests += _tests(row["private_test_cases"], f"{where}: private_test_cases", private=True)
    if not tests:
        raise InvalidInput(f"{where} has no tests")
    kinds = {t.get("testtype") for t in tests}
    if kinds == {"stdin"}:
        return {"task_id": task_id, "tests": [{"input": t["input"], "output": t["output"]} for t in tests],
                "compare": "livecodebench", "harness": "livecodebench", "source": "livecodebench"}
    if kinds != {"functional"}:
        raise InvalidInput(f"{where}: testtype must be all 'stdin' or all 'functional', got {sorted(map(str, kinds))}")
    try:
        fn_name = json.loads(row.get("metadata") or "{}").get("func_name")
        calls = [{"args": [json.loads(line) for line in t["input"].split("\n")], "expected": json.loads(t["output"])}
                 for t in tests]
    except (ValueError, AttributeError) as exc:
        raise InvalidInput(f"{where}: a functional test or the metadata is not JSON ({exc})") from None
    if not isinstance(fn_name, str) or not fn_name:
        raise InvalidInput(f"{where}: functional tests need metadata.func_name")
    return {"task_id": task_id, "fn_name": fn_name, "call_tests": calls, "harness": "livecodebench",
            "starter_code": row.get("starter_code") or None, "source": "livecodebench"}


def _tests(raw: Any, where: str, *, private: bool) -> list[dict[str, Any]]:
    if not isinstance(raw, str):
        raise InvalidInput(f"{where} must be a string (JSON)")
    try:
        tests = json.loads(raw)
    except ValueError:
        if not private:
            raise InvalidInput(f"{where} is not JSON") from None
        tests = json.loads(unpack_private(raw, where))
    if not isinstance(tests, list) or not all(
            isinstance(t, Mapping) and isinstance(t.get("input"), str) and isinstance(t.get("output"), str)
            for t in tests):
        raise InvalidInput(f"{where} must be a list of {{input, output, testtype}} strings")
    return tests


def unpack_private(raw: str, where: str = "private_test_cases") -> str:
    """The JSON string inside base64(zlib(pickle(str))); InvalidInput for anything else."""
    try:
        packed = base64.b64decode(raw.encode("ascii"), validate=True)
        inflater = zlib.decompressobj()
        data = inflater.decompress(packed, _MAX_PRIVATE_BYTES)
        if inflater.unconsumed_tail:
            raise InvalidInput(f"{where}: inflates past {_MAX_PRIVATE_BYTES >> 20} MiB")
    except (UnicodeEncodeError, binascii.Error, zlib.error):
        raise InvalidInput(f"{where} is neither JSON nor base64 of zlib data") from None
    return pickled_string(data, where)


def pickled_string(data: bytes, where: str = "pickle") -> str:
    """The one str a pickle holds, read from its opcodes without unpickling; InvalidInput otherwise."""
    strings: list[str] = []
    end = -1
    try:
        for op, arg, pos in pickletools.genops(data):
            if op.name in _STRINGS:
                strings.append(arg)
            elif op.name not in _FRAMING:
                raise InvalidInput(f"{where}: the pickle holds {op.name}, not only a string; refused")
            if op.name == "STOP":
                end = pos + 1
    except ValueError as exc:
        raise InvalidInput(f"{where}: not a valid pickle ({exc})") from None
    if len(strings) != 1 or end != len(data):
        raise InvalidInput(f"{where}: the pickle is not exactly one string; refused")
    return strings[0]
