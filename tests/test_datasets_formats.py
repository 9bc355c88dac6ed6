"""Rows as LiveCodeBench, APPS/TACO and CodeContests publish them, loaded into sandcheck's problem shapes."""

from __future__ import annotations

import base64
import gzip
import json
import os
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from sandcheck import InvalidInput
from sandcheck.datasets import load_rows, read_problem_rows
from sandcheck.datasets.livecodebench import pickled_string, unpack_private

FORMATS = Path(__file__).parent / "data" / "formats"
SANDCHECK = str(Path(sys.executable).parent / "sandcheck")
SUM_TESTS = [{"input": "3\n1 2 3\n", "output": "6\n"}, {"input": "2\n5 -5\n", "output": "0\n"},
             {"input": "4\n1 1 1 1\n", "output": "4\n"}, {"input": "5\n1 2 3 4 5\n", "output": "15\n"}]
ADD_CALLS = [{"args": [2, 3], "expected": 5}, {"args": [-1, 1], "expected": 0}, {"args": [10, 20], "expected": 30}]


def rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (FORMATS / name).read_text().splitlines()]


def test_livecodebench_rows_public_then_private_pickled_tests() -> None:
    problems = read_problem_rows(FORMATS / "livecodebench.jsonl")
    assert problems["abc999_a"] == {"task_id": "abc999_a", "tests": SUM_TESTS, "compare": "livecodebench",
                                    "harness": "livecodebench", "source": "livecodebench"}
    call = problems["9001"]
    assert call["fn_name"] == "addTwo" and call["harness"] == "livecodebench" and call["call_tests"] == ADD_CALLS
    assert call["starter_code"].startswith("class Solution:")


def test_livecodebench_functional_input_is_one_json_value_per_line() -> None:
    row = {**rows("livecodebench.jsonl")[1], "private_test_cases": "[]", "public_test_cases": json.dumps(
        [{"input": '[1, 2]\n"ab"\n{"k": null}', "output": "[true, 2.5]", "testtype": "functional"}])}
    assert load_rows([row])["9001"]["call_tests"] == [{"args": [[1, 2], "ab", {"k": None}], "expected": [True, 2.5]}]


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/sandcheck-unpickled",))


@pytest.mark.parametrize("payload, message", [
    (pickle.dumps(_Boom()), "the pickle holds"),                        # code on load: never run
    (pickle.dumps(["a"]), "the pickle holds EMPTY_LIST"),
    (pickle.dumps(b"[]"), "the pickle holds"),                           # bytes, not str
    (pickle.dumps(("[]", "[]")), "the pickle holds"),
    (pickle.dumps("[]", protocol=2) + b"junk", "not exactly one string"),
    (b"\x80\x04not a pickle", "not a valid pickle"),
])
def test_private_tests_pickle_is_read_as_opcodes_and_anything_but_one_str_is_refused(payload, message) -> None:
    Path("/tmp/sandcheck-unpickled").unlink(missing_ok=True)
    packed = base64.b64encode(zlib.compress(payload)).decode()
    with pytest.raises(InvalidInput) as info:
        unpack_private(packed, "problem 1: private_test_cases")
    assert message in str(info.value) and "problem 1: private_test_cases" in str(info.value)
    assert not Path("/tmp/sandcheck-unpickled").exists()


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_a_pickled_str_reads_back_in_every_protocol(protocol: int) -> None:
    text = json.dumps([{"input": "é\n", "output": "\\u00e9", "testtype": "stdin"}] * 50)
    assert pickled_string(pickle.dumps(text, protocol=protocol)) == text


def test_private_tests_neither_json_nor_base64_is_one_line() -> None:
    row = {**rows("livecodebench.jsonl")[0], "private_test_cases": "{not json, not base64!"}
    with pytest.raises(InvalidInput, match=r"problem 1 \(abc999_a\): private_test_cases is neither JSON nor base"):
        load_rows([row])


def test_apps_and_taco_rows() -> None:
    apps = read_problem_rows(FORMATS / "apps.jsonl")
    assert apps["4001"] == {"task_id": "4001", "source": "apps", "tests": SUM_TESTS, "compare": "apps",
                            "harness": "apps"}
    assert apps["4002"]["fn_name"] == "add_two" and apps["4002"]["call_tests"] == ADD_CALLS
    assert apps["4002"]["harness"] == "apps" and apps["4002"]["starter_code"] == "def add_two(a, b):\n\t"
    taco = read_problem_rows(FORMATS / "taco.jsonl")  # no ids: the row's index is the task_id
    assert taco["0"]["tests"] == SUM_TESTS and (taco["0"]["time_limit_s"], taco["0"]["memory_mb"]) == (1.0, 256)
    assert (taco["0"]["compare"], taco["0"]["harness"]) == ("taco", "taco")
    assert taco["1"]["call_tests"] == ADD_CALLS and "time_limit_s" not in taco["1"]
    lines = {**rows("apps.jsonl")[0], "input_output": json.dumps({"inputs": [["1", "2"]], "outputs": [["3", "4"]]})}
    assert load_rows([lines])["4001"]["tests"] == [{"input": "1\n2", "output": "3\n4"}]


def test_code_contests_rows_hugging_face_and_sandbox_fusion() -> None:
    hf = read_problem_rows(FORMATS / "code_contests_hf.jsonl")["9999_A. Sum"]
    assert hf["tests"] == SUM_TESTS  # public, private, generated, in that order
    assert (hf["time_limit_s"], hf["memory_mb"], hf["compare"]) == (1.0, 245, "code_contests")
    row = {**rows("code_contests_hf.jsonl")[0], "time_limit": {"seconds": 2, "nanos": 500000000},
           "memory_limit_bytes": 0, "generated_tests": None}
    loaded = load_rows([row])["9999_A. Sum"]
    assert loaded["time_limit_s"] == 2.5 and "memory_mb" not in loaded and len(loaded["tests"]) == 3
    sf = read_problem_rows(FORMATS / "code_contests_sandbox_fusion.jsonl")["0"]
    assert sf["tests"] == SUM_TESTS and sf["compare"] == "sandbox_fusion"
    assert json.loads(sf["labels"])["name"] == "9999_A. Sum"


@pytest.mark.parametrize("row, message", [
    ({"question_id": "q", "public_test_cases": "[]", "private_test_cases": "[]"}, "problem 1 (q) has no tests"),
    ({"question_id": "q", "public_test_cases": json.dumps([{"input": "1", "output": "1", "testtype": "stdin"},
                                                           {"input": "1", "output": "1", "testtype": "functional"}]),
      "private_test_cases": "[]"}, "testtype must be all 'stdin' or all 'functional'"),
    ({"question_id": "q", "public_test_cases": json.dumps([{"input": "1", "output": "1", "testtype": "functional"}]),
      "private_test_cases": "[]", "metadata": "{}"}, "functional tests need metadata.func_name"),
    ({"problem_id": 1, "input_output": ""}, "input_output must be JSON"),
    ({"problem_id": 1, "input_output": json.dumps({"inputs": ["1"], "outputs": []})}, "as many inputs as outputs"),
    ({"problem_id": 1, "input_output": json.dumps({"inputs": [1], "outputs": [2], "fn_name": "f"})},
     "inputs are argument lists"),
    ({"name": "x", "public_tests": {"input": ["1"]}, "private_tests": {}, "generated_tests": {}},
     "public_tests must be {input: [...], output: [...]}"),
    ({"id": 1, "content": "", "test": "[1]"}, "test must be a JSON list"),
    ({"name": "x", "public_tests": {"input": ["1"], "output": ["1"]}, "private_tests": {}, "generated_tests": {},
      "input_file": "input.txt", "output_file": "output.txt"}, "reads or writes input.txt and output.txt"),
])
def test_malformed_rows_name_the_problem_and_what_is_wrong(row: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match="^problem 1") as info:
        load_rows([row])
    assert message in str(info.value)


def test_a_row_that_fits_no_format_names_what_it_lacks_for_each() -> None:
    with pytest.raises(InvalidInput) as info:
        load_rows([{"task_id": "a", "completion": "x"}])
    text = str(info.value)
    assert text.startswith("problem 1 fits no problem format (sandcheck stdin/stdout needs tests; ")
    for part in ("LiveCodeBench needs question_id, public_test_cases, private_test_cases",
                 "APPS/TACO needs problem_id or question, input_output",
                 "CodeContests (Hugging Face) needs name, public_tests, private_tests, generated_tests",
                 "CodeContests (SandboxFusion) needs id, content, test", "human-eval needs prompt, test, entry_point"):
        assert part in text
    with pytest.raises(InvalidInput, match=r"^problem 2 is not a LiveCodeBench row like problem 1"):
        load_rows([rows("livecodebench.jsonl")[0], rows("apps.jsonl")[0]])


def test_cli_reads_gzipped_rows_and_refuses_an_unknown_row_in_one_line(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    solution = "print(sum(map(int, open(0).read().split()[1:])))"
    samples.write_text(json.dumps({"task_id": "9999_A. Sum", "solution": solution}) + "\n")
    gz = tmp_path / "cc.jsonl.gz"
    gz.write_bytes(gzip.compress((FORMATS / "code_contests_hf.jsonl").read_bytes()))
    p = subprocess.run([SANDCHECK, "eval", str(samples), "--problems", str(gz), "--k", "1", "--no-progress"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and json.loads(p.stdout) == {"pass@1": 1.0}, p.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"title": "x"}) + "\n")
    p = subprocess.run([SANDCHECK, "eval", str(samples), "--problems", str(bad), "--no-progress"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1
    assert f"{bad}: problem 1 fits no problem format (" in p.stderr


def test_cli_a_mixed_problem_set_sends_stdio_samples_to_the_stdio_judge(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text((FORMATS / "livecodebench_samples.jsonl").read_text())
    p = subprocess.run([SANDCHECK, "eval", str(samples), "--problems", str(FORMATS / "livecodebench.jsonl"), "--k", "1",
                        "--no-progress"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    results = [json.loads(line) for line in Path(f"{samples}_results.jsonl").read_text().splitlines()]
    assert [(r["language"], r["passed"]) for r in results] == [("python", True), ("cpp", True), ("java", False)]
    assert json.loads(Path(f"{samples}_results.meta.json").read_text())["judge"] == "mixed"


@pytest.mark.parametrize("problems, extra, message", [
    (FORMATS / "livecodebench.jsonl", ["--language", "cpp"],
     "--language cpp: 1 of these problems are function calls, judged in Python only"),
    (None, ["--dataset", "humaneval", "--language", "rust"], "--language rust is for stdin/stdout problems"),
])
def test_cli_language_where_it_cannot_apply_is_refused(tmp_path: Path, problems, extra, message) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"task_id": "HumanEval/0", "completion": "x"}) + "\n")
    args = ["--problems", str(problems)] if problems else []
    p = subprocess.run([SANDCHECK, "eval", str(samples), *args, *extra, "--no-progress"], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and message in p.stderr, p.stderr


def test_a_function_call_sample_in_another_language_is_refused_before_anything_runs() -> None:
    from sandcheck.datasets.problem_sets import evaluate_mixed

    def never(*args, **kwargs):
        raise AssertionError("no judge may run")

    problems = read_problem_rows(FORMATS / "livecodebench.jsonl")
    samples = [{"task_id": "abc999_a", "solution": "print(6)"},
               {"task_id": "9001", "solution": "int addTwo(int a, int b) { return a + b; }", "language": "cpp"}]
    with pytest.raises(InvalidInput, match=r"^sample 1: language 'cpp', but its problem is a function call"):
        evaluate_mixed(samples, problems, stdio=never, calls=never, client=None, k=[1])


@pytest.mark.parametrize("file, rows, passed", [
    # (open(0) would read nothing there: LiveCodeBench's `from builtins import *` binds the real open
    # before it mocks builtins.open, and its stdin is not the test's; sandcheck.judges.stdio_harness)
    ("livecodebench.jsonl", [("abc999_a", "print(sum(map(int, sys.stdin.read().split()[1:])))"),
                             ("9001", "class Solution:\n    def addTwo(self, a: int, b: int) -> int:\n        return a + b\n"),
                             ("9001", "class Solution:\n    def addTwo(self, a: int, b: int) -> int:\n        return a - b\n")],
     [True, True, False]),
    ("apps.jsonl", [("4002", "def add_two(a, b):\n    return a + b\n"), ("4002", "def add_two(a, b):\n    return [a + b]\n"),
                    ("4001", "print(sum(map(int, open(0).read().split()[1:])))")], [True, False, True]),
    ("taco.jsonl", [("1", "def add_two(a, b):\n    return a + b\n"), ("0", "print(0)")], [True, False]),
])
def test_cli_function_call_problems_of_each_format_reach_the_function_call_judge(tmp_path: Path, file: str, rows,
                                                                                 passed) -> None:
    pytest.importorskip("sandcheck.judges.function_call")  # workloads-b's judge: present once both are merged
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "solution": s}) + "\n" for t, s in rows))
    p = subprocess.run([SANDCHECK, "eval", str(samples), "--problems", str(FORMATS / file), "--k", "1",
                        "--no-progress"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    results = [json.loads(line) for line in Path(f"{samples}_results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in results] == passed
