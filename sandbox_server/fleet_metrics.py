"""One /metrics for a fleet: each worker's metrics, labelled worker="i".

Every worker of a fleet (fleet.py) keeps its own registry and serves it on
an ephemeral loopback port it reports when ready; the parent serves the
operator's --metrics-listen address and, per scrape, reads each worker's
page and re-exposes its samples with a `worker` label. Prometheus then
sees one target, and sums across workers with `sum without (worker)`.
A worker that does not answer (restarting) is left out of that scrape.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

_SCRAPE_TIMEOUT_S = 2.0


class FleetCollector:
    """Collects every worker's metrics at scrape time; `ports()` says where they are."""

    def __init__(self, ports: Callable[[], list[int | None]]) -> None:
        self.ports = ports

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for worker, port in enumerate(self.ports()):
            if not port:
                continue
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=_SCRAPE_TIMEOUT_S) as r:
                    text = r.read().decode()
            except OSError:
                continue
            for family in text_string_to_metric_families(text):
                merged = families.setdefault(family.name, Metric(family.name, family.documentation, family.type,
                                                                 family.unit))
                for s in family.samples:
                    merged.add_sample(s.name, {**s.labels, "worker": str(worker)}, s.value, s.timestamp)
        yield from families.values()


def serve(listen_host: str, listen_port: int, ports: Callable[[], list[int | None]]):
    """Serve the fleet's /metrics in a daemon thread; return the HTTP server."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(ports))
    server, _thread = start_http_server(listen_port, addr=listen_host, registry=registry)
    return server
