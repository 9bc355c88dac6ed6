"""Resource limits: defaults, maxima, and clamping a request to them."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Limits of one execution. CPU time is the budget; wall time a backstop."""

    cpu_time_ms: int = 3000
    wall_time_ms: int = 6000
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
MAX_LIMITS = Limits(cpu_time_ms=60_000, wall_time_ms=120_000, memory_bytes=4096 * MiB, output_bytes=16 * MiB)
