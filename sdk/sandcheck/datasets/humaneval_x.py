"""HumanEval-X (THUDM/CodeGeeX): HumanEval in C++, Go, Java, JavaScript, Python and Rust.

The program for a sample is built the way CodeGeeX's harness builds it
(``codegeex/benchmark/humaneval-x``), prompt + completion + test, with each
language's additions:

    cpp     the includes CodeGeeX adds that the prompt lacks, then prompt + completion + test
    go      the test's package clause and imports (testing, testify), the standard
            packages the completion uses, then the prompt without its imports,
            completion and test; run with ``go test``
    java    prompt + completion + test (the test is ``public class Main``)
    js      prompt + completion + test
    rust    an empty ``main``, declaration + prompt + completion + test (the
            declaration holds the ``use`` lines and the signature); the test is
            a ``#[cfg(test)]`` module, built with ``rustc --test`` (``rust_test``)
            as ``cargo test`` builds it
    python  CodeGeeX's imports, prompt + completion (cut at its first unindented
            line) + test (which calls ``check`` itself)

One difference, forced: CodeGeeX's Python imports include numpy, which
the jail's Python lacks and no HumanEval test uses; it is left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..judges.exit_status import Source

LANGUAGES = ("cpp", "go", "java", "js", "python", "rust")

# The server language each dataset language runs as.
SERVER_LANGUAGE = {"cpp": "cpp", "go": "go_test", "java": "java", "js": "js", "python": "python",
                   "rust": "rust_test"}

# Lines CodeGeeX puts before every C++ program that does not have them.
_CPP_INCLUDES = ("#include<stdlib.h>", "#include<algorithm>", "#include<math.h>", "#include<stdio.h>",
                 "#include<vector>", "#include<string>", "#include<climits>", "#include<cstring>",
                 "#include<iostream>")
# Standard packages CodeGeeX imports for a Go completion that uses them.
_GO_PACKAGES = ("math", "strings", "fmt", "strconv", "time", "bytes", "regexp", "sort", "math/rand", "crypto/md5")
# CodeGeeX's Python imports, less numpy (not in the jail; no test needs it).
_PYTHON_IMPORTS = ("import math", "import re", "import sys", "import copy", "import datetime", "import itertools",
                   "import collections", "import heapq", "import statistics", "import functools", "import hashlib",
                   "import string", "from typing import *", "from collections import *")

# generate: CodeGeeX ends a brace language's completion when its braces close
# the prompt's function; the stop that says so is sent, and the closing
# brace(s) it cut are put back. Python: the Codex paper's stops.
STOPS: dict[str, tuple[tuple[str, ...], str]] = {
    "cpp": (("\n}",), "\n}\n"),
    "go": (("\n}",), "\n}\n"),
    "js": (("\n}",), "\n}\n"),
    "rust": (("\n}",), "\n}\n"),
    "java": (("\n    }\n",), "\n    }\n}\n"),
    "python": (("\nclass", "\ndef", "\n#", "\nif", "\nprint"), ""),
}


def normalize(problem: dict[str, Any]) -> dict[str, Any]:
    """A row as sandcheck's problems are: Rust's `prompt` is what a model continues
    (declaration, then the doc comment), as CodeGeeX's Rust program has them."""
    if problem["task_id"].startswith("Rust/"):
        return {**problem, "prompt": problem["declaration"] + problem["prompt"]}
    return problem


def build(language: str, problem: Mapping[str, Any], code: str, *, whole: bool = False) -> Source:
    """The program for `code`: a completion of the prompt, or (`whole`) a
    solution that stands in for prompt + completion."""
    prompt = "" if whole else problem["prompt"]
    test = problem["test"]
    server = SERVER_LANGUAGE[language]
    if language == "cpp":
        includes = "".join(line + "\n" for line in _CPP_INCLUDES if line not in prompt)
        return Source(server, includes + "\n" + prompt + code + "\n" + test)
    if language == "go":
        return Source(server, _go_program(problem, prompt, code))
    if language in ("java", "js"):
        return Source(server, prompt + code + "\n" + test, quiet=language == "js")
    if language == "rust":
        return Source(server, "\nfn main(){ \n } \n" + prompt + code + test)
    if language == "python":
        if not whole:
            code = _python_body(code)
        return Source(server, "\n".join(_PYTHON_IMPORTS) + "\n" + prompt + code + "\n" + test + "\n",
                      nonce_harness=True)
    raise ValueError(f"unknown HumanEval-X language {language!r}")


def _go_program(problem: Mapping[str, Any], prompt: str, code: str) -> str:
    setup = problem["test_setup"]
    if prompt:
        prompt = prompt.replace(problem["import"], "")
    used = [p for p in _GO_PACKAGES if p not in setup and p.rsplit("/", 1)[-1] + "." in code]
    imports = "import (\n" + "".join(f'    "{p}"\n' for p in used) + ")\n" if used else ""
    return setup + "\n" + imports + "\n" + prompt + code + "\n" + problem["test"]


def _python_body(code: str) -> str:
    """A completion up to its first unindented line (CodeGeeX's cut)."""
    kept = []
    for line in code.split("\n"):
        if line.strip() and line[0] not in " \t":
            break
        kept.append(line)
    return "\n".join(kept)
