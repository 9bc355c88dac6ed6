"""Python stdin/stdout programs run as their dataset's harness runs them.

LiveCodeBench, APPS and TACO do not run a Python answer as a program of its
own: each puts its imports in front of it, and LiveCodeBench and APPS
rewrite it into a function they call in their own process, with stdin and
stdout mocked and ``SystemExit`` caught. What passes there differs from what
passes as a bare program: code that uses ``sys`` or ``gcd`` unimported
passes there; a ``global`` of a top-level name, ``for line in sys.stdin`` or
``sys.stdin.buffer.readline`` fails in LiveCodeBench; ``sys.exit(1)`` after
the right output passes in both. A problem's ``harness`` (its loader sets
it) makes its Python samples run that way, in the jail
(``stdio_harness_runner.py``); other languages, and problems without one,
run as bare programs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from .function_call import prelude

HARNESSES = ("livecodebench", "apps", "taco")
# The runner travels as a file beside the program: a warm jail compiles a file's text once
# and imports it from its cache after (the program itself, new per answer, compiles each time).
_RUNNER_MODULE = "sandcheck_stdio_harness"
FILES: Mapping[str, bytes] = MappingProxyType(
    {f"{_RUNNER_MODULE}.py": (Path(__file__).resolve().parent / "stdio_harness_runner.py").read_bytes()})


@functools.lru_cache(maxsize=64)  # the same for every test of a sample
def program(harness: str, code: str) -> str:
    """The program that runs `code` (a Python answer) as `harness` runs it, with `FILES`."""
    imports = prelude("livecodebench" if harness == "livecodebench" else "apps", code)
    return (f"from {_RUNNER_MODULE} import _sandcheck_harness\n"
            f"_sandcheck_harness({harness!r}, {code!r}, {imports!r})\n")
