"""sandcheck.code_eval: Hugging Face's code_eval metric, call and return, judged in the jail."""

from __future__ import annotations

import pytest

import sandcheck
from sandcheck import Client, InvalidInput


def test_mirrors_hf_documented_example() -> None:
    # The metric's documented example, with `evaluate.load("code_eval").compute`
    # swapped for `sandcheck.code_eval` (and an embedded server instead of the host).
    test_cases = ["assert add(2,3)==5"]
    candidates = [["def add(a,b): return a*b", "def add(a, b): return a+b"]]
    pass_at_k, results = sandcheck.code_eval(references=test_cases, predictions=candidates, k=[1, 2])
    assert pass_at_k == {"pass@1": 0.5, "pass@2": 1.0}
    assert list(results) == [0]
    assert results[0] == [
        (0, {"task_id": 0, "passed": False, "result": "failed: ", "completion_id": 0}),
        (1, {"task_id": 0, "passed": True, "result": "passed", "completion_id": 1}),
    ]


def test_several_problems_timeouts_and_a_dropped_k(server) -> None:
    predictions = [
        ["def f(): return 1", "def f():\n    while True: pass", "import os\ndef f(): os._exit(0)"],
        ["x = 1"],
    ]
    references = ["assert f() == 1", "assert x == 1"]
    with Client(server.target) as client:
        pass_at_k, results = sandcheck.code_eval(predictions, references, k=[1, 2], timeout=1.0, client=client)
    assert pass_at_k == {"pass@1": pytest.approx((1 / 3 + 1) / 2)}  # pass@2 needs 2 candidates everywhere
    assert [r["result"] for _, r in results[0]] == ["passed", "timed out",
                                                    "failed: exited with status 0 before check() returned"]
    assert results[1] == [(0, {"task_id": 1, "passed": True, "result": "passed", "completion_id": 0})]


@pytest.mark.parametrize("predictions, references, message", [
    (["def f(): pass"], ["pass"], "predictions[0] must be a list of strings"),
    ([["def f(): pass"]], ["pass", "pass"], "1 prediction lists but 2 references"),
    ([["def f(): pass"]], [3], "references[0] must be a string"),
    ("def f(): pass", ["pass"], "predictions must be a list of candidate lists"),
])
def test_malformed_input_is_invalid_input(predictions, references, message) -> None:
    with pytest.raises(InvalidInput) as info:
        sandcheck.code_eval(predictions, references, client=object())
    assert message in str(info.value)
