"""Prometheus metrics: what an operator needs to see load, failures and limits.

Each server has its own `CollectorRegistry` rather than the process-global
one, so several servers in one process (tests, the embedded server) never
collide on metric names.

`Metrics` is an `ExecutionObserver` (observer.py): the executor and the
service never call Prometheus themselves. Rejections are counted by a gRPC
interceptor (`logs.py`), so the service code needs no edits to be measured.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from sandcheck_api.status import Status

from .observer import ExecutionObserver, OutcomeLike
from .settings import parse_host_port


class WarmSlotLike(Protocol):
    """What metrics read from a warm slot (jail/warm.py): its own tallies."""

    started: int
    recycled: dict[str, int]


# Buckets in seconds. Latency spans a fast unit test (~50 ms with jail start)
# up to the maximum wall limit (120 s); CPU time up to the 60 s maximum.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
CPU_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics(ExecutionObserver):
    """The `sandcheck_*` metrics of one server."""

    def __init__(self, queue_depth: Callable[[], int] | None = None, slots: int = 0,
                 warm_slots: Callable[[], Iterable[WarmSlotLike]] | None = None) -> None:
        self.registry = CollectorRegistry()
        # Jail starts: on the cold path every run starts a jail (counted here);
        # on the warm path the warm slots count the jails they start and recycle.
        self._warm_slots = warm_slots or (lambda: ())
        self._cold_starts = 0
        self._lock = threading.Lock()
        r = self.registry
        self.executions = Counter("sandcheck_executions", "Programs run, by final status.", ["status"], registry=r)
        self.rejected_requests = Counter(
            "sandcheck_rejected_requests", "Requests refused before running, by reason.", ["reason"], registry=r
        )
        r.register(_JailCollector(self))
        self.in_flight = Gauge("sandcheck_in_flight", "Programs running now.", registry=r)
        self.queue_depth = Gauge("sandcheck_queue_depth", "Requests waiting for a slot.", registry=r)
        self.slots = Gauge("sandcheck_slots", "Concurrency slots (jails that can run at once).", registry=r)
        self.slots.set(slots)
        if queue_depth is not None:
            self.queue_depth.set_function(lambda: float(queue_depth()))
        self.latency = Histogram(
            "sandcheck_execution_wall_seconds", "Wall time of each run inside its jail.",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.cpu_time = Histogram(
            "sandcheck_execution_cpu_seconds", "CPU time of each run (its cgroup's usage).",
            buckets=CPU_BUCKETS, registry=r,
        )
        # Pre-create the label values an alert rule will query, so a rate()
        # over them exists (as 0) before the first event.
        for status in (Status.OK, Status.SANDBOX_ERROR, Status.TIMEOUT, Status.MEMORY_LIMIT):
            self.executions.labels(status=status.value)
        for reason in ("invalid_request", "overloaded"):
            self.rejected_requests.labels(reason=reason)
        self._http: object | None = None

    def started(self, slot: int) -> None:
        if not any(True for _ in self._warm_slots()):
            with self._lock:
                self._cold_starts += 1
        self.in_flight.inc()

    def finished(self, slot: int, outcome: OutcomeLike) -> None:
        self.in_flight.dec()
        self.executions.labels(status=outcome.status).inc()
        self.latency.observe(max(0, outcome.wall_time_ms) / 1000)
        self.cpu_time.observe(max(0, outcome.cpu_time_ms) / 1000)

    def jail_counts(self) -> tuple[int, int]:
        """(jails started, warm jails recycled) so far."""
        warm = list(self._warm_slots())
        starts = self._cold_starts + sum(w.started for w in warm)
        recycles = sum(sum(w.recycled.values()) for w in warm)
        return starts, recycles

    def rejected(self, reason: str) -> None:
        self.rejected_requests.labels(reason=reason).inc()

    def serve(self, listen: str) -> int:
        """Serve /metrics on HOST:PORT in a daemon thread; return the bound port."""
        host, port = parse_host_port(listen)
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._http = server
        return server.server_port

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()  # type: ignore[attr-defined]
            self._http.server_close()  # type: ignore[attr-defined]
            self._http = None


class _JailCollector:
    """Exports jail starts and recycles, read at scrape time from their owners."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[CounterMetricFamily]:
        starts, recycles = self.metrics.jail_counts()
        yield CounterMetricFamily("sandcheck_jail_starts", "Jails started (cold: one per run; warm: one per "
                                  "warm jail).", value=starts)
        yield CounterMetricFamily("sandcheck_jail_recycles", "Warm jails thrown away and replaced (after "
                                  "max checks, another tenant, or an anomaly); 0 on the cold path.", value=recycles)
