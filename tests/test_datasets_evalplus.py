"""EvalPlus semantics for humaneval+ and mbpp+: outputs compared with the canonical solution's, outside the jail."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandcheck import Client
from sandcheck.datasets import load_dataset
from sandcheck.judges.differential import evaluate_differential
from sandcheck.judges.differential.harness import parse_records
from sandcheck.judges.differential.inputs import task_inputs
from sandcheck.judges.differential.oracle import Comparison
from sandcheck.judges.codec import encode

SANDCHECK = str(Path(sys.executable).parent / "sandcheck")


def test_outputs_agree_as_evalplus_compares_them() -> None:
    c = Comparison("humaneval+", "f", 0.0)
    assert c.agrees([], 3, 3) and c.agrees([], (1, "a"), (1, "a")) and c.agrees([], True, 1)  # Python ==
    assert not c.agrees([], [1], (1,)) and not c.agrees([], 3, 4)
    assert c.atol == 0 and c.agrees([], 0.1 + 0.2, 0.3) and c.atol == 1e-6  # a float sets atol for the rest
    assert c.agrees([], [1.0, 2.0000001], [1.0, 2.0]) and not c.agrees([], [1.0, 2.1], [1.0, 2.0])
    assert not c.agrees([], (1.0, 2.0), [1.0, 2.0])                 # same type first
    assert not c.agrees([], float("nan"), float("nan"))             # NaN is never close
    assert c.agrees([], float("inf"), float("inf")) and not c.agrees([], 1e308, float("inf"))
    assert not c.agrees([], ["a", 1.0], ["b", 1.0])
    exact = Comparison("humaneval+", "f", 0.0)
    assert not exact.agrees([], 3, 4) and not exact.agrees([], "0.3", "0.30")


def test_special_oracles() -> None:
    root = Comparison("humaneval+", "find_zero", 1e-4)
    assert root.agrees([[-6, 11, -6, 1]], 1.00001, 3.0)             # any root of the polynomial
    assert not root.agrees([[-6, 11, -6, 1]], 1.5, 1.0) and not root.agrees([[1, 1]], None, -1.0)
    # HumanEval+/32 plus input 119: a root only when the terms are added left to right (Python <= 3.11's sum)
    assert root.agrees([[9450000, 9, -7, 3, 2, 6, 1, -4, -10, 6, 17, -1]], 17.3124550475086, 17.3124550475086)
    assert Comparison("mbpp+", "similar_elements", 0).agrees([], [5, 4], (4, 5))
    assert not Comparison("mbpp+", "similar_elements", 0).agrees([], [[1]], [[1]])  # unhashable: fails, no crash
    not_none = Comparison("mbpp+", "text_match_three", 0)
    assert not_none.agrees([], object(), True) and not not_none.agrees([], None, True)
    assert Comparison("mbpp+", "sum_div", 0).agrees([], 0, 7)


def test_mbpp_plus_inputs_get_their_python_types() -> None:
    mbpp = load_dataset("mbpp+").problems
    assert task_inputs("mbpp+", "Mbpp/2", mbpp["Mbpp/2"]["base_input"])[0] == [(3, 4, 5, 6), (5, 7, 4, 10)]
    args = task_inputs("mbpp+", "Mbpp/124", mbpp["Mbpp/124"]["base_input"])[0]
    assert type(args[0]) is float and type(args[1]) is complex
    assert task_inputs("mbpp+", "Mbpp/793", mbpp["Mbpp/793"]["plus_input"]) == []  # `{}` in the file: no inputs
    he = load_dataset("humaneval+").problems["HumanEval/0"]
    assert task_inputs("humaneval+", "HumanEval/0", he["base_input"]) == he["base_input"]


def test_records_first_one_counts_and_garbage_is_ignored() -> None:
    def b64(value: object) -> bytes:
        return base64.b64encode(encode(value))

    out = (b"candidate noise N 0 value xx\nN 0 value " + b64(1) + b" 0.001\n"
           b"N 0 value " + b64(2) + b" 0.001\nN 1 value !!! 0.1\nN 2 error VHlwZUVycm9y 0.0\nN 3 value AA== 0.0\n"
           b"N 4 value " + b64([("N:complex", 1.0, 2.0), ("M:complex", 1.0, 2.0)]) + b" 0.0\n")
    records = parse_records(out, "N")
    assert records[0].value == 1 and records[2].detail == "TypeError" and records[3].kind == "error"
    assert records[1].kind == "error"  # undecodable: an error, never a value
    assert records[4].value == [1 + 2j, ("M:complex", 1.0, 2.0)]  # only this run's mark makes a complex number


HE_TASKS = ("HumanEval/0", "HumanEval/15", "HumanEval/32")


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SANDCHECK_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_base_and_plus_verdicts(server, cache: Path) -> None:
    he = load_dataset("humaneval+").problems
    problems = {t: he[t] for t in HE_TASKS}
    canonical = he["HumanEval/0"]["canonical_solution"]
    samples = [
        {"task_id": "HumanEval/0", "completion": canonical},
        # Right on the short base inputs only: HumanEval+'s longer inputs catch it.
        {"task_id": "HumanEval/0", "completion": "    if len(numbers) > 6:\n        return False\n" + canonical},
        {"task_id": "HumanEval/0", "completion": "    print('x' * 10**6)\n" + canonical},   # prints are swallowed
        {"task_id": "HumanEval/0", "completion": "    import sys; sys.exit(0)\n"},
        {"task_id": "HumanEval/0", "completion": "    while len(numbers) > 6: pass\n" + canonical},
        {"task_id": "HumanEval/15", "solution": "def string_sequence(n):\n    return ' '.join(map(str, range(n + 1)))\n"},
        {"task_id": "HumanEval/15", "solution": "def string_sequence(n):\n    return ' '.join(map(str, range(n)))\n"},
        {"task_id": "HumanEval/32", "completion": he["HumanEval/32"]["canonical_solution"]},
        {"task_id": "HumanEval/32", "completion": "    return 0.0\n"},
    ]
    with Client(server.target, timeout=600) as client:
        report = evaluate_differential(samples, problems, client=client, dataset="humaneval+", k=[1])
        path = next(cache.rglob("*.json.gz"))
        first_written = path.stat().st_mtime_ns
        again = evaluate_differential(samples[:1], problems, client=client, dataset="humaneval+", k=[1])
    assert path.stat().st_mtime_ns == first_written and again.rows[0]["passed"]  # read from the cache
    rows = report.rows
    assert [(r["base_status"], r["plus_status"]) for r in rows] == [
        ("pass", "pass"), ("pass", "fail"), ("pass", "pass"), ("fail", "fail"), ("pass", "timeout"),
        ("pass", "pass"), ("fail", "fail"), ("pass", "pass"), ("fail", "fail")]
    assert [r["passed"] for r in rows] == [r["plus_status"] == "pass" for r in rows]
    assert rows[1]["result"].startswith("failed: plus input ") and rows[1]["result"].endswith(": wrong output")
    assert "over its time limit" in rows[4]["result"]
    assert report.pass_at_k == {"base": {"pass@1": pytest.approx((4 / 5 + 1 / 2 + 1 / 2) / 3)},
                                "plus": {"pass@1": pytest.approx((2 / 5 + 1 / 2 + 1 / 2) / 3)}}


def test_numpy_results_as_evalplus_compares_them(server, cache: Path) -> None:
    # EvalPlus compares the objects: np.int64(3) == 3 is an exact match (it failed here as
    # "not plain data"), and a numpy float that is close but not equal fails its
    # type(out) == type(exp) check (it passed here, converted to a float first).
    he = load_dataset("humaneval+").problems
    problems = {t: he[t] for t in ("HumanEval/4", "HumanEval/53")}
    samples = [
        {"task_id": "HumanEval/53",
         "completion": "    import numpy as np\n    return np.int64(x + y) if abs(x + y) < 2**62 else x + y\n"},
        {"task_id": "HumanEval/53",
         "completion": "    import numpy as np\n    return np.int64(x - y) if abs(x - y) < 2**62 else x - y\n"},
        {"task_id": "HumanEval/4", "completion": he["HumanEval/4"]["canonical_solution"]},
        {"task_id": "HumanEval/4", "completion": "    import numpy as np\n    a = np.array(numbers)\n"
                                                 "    return np.mean(np.abs(a - np.mean(a)))\n"},
        {"task_id": "HumanEval/4", "completion": "    import numpy as np\n    a = np.array(numbers)\n"
                                                 "    return float(np.mean(np.abs(a - np.mean(a))))\n"},
    ]
    with Client(server.target, timeout=600) as client:
        rows = evaluate_differential(samples, problems, client=client, dataset="humaneval+", k=[1]).rows
    assert [r["plus_status"] for r in rows] == ["pass", "fail", "pass", "fail", "pass"], [r["result"] for r in rows]
    assert rows[0]["base_status"] == "pass" and rows[1]["base_status"] == "fail"


def test_mbpp_set_tasks_take_any_iterable_as_evalplus_does(server, cache: Path) -> None:
    # EvalPlus compares set(out) == set(exp) for these tasks: a generator passed there and
    # failed here (not plain data).
    mbpp = load_dataset("mbpp+").problems
    solutions = ["    return (x for x in set(a) & set(b))\n", "    return (x for x in set(a) | set(b))\n",
                 "    import itertools\n    return itertools.count()\n"]  # read within the input's time limit
    samples = [{"task_id": "Mbpp/2", "solution": "def similar_elements(a, b):\n" + s} for s in solutions]
    with Client(server.target, timeout=600) as client:
        rows = evaluate_differential(samples, {"Mbpp/2": mbpp["Mbpp/2"]}, client=client, dataset="mbpp+", k=[1]).rows
    assert [(r["base_status"], r["plus_status"]) for r in rows[:2]] == [("pass", "pass"), ("fail", "fail")]
    assert rows[2]["base_status"] != "pass" and not rows[2]["passed"]  # out of time or memory, never a pass


def test_cli_dataset_mbpp_plus_prints_base_and_plus(tmp_path: Path, cache: Path) -> None:
    mbpp = load_dataset("mbpp+").problems
    samples = tmp_path / "samples.jsonl"
    rows = [
        {"task_id": "Mbpp/2", "solution": "def similar_elements(a, b):\n    return sorted(set(a) & set(b))\n"},
        {"task_id": "Mbpp/2", "completion": mbpp["Mbpp/2"]["canonical_solution"]},
        {"task_id": "Mbpp/3", "solution": "def is_not_prime(n):\n    return n % 2 == 0\n"},
    ]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {**os.environ, "SANDCHECK_CACHE_DIR": str(cache)}
    p = subprocess.run([SANDCHECK, "eval", str(samples), "--dataset", "mbpp+", "--k", "1", "--no-progress"],
                       capture_output=True, text=True, timeout=600, env=env)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.splitlines()[-1]) == {"base": {"pass@1": 0.5}, "plus": {"pass@1": 0.5}}
    assert "warning: the samples cover 2 of the 378 problems" in p.stderr
    out = [json.loads(line) for line in Path(f"{samples}_results.jsonl").read_text().splitlines()]
    assert [(r["base_passed"], r["passed"]) for r in out] == [(True, True), (True, True), (False, False)]


REFERENCE = Path(__file__).parent / "data" / "humanevalplus_codegen16b_reference.jsonl.gz"
KNOWN = Path(__file__).parent / "data" / "humanevalplus_known_disagreements.json"


@pytest.mark.slow
def test_agreement_with_evalplus_on_codegen_samples(server, cache: Path) -> None:
    """sandcheck's base and plus verdicts against EvalPlus's own (make_evalplus_reference.py)."""
    with gzip.open(REFERENCE, "rt") as f:
        reference = [json.loads(line) for line in f]
    with gzip.open(Path(__file__).parent / "data" / "humaneval-codegen16b" / "samples.jsonl.gz", "rt") as f:
        every = [json.loads(line) for line in f]
    samples = [every[r["index"]] for r in reference]
    problems = load_dataset("humaneval+").problems
    with Client(server.target) as client:  # one long stream: no client deadline
        report = evaluate_differential(samples, problems, client=client, dataset="humaneval+", k=[1])
    known = json.loads(KNOWN.read_text())["samples"]
    differ = {"base": [], "plus": []}
    for ref, row in zip(reference, report.rows):
        if (ref["base_status"] == "pass") != row["base_passed"]:
            differ["base"].append(str(ref["index"]))
        if (ref["base_status"] == ref["plus_status"] == "pass") != row["passed"]:
            differ["plus"].append(str(ref["index"]))
    for split in ("base", "plus"):
        assert len(differ[split]) <= 0.01 * len(reference), differ
        assert set(differ[split]) <= set(known), differ
