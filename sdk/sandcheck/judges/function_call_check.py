"""The trusted side of a function-call test: one call, compared as its source's harness compares.

The SDK only reads this file as text: it is the ``test`` of an isolated
check (isolated_harness.py), run in the trusted process, followed by one
line that binds ``_CALL`` to {"harness", "args", "expected"}. ``check``
calls the candidate through the isolated judge's proxy, so what comes back
is plain data decoded by the codec (never an object of the candidate's),
and the comparison below runs here, on builtins only.

A failure is raised with a message that starts with ``wrong answer:`` or
``runtime error:``; the SDK reads the verdict from that prefix. Stdlib
only, Python 3.8+.
"""

import json as _json


def _int_keys(d):
    """APPS: JSON makes every dict key a string; APPS turns them back into ints when it can."""
    try:
        return {int(k): v for k, v in d.items()}
    except (TypeError, ValueError):
        return d


def _apps_call(args, expected):
    """The arguments and the expected value as APPS's call-based test rewrites them."""
    if args and type(args[0]) is dict:
        converted = _int_keys(args[0])
        if converted is not args[0]:
            args = [converted]  # APPS assumes a single dict argument
    if type(expected) is dict:
        converted = _int_keys(expected)
        if converted is not expected:
            expected = [converted]
    elif type(expected) is list and expected and type(expected[0]) is dict:
        converted = _int_keys(expected[0])
        if converted is not expected[0]:
            expected = [converted]
    return args, expected


def _same(harness, got, expected):
    """Whether `got` (plain data) passes, by the rules of `harness`'s own test code."""
    if type(got) is tuple:  # both harnesses: a tuple result is compared as a list
        got = list(got)
    if got == expected:
        return True
    if harness != "apps":
        return False
    # APPS: the expected value is often stored wrapped in a list, and a list of
    # tuples may stand for the wrapped list of lists.
    if type(expected) is list and expected:
        if got == expected[0]:
            return True
        if type(got) is list and got and type(got[0]) is tuple:
            return [list(x) for x in got] == expected[0]
    return False


def _short(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[:limit // 2] + " ... " + text[-limit // 2:]


def check(candidate):
    harness, args, expected = _CALL["harness"], _CALL["args"], _CALL["expected"]  # noqa: F821 (bound after this text)
    if harness == "apps":
        args, expected = _apps_call(args, expected)
    try:
        got = candidate(*args)
    except BaseException as exc:
        raise RuntimeError("runtime error: %s: %s" % (type(exc).__name__, _short(str(exc))))
    if not _same(harness, got, expected):
        raise AssertionError("wrong answer: got %s, expected %s" % (_short(got), _short(expected)))

