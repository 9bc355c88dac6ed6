"""Scaling out: one multi-address target, client-side round_robin, three servers.

This is what the headless Service in deploy/k8s gives a client on Kubernetes
(dns:///sandcheck.sandcheck:50051 resolves to every ready pod); here the
addresses are listed in an `ipv4:` target. Each server's own /metrics shows
how many programs it ran.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandcheck import Client

from .conftest import RunningServer, free_port

RUNS = 30


class Node(RunningServer):
    def __init__(self) -> None:
        self.metrics_port = free_port()
        super().__init__("--metrics-listen", f"127.0.0.1:{self.metrics_port}", "--concurrency", "1")

    def executions(self) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=10).text
        return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
                   if s.name == "sandcheck_executions_total")


@pytest.fixture(scope="module")
def nodes() -> Iterator[list[Node]]:
    started: list[Node] = []
    try:
        for _ in range(3):
            started.append(Node())
        yield started
    finally:
        for n in started:
            n.stop()


def test_round_robin_spreads_load_over_three_servers(nodes: list[Node]) -> None:
    before = [n.executions() for n in nodes]
    target = "ipv4:" + ",".join(f"127.0.0.1:{n.port}" for n in nodes)
    with Client(target, timeout=120) as client:
        client.wait_ready(timeout=30)
        results = [client.execute(f"print({i})") for i in range(RUNS)]
    assert [r.status for r in results] == ["OK"] * RUNS
    ran = [n.executions() - b for n, b in zip(nodes, before)]
    assert sum(ran) == RUNS
    # round_robin: every server took part (not one server taking everything).
    assert all(r > 0 for r in ran), ran
