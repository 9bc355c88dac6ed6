"""How a program's stdout is compared with the expected output: one rule per source.

A problem names its rule in ``compare`` (its loader sets it, so a problem is
judged as its own harness judges it):

    lines           (default) line by line, ignoring line endings and trailing
                    whitespace; with ``float_tolerance``, token by token with
                    numbers within that tolerance (absolute or relative)
    code_contests   DeepMind's CodeContests tester (``OutputsMatch``): tokens split
                    at ASCII spaces, tabs, newlines, CR and VT, ASCII case
                    ignored; two tokens that both read as numbers (absl's
                    SimpleAtod) match when the doubles differ by < 1e-5, so
                    integers past 2**53 that round to one double match there too
    sandbox_fusion  SandboxFusion's check_stdio_test_case: both outputs stripped,
                    split into lines, each line lowercased and stripped and
                    equal, or both lines numbers (Python's float) within a
                    relative 1e-5
    livecodebench   LiveCodeBench's grade_stdio: both outputs stripped, the same
                    number of lines, each line equal once stripped, or equal
                    token by token as exact decimals (``1.0`` is ``1``)
    apps            APPS's (and TACO's) testing_util for stdin problems, whose
                    last resorts are lenient: the set of each line's set of
                    tokens must be equal (so lines in another order, a repeated
                    line or tokens of a line in another order still pass), or
                    those sets with numbers rounded to 3 decimals; before that,
                    lines compared stripped and single numbers per line within
                    numpy.allclose's tolerance. Kept so scores match APPS's own.
    taco            TACO's compare_std_results as its execute_std_code calls it,
                    with the program's raw stdout: the texts equal once
                    stripped; its later steps, written for lists of lines,
                    then read the output's characters where APPS reads its
                    lines: the set of each output token's characters must
                    equal the set of each expected line's tokens (so, where
                    every expected token is one character, "0 1" passes
                    for "1\n0"), or the same as numbers rounded to 3
                    decimals, or every character a number matching a line

`STDOUT_ONLY` names the rules whose harness judges a test by its output alone,
however the program ended (`sandcheck.judges.stdio`).
"""

from __future__ import annotations

import math
import re
import string
from decimal import Decimal, InvalidOperation

# DeepMind's tester sets a test's `passed` from the output whatever the program's
# status (TesterSandboxer::Test): a crash, a signal or a timeout after the right
# output still passes there.
STDOUT_ONLY = frozenset(("code_contests",))


def outputs_match(got: str, expected: str, float_tolerance: float | None = None, compare: str = "lines") -> bool:
    """Whether `got` is an accepted output for `expected` under the rule `compare`."""
    rule = _HARNESS_RULES.get(compare)
    if rule is not None:
        return rule(got, expected)
    if float_tolerance is None:
        return _lines(got) == _lines(expected)
    a, b = got.split(), expected.split()
    return len(a) == len(b) and all(x == y or _close(x, y, float_tolerance) for x, y in zip(a, b))


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _float(token: str) -> float | None:
    """A number as the "lines" rule reads it (not "1_000", which Python's float() reads)."""
    if "_" in token:
        return None
    try:
        return float(token)
    except ValueError:
        return None


def _close(got: str, expected: str, tolerance: float) -> bool:
    a, b = _float(got), _float(expected)
    if a is None or b is None:
        return False
    if not (math.isfinite(a) and math.isfinite(b)):  # |inf - -inf| <= tolerance * inf would pass
        return a == b  # an infinity only as itself (a testlib checker's rule); NaN never
    return abs(a - b) <= tolerance * max(1.0, abs(b))


# DeepMind's tester is C++: it splits at these bytes only, and lowercases ASCII only
# (Python's split() and lower() also take Unicode spaces and letters: "1\xa02", "É").
_CC_SEPARATORS = re.compile(r"[ \n\t\r\v]+")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_ASCII_SPACE = " \t\n\v\f\r"
# What absl's SimpleAtod reads once it has stripped ASCII whitespace and one "+"
# (std::from_chars, general format): ASCII digits only, never "1_000" or "３".
_CC_NUMBER = re.compile(r"-?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)",
                        re.IGNORECASE)


def _code_contests(got: str, expected: str) -> bool:
    a, b = _cc_tokens(got), _cc_tokens(expected)
    if a == b:
        return True
    return len(a) == len(b) and all(_cc_values_match(x, y) for x, y in zip(a, b))


def _cc_tokens(text: str) -> list[str]:
    return [token.translate(_ASCII_LOWER) for token in _CC_SEPARATORS.split(text) if token]


def _cc_values_match(a: str, b: str) -> bool:
    """The tester's ValuesMatch: either not a number, the strings equal; else the
    doubles within 1e-5 (an integer reads as a double too, so its own branch for
    two integers is never reached)."""
    fa, fb = _cc_double(a), _cc_double(b)
    if fa is None or fb is None:
        return a == b
    return abs(fa - fb) < 1e-5  # inf - inf and NaN are never below it


def _cc_double(token: str) -> float | None:
    text = token.strip(_ASCII_SPACE)
    if text[:1] == "+":
        text = text[1:]
        if text[:1] == "-":
            return None
    if not _CC_NUMBER.fullmatch(text):
        return None
    return math.nan if text[-1:] == ")" else float(text)  # out of range: +-inf, as SimpleAtod


def _sandbox_fusion(got: str, expected: str) -> bool:
    a, b = got.strip().split("\n"), expected.strip().split("\n")
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        x, y = x.lower().strip(), y.lower().strip()
        if x != y:
            fx, fy = _python_float(x), _python_float(y)
            if fx is None or fy is None or not abs(fx - fy) / max(abs(fy), 1e-10) < 1e-5:
                return False
    return True


def _python_float(text: str) -> float | None:
    """float() as a Python harness calls it (it reads "1_000", " 3 " and "\u0663" too)."""
    try:
        return float(text)
    except ValueError:
        return None


def _stripped_lines(text: str) -> list[str]:
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(token) for token in line.split()]
    except InvalidOperation:
        return None


def _livecodebench(got: str, expected: str) -> bool:
    a, b = _stripped_lines(got), _stripped_lines(expected)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        dx, dy = _decimals(x), _decimals(y)
        try:
            if dx is None or dy is None or dx != dy:
                return False
        except InvalidOperation:  # a signaling NaN ("sNaN") compared: LiveCodeBench's test fails
            return False
    return True


def _apps(got: str, expected: str) -> bool:
    printed = got.splitlines()  # what APPS captures: the printed lines
    want_text = expected.strip()
    if "\n".join(printed).strip() == want_text or "\n".join(p.strip() for p in printed).strip() == want_text:
        return True
    if printed == [expected]:
        return True
    want = [line.strip() for line in expected.split("\n") if line]
    if printed == want:
        return True
    printed = [p for p in printed if p]
    if printed == want:
        return True
    if printed and len(printed) == len(want) and _allclose([_python_float(p) for p in printed],
                                                           [_python_float(w) for w in want]):
        return True
    got_sets = {frozenset(p.split()) for p in printed if p.split()}
    want_sets = {frozenset(w.split()) for w in want}
    if got_sets == want_sets:
        return True
    try:
        return ({frozenset(round(float(t), 3) for t in s) for s in got_sets}
                == {frozenset(round(float(t), 3) for t in s) for s in want_sets})
    except ValueError:
        return False


def _taco(got: str, expected: str) -> bool:
    if got.strip() == expected.strip():
        return True
    lines = [line.strip() for line in expected.split("\n") if line]
    chars, numbers = [_python_float(c) for c in got], [_python_float(line) for line in lines]
    if len(chars) == len(numbers) and None not in chars and _allclose(chars, numbers):
        return True
    want = [frozenset(line.split()) for line in lines]
    tokens = set(got.split())
    if {frozenset(t) for t in tokens} == set(want):
        return True
    try:
        return ({frozenset(round(float(c), 3) for c in t) for t in tokens}
                == {frozenset(round(float(x), 3) for x in s) for s in want})
    except (ValueError, OverflowError):
        return False


def _allclose(got: list[float | None], want: list[float | None]) -> bool:
    """numpy.allclose with its default tolerance: |a - b| <= 1e-8 + 1e-5 * |b|, and an
    infinity close only to itself (NaN to nothing): numpy compares the non-finite
    by ==, where |inf - -inf| <= 1e-5 * inf would pass."""
    return all(a is not None and b is not None
               and (a == b or (math.isfinite(a) and math.isfinite(b) and abs(a - b) <= 1e-8 + 1e-5 * abs(b)))
               for a, b in zip(got, want))


# Each source's own rule; "lines" (with its float_tolerance) is `outputs_match`'s own.
_HARNESS_RULES = {"code_contests": _code_contests, "sandbox_fusion": _sandbox_fusion, "livecodebench": _livecodebench,
                  "apps": _apps, "taco": _taco}
COMPARES = ("lines", *_HARNESS_RULES)
