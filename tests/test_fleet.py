"""A server of several processes (`--processes N`, sandbox_server/fleet.py):
every process takes work, a dead one is replaced, no check is lost or doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandcheck import Client, EmbeddedServer, Program
from sandcheck.dispatch import Dispatcher, RetryPolicy

from .conftest import RunningServer, free_port

RETRY = RetryPolicy(attempts=3, backoff_initial=0.05, backoff_max=0.5, give_up_after=300)


def workers_of(parent: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    return sorted(int(p) for p in out.stdout.split())


def executions(port: int) -> list[float]:
    """sandcheck_executions_total per worker, from the fleet's one /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    per = [0.0, 0.0]
    for f in text_string_to_metric_families(text):
        for s in f.samples:
            if s.name == "sandcheck_executions_total":
                per[int(s.labels["worker"])] += s.value
    return per


def programs(n: int, tag: str) -> list[Program]:
    # Distinct sources: nothing is deduplicated or served from the cache.
    return [Program(f"print({i})  # {tag}", id=f"{tag}-{i}") for i in range(n)]


@pytest.fixture(scope="module")
def tcp_fleet() -> Iterator[RunningServer]:
    metrics = free_port()
    s = RunningServer("--processes", "2", "--concurrency", "4", "--metrics-listen", f"127.0.0.1:{metrics}")
    s.metrics_port = metrics
    yield s
    assert s.stop() == 0
    assert workers_of(s.proc.pid) == []


def test_tcp_workers_share_the_port_and_all_take_work(tcp_fleet: RunningServer) -> None:
    assert len(workers_of(tcp_fleet.proc.pid)) == 2
    with Client(tcp_fleet.target) as c:
        info = c.info()
    assert info["processes"] == 2 and int(info["concurrency"]) == 2  # each worker owns half the slots
    d = Dispatcher([tcp_fleet.target], retry=RETRY)
    assert d.connections() == [(tcp_fleet.target, i) for i in range(4)]
    before = executions(tcp_fleet.metrics_port)
    results = list(d.execute_batch(programs(300, "tcp")))
    assert sorted(r.id for r in results) == sorted(f"tcp-{i}" for i in range(300))
    assert all(r.status == "OK" and r.stdout == f"{r.id[4:]}\n".encode() for r in results)
    done = [a - b for a, b in zip(executions(tcp_fleet.metrics_port), before)]
    assert sum(done) >= 300, done  # every check counted, on one worker or the other
    # Which worker a connection reaches is the kernel's hash of it, and one fast
    # connection of a batch may take all the work before the others connect; so
    # each of 24 connections of their own runs one check: all of them reaching
    # the same worker has odds of 1 in 2**23.
    before = executions(tcp_fleet.metrics_port)
    for k in range(1, 25):
        with Client(tcp_fleet.target, connection=k) as c:
            assert c.execute(f"print({k})  # connection").stdout == f"{k}\n".encode()
    done = [a - b for a, b in zip(executions(tcp_fleet.metrics_port), before)]
    assert sum(done) >= 24 and min(done) > 0, done


def test_a_killed_worker_is_replaced_and_no_check_is_lost(tcp_fleet: RunningServer) -> None:
    victim = workers_of(tcp_fleet.proc.pid)[0]
    d = Dispatcher([tcp_fleet.target], retry=RETRY)
    progs = [Program(f"import time\ntime.sleep(0.02)\nprint({i})", id=f"k-{i}") for i in range(200)]
    results = []
    for r in d.execute_batch(progs):
        results.append(r)
        if len(results) == 20:
            os.kill(victim, signal.SIGKILL)
    assert sorted(r.id for r in results) == sorted(p.id for p in progs)  # exactly one result each
    assert all(r.status == "OK" for r in results), {r.status for r in results}
    deadline = time.monotonic() + 60
    while len(workers_of(tcp_fleet.proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = workers_of(tcp_fleet.proc.pid)
    assert len(workers) == 2 and victim not in workers


def test_unix_workers_list_their_sockets_and_serve() -> None:
    d = tempfile.mkdtemp(prefix="sandcheck-fleet-test-")
    sock = f"unix:{d}/s.sock"
    proc = subprocess.Popen([sys.executable, "-m", "sandbox_server", "--listen", sock, "--processes", "2",
                             "--concurrency", "2"], stderr=subprocess.PIPE, start_new_session=True)
    try:
        with Client(sock) as c:
            c.wait_ready(timeout=60)
            info = c.info()
        assert info["endpoints"] == [sock, f"{sock}.1"]
        dispatcher = Dispatcher([sock], retry=RETRY)
        assert dispatcher.connections() == [(sock, 0), (f"{sock}.1", 0)]
        results = list(dispatcher.execute_batch(programs(60, "unix")))
        assert sorted(r.id for r in results) == sorted(f"unix-{i}" for i in range(60))
        assert all(r.status == "OK" for r in results)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert not any(Path(d).glob("s.sock*"))


def test_embedded_server_reports_every_process() -> None:
    server = EmbeddedServer(concurrency=2, processes=2)
    with server as target:
        assert server.targets[0] == target and len(server.targets) == 2
        with Client(server.targets[1]) as c:
            assert c.execute("print(6 * 7)").stdout == b"42\n"


def test_a_worker_that_cannot_start_stops_the_fleet() -> None:
    port = free_port()
    out = subprocess.run([sys.executable, "-m", "sandbox_server", "--listen", f"127.0.0.1:{port}",
                          "--processes", "2", "--interpreter", "/nonexistent/python3"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "cannot start" in out.stderr and "/nonexistent/python3" in out.stderr
    assert "Traceback" not in out.stderr
