"""Resource limits: defaults, maxima, and clamping a request to them."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sandcheck_api.limits import wall_backstop_ms

MiB = 1024 * 1024
_DEFAULT_CPU_MS, _MAX_CPU_MS = 3000, 60_000


@dataclass(frozen=True)
class Limits:
    """Limits of one execution. CPU time is the budget; wall time a backstop."""

    cpu_time_ms: int = _DEFAULT_CPU_MS
    wall_time_ms: int = wall_backstop_ms(_DEFAULT_CPU_MS)
    memory_bytes: int = 1024 * MiB
    output_bytes: int = 1 * MiB

    def clamp(self, maximum: "Limits") -> "Limits":
        return Limits(
            cpu_time_ms=min(self.cpu_time_ms, maximum.cpu_time_ms),
            wall_time_ms=min(self.wall_time_ms, maximum.wall_time_ms),
            memory_bytes=min(self.memory_bytes, maximum.memory_bytes),
            output_bytes=min(self.output_bytes, maximum.output_bytes),
        )

    def validate(self) -> None:
        for name in ("cpu_time_ms", "wall_time_ms", "memory_bytes", "output_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.memory_bytes < 16 * MiB:
            raise ValueError(f"memory_bytes must be at least 16 MiB, got {self.memory_bytes}")


DEFAULT_LIMITS = Limits()
MAX_LIMITS = Limits(cpu_time_ms=_MAX_CPU_MS, wall_time_ms=wall_backstop_ms(_MAX_CPU_MS), memory_bytes=4096 * MiB,
                    output_bytes=16 * MiB)


# A compile's limits: javac, tsc and g++ -O2 need more than a check's run.
DEFAULT_COMPILE_LIMITS = Limits(cpu_time_ms=30_000, wall_time_ms=60_000, memory_bytes=2048 * MiB, output_bytes=64 * 1024)
MAX_COMPILE_LIMITS = Limits(cpu_time_ms=120_000, wall_time_ms=240_000, memory_bytes=4096 * MiB, output_bytes=1 * MiB)


def rlimit_cpu_s(cpu_time_ms: int) -> int:
    """Each jailed process's soft RLIMIT_CPU: a backstop above the budget, which
    the server enforces over all processes together in milliseconds. Whole
    seconds (the rlimit's unit), rounded up, plus one so it never fires first.

    The hard limit is one second more: at the soft limit the kernel sends
    SIGXCPU, which is a CPU timeout; with soft equal to hard it would send
    SIGKILL, which reads as a signal. The backstop does fire first when the
    server's clock is starved of CPU on a loaded host."""
    return math.ceil(cpu_time_ms / 1000) + 1
