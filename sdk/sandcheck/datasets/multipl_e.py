"""MultiPL-E's HumanEval translations (nuprl/MultiPL-E), as SandboxFusion ships them.

A completion's program is MultiPL-E's: ``prompt + completion + "\\n" +
tests``. The tests of C++, Java, Rust and Bash begin by closing the
prompt's function (``}``), so a completion is the function's body, cut at
the row's ``stop_tokens`` as MultiPL-E cuts what a model generates.

The rows also carry ``gpt_solution``: one model's answer, a markdown reply
whose first fenced block is a whole program (its own ``main``, example
calls, Go test functions). `solution_code` takes that block; a whole
program (a sample's ``solution``) is joined to the tests the way
SandboxFusion's MultiPL-E harness joins a free-form answer:

    cpp, java, rs, sh   the program up to the first stop token (the end of the
                        first function, which the tests' leading ``}`` closes),
                        then the tests
    js, ts              the program, then the tests
    go                  one package clause (the prompt's), the imports that
                        the program and tests use, the program with its own
                        ``func TestX(t *testing.T)`` renamed ``ownTestX`` (so
                        ``go test`` runs only the dataset's tests, and calls
                        to them still compile), then the tests

so functions the program defines after the first one are lost in the first
group, as they are there.

Java needs three changes, each with the same meaning as MultiPL-E's
``javac -cp javatuples.jar; java -ea Problem``: the class ``Problem`` is
named ``Main`` (what the server runs when no class is public); each test
line ``assert(X);`` becomes ``if (!(X)) throw new AssertionError();``, as
``-ea`` would run it (a JVM without ``-ea`` skips asserts, and a check must
not pass because nothing ran); and ``import org.javatuples.*;`` is dropped
from programs that use no javatuples class, so that they compile where the
server has no javatuples jar (the 8 tasks that use tuples need one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..multilang import Source

LANGUAGES = ("cpp", "go", "java", "js", "rs", "sh", "ts")
SERVER_LANGUAGE = {"cpp": "cpp", "go": "go_test", "java": "java", "js": "js", "rs": "rust", "sh": "bash",
                   "ts": "ts"}
_CUT_AT_STOP = ("cpp", "java", "rs", "sh")

_JAVA_ASSERT = re.compile(r"^([ \t]*)assert\((.*)\);[ \t]*$", re.MULTILINE)
_JAVATUPLES_IMPORT = re.compile(r"^import\s+org\.javatuples\.\*;[ \t]*\n?", re.MULTILINE)
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
    elif language in _CUT_AT_STOP:
        program = cut_at_stop(code, problem.get("stop_tokens") or ()) + "\n" + tests
    elif language == "go":
        program = _go_program(problem["prompt"], code, tests)
    else:
        program = code + "\n" + tests
    if language == "java":
        program = re.sub(r"\bclass\s+Problem\b", "class Main", program)
        if not _JAVATUPLES_CLASS.search(_JAVATUPLES_IMPORT.sub("", program)):
            program = _JAVATUPLES_IMPORT.sub("", program)
    return Source(SERVER_LANGUAGE[language], program)


def cut_at_stop(text: str, stop_tokens: tuple[str, ...] | list[str]) -> str:
    """`text` up to its earliest stop token."""
    cut = len(text)
    for token in stop_tokens:
        i = text.find(token) if token else -1
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


_FENCE = re.compile(r"```[ \t]*([\w+#-]*)[^\n]*\n(.*?)(?:\n[ \t]*```|\Z)", re.DOTALL)


def solution_code(answer: str) -> str:
    """The first fenced code block of a markdown answer (the answer itself when it has none)."""
    m = _FENCE.search(answer)
    return m.group(2) if m else answer


def gpt_solutions(problems: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The rows' ``gpt_solution`` answers as samples: one whole program per task."""
    return [{"task_id": t, "solution": solution_code(p.get("gpt_solution") or "")} for t, p in problems.items()]


_GO_PACKAGE = re.compile(r"^package\s+\w+\s*$", re.MULTILINE)
_GO_IMPORT_BLOCK = re.compile(r"^import\s*\((.*?)\)", re.MULTILINE | re.DOTALL)
_GO_IMPORT_LINE = re.compile(r'^import\s+((?:[\w.]+\s+)?"[^"]+")\s*$', re.MULTILINE)
_GO_TEST_FUNC = re.compile(r"^func\s+(Test\w*)\s*\(\s*\w+\s+\*testing\.T\s*\)", re.MULTILINE)


def _go_imports(code: str) -> tuple[list[str], str]:
    """The import specs of Go source (``"fmt"``, ``str "strings"``), and the source without them."""
    specs: list[str] = []
    for block in _GO_IMPORT_BLOCK.findall(code):
        specs += [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("//")]
    specs += _GO_IMPORT_LINE.findall(code)
    code = _GO_IMPORT_LINE.sub("", _GO_IMPORT_BLOCK.sub("", code))
    return specs, code


def _go_program(prompt: str, code: str, tests: str) -> str:
    package = _GO_PACKAGE.search(prompt)
    prompt_specs, _ = _go_imports(prompt)
    code_specs, body = _go_imports(_GO_PACKAGE.sub("", code))
    for name in set(_GO_TEST_FUNC.findall(body)):
        body = re.sub(rf"\b{name}\b", "own" + name, body)
    used = []
    for spec in dict.fromkeys(prompt_specs + code_specs):
        parts = spec.split()
        name = parts[0] if len(parts) == 2 else parts[-1].strip('"').rsplit("/", 1)[-1]
        if name == "_" or re.search(rf"\b{re.escape(name)}\.", body + tests):
            used.append(spec)
    imports = "import (\n" + "".join(f"    {s}\n" for s in used) + ")\n" if used else ""
    header = (package.group(0) if package else "package main") + "\n\n" + imports
    return header + body.strip("\n") + "\n\n" + tests
