"""Built-in datasets, both sample formats, and the caveats `eval` reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sandcheck import Client, InvalidInput, evaluate
from sandcheck.datasets import DATASETS, dataset_path, load_dataset

SANDCHECK = str(Path(sys.executable).parent / "sandcheck")

PROBLEMS = {
    "T/0": {"task_id": "T/0", "prompt": "def inc(x):\n", "entry_point": "inc",
            "canonical_solution": "    return x + 1\n", "test": "def check(candidate):\n    assert candidate(1) == 2\n"},
}


@pytest.mark.parametrize("name, count, first", [
    ("humaneval", 164, "HumanEval/0"), ("humaneval+", 164, "HumanEval/0"),
    ("mbpp+", 378, "Mbpp/2"), ("mbpp", 427, "MbppEval/2"),
])
def test_builtin_datasets_load_in_humaneval_shape(name: str, count: int, first: str) -> None:
    ds = load_dataset(name)
    assert len(ds.problems) == count and next(iter(ds.problems)) == first
    for p in ds.problems.values():
        assert all(isinstance(p[f], str) for f in ("task_id", "prompt", "test", "entry_point", "canonical_solution"))
    assert ds.differential == name.endswith("+")
    if ds.differential:
        assert all(isinstance(p["base_input"], list) for p in ds.problems.values())


def test_shipped_data_carries_its_licenses() -> None:
    for info in DATASETS.values():
        path = dataset_path(info.name)
        assert path.is_file(), path
        if info.file:
            license_file = path.parent / info.license.split(": ")[1]
            assert license_file.is_file() and license_file.stat().st_size > 500


def test_unknown_dataset_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match=r"unknown dataset 'humaneval\+\+'; choose one of humaneval, "):
        load_dataset("humaneval++")


def test_evaluate_takes_completion_and_solution_rows(server) -> None:
    samples = [
        {"task_id": "T/0", "completion": "    return x + 1\n"},
        {"task_id": "T/0", "solution": "def inc(x):\n    return x + 1\n"},
        {"task_id": "T/0", "solution": "def inc(x):\n    return x\n"},
        {"task_id": "T/0", "solution": "    return x + 1\n"},  # a solution is the whole program: no prompt
    ]
    with Client(server.target) as client:
        report = evaluate(samples, PROBLEMS, client=client, k=[1])
    assert [r["passed"] for r in report.rows] == [True, True, False, False]
    assert report.rows[1]["solution"] == samples[1]["solution"] and "completion" not in report.rows[1]


@pytest.mark.parametrize("row, message", [
    ({"task_id": "T/0"}, "sample 1 needs string fields 'task_id' and 'completion' or 'solution': "
                         "'completion' (or 'solution') missing"),
    ({"completion": "x"}, "sample 1 needs string fields 'task_id' and 'completion' or 'solution': 'task_id' missing"),
    ({"task_id": "T/0", "solution": 3}, "sample 1 needs string fields"),
    ({"task_id": "T/9", "completion": "x"}, "sample 1 has task_id 'T/9', which is not in the problem set"),
    ("not a row", "sample 1: expected an object"),
])
def test_evaluate_rejects_bad_rows_naming_row_and_field(row: object, message: str) -> None:
    class NoServer:
        def execute_batch(self, programs):  # pragma: no cover - validation comes first
            raise AssertionError("nothing may run before the rows are valid")

    with pytest.raises(InvalidInput) as info:
        evaluate([{"task_id": "T/0", "completion": "    return x + 1\n"}, row], PROBLEMS, client=NoServer())
    assert message in str(info.value)


def test_cli_dataset_warns_about_coverage_dropped_k_and_clamped_limits(tmp_path: Path) -> None:
    samples = tmp_path / "s.jsonl"
    mbpp = load_dataset("mbpp").problems
    rows = [{"task_id": "MbppEval/2", "completion": "    return tuple(set(test_tup1) & set(test_tup2))\n"},
            {"task_id": "MbppEval/2", "completion": "  return ()\n"},
            {"task_id": "MbppEval/3", "solution": mbpp["MbppEval/3"]["prompt"]
             + mbpp["MbppEval/3"]["canonical_solution"]}]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out.jsonl"
    p = subprocess.run([SANDCHECK, "eval", str(samples), "--dataset", "mbpp", "--k", "1,2", "--timeout", "100",
                        "-o", str(out), "--no-progress"], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.splitlines()[-1]) == {"pass@1": 0.75}
    assert "warning: the samples cover 2 of the 427 problems" in p.stderr
    assert "warning: pass@2 left out: some problem has only 1 sample" in p.stderr
    assert "warning: limit cpu_time_ms clamped by the server from 100000 to 60000" in p.stderr
    meta = json.loads((tmp_path / "out.meta.json").read_text())
    assert meta["dataset"] == "mbpp" and len(meta["caveats"]) == 4  # cpu and wall time both clamped
    assert meta["problems"]["path"].endswith("MbppSanitized.jsonl.gz")
    assert [json.loads(line)["passed"] for line in out.read_text().splitlines()] == [True, False, True]


def test_cli_dataset_and_problems_are_exclusive(tmp_path: Path) -> None:
    p = subprocess.run([SANDCHECK, "eval", "--canonical", "--dataset", "mbpp", "--problems", "x.jsonl"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "give --dataset or --problems, not both" in p.stderr


@pytest.mark.parametrize("judge", ["isolated", "inprocess"])
def test_solution_rows_keep_the_prompts_helpers_for_the_test(server, judge: str) -> None:
    # HumanEval/38's test calls encode_cyclic, a helper of the prompt: a solution row
    # (EvalPlus's whole program) replaces the candidate's source, not the test's helpers.
    problems = load_dataset("humaneval").problems
    p = problems["HumanEval/38"]
    samples = [{"task_id": "HumanEval/38", "solution": p["prompt"] + p["canonical_solution"]},
               {"task_id": "HumanEval/38", "solution": "def decode_cyclic(s):\n    return s\n"},
               {"task_id": "HumanEval/38", "completion": p["canonical_solution"]}]
    with Client(server.target) as client:
        report = evaluate(samples, problems, client=client, k=[1], judge=judge)
    assert [r["passed"] for r in report.rows] == [True, False, True], [r["result"] for r in report.rows]
