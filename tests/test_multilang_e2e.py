"""HumanEval-X and MultiPL-E through the real server: a few problems per language.

Canonical solutions (HumanEval-X) and answers measured to pass (MultiPL-E's
gpt_solution) must pass; a wrong body must fail, a body that does not
compile must fail as COMPILE_ERROR with the compiler's message. The full
sets run under `slow`, and their figures are in the README.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sandcheck_api.status import Status

from sandcheck import Client
from sandcheck.datasets import load_dataset, multipl_e
from sandcheck.judges.exit_status import evaluate_languages

SANDCHECK = str(Path(sys.executable).parent / "sandcheck")

# (dataset, a completion that compiles and is wrong, one that does not compile)
WRONG_AND_BROKEN = {
    "humaneval-x-cpp": ("    return false;\n}\n", "    return nope;\n}\n"),
    "humaneval-x-go": ("    return false\n}\n", "    return nope\n}\n"),
    "humaneval-x-java": ("        return false;\n    }\n}\n", "        return nope;\n    }\n}\n"),
    "humaneval-x-js": ("  return false;\n}\n", None),
    "humaneval-x-rust": ("    return false;\n}\n", "    return nope;\n}\n"),
    "humaneval-x-python": ("    return False\n", None),
    "multipl-e-cpp": ("    return false;\n", "    return nope;\n"),
    "multipl-e-go": ("    return false\n}\n", "    return nope\n}\n"),
    "multipl-e-java": ("        return false;\n", "        return nope;\n"),
    "multipl-e-js": ("  return false;\n}\n", None),
    "multipl-e-rs": ("    false\n", "    nope\n"),
    "multipl-e-sh": ("    echo false\n", None),
    "multipl-e-ts": ("  return false;\n}\n", "  return nope;\n}\n"),
}
# Task 0 is has_close_elements in every set: canonical (HumanEval-X) or a
# gpt_solution measured to pass (MultiPL-E), then the wrong and broken bodies.
TASK_0 = {"humaneval-x-cpp": "CPP/0", "humaneval-x-go": "Go/0", "humaneval-x-java": "Java/0",
          "humaneval-x-js": "JavaScript/0", "humaneval-x-rust": "Rust/0", "humaneval-x-python": "Python/0"}


def _served(client: Client) -> set[str]:
    return {rt["language"] for rt in client.info().get("runtimes", [])}


@pytest.mark.parametrize("name", list(WRONG_AND_BROKEN))
def test_right_wrong_and_broken_programs_per_language(client: Client, name: str) -> None:
    ds = load_dataset(name)
    task = TASK_0.get(name, "HumanEval_0_has_close_elements")
    problem = ds.problems[task]
    language = ds.build(problem, "", False).language
    if language not in _served(client):
        pytest.skip(f"the server does not run {language} (its toolchain is not installed)")
    right = ({"task_id": task, "completion": problem["canonical_solution"]} if "canonical_solution" in problem
             else {"task_id": task, "solution": multipl_e.solution_code(problem["gpt_solution"])})
    wrong, broken = WRONG_AND_BROKEN[name]
    samples = [right, {"task_id": task, "completion": wrong}]
    if broken:
        samples.append({"task_id": task, "completion": broken})
    report = evaluate_languages(samples, ds.problems, build=ds.build, client=client, k=[1], timeout=10)
    rows = report.rows
    assert rows[0]["passed"] and rows[0]["result"] == "passed", rows[0]["result"]
    # A failed assert: an exit status, an abort (C++), or printed output (HumanEval-X JavaScript).
    assert not rows[1]["passed"] and rows[1]["status"] in (Status.NONZERO_EXIT, Status.SIGNALED, Status.OK), rows[1]
    assert rows[1]["result"].startswith("failed: "), rows[1]["result"]
    if broken:
        assert rows[2]["status"] == Status.COMPILE_ERROR and not rows[2]["passed"]
        assert rows[2]["result"].startswith("failed: compile error: ") and "nope" in rows[2]["result"], rows[2]
    assert all(r["language"] == language for r in rows)


def test_an_early_exit_does_not_pass_python_but_passes_exit_status_languages(client: Client) -> None:
    """The caveat README and SECURITY.md state: exit 0 is the verdict of CodeGeeX and MultiPL-E."""
    py = load_dataset("humaneval-x-python")
    cpp = load_dataset("humaneval-x-cpp")
    if "cpp" not in _served(client):
        pytest.skip("the server does not run cpp")
    early_py = evaluate_languages([{"task_id": "Python/0", "completion": "    import os; os._exit(0)\n"}],
                                  py.problems, build=py.build, client=client, k=[1])
    assert not early_py.rows[0]["passed"]
    early_cpp = evaluate_languages([{"task_id": "CPP/0", "completion": "    exit(0);\n}\n"}],
                                   cpp.problems, build=cpp.build, client=client, k=[1], timeout=10)
    assert early_cpp.rows[0]["passed"]  # as in CodeGeeX's harness: documented, not hidden
    if "go_test" in _served(client):  # go test runs a test binary with -test.paniconexit0: it fails there
        go = load_dataset("multipl-e-go")
        early_go = evaluate_languages([{"task_id": "HumanEval_89_encrypt", "solution":
                                        'package encrypt_test\n\nimport (\n    "os"\n)\n\n'
                                        'func encrypt(s string) string {\n    os.Exit(0)\n    return ""\n}\n'}],
                                      go.problems, build=go.build, client=client, k=[1], timeout=10)
        assert not early_go.rows[0]["passed"] and "os.Exit(0)" in early_go.rows[0]["result"], early_go.rows[0]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SANDCHECK, *args], capture_output=True, text=True, timeout=600)


def test_run_infers_the_language_and_prints_the_compile_result(server, client: Client, tmp_path: Path) -> None:
    if "cpp" not in _served(client):
        pytest.skip("the server does not run cpp")
    ok = tmp_path / "hello.cpp"
    ok.write_text('#include <cstdio>\nint main() { std::puts("hi"); return 0; }\n')
    p = _cli("run", str(ok), "--server", server.target, "--timeout", "5")
    out = json.loads(p.stdout)
    assert p.returncode == 0 and out["status"] == "OK" and out["stdout"] == "hi\n", p.stderr
    assert out["compile"]["status"] == "OK" and out["runtime"].startswith("/usr/bin/g++")
    bad = tmp_path / "bad.cc"
    bad.write_text("int main() { return nope; }\n")
    p = _cli("run", str(bad), "--server", server.target)
    out = json.loads(p.stdout)
    assert p.returncode == 1 and out["status"] == "COMPILE_ERROR" and "nope" in out["compile"]["stderr"]
    script = tmp_path / "s.txt"
    script.write_text("echo $((6 * 7))\n")
    p = _cli("run", str(script), "--language", "bash", "--server", server.target)
    assert p.returncode == 0 and json.loads(p.stdout)["stdout"] == "42\n", p.stdout + p.stderr


def test_eval_gpt_solutions_records_the_language_and_runtimes(server, client: Client, tmp_path: Path) -> None:
    if "bash" not in _served(client):
        pytest.skip("the server does not run bash")
    samples = tmp_path / "sh.jsonl"
    ds = load_dataset("multipl-e-sh")
    rows = multipl_e.gpt_solutions(ds.problems)[:3]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "r.jsonl"
    p = _cli("eval", str(samples), "--dataset", "multipl-e-sh", "--server", server.target, "-o", str(out),
             "--k", "1", "--no-progress")
    assert p.returncode == 0, p.stderr
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["task_id"] for r in results] == [r["task_id"] for r in rows]
    assert all(r["language"] == "bash" for r in results)
    meta = json.loads((tmp_path / "r.meta.json").read_text())
    assert meta["language"] == "bash" and meta["dataset"] == "multipl-e-sh" and meta["judge"] == "exit"
    assert meta["runtime"].startswith("/usr/bin/bash") or "bash" in meta["runtime"]
    assert {"python", "bash"} <= {rt["language"] for rt in meta["server"]["runtimes"]}
    assert json.loads(p.stdout.strip().splitlines()[-1]).keys() == {"pass@1"}


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in WRONG_AND_BROKEN if n.startswith("humaneval-x-")])
def test_humaneval_x_canonical_solutions_full(server, client: Client, name: str) -> None:
    """The README's table: canonical solutions per language (failures listed there with why)."""
    ds = load_dataset(name)
    if ds.build(next(iter(ds.problems.values())), "", False).language not in _served(client):
        pytest.skip("toolchain not installed")
    samples = [{"task_id": t, "completion": p["canonical_solution"]} for t, p in ds.problems.items()]
    report = evaluate_languages(samples, ds.problems, build=ds.build, client=client, k=[1], timeout=10)
    # A compile that hit its time limit says the machine was busy, not that the solution is wrong.
    failed = sorted(r["task_id"] for r in report.rows
                    if not r["passed"] and r["result"] != "failed: compile error: the compiler ended with TIMEOUT")
    assert set(failed) <= KNOWN_CANONICAL_FAILURES.get(name, set()), failed


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in WRONG_AND_BROKEN if n.startswith("multipl-e-")])
def test_multipl_e_gpt_solutions_full(server, client: Client, name: str) -> None:
    """The README's MultiPL-E figures: no answer measured to pass may fail now."""
    ds = load_dataset(name)
    if ds.build(next(iter(ds.problems.values())), "", False).language not in _served(client):
        pytest.skip("toolchain not installed")
    report = evaluate_languages(multipl_e.gpt_solutions(ds.problems), ds.problems, build=ds.build, client=client,
                                k=[1], timeout=10)
    failed = {r["task_id"] for r in report.rows if not r["passed"]}
    assert len(ds.problems) - len(failed) >= GPT_SOLUTIONS_PASSED[name] - 2, sorted(failed)


# Measured on this machine (README lists each failure with why).
KNOWN_CANONICAL_FAILURES: dict[str, set[str]] = {
    # Go/95 passes or fails by the order Go's randomized map iteration gives (README's table).
    "humaneval-x-go": {"Go/95"},
    "humaneval-x-js": {"JavaScript/112", "JavaScript/155", "JavaScript/162"},
    "humaneval-x-rust": {"Rust/50"},
}
GPT_SOLUTIONS_PASSED: dict[str, int] = {
    "multipl-e-cpp": 138, "multipl-e-go": 123, "multipl-e-java": 131, "multipl-e-js": 138, "multipl-e-rs": 139,
    "multipl-e-sh": 81, "multipl-e-ts": 141,
}
