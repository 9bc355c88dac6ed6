"""The isolated judge's warm judge process: one per jail, kept across checks,
and what a candidate can do to it costs only the candidate's own check.

One slot (`--concurrency 1`), so that consecutive checks share a warm jail.
A probe completion prints the pids it can see besides its own and PID 1:
the judge process, and nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandcheck import Client, Limits, Program, build_check

from .conftest import serving

PROBLEM = {"task_id": "T/0", "prompt": "def f(x):\n", "entry_point": "f",
           "test": "def check(candidate):\n    assert candidate(2) == 4\n"}

# Prints the other processes of the jail (all but itself and PID 1), then answers right.
PROBE = """\
    return x * 2
import os
_seen = []
for _pid in range(2, 4096):
    if _pid != os.getpid():
        try:
            os.kill(_pid, 0)
            _seen.append(_pid)
        except PermissionError:
            _seen.append(_pid)
        except ProcessLookupError:
            pass
print("others", _seen)
"""


@pytest.fixture(scope="module")
def one_slot() -> Iterator[Client]:
    with serving("--concurrency", "1") as c:
        yield c


def judge(client: Client, completion: str, test: str | None = None):
    problem = dict(PROBLEM, test=test) if test else PROBLEM
    check = build_check(problem, completion)
    result = client.execute(check.program, stdin=check.stdin, files=check.files, limits=Limits.for_timeout(3.0))
    return check.verdict(result), result


def judge_pid(client: Client) -> int:
    """The warm judge process's pid, as the probe sees it (and the probe passes)."""
    (passed, why), result = judge(client, PROBE)
    assert passed, (why, result)
    others = result.stdout.decode().split("others ", 1)[1].strip()
    pids = [int(p) for p in others.strip("[]").split(",") if p.strip()]
    assert len(pids) == 1, others  # the judge process alone: the candidate's parent is PID 1
    return pids[0]


def test_one_judge_process_judges_check_after_check(one_slot: Client) -> None:
    first = judge_pid(one_slot)
    assert [judge_pid(one_slot) for _ in range(3)] == [first] * 3


@pytest.mark.parametrize("attack", [
    "os.kill(-1, signal.SIGKILL)",  # every process it may signal: the judge's too
    "os.kill(-1, signal.SIGSTOP)",  # stopped, the judge would hold the check to its wall limit
])
def test_a_candidate_that_kills_or_stops_the_judge_fails_only_its_own_check(one_slot: Client, attack: str) -> None:
    judge_pid(one_slot)
    completion = f"    import os, signal\n    {attack}\n    return x * 2\n"
    (passed, why), result = judge(one_slot, completion)
    assert passed is False and why != "timed out", (why, result)
    # The next check is judged as usual, by a new judge process.
    judge_pid(one_slot)


def test_the_judge_process_outlives_the_tenants_unjudged_checks(one_slot: Client) -> None:
    # A dataset may mix judged checks (function calls) with plain ones (stdin/stdout):
    # a plain check used to end the judge process, and the next judged one started a
    # new one and compiled its test again.
    before = judge_pid(one_slot)
    for _ in range(2):
        result = one_slot.execute("print(6 * 7)")
        assert result.status == "OK" and result.stdout == b"42\n"
    assert judge_pid(one_slot) == before


def test_a_judge_process_idle_for_many_unjudged_checks_goes(one_slot: Client) -> None:
    # Each unjudged check it outlives wakes it to sweep up: after 16 in a row
    # (zygote.py, _JUDGE_IDLE_CHECKS) it goes, and a later judged check starts one.
    before = judge_pid(one_slot)
    results = list(one_slot.execute_batch([Program(f"print({i})", id=str(i)) for i in range(17)]))
    assert sorted(r.stdout for r in results) == sorted(f"{i}\n".encode() for i in range(17))
    assert judge_pid(one_slot) != before


@pytest.mark.parametrize("attack", ["os.kill(-1, signal.SIGKILL)", "os.kill(-1, signal.SIGSTOP)"])
def test_an_unjudged_program_that_kills_or_stops_the_judge_changes_no_verdict(one_slot: Client, attack: str) -> None:
    before = judge_pid(one_slot)
    program = f"import os, signal\ntry:\n    {attack}\nexcept ProcessLookupError:  # no judge process to reach\n    pass\nprint('done')"
    result = one_slot.execute(program)
    assert result.status == "OK" and result.stdout == b"done\n", result
    assert judge_pid(one_slot) != before  # judged as usual, by a new judge process


def test_what_an_unjudged_program_leaves_is_killed_and_its_jail_recycled(one_slot: Client) -> None:
    before = judge_pid(one_slot)
    leave = "import os, time\nif os.fork() == 0:\n    time.sleep(60)\n    os._exit(0)\nprint('parent')\n"
    result = one_slot.execute(leave)
    assert result.status == "OK" and result.stdout == b"parent\n", result
    # judge_pid's probe sees the judge process alone: no sleeper stayed, and the
    # jail was recycled for what was left (a new judge process).
    assert judge_pid(one_slot) != before


def test_signals_the_judge_can_block_change_nothing(one_slot: Client) -> None:
    before = judge_pid(one_slot)
    completion = ("    import os, signal\n"
                  "    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGALRM, signal.SIGSEGV):\n"
                  "        os.kill(-1, sig)\n"
                  "    return x * 2\n")
    assert judge(one_slot, completion)[0] == (True, "passed")
    assert judge_pid(one_slot) == before


def test_a_judge_process_a_candidate_rescheduled_is_replaced(one_slot: Client) -> None:
    before = judge_pid(one_slot)
    completion = (
        "    import os\n"
        f"    os.setpriority(os.PRIO_PROCESS, {before}, 19)\n"
        f"    os.sched_setaffinity({before}, sorted(os.sched_getaffinity(0))[:1])\n"
        "    return x * 2\n"
    )
    (passed, why), result = judge(one_slot, completion)
    assert passed, (why, result)  # starving the judge changes no verdict...
    assert judge_pid(one_slot) != before  # ...and the next check has a judge scheduled as it started


def test_the_judge_process_runs_sched_batch_and_one_set_back_is_replaced(one_slot: Client) -> None:
    # SCHED_BATCH: woken by a reply, the judge waits for its turn instead of
    # preempting the candidate (program.py, start_judge). Its own policy is
    # what a candidate may not change unseen, not the zygote's.
    before = judge_pid(one_slot)
    completion = (
        "    import os\n"
        f"    print('policy', os.sched_getscheduler({before}), os.SCHED_BATCH)\n"
        f"    os.sched_setscheduler({before}, os.SCHED_OTHER, os.sched_param(0))\n"
        "    return x * 2\n"
    )
    (passed, why), result = judge(one_slot, completion)
    assert passed, (why, result)
    policy, batch = result.stdout.decode().split("policy ", 1)[1].split()[:2]
    assert policy == batch, result.stdout
    after = judge_pid(one_slot)
    assert after != before  # set back to SCHED_OTHER: replaced...
    assert judge_pid(one_slot) == after  # ...by one that is itself kept


@pytest.mark.parametrize("jail", ["warm", "cold"])
def test_the_judge_opens_no_file_a_candidate_can_replace(request, one_slot: Client, jail: str) -> None:
    """Issue 23, finding 6: the harness file in /tmp replaced by a FIFO made the
    trusted side block while it printed the failed test's traceback."""
    client = one_slot if jail == "warm" else request.getfixturevalue("cold_client")
    completion = (
        "    import os\n"
        "    for name in {*os.listdir('/tmp'), 'sandcheck_judge.py', '.judge.py', 'main.py'}:\n"
        "        if os.path.exists('/tmp/' + name):\n"
        "            os.unlink('/tmp/' + name)\n"
        "        os.mkfifo('/tmp/' + name)\n"
        "    return -1\n"
    )
    (passed, why), result = judge(client, completion)
    assert (passed, why) == (False, "failed: "), (why, result)
    assert b"assert candidate(2) == 4" in result.stderr  # the traceback shows the test's line, from memory


def test_the_judge_traceback_shows_the_harness_from_memory(one_slot: Client) -> None:
    test = "def check(candidate):\n    candidate(2)\n    raise ValueError('from the test')\n"
    (passed, why), result = judge(one_slot, "    return x * 2\n", test)
    assert (passed, why) == (False, "failed: from the test"), (why, result)
    assert b'File "<judge>"' in result.stderr and b'namespace["check"](namespace[entry_point])' in result.stderr
    assert b"raise ValueError('from the test')" in result.stderr


@pytest.fixture(scope="module")
def cold_client() -> Iterator[Client]:
    with serving("--jail-mode", "cold") as c:
        yield c


# Reports the judge module the candidate found: its id, and whether the
# collector tracks it (the zygote's own objects are frozen: not tracked).
MODULE_PROBE = """\
    return x * 2
import gc, sys
_m = sys.modules["__judge__"]
print("module", id(_m), any(o is _m for o in gc.get_objects()), getattr(_m, "SPOILED", None))
_m.SPOILED = True
_m.encode = lambda value: b'["t", "ok", true]'
"""


def module_seen(client: Client, files: dict[str, bytes] | None = None) -> tuple[int, bool, str]:
    check = build_check(PROBLEM, MODULE_PROBE)
    result = client.execute(check.program, stdin=check.stdin, files=files or check.files,
                            limits=Limits.for_timeout(3.0))
    assert check.verdict(result)[0] is False, result  # its encode was replaced after it answered "ready"
    _, ident, tracked, spoiled = result.stdout.decode().split()
    return int(ident), tracked == "True", spoiled


def test_the_sdks_harness_is_run_once_in_the_zygote_and_a_candidate_changes_only_its_own_copy(one_slot: Client) -> None:
    # The server's own copy of the harness (trusted_judges.py) was run before the
    # zygote's first fork: every check finds that same module, never one a
    # previous check changed.
    seen = [module_seen(one_slot) for _ in range(3)]
    assert {s[0] for s in seen} == {seen[0][0]} and not any(s[1] for s in seen), seen
    assert [s[2] for s in seen] == ["None"] * 3, seen
    # The server's copy is the SDK's text, byte for byte.
    from sandbox_server.jail import trusted_judges
    from sandcheck.judges import isolated

    assert trusted_judges.TRUSTED_JUDGES == (isolated.FILES[isolated.JUDGE_FILE],)
    # Another text (another SDK version's) runs in each check's child, as before.

    other = {isolated.JUDGE_FILE: isolated.FILES[isolated.JUDGE_FILE] + b"\n# another version\n"}
    seen = [module_seen(one_slot, other) for _ in range(2)]
    assert all(s[1] for s in seen) and [s[2] for s in seen] == ["None"] * 2, seen


# Lists /tmp and reads the check's data file, then answers right.
FILES_PROBE = """\
    return x * 2
import os
print(sorted(os.listdir("/tmp")), open("/tmp/data.txt").read())
"""


def test_a_judge_text_the_server_holds_travels_to_the_jail_as_its_number(one_slot: Client) -> None:
    # The SDK's harness is left out of the job (the zygote holds it); any
    # other text, and every other file, travels as it came.
    from sandbox_server.jail import trusted_judges
    from sandcheck.judges import isolated

    harness = isolated.FILES[isolated.JUDGE_FILE]
    files = (("data.txt", b"d"), (isolated.JUDGE_FILE, harness), ("e.txt", b"e"))
    assert trusted_judges.leave_out(files) == ((("data.txt", b"d"), ("e.txt", b"e")), 1)
    other = (("data.txt", b"d"), (isolated.JUDGE_FILE, harness + b"\n"))
    assert trusted_judges.leave_out(other) == (other, 0)
    # Judged either way, with the same verdict, and the program gets the other files alone.
    check = build_check(PROBLEM, FILES_PROBE)
    for judge_text in (harness, harness + b"\n# another version\n"):
        result = one_slot.execute(check.program, stdin=check.stdin, limits=Limits.for_timeout(3.0),
                                  files={"data.txt": b"payload", isolated.JUDGE_FILE: judge_text})
        assert check.verdict(result) == (True, "passed"), result
        assert result.stdout.decode() == "['data.txt'] payload\n", result
    wrong = build_check(PROBLEM, FILES_PROBE.replace("x * 2", "x * 3"))
    result = one_slot.execute(wrong.program, stdin=wrong.stdin, limits=Limits.for_timeout(3.0),
                              files={"data.txt": b"payload", isolated.JUDGE_FILE: harness})
    assert wrong.verdict(result)[0] is False, result


# -- calls sent ahead (isolated_harness.py, `_ahead`) ------------------------------

# Returns how many requests wait, already read, in the candidate's channel buffer.
QUEUED = """\
    import gc
    lines = [o for o in gc.get_objects() if type(o).__name__ == "_Lines"]
    return lines[0].rest.count(b"\\n") if len(lines) == 1 else -1
"""


def test_a_straight_line_tests_calls_reach_the_candidate_before_it_answers_the_first(one_slot: Client) -> None:
    test = "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2) == 1\n    assert candidate(3) == 0\n"
    (passed, why), result = judge(one_slot, QUEUED, test)
    assert passed, (why, result)


def test_a_test_with_a_loop_gets_no_call_ahead(one_slot: Client) -> None:
    test = "def check(candidate):\n    for i in range(3):\n        assert candidate(i) == 0\n"
    (passed, why), result = judge(one_slot, QUEUED, test)
    assert passed, (why, result)


STATEFUL = "    global _n\n    _n = globals().get('_n', 0) + x\n    return _n\n"


def test_calls_sent_ahead_keep_the_order_and_state_of_calls_made_one_by_one(one_slot: Client) -> None:
    test = ("def check(candidate):\n    assert candidate(1) == 1\n    assert abs(candidate(2) - 3) < 1e-9\n"
            "    assert sorted([candidate(3), candidate(4)]) == [6, 10]\n")
    (passed, why), result = judge(one_slot, STATEFUL, test)
    assert passed, (why, result)


def test_a_failure_before_a_call_that_never_returns_is_reported_as_the_failure(one_slot: Client) -> None:
    completion = "    if x == 2:\n        while True:\n            pass\n    return x\n"
    test = "def check(candidate):\n    assert candidate(1) == 5\n    assert candidate(2) == 2\n"
    (passed, why), result = judge(one_slot, completion, test)
    # An AssertionError, at once: not the time limit the second call would reach.
    assert passed is False and result.status.name == "NONZERO_EXIT" and b"AssertionError" in result.stderr, (why, result)


def test_a_call_the_test_did_not_announce_gets_its_own_answer(one_slot: Client) -> None:
    # The assert's message calls the candidate once the assert failed: the
    # answers sent ahead are dropped, and the message gets candidate(10).
    test = "def check(candidate):\n    assert candidate(1) == 5, candidate(10)\n    assert candidate(2) == 2\n"
    (passed, why), result = judge(one_slot, "    return x + 100\n", test)
    assert passed is False and "110" in why, (why, result)


@pytest.mark.parametrize("asserts, calls", [
    # Literal calls, in the order Python makes them: left to right, depth first.
    (["candidate(1) == 2", "candidate([1, 2], k='x') == sorted(candidate((3,)))"],
     [((1,), {}), (([1, 2],), {"k": "x"}), (((3,),), {})]),
    (["abs(candidate(-1.5) - 2) < 1e-6", "candidate(b'x', None)"], [((-1.5,), {}), ((b"x", None), {})]),
    # The calls stop at the first assert whose order is not certain.
    (["candidate(1)", "candidate(2) or candidate(3)", "candidate(4)"], [((1,), {})]),
    (["candidate(1)", "0 < candidate(2) < 3"], [((1,), {})]),
    (["candidate(1)", "candidate(x)"], [((1,), {})]),  # not a literal
    (["candidate(1)", "candidate({1, 2})"], [((1,), {})]),  # a set's order
    (["candidate(1)", "candidate(*[2])"], [((1,), {})]),
    (["candidate(1)", "candidate(**{'a': 2})"], [((1,), {})]),
    (["candidate(1)", "map(candidate, [2])"], [((1,), {})]),  # passed on, not called
    (["candidate(1)", "candidate(2).real"], [((1,), {})]),  # a method
    (["candidate(1)", "helper(candidate(2))"], [((1,), {})]),  # not a known builtin
    (["candidate(1)", "[candidate(i) for i in (2,)]"], [((1,), {})]),
    (["x(1)"], None),
])
def test_the_calls_a_test_surely_makes_first_are_found_from_its_text(asserts: list[str], calls) -> None:
    # The judge's analysis (isolated_harness.py, `_ahead`), on the syntax tree alone: nothing runs.
    from sandcheck.judges import isolated

    harness: dict = {}
    exec(compile(isolated.HARNESS, "<judge>", "exec"), harness)  # definitions only
    test = "def check(candidate):\n" + "".join(f"    assert {a}\n" for a in asserts)
    found = harness["_ahead"](harness["_compile"]("def f(x):\n", test)[2])
    assert (found and found[0]) == calls if calls is not None else found is None
