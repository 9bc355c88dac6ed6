"""MultiPL-E's HumanEval translations (nuprl/MultiPL-E), as SandboxFusion ships them.

A completion's program is MultiPL-E's: ``prompt + completion + "\\n" +
tests``. The tests of C++, Java, Rust and Bash begin by closing the
prompt's function (``}``), so a completion is the function's body, cut at
the row's ``stop_tokens`` as MultiPL-E cuts what a model generates.

The rows also carry ``gpt_solution``: one model's answer, a markdown reply
whose first fenced block is a whole program (its own ``main``, example
calls, Go test functions). `solution_code` takes that block; a whole
program (a sample's ``solution``) is joined to the tests by
`whole_programs.join`, which keeps every function the program defines.

Java needs two changes, each with the same meaning as MultiPL-E's
``javac -cp javatuples.jar; java -ea Problem`` (the server runs the class
that declares ``main``: ``Problem``, as there, so a completion may call
``Problem.helper(x)``): each test line ``assert(X);`` becomes
``if (!(X)) throw new AssertionError();``, as ``-ea`` would run it (a JVM without ``-ea`` skips asserts, and a check must
not pass because nothing ran); and the javatuples imports are dropped
from programs that use no javatuples class, so that they compile where the
server has no javatuples jar (the 8 tasks that use tuples need one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..judges.exit_status import Source
from .whole_programs import join

LANGUAGES = ("cpp", "go", "java", "js", "rs", "sh", "ts")
SERVER_LANGUAGE = {"cpp": "cpp", "go": "go_test", "java": "java", "js": "js", "rs": "rust", "sh": "bash",
                   "ts": "ts"}

_JAVA_ASSERT = re.compile(r"^([ \t]*)assert\((.*)\);[ \t]*$", re.MULTILINE)
_JAVATUPLES_IMPORT = re.compile(r"^import\s+org\.javatuples\.(\*|\w+);[ \t]*\n?", re.MULTILINE)
_JAVATUPLES_CLASS = re.compile(r"\b(Unit|Pair|Triplet|Quartet|Quintet|Sextet|Septet|Octet|Ennead|Decade|KeyValue|"
                               r"LabelValue)\b")


def stops(problems: Mapping[str, Mapping[str, Any]]) -> tuple[str, ...]:
    """The stop tokens of a set's rows (one language: the same on every row)."""
    first = next(iter(problems.values()), {})
    return tuple(first.get("stop_tokens") or ())


def build(language: str, problem: Mapping[str, Any], code: str, *, whole: bool = False) -> Source:
    """The program for `code`: a completion of the prompt, or (`whole`) a whole program."""
    tests = problem["tests"]
    if language == "java":
        tests = _JAVA_ASSERT.sub(r"\1if (!(\2)) throw new AssertionError();", tests)
    if not whole:
        program = problem["prompt"] + code + "\n" + tests
    else:
        program = join(language, problem["prompt"], code, tests, problem.get("stop_tokens") or ())
    if language == "java":
        if not _JAVATUPLES_CLASS.search(_JAVATUPLES_IMPORT.sub("", program)):
            program = _JAVATUPLES_IMPORT.sub("", program)
    return Source(SERVER_LANGUAGE[language], program)


_FENCE = re.compile(r"```[ \t]*([\w+#-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)


def solution_code(answer: str) -> str:
    """The first fenced code block of a markdown answer (the answer itself when it has none)."""
    m = _FENCE.search(answer)
    return m.group(2) if m else answer


def gpt_solutions(problems: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows' ``gpt_solution`` answers as samples: one whole program per task."""
    return [{"task_id": t, "solution": solution_code(p.get("gpt_solution") or "")} for t, p in problems.items()]
