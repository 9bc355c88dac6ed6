"""EvalPlus's inputs as the functions under test receive them.

The dataset files hold inputs as JSON, which has no tuples, sets or complex
numbers. EvalPlus turns some MBPP+ tasks' lists back into the types their
functions take (a tuple, a list of tuples, a set, a complex number), task by
task; the same task numbers and shapes are listed here, so a candidate sees
exactly what it sees under EvalPlus. HumanEval+ inputs are used as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Args = list[Any]


def _tuples(args: Args) -> Args:
    return [tuple(a) for a in args]


def _lists_of_tuples(args: Args) -> Args:
    return [[tuple(x) for x in a] for a in args]


def _first_list_of_tuples(args: Args) -> Args:
    return [[tuple(x) for x in args[0]], *args[1:]]


def _second_tuple(args: Args) -> Args:
    return [args[0], tuple(args[1]), *args[2:]]


def _first_sets(args: Args) -> Args:
    # An empty list becomes {} (a dict), as EvalPlus has it.
    return [[set(x) if isinstance(x, list) and x else {} for x in args[0]]]


def _float_complex(args: Args) -> Args:
    return [float(args[0]), complex(args[1])]


def _first_tuple(args: Args) -> Args:
    return [tuple(args[0]), *args[1:]]


def _tuples_of_tuples(args: Args) -> Args:
    return [tuple(tuple(x) for x in a) for a in args]


def _tuple_with_tuple_items(args: Args) -> Args:
    return [tuple(tuple(x) if isinstance(x, list) else x for x in args[0]), *(tuple(a) for a in args[1:])]


def _dict_of_tuples(args: Args) -> Args:
    return [{k: tuple(v) for k, v in args[0].items()}, *args[1:]]


def _complex(args: Args) -> Args:
    return [complex(args[0])]


def _all_tuples(value: Any) -> Any:
    return tuple(_all_tuples(x) for x in value) if isinstance(value, list) else value


_MBPP_SHAPES: dict[Callable[[Args], Any], tuple[int, ...]] = {
    _tuples: (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740,
              744, 809),
    _lists_of_tuples: (63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780),
    _first_list_of_tuples: (75, 413, 444, 753),
    _second_tuple: (106, 750),
    _first_sets: (115,),
    _float_complex: (124,),
    _first_tuple: (250, 405, 446, 617, 720, 763, 808, 307),
    _tuples_of_tuples: (259, 401, 445),
    _tuple_with_tuple_items: (278,),
    _dict_of_tuples: (722,),
    _complex: (252,),
    _all_tuples: (580, 615, 791),
}
_MBPP_BY_TASK = {n: shape for shape, tasks in _MBPP_SHAPES.items() for n in tasks}


def task_inputs(dataset: str, task_id: str, inputs: Any) -> list[Args]:
    """The argument lists for one task's inputs (`{}` in a file means none)."""
    inputs = list(inputs) if isinstance(inputs, list) else []
    if dataset != "mbpp+":
        return inputs
    shape = _MBPP_BY_TASK.get(int(task_id.rsplit("/", 1)[-1]))
    return [shape(args) for args in inputs] if shape else inputs
