"""Is a candidate's output right? EvalPlus's rules, applied outside the candidate's process.

For each input, in order: equal to the canonical solution's output (Python
``==``), or, where the task has an ``atol`` or the expected value is a float
(or a non-empty list or tuple of floats, which sets atol to 1e-6 for the rest
of the inputs, as EvalPlus does), of the same type and length and close
element-wise (``|out - exp| <= atol + 1e-7 * |exp|``, NaN never close). A
few tasks have oracles of their own, as in EvalPlus: HumanEval/32 checks
that the output is a root of the polynomial; some MBPP+ tasks compare as
sets, only check for a non-None result, or accept an equivalent answer.
"""

from __future__ import annotations

import math
from typing import Any

RTOL = 1e-7
FLOAT_ATOL = 1e-6

# MBPP+ tasks whose expected value is only "not None" (their outputs are match objects).
MBPP_NOT_NONE = frozenset({"check_str", "text_match_three", "text_starta_endb"})
# MBPP+ tasks whose outputs are compared as sets.
MBPP_SET_EQUAL = frozenset({"similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly",
                            "larg_nnum", "intersection_array", "find_dissimilar", "Diff"})

_MISSING = object()


def compares_as_sets(dataset: str, entry_point: str) -> bool:
    """Whether EvalPlus compares this task's outputs as ``set(out) == set(exp)``."""
    return dataset == "mbpp+" and entry_point in MBPP_SET_EQUAL


class Comparison:
    """Compares one split's outputs in order; holds the atol that carries from input to input."""

    def __init__(self, dataset: str, entry_point: str, atol: float) -> None:
        self.dataset, self.entry_point, self.atol = dataset, entry_point, atol

    def agrees(self, args: list[Any], out: Any, exp: Any, exact_type: bool = True) -> bool:
        """`exact_type` False: `out` came back as a builtin but was not one (a numpy
        float, a namedtuple), so EvalPlus's ``type(out) == type(exp)`` fails for it."""
        try:
            return self._agrees(args, out, exp, exact_type)
        except Exception:  # a comparison that cannot be made (unhashable, overflow...) is a failure
            return False

    def _agrees(self, args: list[Any], out: Any, exp: Any, exact_type: bool) -> bool:
        exact = out == exp
        name = self.entry_point
        if self.dataset == "mbpp+":
            if name == "are_equivalent":
                exact = True
            elif name == "sum_div":
                exact = exact or out == 0
            elif name == "surface_Area":
                exact = exact or abs(out - _pyramid_surface(*args)) <= self.atol
            elif name == "digit_distance_nums":
                exact = exact or out == _digit_distance(*args)
            elif compares_as_sets(self.dataset, name):
                exact = set(out) == set(exp)
            elif name in MBPP_NOT_NONE:
                exact = out == exp if isinstance(out, bool) else exp == (out is not None)
        if self.dataset == "humaneval+" and name == "find_zero":
            return abs(_polynomial(*args, out)) <= self.atol
        if self.atol == 0 and _is_floats(exp):
            self.atol = FLOAT_ATOL
        if exact or self.atol == 0:
            return bool(exact)
        if type(out) is not type(exp) or not exact_type:
            return False
        if isinstance(exp, (list, tuple)) and len(out) != len(exp):
            return False
        return _allclose(out, exp, self.atol)


def _is_floats(x: Any) -> bool:
    if isinstance(x, float):
        return True
    return isinstance(x, (list, tuple)) and bool(x) and all(isinstance(i, float) for i in x)


def _allclose(out: Any, exp: Any, atol: float) -> bool:
    if isinstance(exp, (list, tuple)) or isinstance(out, (list, tuple)):
        if not (isinstance(exp, (list, tuple)) and isinstance(out, (list, tuple))) or len(out) != len(exp):
            return False
        return all(_allclose(a, b, atol) for a, b in zip(out, exp))
    if not all(isinstance(v, (int, float)) for v in (out, exp)):
        return False
    if math.isinf(out) or math.isinf(exp):
        return out == exp
    return abs(out - exp) <= atol + RTOL * abs(exp)


def _polynomial(xs: list, x: float) -> float:
    # Left to right, as sum() adds floats up to Python 3.11 (the jail's runtime, and EvalPlus's
    # reference). 3.12's sum() compensates rounding, and turns some canonical roots into failures.
    total = 0
    for i, c in enumerate(xs):
        total += c * math.pow(x, i)
    return total


def _pyramid_surface(base_edge: float, height: float) -> float:
    slant = math.sqrt((base_edge / 2) ** 2 + height ** 2)
    return round(base_edge ** 2 + 2 * base_edge * slant)


def _digit_distance(a: int, b: int) -> int:
    sa, sb = str(a), str(b)
    width = max(len(sa), len(sb))
    return sum(abs(int(x) - int(y)) for x, y in zip(sa.zfill(width), sb.zfill(width)))
