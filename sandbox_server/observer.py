"""The hooks the executor and the RPC layer call around each run.

The executor, the service and the request log know nothing of Prometheus or
health checks: they call an `ExecutionObserver` (a no-op by default), and
`Metrics` (metrics.py) and `JailHealth` (health.py) are observers. `Observers`
fans one call out to several.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class OutcomeLike(Protocol):
    """What observers read from an outcome (jail/supervisor.py's `Outcome`)."""

    status: str
    wall_time_ms: int
    cpu_time_ms: int


class ExecutionObserver:
    """Hooks called around each run. The base class does nothing."""

    def started(self, slot: int) -> None:
        """A slot took a job and is about to run it."""

    def finished(self, slot: int, outcome: OutcomeLike) -> None:
        """The job's outcome is known (called before the caller sees it)."""

    def rejected(self, reason: str) -> None:
        """A request was refused before it ran (bad input, overload, auth)."""


class Observers(ExecutionObserver):
    """Fans each hook out to several observers (metrics, health)."""

    def __init__(self, observers: Iterable[ExecutionObserver]) -> None:
        self.observers = list(observers)

    def started(self, slot: int) -> None:
        for o in self.observers:
            o.started(slot)

    def finished(self, slot: int, outcome: OutcomeLike) -> None:
        for o in self.observers:
            o.finished(slot, outcome)

    def rejected(self, reason: str) -> None:
        for o in self.observers:
            o.rejected(reason)
