"""Operability on a real server: health, reflection, /metrics, JSON logs.

One module-scoped server with --metrics-listen; it is separate from the
session server so its counters start at zero and its log is its own.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from sandcheck import Client, InvalidRequest, Status
from sandcheck_api.v1 import sandbox_pb2 as pb
from sandcheck_api.v1 import sandbox_pb2_grpc as pb_grpc

from .conftest import RunningServer, free_port

SECRET_MARKER = "sandcheck_source_marker_7f3a"


class MetricsServer(RunningServer):
    def __init__(self) -> None:
        self.metrics_port = free_port()
        super().__init__("--metrics-listen", f"127.0.0.1:{self.metrics_port}", "--concurrency", "1")

    def metrics(self) -> dict[tuple[str, tuple], float]:
        """Samples as {(name, sorted labels): value}."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).text
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out


def metric(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def ops_server() -> Iterator[MetricsServer]:
    s = MetricsServer()
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def channel(ops_server: MetricsServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(ops_server.target) as ch:
        yield ch


def test_health_is_serving_once_jails_work(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", "sandcheck.v1.Sandbox"):
        resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_the_services(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    req = reflection_pb2.ServerReflectionRequest(list_services="")
    (resp,) = list(stub.ServerReflectionInfo(iter([req]), timeout=10))
    names = {s.name for s in resp.list_services_response.service}
    assert {"sandcheck.v1.Sandbox", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


def test_metrics_count_executions_jails_and_rejections(ops_server: MetricsServer) -> None:
    before = ops_server.metrics()
    with Client(ops_server.target, timeout=120) as c:
        assert c.execute("print(1)").status == "OK"
        assert c.execute("import sys; sys.exit(3)").status == "NONZERO_EXIT"
        with pytest.raises(InvalidRequest):
            c.execute("x = 1", language="cobol")
    after = ops_server.metrics()
    for status in ("OK", "NONZERO_EXIT"):
        assert metric(after, "sandcheck_executions_total", status=status) \
            == metric(before, "sandcheck_executions_total", status=status) + 1
    # Warm path (the default): one jail took both runs, or a second replaced it.
    assert 1 <= metric(after, "sandcheck_jail_starts_total") <= metric(before, "sandcheck_jail_starts_total") + 2
    assert ("sandcheck_jail_recycles_total", ()) in after
    assert metric(after, "sandcheck_rejected_requests_total", reason="invalid_request") \
        == metric(before, "sandcheck_rejected_requests_total", reason="invalid_request") + 1
    assert metric(after, "sandcheck_execution_wall_seconds_count") == metric(before, "sandcheck_execution_wall_seconds_count") + 2
    assert metric(after, "sandcheck_execution_cpu_seconds_count") == metric(before, "sandcheck_execution_cpu_seconds_count") + 2
    assert metric(after, "sandcheck_in_flight") == 0
    assert metric(after, "sandcheck_queue_depth") == 0
    assert metric(after, "sandcheck_slots") == 1


def test_batch_rejections_are_counted(ops_server: MetricsServer, channel: grpc.Channel) -> None:
    before = ops_server.metrics()
    stub = pb_grpc.SandboxStub(channel)
    reqs = [pb.ExecuteRequest(id="bad", source=b""), pb.ExecuteRequest(id="good", source=b"pass\n")]
    statuses = {r.id: pb.Status.Name(r.status) for r in stub.ExecuteBatch(iter(reqs), timeout=120)}
    assert statuses == {"bad": "INVALID_REQUEST", "good": "OK"}
    after = ops_server.metrics()
    assert metric(after, "sandcheck_rejected_requests_total", reason="invalid_request") \
        == metric(before, "sandcheck_rejected_requests_total", reason="invalid_request") + 1


def test_logs_are_json_with_request_ids_and_no_source(ops_server: MetricsServer, channel: grpc.Channel) -> None:
    stub = pb_grpc.SandboxStub(channel)
    source = f"x = '{SECRET_MARKER}'\nprint(x)\n".encode()
    resp = stub.Execute(pb.ExecuteRequest(id="item-1", source=source), timeout=120,
                        metadata=(("x-request-id", "req-abc123"),))
    assert pb.Status.Name(resp.status) == "OK"
    out = ops_server.output()
    # The program's source and its output (which echoes the marker) never reach the log.
    assert SECRET_MARKER not in out
    records = [json.loads(line) for line in out.splitlines()]  # every line is JSON
    mine = [r for r in records if r.get("request_id") == "req-abc123"]
    # At INFO: one line per RPC, with its results' statuses; none per execution.
    assert [r["msg"] for r in mine] == ["rpc"]
    rpc = mine[0]
    assert rpc["method"] == "/sandcheck.v1.Sandbox/Execute" and rpc["code"] == "OK"
    assert rpc["level"] == "INFO" and rpc["results"] == 1 and rpc["statuses"] == {"OK": 1}


def test_debug_logs_one_line_per_execution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDCHECK_LOG_LEVEL", "DEBUG")
    s = RunningServer("--concurrency", "1")
    try:
        with grpc.insecure_channel(s.target) as ch:
            reqs = [pb.ExecuteRequest(id=f"b{i}", source=f"print('{SECRET_MARKER}')\n".encode()) for i in range(3)]
            stub = pb_grpc.SandboxStub(ch)
            assert len(list(stub.ExecuteBatch(iter(reqs), timeout=120, metadata=(("x-request-id", "req-dbg"),)))) == 3
        out = s.output()
    finally:
        assert s.stop() == 0
    assert SECRET_MARKER not in out
    mine = [r for r in map(json.loads, out.splitlines()) if r.get("request_id") == "req-dbg"]
    executions = [r for r in mine if r["msg"] == "execution"]
    assert sorted(r["id"] for r in executions) == ["b0", "b1", "b2"] and {r["level"] for r in executions} == {"DEBUG"}
    (rpc,) = [r for r in mine if r["msg"] == "rpc"]
    assert rpc["results"] == 3 and rpc["statuses"] == {"OK": 3}


def test_jail_accounting_cold_and_warm() -> None:
    """Cold: each run starts a jail. Warm: the warm slots' own tallies."""
    from dataclasses import dataclass, field

    from prometheus_client import generate_latest

    from sandbox_server.metrics import Metrics

    @dataclass
    class FakeOutcome:
        status: str = "OK"
        wall_time_ms: int = 10
        cpu_time_ms: int = 5

    cold = Metrics(lambda: 0, 1)
    for _ in range(3):
        cold.started(0)
        cold.finished(0, FakeOutcome())
    assert cold.jail_counts() == (3, 0)

    @dataclass
    class FakeWarm:
        started: int = 2
        recycled: dict = field(default_factory=lambda: {"max checks": 1, "other tenant": 2})

    warm = Metrics(lambda: 4, 2, warm_slots=lambda: [FakeWarm(), FakeWarm(started=1, recycled={})])
    for _ in range(5):
        warm.started(0)
        warm.finished(0, FakeOutcome(status="TIMEOUT"))
    assert warm.jail_counts() == (3, 3)
    text = generate_latest(warm.registry).decode()
    assert "sandcheck_jail_starts_total 3.0" in text and "sandcheck_jail_recycles_total 3.0" in text
    assert "sandcheck_queue_depth 4.0" in text and 'sandcheck_executions_total{status="TIMEOUT"} 5.0' in text


def test_batch_refusals_count_as_overloaded_but_cancels_do_not() -> None:
    from sandbox_server.logs import _refused
    from sandbox_server.service import not_run

    # The answers the service gives a batch item that did not run, and a jail fault.
    assert _refused(not_run("a", Status.SANDBOX_ERROR, "not run: queue full (10 waiting); retry later", rejected=True))
    assert not _refused(not_run("b", Status.SANDBOX_ERROR, "cancelled before it ran", rejected=True))
    assert not _refused(pb.ExecuteResponse(status=pb.SANDBOX_ERROR, error="nsjail exited 255"))


def test_info_names_the_cgroup_mode(ops_server: MetricsServer) -> None:
    from sandbox_server.jail.cgroups import detect

    with Client(ops_server.target, timeout=60) as c:
        notes = c.info()["isolation"]
    assert any(n.startswith(f"cgroup {detect()}:") for n in notes)


def test_chunked_replies_are_logged_and_counted_item_by_item() -> None:
    from sandbox_server.logs import RequestLogInterceptor
    from sandbox_server.observer import ExecutionObserver
    from sandbox_server.service import not_run

    class Reasons(ExecutionObserver):
        def __init__(self) -> None:
            self.reasons: list[str] = []

        def rejected(self, reason: str) -> None:
            self.reasons.append(reason)

    observer = Reasons()
    chunk = pb.ResponseChunk(responses=[
        not_run("a", Status.INVALID_REQUEST, "source is empty"),
        not_run("b", Status.SANDBOX_ERROR, "not run: queue full", rejected=True),
        pb.ExecuteResponse(id="c", status=pb.OK),
    ])
    statuses: Counter = Counter()
    RequestLogInterceptor(observer)._item(chunk, statuses)
    assert observer.reasons == ["invalid_request", "overloaded"]
    assert statuses == {"INVALID_REQUEST": 1, "SANDBOX_ERROR": 1, "OK": 1}  # for the RPC's one log line


def test_sigusr1_writes_every_threads_stack_and_the_server_goes_on() -> None:
    # For a server that will not stop or stops answering: what each thread is doing, in its log.
    import signal
    import time

    s = RunningServer()
    try:
        s.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while "most recent call first" not in s.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        log = s.output()
        assert "Current thread" in log or "Thread 0x" in log, log[-2000:]
        assert 'File "' in log and "server.py" in log
        with Client(s.target) as c:
            assert c.execute("print(6 * 7)").stdout == b"42\n"
    finally:
        assert s.stop() == 0
