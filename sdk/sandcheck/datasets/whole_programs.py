"""A whole program (a model's free-form answer) joined to MultiPL-E's tests.

MultiPL-E's tests continue its prompt: in C++, Java, Rust and Bash they
begin by closing the prompt's function (``}``) and then define the entry
point (``main``, or Bash's ``run_test``). A whole program has its function
closed already, and often its own ``main`` with example calls. So:

    cpp, rs     the prompt's ``#include`` lines, the program without its
                ``main``, then the tests without their leading ``}``
    java        the prompt's imports, the program's class without its
                ``main``, the tests without their leading ``}`` in place of
                the class's closing brace (the tests end by closing it)
    sh          the program, then the tests without their leading ``}``
    js, ts      the program, then the tests
    go          one package clause (the prompt's), the imports the program
                and the tests use, the program with its own ``TestX``
                functions renamed ``ownTestX`` (``go test`` then runs only the
                dataset's tests, and calls to them still compile), the tests

Every function the program defines is kept. (SandboxFusion cuts a C++,
Java, Rust or Bash answer at its first stop token instead, which keeps
only what comes before the end of the first function: helpers defined
first, and the prompt's includes an answer leaves out, then fail to
compile.) `join` falls back to that cut when it cannot find what it looks
for (no class in a Java answer).
"""

from __future__ import annotations

import re

_MAIN = {"cpp": re.compile(r"^[ \t]*int\s+main\s*\(", re.MULTILINE),
         "rs": re.compile(r"^[ \t]*(?:pub\s+)?fn\s+main\s*\(", re.MULTILINE),
         "java": re.compile(r"^[ \t]*public\s+static\s+void\s+main\s*\(", re.MULTILINE)}
_CPP_INCLUDE = re.compile(r"^#include.*$", re.MULTILINE)
_JAVA_IMPORT = re.compile(r"^import\s.*;[ \t]*$", re.MULTILINE)
_JAVA_CLASS = re.compile(r"^\s*(?:public\s+)?(?:final\s+)?class\s+(Problem|Main)\b[^{]*\{", re.MULTILINE)


def join(language: str, prompt: str, code: str, tests: str, stop_tokens: tuple[str, ...] | list[str]) -> str:
    """The program that runs MultiPL-E's `tests` against the whole program `code`."""
    if language == "go":
        return _go(prompt, code, tests)
    if language in ("js", "ts"):
        return code + "\n" + tests
    body = _without_leading_close(tests)
    if language == "sh":
        return code + "\n" + body
    if language in ("cpp", "rs"):
        includes = "".join(line + "\n" for line in _CPP_INCLUDE.findall(prompt)) if language == "cpp" else ""
        return includes + _without_block(code, _MAIN[language]).rstrip() + "\n\n" + body
    if language == "java":
        cls = _JAVA_CLASS.search(code)
        close = _matching_brace(code, cls.end() - 1) if cls else None
        if cls and close is not None:
            inner = _without_block(code[:close], _MAIN["java"])
            imports = "".join(line + "\n" for line in _JAVA_IMPORT.findall(prompt))
            return imports + inner.rstrip() + "\n" + body + code[close + 1:]
    return cut_at_stop(code, stop_tokens) + "\n" + tests


def cut_at_stop(text: str, stop_tokens: tuple[str, ...] | list[str]) -> str:
    """`text` up to its earliest stop token."""
    cut = len(text)
    for token in stop_tokens:
        i = text.find(token) if token else -1
        if i != -1:
            cut = min(cut, i)
    return text[:cut]


def _without_leading_close(tests: str) -> str:
    first, _, rest = tests.partition("\n")
    return rest if first.strip() == "}" else tests


def _without_block(code: str, start: re.Pattern[str]) -> str:
    """`code` without the first block (a function) whose header `start` finds."""
    m = start.search(code)
    if not m:
        return code
    brace = code.find("{", m.end())
    end = _matching_brace(code, brace) if brace != -1 else None
    if end is None:
        return code[:m.start()]  # unbalanced: the rest is the entry point
    return code[:m.start()] + code[end + 1:]


def _matching_brace(code: str, open_at: int) -> int | None:
    """The index of the ``}`` closing the ``{`` at `open_at`, skipping strings,
    character literals and comments (C, C++, Java, Rust); None if it never closes."""
    depth, i, n = 0, open_at, len(code)
    while i < n:
        c = code[i]
        if code.startswith("//", i):
            i = code.find("\n", i)
            i = n if i == -1 else i
            continue
        if code.startswith("/*", i):
            i = code.find("*/", i + 2)
            i = n if i == -1 else i + 2
            continue
        if c == '"':
            i += 1
            while i < n and code[i] != '"':
                i += 2 if code[i] == "\\" else 1
        elif c == "'":
            # A character literal ('x', '\n', '\''); a Rust lifetime ('a) has no closing quote.
            m = re.match(r"'(\\.|[^'\\])'", code[i:i + 4])
            if m:
                i += len(m.group(0)) - 1
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


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


def _go(prompt: str, code: str, tests: str) -> str:
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
