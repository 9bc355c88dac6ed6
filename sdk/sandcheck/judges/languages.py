"""Which server language a stdin/stdout sample runs as.

Rows name languages in many ways (``c++``, ``python3``, ``nodejs``,
SandboxFusion's ``typescript``...). `canonical` maps each to the server's
name; `require_served` asks the server which it runs, so a language it does
not run is an error before anything runs, never a sample scored 0.

A sample's language is, in order: its own ``language`` field; else the
default given to the judge (``sandcheck eval --language``); else its
problem's ``language``; else ``python``. TypeScript (``ts``,
``typescript``) runs as ``ts_transpile``, SandboxFusion's ``typescript``:
transpiled, not type-checked, since a program reads its input through
Node's ``fs``, whose types tsc has none of here (MultiPL-E's functions keep
tsc's check). `looks_like_other` catches the
silent case: a sample judged as Python by default that does not parse as
Python and carries another language's marks (``#include``, ``package
main``...); the run says so in a warning.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from .._exceptions import InvalidInput

# The server's names and aliases (sandbox_server/jail/toolchains.py and service.PYTHON_NAMES; the
# SDK does not import the server), which also cover SandboxFusion's (nodejs, typescript...) and
# CodeContests' (CPP, PYTHON3, JAVA: names are matched in any case).
_NAMES: dict[str, tuple[str, ...]] = {
    "python": ("python3", "py"),
    "cpp": ("c++", "cxx", "g++"),
    "go": ("golang",),
    "go_test": ("gotest",),
    "java": ("java17",),
    "js": ("javascript", "nodejs", "node"),
    "ts": ("typescript",),
    "ts_transpile": ("tsx",),
    "rust": ("rs",),
    "rust_test": ("rs_test", "rusttest"),
    "bash": ("sh", "shell"),
}
_CANONICAL = {alias: name for name, aliases in _NAMES.items() for alias in (name, *aliases)}
# How a stdin/stdout program runs where its language's own name would not serve it: tsc type-checks
# without Node's types, so `import * as fs from "fs"` or `require` did not compile (TS2792, TS2580).
_STDIO_RUNS_AS = {"ts": "ts_transpile"}

# Another language's unmistakable marks, for code that is not Python.
_MARKS = (
    ("cpp", re.compile(r"^\s*#\s*include\s*[<\"]|\bint\s+main\s*\(|\bstd::", re.M)),
    ("java", re.compile(r"\bpublic\s+static\s+void\s+main\s*\(|\bSystem\.out\.print")),
    ("go", re.compile(r"^\s*package\s+main\b|\bfunc\s+main\s*\(\s*\)", re.M)),
    ("rust", re.compile(r"\bfn\s+main\s*\(\s*\)|\bprintln!\s*\(")),
    ("js", re.compile(r"\bconsole\.log\s*\(|\brequire\s*\(\s*['\"]readline['\"]")),
)


def canonical(name: str) -> str | None:
    """The server's name for `name` (any case), or None when it names no language sandcheck knows."""
    return _CANONICAL.get(name.strip().lower())


def sample_language(sample: Mapping[str, Any], problem: Mapping[str, Any], default: str | None,
                    where: str) -> tuple[str, bool]:
    """(the server language a sample runs as, whether the sample itself named it); InvalidInput when unknown."""
    for given, own, whose in ((sample.get("language"), True, where), (default, False, "--language"),
                              (problem.get("language"), False, f"{where}'s problem {problem.get('task_id')!r}")):
        if given is None or given == "":
            continue
        if not isinstance(given, str) or canonical(given) is None:
            raise InvalidInput(f"{whose}: unknown language {given!r}; sandcheck runs "
                               f"{', '.join(_NAMES)} (and their usual names: {', '.join(sorted(_CANONICAL))})")
        language = canonical(given)
        return _STDIO_RUNS_AS.get(language, language), own  # type: ignore[arg-type]
    return "python", False


def require_served(needed: Mapping[str, str], info: Mapping[str, Any]) -> set[str]:
    """The compiled languages among those served; InvalidInput naming the first
    sample (`needed`: language -> where it is first asked for) whose language the server does not run."""
    runtimes = {rt.get("language"): rt for rt in info.get("runtimes") or []}
    for language, where in needed.items():
        if language not in runtimes:
            raise InvalidInput(f"{where}: language {language} is not run by this server "
                               f"(it runs {', '.join(sorted(runtimes)) or 'nothing it lists'})")
    return {name for name, rt in runtimes.items() if rt.get("compiler")}


def looks_like_other(code: str) -> str | None:
    """The language `code` plainly is when it is not Python (None when it parses, or shows no marks)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences and the like
        try:
            ast.parse(code)
            return None
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            pass
    return next((name for name, mark in _MARKS if mark.search(code)), None)


def languages_of(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many rows ran in each language (rows without one ran as Python)."""
    counts: dict[str, int] = {}
    for r in rows:
        lang = r.get("language") or "python"
        counts[lang] = counts.get(lang, 0) + 1
    return counts
