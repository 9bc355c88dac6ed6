"""Python answers to LiveCodeBench, APPS and TACO stdin problems run as those harnesses run them
(sandcheck.judges.stdio_harness): each case is a difference from a bare program, read in the
harness's source (lcb_runner/evaluation/testing_util.py, APPS's eval/testing_util.py, TACO's
metrics/testing_util.py)."""

from __future__ import annotations

import pytest

from sandcheck import Client
from sandcheck.judges.stdio import evaluate_stdio, stdio_problem

SUM = [{"input": "1 2\n", "output": "3\n"}, {"input": "40 2\n", "output": "42\n"}]
BIG = [{"input": "5000\n", "output": "1" + "0" * 5000 + "\n"}]
A, RE = "accepted", "runtime_error"

CASES = [
    # The harness's imports: sys and gcd unimported.
    ("livecodebench", SUM, "print(sum(map(int, sys.stdin.read().split())))", [A, A], [RE, RE]),
    ("apps", SUM, "a, b = map(int, input().split())\nprint(a + b if gcd(a, b) else 0)", [A, A], [RE, RE]),
    ("taco", SUM, "a, b = map(int, input().split())\nprint(int(sqrt((a + b) ** 2)))", [A, A], [RE, RE]),
    # LiveCodeBench and APPS call the program in their process and catch SystemExit; TACO runs it.
    ("livecodebench", SUM, "print(sum(map(int, input().split())))\nimport sys\nsys.exit(1)", [A, A], [RE, RE]),
    ("apps", SUM, "import sys\nprint(sum(map(int, input().split())))\nsys.exit(1)", [A, A], [RE, RE]),
    ("taco", SUM, "import sys\nprint(sum(map(int, input().split())))\nsys.exit(1)", [RE, RE], [RE, RE]),
    # exit() after the answer: LiveCodeBench and TACO end the program there (a bare program too, now
    # that the jail's Python has exit); APPS's guard sets it to None, so calling it fails.
    ("livecodebench", SUM, "print(sum(map(int, input().split())))\nexit()", [A, A], [A, A]),
    ("apps", SUM, "print(sum(map(int, input().split())))\nexit()", [RE, RE], [A, A]),
    ("taco", SUM, "print(sum(map(int, input().split())))\nexit()", [A, A], [A, A]),
    ("livecodebench", SUM, "print(sum(map(int, input().split())))\nquit()", [RE, RE], [A, A]),
    # LiveCodeBench wraps the statements into a function: a global of a top-level name is gone.
    ("livecodebench", SUM, "total = 0\ndef add(x):\n    global total\n    total += x\n"
                           "for v in map(int, input().split()):\n    add(v)\nprint(total)", [RE, RE], [A, A]),
    # Its stdin is a mock that cannot be iterated, nor read through buffer.readline.
    ("livecodebench", SUM, "import sys\nfor line in sys.stdin:\n    print(sum(map(int, line.split())))", [RE, RE],
     [A, A]),
    ("livecodebench", SUM, "import sys\nprint(sum(map(int, sys.stdin.buffer.readline().split())))", [RE, RE], [A, A]),
    # open(0) is the real open (its `from builtins import *` binds it before the mock) on a stdin
    # that is not the test's (here, already read to its end): nothing to read.
    ("livecodebench", SUM, "print(sum(map(int, open(0).read().split())))", ["wrong_answer"] * 2, [A, A]),
    ("apps", SUM, "print(sum(map(int, open(0).read().split())))", [A, A], [A, A]),  # APPS mocks builtins.open
    # It prints integers of up to 50,000 digits (sys.set_int_max_str_digits); Python's default is 4,300.
    ("livecodebench", BIG, "print(10 ** int(input()))", [A], [RE]),
    # A last main guard runs (clean_if_name); APPS's function never sees __name__ == '__main__'.
    ("livecodebench", SUM, "def main():\n    print(sum(map(int, input().split())))\n\n"
                           "if __name__ == '__main__':\n    main()", [A, A], [A, A]),
    ("apps", SUM, "def main():\n    print(sum(map(int, input().split())))\n\n"
                  "if __name__ == '__main__':\n    main()", ["wrong_answer"] * 2, [A, A]),
]


@pytest.mark.parametrize("harness, tests, code, verdicts, bare", CASES)
def test_a_python_answer_runs_as_its_harness_runs_it(server, harness, tests, code, verdicts, bare) -> None:
    compare = {"livecodebench": "livecodebench", "apps": "apps", "taco": "taco"}[harness]
    problems = {"run": stdio_problem({"task_id": "run", "tests": tests, "compare": compare, "harness": harness}),
                "bare": stdio_problem({"task_id": "bare", "tests": tests, "compare": compare})}
    samples = [{"task_id": "run", "solution": code}, {"task_id": "bare", "solution": code}]
    with Client(server.target, timeout=120) as client:
        report = evaluate_stdio(samples, problems, client=client, k=[1], timeout=3.0)
    got = [[t["verdict"] for t in row["tests"]] for row in report.rows]
    assert got == [verdicts, bare], [row["tests"][0].get("stderr") for row in report.rows]
