"""Function-call tests (LiveCodeBench functional, APPS/TACO fn_name, LeetCode): real server, isolated judge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandcheck import Client, InvalidInput
from sandcheck.judges.function_call import (evaluate_function_calls, function_call_problem,
                                            is_function_call_problem)

# LiveCodeBench: a LeetCode class Solution; List comes from the harness's imports, not the code.
LCB = {"task_id": "lcb-max", "fn_name": "maximum", "harness": "livecodebench", "starter_code": None,
       "call_tests": [{"args": [[1, 5, 3]], "expected": 5}, {"args": [[-1, -2]], "expected": -1},
                      {"args": [[7]], "expected": 7}]}
LCB_SOLUTION = "class Solution:\n    def maximum(self, nums: List[int]) -> int:\n{body}\n"

# APPS: a top-level function; expected values stored wrapped in a list, as APPS ships most of them.
APPS = {"task_id": "apps-sum-product", "fn_name": "sum_product", "harness": "apps",
        "call_tests": [{"args": [1, 2], "expected": [[3, 2]]}, {"args": [2, 5], "expected": [[7, 10]]},
                       {"args": [0, 4], "expected": [4, 0]}]}


def run(server, problem: dict, solutions: list[str], harness: str | None = None, timeout: float = 1.0):
    problem = {**problem, "harness": harness or problem["harness"]}
    samples = [{"task_id": problem["task_id"], "solution": s} for s in solutions]
    with Client(server.target, timeout=300) as client:
        return evaluate_function_calls(samples, {problem["task_id"]: problem}, client=client, k=[1], timeout=timeout)


def verdicts(report) -> list[list[str]]:
    return [[t["verdict"] for t in r["tests"]] for r in report.rows]


def test_livecodebench_class_solution_right_wrong_slow_crashing(server) -> None:
    report = run(server, LCB, [
        LCB_SOLUTION.format(body="        return max(nums)"),
        LCB_SOLUTION.format(body="        return min(nums)"),                                   # wrong on 0, 2
        LCB_SOLUTION.format(body="        while len(nums) == 1: pass\n        return max(nums)"),  # slow on 2
        LCB_SOLUTION.format(body="        return [n for n in nums if n > 0][-1 if nums[0] > 0 else 0]"),
        "def maximum(nums):\n    return max(nums)",     # no class Solution: the top-level function is called
        "class Solution:\n    def maximum(self, nums):\n        return max(nums)\n    oops(",  # does not load
    ])
    assert verdicts(report) == [
        ["accepted"] * 3,
        ["wrong_answer", "wrong_answer", "accepted"],
        ["accepted", "accepted", "time_limit"],
        ["wrong_answer", "runtime_error", "accepted"],
        ["accepted"] * 3,
        ["runtime_error"] * 3,
    ]
    assert [r["passed"] for r in report.rows] == [True, False, False, False, True, False]
    assert report.rows[1]["score"] == pytest.approx(1 / 3) and report.pass_at_k == {"pass@1": pytest.approx(2 / 6)}
    assert report.rows[1]["tests"][0]["message"] == "wrong answer: got 1, expected 5"
    assert report.rows[3]["tests"][1]["message"].startswith("runtime error: IndexError")
    assert report.rows[2]["tests"][2]["status"] == "TIMEOUT" and report.rows[2]["status"] == "TIMEOUT"
    assert report.rows[5]["tests"][0]["message"].startswith("'(' was never closed")  # the SyntaxError's text


def test_livecodebench_compares_a_tuple_as_a_list_and_nothing_else_loosely(server) -> None:
    problem = {"task_id": "pair", "fn_name": "pair", "harness": "livecodebench",
               "call_tests": [{"args": [2], "expected": [2, 4]}]}
    report = run(server, problem, [
        "def pair(n):\n    return (n, 2 * n)",        # a tuple result is compared as a list
        "def pair(n):\n    return [n, 2.0 * n]",      # 4.0 == 4, as Python compares them
        "def pair(n):\n    return '[2, 4]'",          # a string that prints like it: no JSON round-trip
        "def pair(n):\n    return [[2, 4]]",          # [expected] is APPS's rule only
    ])
    assert verdicts(report) == [["accepted"], ["accepted"], ["wrong_answer"], ["wrong_answer"]]


FORGERIES = [
    "class Always:\n    def __eq__(self, other): return True\n    def __ne__(self, other): return False\n"
    "def sum_product(a, b):\n    return Always()",
    "class Int(int):\n    def __eq__(self, other): return True\n    __hash__ = int.__hash__\n"
    "def sum_product(a, b):\n    return Int(0)",
    "class L(list):\n    def __eq__(self, other): return True\n"
    "def sum_product(a, b):\n    return L()",
    "class Shown:\n    def __repr__(self): return '[%d, %d]' % (3, 2)\n    __str__ = __repr__\n"
    "def sum_product(a, b):\n    return Shown()",
    "def sum_product(a, b):\n    return [[a + b, a * b], Exception('x')]",
    # Ending the candidate's process early, with status 0, passes nothing.
    "import os\ndef sum_product(a, b):\n    os._exit(0)",
    # Its fd 3 (the report channel) is closed before its code runs.
    "import os\ndef sum_product(a, b):\n    os.write(3, b'passed')\n    return [a + b, a * b]",
]


@pytest.mark.parametrize("harness", ["apps", "livecodebench"])
def test_a_forged_result_fails(server, harness: str) -> None:
    report = run(server, APPS, FORGERIES, harness=harness)
    assert not any(r["passed"] for r in report.rows)
    assert verdicts(report)[:5] == [["wrong_answer"] * 3] * 5
    assert all("not plain data" in t["message"] for i in (0, 3, 4) for t in report.rows[i]["tests"])
    # A builtin's subclass is judged by what it holds, whatever its __eq__ says.
    assert report.rows[1]["tests"][0]["message"] == "wrong answer: got 0, expected [[3, 2]]"
    assert report.rows[2]["tests"][0]["message"] == "wrong answer: got [], expected [[3, 2]]"
    assert verdicts(report)[5:] == [["runtime_error"] * 3] * 2


@pytest.mark.parametrize("harness", ["apps", "livecodebench"])
def test_results_of_builtin_subclasses_are_accepted_as_there(server, harness: str) -> None:
    # Both harnesses compare with ==: a Counter equals its dict, a namedtuple is a tuple (a list
    # after their tuple rule). They were "not plain data" here: wrong answers.
    problem = {"task_id": "counts", "fn_name": "f", "harness": harness,
               "call_tests": [{"args": ["abb"], "expected": {"a": 1, "b": 2}}, {"args": [""], "expected": [1, 2]}]}
    report = run(server, problem, [
        "from collections import Counter, namedtuple\n"
        "def f(s):\n    return Counter(s) if s else namedtuple('P', 'x y')(1, 2)",
        "from collections import Counter, namedtuple\n"
        "def f(s):\n    return Counter(s + 'a') if s else namedtuple('P', 'x y')(2, 1)",
    ])
    assert verdicts(report) == [["accepted", "accepted"], ["wrong_answer", "wrong_answer"]]


def test_names_from_the_harnesses_imports_resolve_as_there(server) -> None:
    # LiveCodeBench's star imports (statistics' mean, datetime's date, random's randint) and APPS's
    # module imports (np, fractions): imported only when the code mentions them, bound as there.
    lcb = {"task_id": "names", "fn_name": "f", "harness": "livecodebench",
           "call_tests": [{"args": [[1, 2, 6]], "expected": [3, 2024, True, 12]}]}
    report = run(server, lcb, ["def f(xs):\n    return [mean(xs), date(2024, 1, 1).year, 1 <= randint(1, 2) <= 2, "
                               "reduce(mul, xs)]",
                               "def f(xs):\n    return [fmean(xs) + 1, 2024, True, 12]",
                               "def f(xs):\n    return np.sum(xs)"])  # np is APPS's, not LiveCodeBench's
    assert verdicts(report) == [["accepted"], ["wrong_answer"], ["runtime_error"]]
    assert "NameError" in report.rows[2]["tests"][0]["message"]
    apps = {"task_id": "np", "fn_name": "f", "harness": "apps", "call_tests": [{"args": [[1, 2, 6]], "expected": [9]}]}
    report = run(server, apps, ["def f(xs):\n    return int(np.sum(xs))",
                                "def f(xs):\n    return int(fractions.Fraction(sum(xs)))",
                                "def f(xs):\n    return np.sum(xs)",  # np.int64(9) == 9, as in APPS
                                "def f(xs):\n    return np.array(xs)"])  # an array is not plain data
    assert verdicts(report) == [["accepted"], ["accepted"], ["accepted"], ["wrong_answer"]]


def test_livecodebench_ints_past_4300_digits_convert_as_there(server) -> None:
    # LiveCodeBench's grader raises Python's int-to-str digit limit to 50,000 for its whole
    # process: str() of a 5,000-digit int passed there, and was a runtime_error here.
    lcb = {"task_id": "digits", "fn_name": "f", "harness": "livecodebench",
           "call_tests": [{"args": ["7" * 5000], "expected": 5000}]}
    report = run(server, lcb, ["class Solution:\n    def f(self, s):\n        return len(str(int(s)))\n",
                               "class Solution:\n    def f(self, s):\n        return len(str(int(s * 11)))\n"])
    assert verdicts(report) == [["accepted"], ["runtime_error"]]  # 55,000 digits: over the limit there too


def test_apps_rules_tuple_wrapped_expected_and_int_keys(server) -> None:
    report = run(server, APPS, [
        "def sum_product(a, b):\n    return [a + b, a * b]",   # [expected] accepted as expected
        "def sum_product(a, b):\n    return (a + b, a * b)",   # a tuple compared as a list
        "def sum_product(a, b):\n    return [a + b, a - b]",   # wrong everywhere
        "def sum_product(a, b):\n    while b == 5: pass\n    return [a + b, a * b]",
        "def sum_product(a, b):\n    return [a + b, a * b // (a * 0)]",
    ])
    assert verdicts(report) == [
        ["accepted"] * 3,
        ["accepted"] * 3,
        ["wrong_answer", "wrong_answer", "wrong_answer"],
        ["accepted", "time_limit", "accepted"],
        ["runtime_error"] * 3,
    ]
    assert report.rows[4]["tests"][0]["message"].startswith("runtime error: ZeroDivisionError")
    # The same answers under LiveCodeBench's rules: a wrapped expected value is not the value.
    lcb = run(server, APPS, ["def sum_product(a, b):\n    return [a + b, a * b]"], harness="livecodebench")
    assert verdicts(lcb) == [["wrong_answer", "wrong_answer", "accepted"]]

    problem = {"task_id": "keys", "fn_name": "lookup", "harness": "apps",
               "call_tests": [{"args": [{"1": "a", "2": "b"}], "expected": ["a"]},
                              {"args": [[[1, 2], [3, 4]]], "expected": [[[1, 2], [3, 4]]]},
                              {"args": [{"x": 1}], "expected": [{"1": 2}]}]}
    keys = run(server, problem, ["def lookup(d):\n"
                                 "    if isinstance(d, list):\n        return [tuple(p) for p in d]\n"
                                 "    return d[1] if 1 in d else {1: 2}"])
    # int keys in the argument and in the expected dict; a list of tuples for the wrapped list of lists
    assert verdicts(keys) == [["accepted"] * 3]


def test_leetcode_class_solution_and_top_level_function(server) -> None:
    problem = {"task_id": "lc-add", "fn_name": "addTwo", "harness": "leetcode",
               "call_tests": [{"args": [2, 3], "expected": 5}, {"args": [-1, 1], "expected": 0}]}
    report = run(server, problem, [
        "class Solution:\n    def addTwo(self, a: int, b: int) -> int:\n        return a + b",
        "def addTwo(a, b):\n    return a + b",
        "class Solution:\n    def addTwo(self, a, b):\n        return a - b",
        "class Solution:\n    def __init__(self):\n        raise RuntimeError('no')\n    def addTwo(self, a, b):\n"
        "        return a + b",
        "def addTwo(a, b):\n    while a < 0: pass\n    return a + b",
    ])
    assert verdicts(report) == [["accepted"] * 2, ["accepted"] * 2, ["wrong_answer"] * 2, ["runtime_error"] * 2,
                                ["accepted", "time_limit"]]
    # The problem's own memory limit, far below the 1 GiB asked for, and a CPU limit far above what reaching
    # it costs on a loaded host: the memory verdict cannot turn into a time limit.
    hungry = run(server, {**problem, "memory_mb": 128},
                 ["def addTwo(a, b):\n    x = bytearray(1 << 30) if a < 0 else 0\n    return a + b"], timeout=20.0)
    assert verdicts(hungry) == [["accepted", "memory_limit"]]


def test_identical_samples_share_their_checks_and_resume_keeps_done_rows(server) -> None:
    right = "def sum_product(a, b):\n    return [a + b, a * b]"
    samples = [{"task_id": APPS["task_id"], "solution": right}] * 3
    done = {2: {"task_id": APPS["task_id"], "passed": False, "status": "OK"}}
    seen: list[int] = []
    with Client(server.target, timeout=300) as client:
        report = evaluate_function_calls(samples, {APPS["task_id"]: APPS}, client=client, k=[1], done=done,
                                         on_result=lambda i, row: seen.append(i))
    assert sorted(seen) == [0, 1] and report.rows[0]["passed"] and report.rows[1]["passed"]
    assert report.rows[2] == done[2] and report.judge == "function_call"


@pytest.mark.parametrize("row, message", [
    ({**APPS, "harness": "codeforces"}, "'harness' must be one of"),
    ({**APPS, "fn_name": "not a name"}, "'fn_name' must be a Python identifier"),
    ({**APPS, "call_tests": []}, "needs 'call_tests'"),
    ({**APPS, "call_tests": [{"args": 1, "expected": 2}]}, "needs 'call_tests'"),
    ({**APPS, "call_tests": [{"args": [float("nan")], "expected": 2}]}, "is not JSON"),
    ({**APPS, "time_limit_s": 0}, "time_limit_s must be a number of seconds above 0"),
    ({**APPS, "time_limit_s": float("inf")}, "time_limit_s must be a number of seconds"),  # was an OverflowError
    ({**APPS, "memory_mb": 1.5}, "memory_mb must be a whole number of MiB"),
    ({**APPS, "memory_mb": 10 ** 20}, "memory_mb must be a whole number of MiB"),  # was 10 minutes, then SANDBOX_ERROR
    ({k: v for k, v in APPS.items() if k != "task_id"}, "needs a string 'task_id'"),
])
def test_malformed_problems_are_invalid_input(row: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        function_call_problem(row)


def test_is_function_call_problem() -> None:
    assert is_function_call_problem(APPS) and is_function_call_problem(LCB)
    assert not is_function_call_problem({"task_id": "x", "tests": [{"input": "", "output": ""}]})


def test_eval_cli_judges_function_call_problems(tmp_path: Path) -> None:
    examples = Path(__file__).parent.parent / "examples"
    samples = tmp_path / "samples.jsonl"
    samples.write_text((examples / "function_call_samples.jsonl").read_text())
    p = subprocess.run([str(Path(sys.executable).parent / "sandcheck"), "eval", str(samples), "--problems",
                        str(examples / "function_call_problems.jsonl"), "--k", "1", "--no-progress"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.splitlines()[-1]) == {"pass@1": 0.5}
    results = [json.loads(line) for line in Path(f"{samples}_results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in results] == [True, False, False, True, True, False]
    assert [t["verdict"] for t in results[2]["tests"]] == ["wrong_answer"] * 2  # the always-equal object
