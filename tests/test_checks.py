"""HumanEval checks in the real jail: honest verdicts, early exits never pass."""

from __future__ import annotations

import pytest

from sandcheck import Client, Limits, build_check

PROBLEM = {
    "task_id": "Test/0",
    "prompt": "def add(a, b):\n",
    "entry_point": "add",
    "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(-1, 1) == 0\n",
}


def judge(client: Client, completion: str, problem: dict = PROBLEM, limits: Limits | None = None):
    check = build_check(problem, completion)
    result = client.execute(check.program, limits=limits or Limits.for_timeout(3.0))
    return check.verdict(result) + (result.status,)


def test_correct_completion_passes(client: Client) -> None:
    assert judge(client, "    return a + b\n") == (True, "passed", "OK")


def test_wrong_completion_fails_with_human_eval_message(client: Client) -> None:
    assert judge(client, "    return a - b\n") == (False, "failed: ", "NONZERO_EXIT")
    passed, result, _ = judge(client, "    return undefined_name\n")
    assert not passed and result == "failed: name 'undefined_name' is not defined"


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
def test_early_exit_does_not_pass(client: Client, completion: str) -> None:
    passed, result, status = judge(client, completion)
    assert passed is False, (result, status)
    assert result.startswith("failed")


def test_output_flood_does_not_hide_a_pass(client: Client) -> None:
    completion = "    import sys\n    sys.stdout.write('x' * 3_000_000)\n    return a + b\n"
    passed, result, status = judge(client, completion)
    assert (passed, result) == (True, "passed")
    assert status == "OUTPUT_LIMIT"


def test_timeout_is_timed_out(client: Client) -> None:
    assert judge(client, "    while True: pass\n", limits=Limits.for_timeout(0.5)) == (False, "timed out", "TIMEOUT")


def test_runs_as_human_eval_does_not_as_main(client: Client) -> None:
    completion = "    return a + b\nassert __name__ != '__main__', __name__\n"
    assert judge(client, completion)[0] is True


def test_each_check_has_its_own_nonce() -> None:
    a, b = build_check(PROBLEM, "    return a + b\n"), build_check(PROBLEM, "    return a + b\n")
    assert a.nonce != b.nonce and a.nonce in a.program and b.nonce not in a.program
