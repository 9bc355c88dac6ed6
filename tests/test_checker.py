"""Checkers: a problem's own program judges outputs that have more than one right answer.

Real server: the candidate runs, then its checker in a jail of its own with
input.txt, output.txt and answer.txt, named on its command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandcheck import Client, InvalidInput
from sandcheck.client import Program
from sandcheck.judges.stdio import evaluate_stdio, stdio_problem

SANDCHECK = str(Path(sys.executable).parent / "sandcheck")

# "Print any permutation of 1..n": an unmodified testlib checker (argv, as Codeforces runs it).
PERMUTATION_CHECKER = r"""
#include "testlib.h"
#include <vector>

int main(int argc, char* argv[]) {
    registerTestlibCmd(argc, argv);
    int n = inf.readInt();
    std::vector<bool> seen(n + 1);
    for (int i = 0; i < n; i++) {
        int x = ouf.readInt(1, n, "p_i");
        if (seen[x]) quitf(_wa, "%d appears twice", x);
        seen[x] = true;
    }
    quitf(_ok, "a permutation of %d", n);
}
"""
PERMUTATION = {"task_id": "perm", "tests": [{"input": "3\n", "output": "1 2 3\n"},
                                            {"input": "5\n", "output": "1 2 3 4 5\n"}],
               "checker": {"language": "cpp", "source": PERMUTATION_CHECKER}}

# "Print two positive integers whose sum is n": a plain Python checker, no library.
PAIR_CHECKER = """
import sys

inp, out, ans = (open(p).read() for p in sys.argv[1:4])
n = int(inp)
tokens = out.split()
if len(tokens) != 2 or not all(t.isdigit() for t in tokens):
    sys.exit(2)
a, b = map(int, tokens)
sys.exit(0 if a >= 1 and b >= 1 and a + b == n else 1)
"""
PAIR = {"task_id": "pair", "tests": [{"input": "10\n", "output": "1 9\n"}, {"input": "7\n", "output": "3 4\n"}],
        "checker": {"language": "python", "source": PAIR_CHECKER}}


def evaluate(server, problem: dict, solutions: list[str]):
    problems = {problem["task_id"]: stdio_problem(problem)}
    samples = [{"task_id": problem["task_id"], "solution": s} for s in solutions]
    with Client(server.target, timeout=300) as client:
        return evaluate_stdio(samples, problems, client=client, k=[1], timeout=5.0)


def verdicts(report) -> list[list[str]]:
    return [[t["verdict"] for t in r["tests"]] for r in report.rows]


def test_testlib_checker_accepts_every_right_answer_and_rejects_wrong_ones(server) -> None:
    solutions = [
        "n = int(input())\nprint(*range(n, 0, -1))",            # right, unlike the expected output
        "n = int(input())\nprint(*range(1, n + 1))",            # right, the expected output itself
        "n = int(input())\nprint(*[1] * n)",                     # a repeat: wrong answer
        "n = int(input())\nprint(*range(2, n + 2))",             # n + 1 is out of range: wrong answer
        "n = int(input())\nprint('one two three')",              # not integers: presentation error
        "n = int(input())\nprint(*range(1, n + 2))",             # extra output: testlib's presentation error
        "n = int(input())\nraise SystemExit(3)",                 # the candidate failed: the checker never runs
    ]
    report = evaluate(server, PERMUTATION, solutions)
    assert verdicts(report) == [["accepted"] * 2, ["accepted"] * 2, ["wrong_answer"] * 2, ["wrong_answer"] * 2,
                                ["presentation_error"] * 2, ["presentation_error"] * 2, ["runtime_error"] * 2]
    assert [r["passed"] for r in report.rows] == [True, True] + [False] * 5
    assert report.rows[2]["tests"][0]["checker"].startswith("wrong answer 1 appears twice")
    assert report.sandbox_errors == 0 and report.rows[2]["status"] == "OK"
    # Without the checker, the exact comparison rejects the first right answer: the checker replaced it.
    exact = evaluate(server, {k: v for k, v in PERMUTATION.items() if k != "checker"}, solutions[:1])
    assert verdicts(exact) == [["wrong_answer"] * 2]


def test_python_checker_gets_the_three_files_on_its_command_line(server) -> None:
    solutions = ["n = int(input())\nprint(n - 1, 1)", "n = int(input())\nprint(n // 2, n - n // 2)",
                 "n = int(input())\nprint(0, n)", "n = int(input())\nprint(n)"]
    report = evaluate(server, PAIR, solutions)
    assert verdicts(report) == [["accepted"] * 2, ["accepted"] * 2, ["wrong_answer"] * 2,
                                ["presentation_error"] * 2]
    assert report.pass_at_k == {"pass@1": 0.5}


def test_testlibs_unexpected_end_of_output_is_a_presentation_error(server) -> None:
    # Exit 8: a testlib checker built with ENABLE_UNEXPECTED_EOF, on output that ended early.
    # It was a judge_error (the checker failed), which gives the sample no verdict at all.
    checker = {"language": "python", "source": "import sys\nsys.exit(8)"}
    report = evaluate(server, {**PAIR, "checker": checker}, ["n = int(input())\nprint(n - 1)"])
    assert verdicts(report) == [["presentation_error"] * 2] and report.sandbox_errors == 0


SEES_ONLY_ITS_FILES = r"""
#include <dirent.h>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

static std::string read(const char* path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

int main(int argc, char* argv[]) {
    std::set<std::string> names;
    DIR* d = opendir(".");
    for (dirent* e; d && (e = readdir(d));) if (std::string(e->d_name)[0] != '.') names.insert(e->d_name);
    if (names != std::set<std::string>{"answer.txt", "input.txt", "output.txt"}) return 3;
    if (argc != 4 || std::string(argv[1]) != "input.txt" || std::string(argv[3]) != "answer.txt") return 3;
    return read(argv[2]) == "42\n" && read(argv[1]) == "in\n" && read(argv[3]) == "ans\n" ? 0 : 1;
}
"""


def test_the_checker_sees_only_its_three_files(server) -> None:
    # The candidate leaves a file behind in its /tmp; the checker's jail is another one.
    problem = {"task_id": "files", "tests": [{"input": "in\n", "output": "ans\n"}],
               "checker": {"language": "cpp", "source": SEES_ONLY_ITS_FILES}}
    report = evaluate(server, problem, ["open('/tmp/leak.txt', 'w').write('x')\nprint(42)", "print(41)"])
    assert verdicts(report) == [["accepted"], ["wrong_answer"]]


@pytest.mark.parametrize("checker, said", [
    ({"language": "python", "source": "import sys\nsys.exit(3)"}, "the checker failed (exit 3)"),
    ({"language": "python", "source": "raise ValueError('checker bug')"}, "the checker failed (exit 3)"),
    ({"language": "python", "source": "import sys\nsys.exit(7)"}, "the checker gave points (testlib's quitp"),
    ({"language": "cpp", "source": "int main() { volatile int* p = nullptr; return *p; }"},
     "the checker ended with SIGNALED (signal 11)"),
    ({"language": "cpp", "source": "int main() { return undefined_name; }"}, "the checker did not compile"),
    ({"language": "python", "source": "while True: pass"}, "the checker ended with TIMEOUT"),
])
def test_a_failing_checker_is_a_judge_error_never_a_wrong_answer(server, checker: dict, said: str) -> None:
    report = evaluate(server, {**PAIR, "checker": checker}, ["n = int(input())\nprint(n - 1, 1)"])
    row = report.rows[0]
    assert [t["verdict"] for t in row["tests"]] == ["judge_error"] * 2
    assert row["status"] == "JUDGE_ERROR" and row["passed"] is False
    assert all(t["checker"].startswith(said) for t in row["tests"]), row["tests"]
    assert report.sandbox_errors == 1 and report.statuses == {"JUDGE_ERROR": 1}
    if "ValueError" in checker["source"]:
        assert row["tests"][0]["checker"].endswith("ValueError: checker bug")


@pytest.mark.parametrize("checker, message", [
    ({"source": "x"}, "'checker' must be"),
    ({"language": "cobol", "source": "x"}, "the checker's language 'cobol' is not one sandcheck knows"),
])
def test_a_malformed_checker_is_invalid_input_before_anything_runs(checker: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        evaluate_stdio([{"task_id": "pair", "solution": "print(1)"}],
                       {"pair": stdio_problem({**PAIR, "checker": checker})}, client=None)


def test_eval_cli_exits_1_when_a_checker_fails(tmp_path: Path) -> None:
    problems, samples = tmp_path / "problems.jsonl", tmp_path / "samples.jsonl"
    broken = {**PAIR, "task_id": "broken", "checker": {"language": "python", "source": "import sys\nsys.exit(3)"}}
    problems.write_text(json.dumps(PAIR) + "\n" + json.dumps(broken) + "\n")
    samples.write_text("".join(json.dumps({"task_id": t, "solution": "n = int(input())\nprint(n - 1, 1)"}) + "\n"
                               for t in ("pair", "broken")))
    p = subprocess.run([SANDCHECK, "eval", str(samples), "--problems", str(problems), "--k", "1", "--no-progress"],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 1, p.stderr
    assert "1 checks got no verdict (SANDBOX_ERROR, or JUDGE_ERROR" in p.stderr
    results = [json.loads(line) for line in Path(f"{samples}_results.jsonl").read_text().splitlines()]
    assert [(r["task_id"], r["status"], r["passed"]) for r in results] == [("pair", "OK", True),
                                                                           ("broken", "JUDGE_ERROR", False)]


# The server's side of it: arguments, and files for the run only.
ECHO_ARGS = r"""
#include <fstream>
#include <iostream>
int main(int argc, char* argv[]) {
    for (int i = 1; i < argc; i++) std::cout << argv[i] << "|";
    std::ifstream f("data.txt"); std::cout << f.rdbuf();
}
"""


def test_args_and_run_files_reach_a_compiled_program_built_once(client: Client) -> None:
    runs = [Program(ECHO_ARGS, language="cpp", id=str(n), args=("a b", "-x"), run_files={"data.txt": data})
            for n, data in enumerate([b"first", b"second"])]
    first = next(iter(client.execute_batch(runs[:1])))
    second = next(iter(client.execute_batch(runs[1:])))
    assert (first.stdout, second.stdout) == (b"a b|-x|first", b"a b|-x|second"), (first, second)
    # run_files are not part of the build: the second run reused the first's.
    assert second.compile is not None and second.compile.cached


@pytest.mark.parametrize("program, message", [
    (Program("print(1)", args=("x",)), "args are for programs in other languages"),
    (Program("int main(){}", language="cpp", files={"a": b""}, run_files={"a": b""}), "in both files and run_files"),
    (Program("int main(){}", language="cpp", run_files={"../a": b""}), "not a plain file name"),
])
def test_bad_args_or_run_files_are_one_clear_invalid_request(client: Client, program: Program, message: str) -> None:
    result = next(iter(client.execute_batch([program])))
    assert result.status == "INVALID_REQUEST" and message in result.error, result
