"""JailHealth: SERVING only while jails work (unit tests, no jails needed)."""

from __future__ import annotations

from dataclasses import dataclass

from grpc_health.v1 import health_pb2

from sandbox_server.health import SERVICE_NAMES, JailHealth

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class FakeOutcome:
    status: str
    wall_time_ms: int = 1
    cpu_time_ms: int = 1


def status(h: JailHealth, service: str = "") -> int:
    return h.servicer.Check(health_pb2.HealthCheckRequest(service=service), None).status


def test_not_serving_until_the_self_test_passed() -> None:
    h = JailHealth()
    assert status(h) == NOT_SERVING
    h.mark_serving()
    assert all(status(h, s) == SERVING for s in SERVICE_NAMES)


def test_repeated_sandbox_errors_flip_to_not_serving_and_a_verdict_flips_back() -> None:
    h = JailHealth(threshold=3, probe_interval=3600)
    probes: list[int] = []
    h.mark_serving(probe=lambda: probes.append(1))
    for _ in range(2):
        h.finished(0, FakeOutcome("SANDBOX_ERROR"))
    assert status(h) == SERVING  # two in a row are below the threshold
    h.finished(0, FakeOutcome("TIMEOUT"))  # a verdict (even a failing program) resets the count
    for _ in range(3):
        h.finished(0, FakeOutcome("SANDBOX_ERROR"))
    assert status(h) == NOT_SERVING and not h.serving
    h.finished(0, FakeOutcome("OK"))  # e.g. the health probe's own run
    assert status(h) == SERVING
    h.shutdown()


def test_unhealthy_server_probes_its_jails() -> None:
    h = JailHealth(threshold=1, probe_interval=3600)
    probed = __import__("threading").Event()
    h.mark_serving(probe=probed.set)
    h.finished(0, FakeOutcome("SANDBOX_ERROR"))
    # The flip wakes the probe thread at once, not after probe_interval.
    assert probed.wait(30)
    h.shutdown()


def test_shutdown_is_not_serving_for_good() -> None:
    h = JailHealth()
    h.mark_serving()
    h.shutdown()
    assert status(h) == NOT_SERVING
    h.finished(0, FakeOutcome("OK"))
    assert status(h) == NOT_SERVING
