"""The API package's hand-written parts agree with the proto, and both sides use them."""

from __future__ import annotations

import json

import pytest

from sandbox_server.config import ServerConfig
from sandbox_server.limits import DEFAULT_LIMITS, MAX_LIMITS, rlimit_cpu_s
from sandbox_server.service import to_job
from sandcheck import Client, ExecutionResult, InvalidInput, Limits, Program
from sandcheck.client import _BaseClient
from sandcheck_api.limits import wall_backstop_ms
from sandcheck_api.status import Status, TimeoutKind
from sandcheck_api.v1 import sandbox_pb2 as pb


@pytest.mark.parametrize(("ours", "proto", "unset"), [(Status, pb.Status, "STATUS_UNSPECIFIED"),
                                                     (TimeoutKind, pb.TimeoutKind, "TIMEOUT_KIND_UNSPECIFIED")])
def test_enums_are_the_protos_names(ours, proto, unset) -> None:
    assert [m.name for m in ours] == [n for n in proto.keys() if n != unset]
    for member in ours:
        assert member == member.name == member.value == str(member) == f"{member}"
        assert json.dumps(member) == f'"{member.name}"'


def test_sdk_and_server_apply_one_wall_rule() -> None:
    assert wall_backstop_ms(1500) == 3000
    assert Limits.for_timeout(1.5).wall_time_ms == wall_backstop_ms(1500)
    req = pb.ExecuteRequest(source=b"pass", limits=pb.Limits(cpu_time_ms=1500))
    assert to_job(req, ServerConfig()).limits.wall_time_ms == wall_backstop_ms(1500)
    for limits in (DEFAULT_LIMITS, MAX_LIMITS):
        assert limits.wall_time_ms == wall_backstop_ms(limits.cpu_time_ms)


@pytest.mark.parametrize(("cpu_ms", "seconds"), [(1, 2), (999, 2), (1000, 2), (1001, 3), (3000, 4)])
def test_rlimit_cpu_is_a_backstop_above_the_budget(cpu_ms: int, seconds: int) -> None:
    assert rlimit_cpu_s(cpu_ms) == seconds
    assert rlimit_cpu_s(cpu_ms) * 1000 > cpu_ms


def test_results_carry_enums_under_the_protos_names() -> None:
    r = ExecutionResult(id="a", status="TIMEOUT", timeout_kind="WALL", wall_time_ms=7, cpu_time_ms=3)
    assert (r.status, r.timeout_kind) == (Status.TIMEOUT, TimeoutKind.WALL)
    assert {"wall_time_ms": 7, "cpu_time_ms": 3, "status": "TIMEOUT", "timeout_kind": "WALL"}.items() <= r.to_json().items()
    assert ExecutionResult(id="b", status=Status.OK).timeout_kind is None
    with pytest.raises(ValueError):
        ExecutionResult(id="c", status="PASSED")


@pytest.mark.parametrize("number", [0, 99])
def test_a_status_the_sdk_does_not_know_is_no_verdict(number: int) -> None:
    r = _BaseClient._result(pb.ExecuteResponse(id="x", status=number, report=b"passed"))
    assert r.status == Status.SANDBOX_ERROR and f"unknown status {number}" in r.error


@pytest.mark.parametrize(("fields", "message"), [
    ({"source": None}, "Program.source must be str or bytes, got NoneType"),
    ({"stdin": "1 2\n"}, "Program.stdin must be bytes (encode a str first), got str"),
    ({"files": {"data.txt": "x"}}, "Program.files['data.txt'] must be bytes"),
    ({"run_files": [("a", b"x")]}, "Program.run_files must be a mapping"),
    ({"limits": {"cpu_time_ms": 10}}, "Program.limits must be a sandcheck.Limits or None, got dict"),
    ({"language": None}, "Program.language must be a str"),
    ({"args": "-v"}, "Program.args must be a tuple of str, got str"),
    ({"args": ("-n", 3)}, "Program.args item must be a str, got int"),
])
def test_a_program_of_wrong_types_is_refused_where_it_is_made(fields, message) -> None:
    # Not protobuf's "expected bytes, str found" at send time, nor a None source sent
    # as an empty program (which exits 0) or a str taken as one argument per letter.
    with pytest.raises(InvalidInput) as caught:
        Program(**{"source": "print(1)", **fields})
    assert message in str(caught.value)


def test_a_program_passed_where_its_source_goes_says_so() -> None:
    with pytest.raises(InvalidInput, match="Program.source must be str or bytes, got Program"):
        Client("unix:/nonexistent").execute(Program("print(1)"))  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [1.5, True, "3", 0])
def test_limits_are_whole_positive_numbers(value) -> None:
    with pytest.raises(ValueError, match="must be a positive int"):
        Limits(cpu_time_ms=value)


def test_evaluate_refuses_what_it_cannot_judge_before_anything_runs() -> None:
    from sandcheck.judges.run import evaluate

    class NoServer:  # anything run would fail the test: nothing may reach a client
        def execute_batch(self, programs):
            raise AssertionError("ran")

    problem = {"task_id": "t", "prompt": "def f():\n", "test": "def check(c):\n    pass\n", "entry_point": "f"}
    sample = {"task_id": "t", "completion": "    return 1\n"}
    cases = [
        ({"k": [0]}, [sample], problem, "k must be whole numbers"),
        ({"k": "1"}, [sample], problem, "k must be whole numbers"),
        ({"timeout": float("inf")}, [sample], problem, "timeout must be a number of seconds"),
        ({"timeout": -1}, [sample], problem, "timeout must be a number of seconds"),
        ({"memory_mb": 1.5}, [sample], problem, "memory_mb must be a positive int"),
        ({}, [sample], {k: v for k, v in problem.items() if k != "test"}, "needs string fields prompt, test"),
        ({}, [sample], {**problem, "test": 5}, "test missing or not a string"),
        ({}, [{**sample, "solution": 5}], problem, "'solution' must be a string"),
    ]
    for kwargs, samples, prob, message in cases:
        with pytest.raises(InvalidInput, match=message):
            evaluate(samples, {"t": prob}, client=NoServer(), **kwargs)


def test_a_stdio_solution_that_no_request_can_carry_is_refused_before_anything_runs() -> None:
    # A lone surrogate ("\ud800" in JSON) cannot be sent as UTF-8: it was retried for 10 minutes
    # as if the server had failed, then answered SANDBOX_ERROR.
    from sandcheck.judges.stdio import evaluate_stdio, stdio_problem

    class NoServer:
        def info(self):
            return {}

        def execute_batch(self, programs):
            raise AssertionError("ran")

    problems = {"sum": stdio_problem({"task_id": "sum", "tests": [{"input": "1 2\n", "output": "3\n"}]})}
    with pytest.raises(InvalidInput, match=r"Program '0/0': source is not valid text \('\\ud800' at 10"):
        evaluate_stdio([{"task_id": "sum", "solution": "print(3)  \ud800"}], problems, client=NoServer(), k=[1])
