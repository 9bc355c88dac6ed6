"""gRPC health: SERVING only while jails can actually be made.

A server whose jails fail (nsjail cannot clone, cgroups vanished, the node
ran out of pids) still answers RPCs, but every answer is SANDBOX_ERROR. A
load balancer or Kubernetes readiness probe must stop sending it work, so
`JailHealth` watches outcomes: after `threshold` SANDBOX_ERRORs in a row it
reports NOT_SERVING. Once no traffic arrives, nothing would ever prove the
jails work again, so while unhealthy it submits a trivial probe program
every `probe_interval` seconds; the first run that gets a verdict flips it
back to SERVING.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from grpc_health.v1 import health, health_pb2
from sandcheck_api.status import Status
from sandcheck_api.v1 import sandbox_pb2 as pb

from .observer import ExecutionObserver, OutcomeLike

log = logging.getLogger("sandcheck.health")

# The names a probe may ask about: "" (the whole server) and the service.
SERVICE_NAMES = ("", pb.DESCRIPTOR.services_by_name["Sandbox"].full_name)


class JailHealth(ExecutionObserver):
    """Drives a grpc_health servicer from execution outcomes."""

    def __init__(self, threshold: int = 5, probe_interval: float = 10.0) -> None:
        self.servicer = health.HealthServicer()
        self.threshold = threshold
        self.probe_interval = probe_interval
        self._lock = threading.Lock()
        self._consecutive_errors = 0
        self._serving = False
        self._shutting_down = False
        self._probe: Callable[[], None] | None = None
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._set(health_pb2.HealthCheckResponse.NOT_SERVING)

    @property
    def serving(self) -> bool:
        return self._serving

    def _set(self, status: int) -> None:
        for name in SERVICE_NAMES:
            self.servicer.set(name, status)

    def mark_serving(self, probe: Callable[[], None] | None = None) -> None:
        """Jails work (the start-up self-test passed). `probe` re-tests them later."""
        with self._lock:
            if self._shutting_down:
                return
            self._probe = probe
            self._serving = True
            self._consecutive_errors = 0
        self._set(health_pb2.HealthCheckResponse.SERVING)
        if probe is not None and self._thread is None:
            self._thread = threading.Thread(target=self._reprobe, name="health-probe", daemon=True)
            self._thread.start()

    def shutdown(self) -> None:
        """NOT_SERVING for good: the server is draining."""
        with self._lock:
            self._shutting_down = True
            self._serving = False
        self.servicer.enter_graceful_shutdown()
        self._wake.set()

    def finished(self, slot: int, outcome: OutcomeLike) -> None:
        with self._lock:
            if self._shutting_down:
                return
            if outcome.status != Status.SANDBOX_ERROR:
                self._consecutive_errors = 0
                flip = not self._serving
                self._serving = True
            else:
                self._consecutive_errors += 1
                flip = self._serving and self._consecutive_errors >= self.threshold
                if flip:
                    self._serving = False
        if flip and self._serving:
            log.info("jails work again: SERVING")
            self._set(health_pb2.HealthCheckResponse.SERVING)
        elif flip:
            log.error("%d SANDBOX_ERRORs in a row: NOT_SERVING until a probe run succeeds", self._consecutive_errors)
            self._set(health_pb2.HealthCheckResponse.NOT_SERVING)
            self._wake.set()

    def _reprobe(self) -> None:
        while not self._shutting_down:
            self._wake.wait(self.probe_interval)
            self._wake.clear()
            if self._shutting_down or self._serving or self._probe is None:
                continue
            try:
                self._probe()  # its outcome comes back through finished()
            except Exception as exc:  # a full queue or a stopping executor
                log.warning("health probe not submitted: %s", exc)
