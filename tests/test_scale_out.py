"""Scaling out: client-side round_robin over several servers, and new servers joining.

This is what the headless Service in deploy/k8s gives a client on Kubernetes:
dns:///sandcheck.sandcheck:50051 resolves to every ready pod. The first test
lists the addresses in an `ipv4:` target. The second serves the name from a
DNS server on loopback (named as the target's authority), with servers on
127.0.0.1 and 127.0.0.2 at one port, as pods have one port at many addresses.
Each server's own /metrics shows how many programs it ran.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.rdatatype
import dns.rrset
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sandcheck import Client

from .conftest import RunningServer, free_port

RUNS = 30


class Node(RunningServer):
    def __init__(self, *extra: str, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.metrics_port = free_port()
        super().__init__("--metrics-listen", f"127.0.0.1:{self.metrics_port}", "--concurrency", "1", *extra,
                         host=host, port=port)

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


class Zone:
    """A DNS server on loopback that answers A queries for one name with `addresses` (TTL 0)."""

    NAME = "sandcheck.test."

    def __init__(self) -> None:
        self.addresses: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True, name="dns").start()

    def _serve(self) -> None:
        while True:
            try:
                query, peer = self.sock.recvfrom(4096)
            except OSError:  # closed
                return
            request = dns.message.from_wire(query)
            reply = dns.message.make_response(request)
            question = request.question[0]
            if question.rdtype == dns.rdatatype.A and question.name.to_text() == self.NAME and self.addresses:
                reply.answer.append(dns.rrset.from_text_list(question.name, 0, "IN", "A", list(self.addresses)))
            self.sock.sendto(reply.to_wire(), peer)

    def target(self, port: int) -> str:
        return f"dns://127.0.0.1:{self.port}/{self.NAME.rstrip('.')}:{port}"

    def close(self) -> None:
        self.sock.close()


def test_a_server_started_later_joins_a_running_clients_rotation(tmp_path: Path) -> None:
    """The max connection age makes a long-lived client resolve again and reach a new server.

    gRPC resolves a dns:/// name again when a connection ends (here after the
    servers' 2 s age), at most once per 30 s. Without the age the client keeps
    its first answer for as long as the connection stays healthy.
    """
    config = tmp_path / "sandcheck.toml"
    config.write_text("max_connection_age_ms = 2000\nmax_connection_age_grace_ms = 60000\n")
    zone = Zone()
    started: list[Node] = []
    try:
        first = Node("--config", str(config))
        started.append(first)
        zone.addresses = ["127.0.0.1"]
        with Client(zone.target(first.port), timeout=120) as client:
            client.wait_ready(timeout=30)
            results = [client.execute(f"print({i})") for i in range(5)]
            assert first.executions() == 5
            # A pod added by a scale-out: same port, a new address in DNS.
            later = Node("--config", str(config), host="127.0.0.2", port=first.port)
            started.append(later)
            zone.addresses = ["127.0.0.1", "127.0.0.2"]
            deadline = time.monotonic() + 240  # gRPC needs ~30 s; the margin is wide
            while later.executions() == 0:
                assert time.monotonic() < deadline, "the new server got no work from the running client"
                results.append(client.execute(f"print({len(results)})"))
                time.sleep(0.1)  # a steady trickle of work, not a flood
            # It stays in the rotation: round_robin gives both servers work.
            # (Distinct programs throughout: the result cache would answer repeats.)
            more = [client.execute(f"print({len(results) + i})") for i in range(10)]
        assert [r.status for r in results + more] == ["OK"] * (len(results) + len(more))
        ran_first, ran_later = first.executions(), later.executions()
        assert ran_first + ran_later == len(results) + len(more)
        assert ran_later >= 2, (ran_first, ran_later)
    finally:
        for n in started:
            n.stop()
        zone.close()


def test_a_negative_connection_age_is_refused() -> None:
    from sandbox_server import settings

    assert settings.load(env={"SANDCHECK_MAX_CONNECTION_AGE_MS": "0"}).max_connection_age_ms == 0  # off
    with pytest.raises(settings.ConfigError, match="max_connection_age_grace_ms"):
        settings.load(env={"SANDCHECK_MAX_CONNECTION_AGE_GRACE_MS": "-1"})
