"""stdin/stdout problems: per-test verdicts, judge-style comparison, CodeContests as shipped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandcheck import Client, InvalidInput
from sandcheck.datasets import read_problem_rows
from sandcheck.judges.stdio import evaluate_stdio, outputs_match, stdio_problem

SANDCHECK = str(Path(sys.executable).parent / "sandcheck")
CODE_CONTESTS = Path(__file__).parent / "data" / "code_contests" / "code_contests_sample.jsonl.gz"

# Our own solutions to three of the CodeContests problems (task_id = the row's id),
# a correct one and a wrong one each.
KILL_EM_ALL = "14"  # 1238_B. Kill 'Em All
KILL_EM_ALL_OK = r"""
import sys


def main():
    data = sys.stdin.buffer.read().split()
    q, pos, out = int(data[0]), 1, []
    for _ in range(q):
        n, r = int(data[pos]), int(data[pos + 1])
        xs = sorted(set(map(int, data[pos + 2:pos + 2 + n])), reverse=True)
        pos += 2 + n
        shots = 0
        for x in xs:
            if x - shots * r <= 0:
                break
            shots += 1
        out.append(str(shots))
    print("\n".join(out))


main()
"""
KILL_EM_ALL_WRONG = KILL_EM_ALL_OK.replace("sorted(set(map(int, data[pos + 2:pos + 2 + n])), reverse=True)",
                                           "sorted(map(int, data[pos + 2:pos + 2 + n]), reverse=True)")  # no dedup
T_SHIRTS = "3"  # 1000_A. Codehorses T-shirts
T_SHIRTS_OK = """\
from collections import Counter

n = int(input())
last = Counter(input().strip() for _ in range(n))
now = Counter(input().strip() for _ in range(n))
print(n - sum((last & now).values()))
"""
T_SHIRTS_WRONG = """\
n = int(input())
last = sorted(input().strip() for _ in range(n))
now = sorted(input().strip() for _ in range(n))
print(sum(a != b for a, b in zip(last, now)))
"""
CORRECT_SOLUTION = "17"  # 12_B. Correct Solution?
CORRECT_SOLUTION_OK = """\
n, m = input().strip(), input().strip()
digits = sorted(n)
if n != "0":
    first = next(i for i, d in enumerate(digits) if d != "0")
    digits = [digits[first]] + digits[:first] + digits[first + 1:]
print("OK" if m == "".join(digits) else "WRONG_ANSWER")
"""
CORRECT_SOLUTION_WRONG = CORRECT_SOLUTION_OK.replace('m == "".join(digits)', 'int(m) == int("".join(digits))')


@pytest.mark.parametrize("got, expected, tolerance, same", [
    ("3\n", "3", None, True),
    ("1 2  \r\n3\r\n\r\n", "1 2\n3\n", None, True),     # CRLF, trailing spaces, trailing blank lines
    ("1  2\n3\n", "1 2\n3\n", None, False),              # inner whitespace counts without a tolerance
    (" 3\n", "3\n", None, False),                          # so does leading whitespace
    ("3\n4\n", "34\n", None, False),
    ("0.3333333\n", "0.333333333", 1e-6, True),
    ("0.3334\n", "0.333333333", 1e-6, False),
    ("1000000.5", "1000000.0", 1e-6, True),                # relative error 5e-7
    ("nan", "nan", 1e-6, True),                             # equal tokens are equal
    ("inf 2", "inf", 1e-6, False),
    ("-inf", "inf", 1e-6, False),                          # |inf - -inf| <= 1e-6 * inf passed these
    ("1e308", "inf", 1e-6, False),
    ("1e400", "inf", 1e-6, True),                           # read as a double, it is inf
    ("nan", "NaN", 1e-6, False),
    ("YES 0.5", "YES   0.50000001", 1e-6, True),
])
def test_outputs_match_like_a_judge(got: str, expected: str, tolerance: float | None, same: bool) -> None:
    assert outputs_match(got, expected, tolerance) is same


def test_code_contests_rows_load_as_shipped() -> None:
    problems = read_problem_rows(CODE_CONTESTS)
    assert len(problems) == 20
    assert all(len(p["tests"]) >= 35 for p in problems.values())
    assert problems[T_SHIRTS]["tests"][0] == {"input": "1\nXXXS\nXXXL\n", "output": "1\n"}
    assert json.loads(problems[T_SHIRTS]["labels"])["name"] == "1000_A. Codehorses T-shirts"


@pytest.mark.parametrize("row, message", [
    ({"task_id": "a", "tests": []}, "needs 'tests': a non-empty list"),
    ({"task_id": "a", "tests": [{"input": "1"}]}, "needs 'tests': a non-empty list"),
    ({"tests": [{"input": "1", "output": "1"}]}, "needs a string 'task_id'"),
    ({"task_id": "a", "tests": [{"input": "", "output": ""}], "float_tolerance": -1}, "float_tolerance must be"),
    ({"task_id": "a", "tests": [{"input": "", "output": ""}], "compare": "fuzzy"}, "compare must be one of"),
    ({"task_id": "a", "tests": [{"input": "", "output": ""}], "time_limit_s": float("nan")}, "time_limit_s must be"),
    ({"task_id": "a", "tests": [{"input": "", "output": ""}], "time_limit_s": 1e400}, "time_limit_s must be"),
    ({"task_id": "a", "tests": [{"input": "", "output": ""}], "memory_mb": 10 ** 20}, "memory_mb must be"),
    ({"task_id": "a", "tests": [{"input": "", "output": ""}], "harness": "codeforces"}, "harness must be one of"),
])
def test_malformed_problems_are_invalid_input(row: dict, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        stdio_problem(row, "problem 1")
    assert message in str(info.value) and "problem 1" in str(info.value)


VERDICTS = {
    "task_id": "echo-sum",
    "tests": [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10\n"},
              {"input": "0 0\n", "output": "0\n"}],
    "memory_mb": 256,
}


def _judged(server, solution: str, **problem: Any) -> dict:
    """The row of `solution` judged on VERDICTS' three tests (with `problem`'s fields), at 1 s."""
    problems = {"echo-sum": stdio_problem({**VERDICTS, **problem})}
    with Client(server.target, timeout=120) as client:
        report = evaluate_stdio([{"task_id": "echo-sum", "solution": solution}], problems, client=client, k=[1],
                                timeout=1.0)
    return report.rows[0]


@pytest.mark.parametrize("solution, verdicts", [
    ("print(sum(map(int, input().split())))", ["accepted"] * 3),
    ("a, b = map(int, input().split())\nprint(a + b if a != 5 else 0, end=' \\r\\n')",
     ["accepted", "wrong_answer", "accepted"]),
    ("a, b = map(int, input().split())\nassert a != 5\nprint(a + b)", ["accepted", "runtime_error", "accepted"]),
    ("a, b = map(int, input().split())\nwhile a == 5: pass\nprint(a + b)", ["accepted", "time_limit", "accepted"]),
    ("a, b = map(int, input().split())\nx = bytearray(1 << 30) if a == 5 else 0\nprint(a + b)",
     ["accepted", "memory_limit", "accepted"]),
    ("import os\na, b = map(int, input().split())\nos.kill(os.getpid(), 9) if a == 5 else print(a + b)",
     ["accepted", "runtime_error", "accepted"]),
])
def test_each_test_gets_a_verdict_with_its_cpu_time_and_peak_memory(server, solution: str, verdicts: list) -> None:
    row = _judged(server, solution)
    assert [t["verdict"] for t in row["tests"]] == verdicts
    assert row["passed"] is (verdicts == ["accepted"] * 3)
    assert row["score"] == pytest.approx(verdicts.count("accepted") / 3)
    for t in row["tests"]:
        assert t["memory_bytes"] > 1_000_000 and t["cpu_time_ms"] >= 1  # a Python process was measured
    if "runtime_error" in verdicts and "assert" in solution:
        assert row["tests"][1]["stderr"].rstrip().endswith("AssertionError")
    if "time_limit" in verdicts:
        assert row["tests"][1]["cpu_time_ms"] >= 900 and row["status"] == "TIMEOUT"
    if "memory_limit" in verdicts:
        assert row["tests"][1]["memory_bytes"] >= 200 * 2**20 and row["status"] == "MEMORY_LIMIT"


@pytest.mark.parametrize("solution, verdicts", [
    ("print(sum(map(int, input().split())))", ["accepted"] * 3),
    # DeepMind's tester judges the output alone, however the program ended: right output,
    # then an exit status, an exception, a signal or an endless loop still passes there.
    ("print(sum(map(int, input().split())), flush=True)\nraise SystemExit(1)", ["accepted"] * 3),
    ("while True:\n    a, b = map(int, input().split())\n    print(a + b)", ["accepted"] * 3),  # EOFError at the end
    ("import os\nprint(sum(map(int, input().split())), flush=True)\nos.kill(os.getpid(), 9)", ["accepted"] * 3),
    ("print(sum(map(int, input().split())), flush=True)\nwhile True: pass", ["accepted"] * 3),
    # Output that does not match: how it ended says why.
    ("a, b = map(int, input().split())\nprint(a * b)\nraise ValueError", ["runtime_error", "runtime_error", "accepted"]),
    ("a, b = map(int, input().split())\nwhile a == 5: pass\nprint(a + b)", ["accepted", "time_limit", "accepted"]),
    ("a, b = map(int, input().split())\nprint(a * b)", ["wrong_answer", "wrong_answer", "accepted"]),
])
def test_code_contests_tests_are_judged_by_their_output_alone(server, solution: str, verdicts: list) -> None:
    row = _judged(server, solution, compare="code_contests")
    assert [t["verdict"] for t in row["tests"]] == verdicts
    assert row["passed"] is (verdicts == ["accepted"] * 3)
    if "while True: pass" in solution:  # the status still says how it ended
        assert {t["status"] for t in row["tests"]} == {"TIMEOUT"}


def test_float_tolerance_and_stop_at_first_failure(server) -> None:
    problems = {
        "third": stdio_problem({"task_id": "third", "float_tolerance": 1e-6,
                                "tests": [{"input": f"{n}\n", "output": f"{1 / n:.9f}\n"} for n in range(1, 9)]}),
    }
    samples = [
        {"task_id": "third", "solution": "print(1 / int(input()))"},                   # more digits: accepted
        {"task_id": "third", "completion": "n = int(input())\nprint(round(1 / n, 2) if n == 3 else 1 / n)"},
    ]
    with Client(server.target, timeout=120) as client:
        full = evaluate_stdio(samples, problems, client=client, k=[1])
        stopped = evaluate_stdio(samples, problems, client=client, k=[1], stop_at_first_failure=True)
    assert [r["passed"] for r in full.rows] == [True, False] and full.pass_at_k == {"pass@1": 0.5}
    assert full.rows[1]["score"] == 7 / 8 and full.rows[1]["result"] == "failed: wrong_answer on test 2"
    # Rounds of 1, 2, 4...: tests 0, then 1-2 ran; the failure in test 2 stops the rest.
    assert [t["verdict"] for t in stopped.rows[1]["tests"]] == ["accepted"] * 2 + ["wrong_answer"] + ["skipped"] * 5
    assert stopped.rows[1]["score"] == 2 / 8 and stopped.rows[0] == full.rows[0] | {"tests": stopped.rows[0]["tests"]}
    assert [t["verdict"] for t in stopped.rows[0]["tests"]] == ["accepted"] * 8


def test_code_contests_end_to_end_from_the_cli(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    rows = [(KILL_EM_ALL, KILL_EM_ALL_OK), (KILL_EM_ALL, KILL_EM_ALL_WRONG), (T_SHIRTS, T_SHIRTS_OK),
            (T_SHIRTS, T_SHIRTS_WRONG), (CORRECT_SOLUTION, CORRECT_SOLUTION_OK),
            (CORRECT_SOLUTION, CORRECT_SOLUTION_WRONG)]
    samples.write_text("".join(json.dumps({"task_id": t, "solution": s}) + "\n" for t, s in rows))
    p = subprocess.run([SANDCHECK, "eval", str(samples), "--problems", str(CODE_CONTESTS), "--k", "1,2",
                        "--no-progress"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.splitlines()[-1]) == {"pass@1": 0.5, "pass@2": 1.0}
    assert "warning: the samples cover 3 of the 20 problems" in p.stderr
    results = [json.loads(line) for line in Path(f"{samples}_results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in results] == [True, False] * 3
    problems = read_problem_rows(CODE_CONTESTS)
    for r in results:
        assert len(r["tests"]) == len(problems[r["task_id"]]["tests"])
        assert all(t["verdict"] in ("accepted", "wrong_answer") and t["cpu_time_ms"] > 0 and t["memory_bytes"] > 0
                   for t in r["tests"])
    # The wrong solutions fail exactly the tests that tell them apart (checked against the expected outputs).
    wrong = {r["task_id"]: [i for i, t in enumerate(r["tests"]) if t["verdict"] != "accepted"]
             for r in results if not r["passed"]}
    assert wrong == {KILL_EM_ALL: [41, 48, 62, 68, 92, 95], T_SHIRTS: wrong[T_SHIRTS], CORRECT_SOLUTION: [0, 2, 9, 23]}
    assert len(wrong[T_SHIRTS]) == 17 and wrong[T_SHIRTS][:5] == [4, 5, 10, 11, 12]


# Our C++ solutions to six of the shipped CodeContests problems (tests/data/code_contests/solutions/ID.cpp).
CPP_SOLUTIONS = Path(__file__).parent / "data" / "code_contests" / "solutions"


def test_code_contests_cpp_solutions_pass_every_test_and_the_run_reports_cpu_per_test(tmp_path: Path) -> None:
    solved = sorted(CPP_SOLUTIONS.glob("*.cpp"), key=lambda p: int(p.stem))
    assert len(solved) >= 5
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": p.stem, "solution": p.read_text()}) + "\n" for p in solved))
    p = subprocess.run([SANDCHECK, "eval", str(samples), "--problems", str(CODE_CONTESTS), "--language", "c++",
                        "--k", "1", "--no-progress"], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    results = [json.loads(line) for line in Path(f"{samples}_results.jsonl").read_text().splitlines()]
    failed = {r["task_id"]: [i for i, t in enumerate(r["tests"]) if t["verdict"] != "accepted"] for r in results}
    # Judged as SandboxFusion judges its rows, line by line: test 100 of 1342_C wants an answer per
    # line where the solution prints a test case's answers on one line (SandboxFusion fails it too).
    # DeepMind's rule compares tokens and accepts it.
    assert failed == {p.stem: [100] if p.stem == "19" else [] for p in solved}
    problems = read_problem_rows(CODE_CONTESTS)
    on_one_line = " ".join(problems["19"]["tests"][100]["output"].split())
    assert not outputs_match(on_one_line, problems["19"]["tests"][100]["output"], compare="sandbox_fusion")
    assert outputs_match(on_one_line, problems["19"]["tests"][100]["output"], compare="code_contests")
    assert all(r["language"] == "cpp" and len(r["tests"]) == len(problems[r["task_id"]]["tests"]) for r in results)
    meta = json.loads(Path(f"{samples}_results.meta.json").read_text())
    tests = sum(len(r["tests"]) for r in results)
    # At least one compile per program; the embedded server's processes each keep their own build cache.
    assert meta["tests"]["run"] == tests and meta["tests"]["compiles"] >= len(solved)
    assert meta["tests"]["cpu_ms_per_test"] > 0 and f"tests: {tests} run, CPU " in p.stderr
    print(p.stderr.splitlines()[-3:], meta["tests"])  # the measurement, with -s


def test_an_empty_answer_is_judged_and_a_nul_is_refused_before_anything_runs(server) -> None:
    # Before: an empty solution reached the server, which refuses an empty source (INVALID_REQUEST:
    # no verdict, and eval exited 1).
    problems = {"echo-sum": stdio_problem(VERDICTS), "quiet": stdio_problem({"task_id": "quiet",
                                                                            "tests": [{"input": "", "output": ""}]})}
    samples = [{"task_id": "echo-sum", "solution": ""}, {"task_id": "quiet", "solution": ""},
               {"task_id": "echo-sum", "solution": "", "language": "cpp"}]
    with Client(server.target, timeout=120) as client:
        report = evaluate_stdio(samples, problems, client=client, k=[1], timeout=1.0)
        assert [[t["verdict"] for t in r["tests"]] for r in report.rows] == [
            ["wrong_answer"] * 3, ["accepted"], ["compile_error"] * 3]
        with pytest.raises(InvalidInput, match="sample 0: its code holds a NUL character"):
            evaluate_stdio([{"task_id": "echo-sum", "solution": "print(3)\x00"}], problems, client=client, k=[1])
