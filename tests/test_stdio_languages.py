"""stdin/stdout problems in every format and in Python, C++, Java, Go and Rust, through the real server.

One problem ("sum"), written in each format's published schema (tests/data/formats), and four
solutions per language (tests/data/stdio_solutions): right; wrong when n == 2; endless when
n == 4; crashing when n == 5. The four tests have n = 3, 2, 4, 5, so each solution's verdicts
are known test by test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sandcheck import Client, InvalidInput
from sandcheck.datasets import read_problem_rows
from sandcheck.judges.stdio import evaluate_stdio

DATA = Path(__file__).parent / "data"
SOLUTIONS = DATA / "stdio_solutions"
SANDCHECK = str(Path(sys.executable).parent / "sandcheck")
# Each format's file and the task_id of its "sum" problem; the language names its samples use
# (the server's names, their aliases, or none: the default, Python).
FORMATS = {
    "sandcheck_stdio.jsonl": ("sum", {"python": None, "cpp": "cpp", "java": "java", "go": "go", "rust": "rust"}),
    "livecodebench.jsonl": ("abc999_a", {"python": "python3", "cpp": "c++", "java": "java", "go": "golang",
                                         "rust": "rs"}),
    "apps.jsonl": ("4001", {"python": "python", "cpp": "cpp", "java": "Java", "go": "go", "rust": "rust"}),
    "taco.jsonl": ("0", {"python": None, "cpp": "CPP", "java": "java", "go": "go", "rust": "rust"}),
    "code_contests_hf.jsonl": ("9999_A. Sum", {"python": "py", "cpp": "g++", "java": "java17", "go": "go",
                                               "rust": "rust"}),
    "code_contests_sandbox_fusion.jsonl": ("0", {"python": None, "cpp": "cpp", "java": "java", "go": "go",
                                                 "rust": "rust"}),
}
EXTENSIONS = {"python": "py", "cpp": "cpp", "java": "java", "go": "go", "rust": "rs"}
A, WA, TLE, RE = "accepted", "wrong_answer", "time_limit", "runtime_error"
EXPECTED = {"right": [A, A, A, A], "wrong": [A, WA, A, A], "slow": [A, A, TLE, A], "crash": [A, A, A, RE]}
# What each language's crash leaves on stderr (C++'s abort() is SIGABRT, and says nothing).
CRASH_SAYS = {"python": "ValueError: n is 5", "java": "IllegalStateException: n is 5", "go": "panic: n is 5",
              "rust": "n is 5", "cpp": ""}


def solution(language: str, variant: str) -> str:
    return (SOLUTIONS / f"{variant}.{EXTENSIONS[language]}").read_text()


def test_every_format_and_language_gets_its_verdict_per_test(server) -> None:
    problems: dict[str, dict[str, Any]] = {}
    samples, expected = [], []
    for file, (task, names) in FORMATS.items():
        task_id = f"{file}/{task}"  # one problem set for all formats, so one run
        problems[task_id] = {**read_problem_rows(DATA / "formats" / file)[task], "task_id": task_id}
        for language, name in names.items():
            for variant in EXPECTED:
                samples.append({"task_id": task_id, "solution": solution(language, variant),
                                **({"language": name} if name else {})})
                expected.append((file, language, variant))
    with Client(server.target, timeout=600) as client:
        report = evaluate_stdio(samples, problems, client=client, k=[1], timeout=1.0)
    got = {(f, lang, v): [t["verdict"] for t in row["tests"]] for (f, lang, v), row in zip(expected, report.rows)}
    assert got == {key: EXPECTED[key[2]] for key in expected}
    for (file, language, variant), row in zip(expected, report.rows):
        assert row["language"] == language and row["passed"] is (variant == "right")
        if variant == "slow":
            assert row["status"] == "TIMEOUT"  # CPU or wall: on a busy machine the wall backstop may come first
        if variant == "crash":
            assert CRASH_SAYS[language] in row["tests"][3]["stderr"]
            assert row["status"] == ("SIGNALED" if language == "cpp" else "NONZERO_EXIT")
        assert ("compile" in row) is (language != "python")
    # Each sample compiled at most once: its first test alone, the rest served by the build cache. The
    # first format's samples compiled (1); CodeContests' (the only format with 245 MiB, so no result of
    # another format's run is replayed to it) found every build already cached (0).
    compiled = [(f, row["compile"]["compiles"]) for (f, _, _), row in zip(expected, report.rows) if "compile" in row]
    assert len(compiled) == 6 * 16 and all(n <= 1 for _, n in compiled)
    assert [n for f, n in compiled if f == "sandcheck_stdio.jsonl"] == [1] * 16
    assert [n for f, n in compiled if f == "code_contests_hf.jsonl"] == [0] * 16


def test_a_compile_error_is_one_verdict_for_every_test_and_one_compile(server) -> None:
    problems = {"sum": read_problem_rows(DATA / "formats" / "sandcheck_stdio.jsonl")["sum"]}
    broken = solution("cpp", "right").replace("std::cin >> x;", "std::cin >> y;")
    with Client(server.target, timeout=300) as client:
        row = evaluate_stdio([{"task_id": "sum", "solution": broken, "language": "cpp"}], problems, client=client,
                             k=[1]).rows[0]
    assert [t["verdict"] for t in row["tests"]] == ["compile_error"] * 4
    assert row["status"] == "COMPILE_ERROR" and row["result"] == "failed: compile_error on test 0"
    assert row["compile"]["compiles"] == 1 and "'y' was not declared" in row["compile"]["message"]


def test_typescript_reads_its_input_with_node_fs_as_sandboxfusion_runs_it(server) -> None:
    # tsc type-checks without Node's types: `import * as fs from "fs"` was a compile error (TS2792)
    # for every sample named "typescript" or "ts"; SandboxFusion runs its typescript transpiled.
    problems = {"sum": read_problem_rows(DATA / "formats" / "sandcheck_stdio.jsonl")["sum"]}
    program = ("import * as fs from 'fs';\n"
               "const [n, ...xs]: number[] = fs.readFileSync('/dev/stdin', 'utf8').trim().split(/\\s+/).map(Number);\n"
               "console.log(String(xs.slice(0, n).reduce((a, b) => a + b, 0){}));\n")
    samples = [{"task_id": "sum", "solution": program.format(""), "language": name} for name in ("typescript", "ts")]
    samples.append({"task_id": "sum", "solution": program.format(" + (n === 2 ? 1 : 0)"), "language": "typescript"})
    with Client(server.target, timeout=300) as client:
        rows = evaluate_stdio(samples, problems, client=client, k=[1]).rows
    assert [[t["verdict"] for t in r["tests"]] for r in rows] == [[A] * 4, [A] * 4, [A, WA, A, A]], rows
    assert {r["language"] for r in rows} == {"ts_transpile"}


class _PythonAndCppOnly:
    """A server that runs Python and C++ only; running anything here is a test failure."""

    def info(self) -> dict:
        return {"runtimes": [{"language": "python"}, {"language": "cpp", "compiler": "/usr/bin/g++"}]}

    def execute_batch(self, programs):
        raise AssertionError("nothing may run when a language is not served")


@pytest.mark.parametrize("sample, default, message", [
    ({"language": "java"}, None, "sample 1: language java is not run by this server (it runs cpp, python)"),
    ({}, "rust", "sample 0 (no language of its own: the default): language rust is not run by this server"),
    ({"language": "cobol"}, None, "sample 1: unknown language 'cobol'"),
    ({"language": 3}, None, "sample 1: unknown language 3"),
])
def test_a_language_the_server_does_not_run_is_refused_before_anything_runs(sample, default, message) -> None:
    problems = {"sum": read_problem_rows(DATA / "formats" / "sandcheck_stdio.jsonl")["sum"]}
    samples = [{"task_id": "sum", "solution": "print(1)"}, {"task_id": "sum", "solution": "x", **sample}]
    with pytest.raises(InvalidInput) as info:
        evaluate_stdio(samples, problems, client=_PythonAndCppOnly(), k=[1], language=default)
    assert message in str(info.value)


def test_an_unknown_language_is_blamed_on_whoever_named_it() -> None:
    problem = {**read_problem_rows(DATA / "formats" / "sandcheck_stdio.jsonl")["sum"], "language": "cobol"}
    with pytest.raises(InvalidInput, match="^sample 0's problem 'sum': unknown language 'cobol'"):
        evaluate_stdio([{"task_id": "sum", "solution": "print(1)"}], {"sum": problem}, client=_PythonAndCppOnly(),
                       k=[1])
    with pytest.raises(InvalidInput, match="^--language: unknown language 'cobol'"):
        evaluate_stdio([{"task_id": "sum", "solution": "print(1)"}], {"sum": {**problem, "language": None}},
                       client=_PythonAndCppOnly(), k=[1], language="cobol")


def test_cli_judges_cpp_by_language_flag_and_records_language_and_cpu_per_test(tmp_path: Path) -> None:
    problems = DATA / "formats" / "code_contests_hf.jsonl"
    samples = tmp_path / "samples.jsonl"
    rows = [{"task_id": "9999_A. Sum", "solution": solution("cpp", v)} for v in ("right", "wrong")]
    rows.append({"task_id": "9999_A. Sum", "solution": solution("python", "right"), "language": "python"})
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    p = subprocess.run([SANDCHECK, "eval", str(samples), "--problems", str(problems), "--language", "cpp",
                        "--k", "1", "--no-progress"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    results = [json.loads(line) for line in Path(f"{samples}_results.jsonl").read_text().splitlines()]
    assert [(r["language"], r["passed"]) for r in results] == [("cpp", True), ("cpp", False), ("python", True)]
    assert [t["verdict"] for t in results[1]["tests"]] == [A, WA, A, A]
    meta = json.loads(Path(f"{samples}_results.meta.json").read_text())
    assert meta["language"] == "cpp" and meta["languages"] == {"cpp": 2, "python": 1}
    assert meta["runtime"].startswith("/usr/bin/g++ ")
    assert meta["tests"]["run"] == 12 and meta["tests"]["cpu_ms_per_test"] > 0 and meta["tests"]["compiles"] >= 2
    assert "tests: 12 run, CPU " in p.stderr


def test_cli_unknown_language_is_one_line_and_exit_2(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": "sum", "solution": "print(1)"}) + "\n")
    p = subprocess.run([SANDCHECK, "eval", str(samples), "--problems", str(DATA / "formats" / "sandcheck_stdio.jsonl"),
                        "--language", "fortran77", "--no-progress"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "unknown language 'fortran77'" in p.stderr


def test_cpp_judged_as_python_by_default_is_a_warning_not_a_silent_zero(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": "sum", "solution": solution("cpp", "right")}) + "\n")
    p = subprocess.run([SANDCHECK, "eval", str(samples), "--problems", str(DATA / "formats" / "sandcheck_stdio.jsonl"),
                        "--k", "1", "--no-progress"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert ("warning: 1 sample judged as python (no language given) but it looks like cpp; give each a 'language' "
            "field or pass --language") in p.stderr
    row = json.loads(Path(f"{samples}_results.jsonl").read_text())
    assert row["language"] == "python" and not row["passed"] and "SyntaxError" in row["tests"][0]["stderr"]
    meta = json.loads(Path(f"{samples}_results.meta.json").read_text())
    assert any("looks like cpp" in c for c in meta["caveats"])


def test_the_sdk_knows_the_servers_language_names_and_aliases() -> None:
    from sandbox_server.jail.toolchains import TOOLCHAINS
    from sandbox_server.service import PYTHON_NAMES
    from sandcheck.judges.languages import _NAMES, canonical

    served = {tc.name: set(tc.aliases) for tc in TOOLCHAINS} | {"python": set(PYTHON_NAMES) - {"python"}}
    assert {name: set(aliases) for name, aliases in _NAMES.items()} == served
    assert (canonical("CPP"), canonical(" PYTHON3 "), canonical("nodejs"), canonical("kotlin")) == ("cpp", "python",
                                                                                                   "js", None)
