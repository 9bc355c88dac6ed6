"""How an execution ended, as Python enums named exactly as in the proto.

Each member is also a string equal to its name (``Status.OK == "OK"``), so it
prints, compares and serializes (JSON, logs, metric labels) as that name.
"""

from __future__ import annotations

import enum


class _Named(str, enum.Enum):
    def __str__(self) -> str:
        return self.value


class Status(_Named):
    """The proto's `Status` without its zero value: facts, never a verdict."""

    OK = "OK"
    NONZERO_EXIT = "NONZERO_EXIT"
    TIMEOUT = "TIMEOUT"
    MEMORY_LIMIT = "MEMORY_LIMIT"
    OUTPUT_LIMIT = "OUTPUT_LIMIT"
    SIGNALED = "SIGNALED"
    # Infrastructure fault: no verdict on the program.
    SANDBOX_ERROR = "SANDBOX_ERROR"
    # The request was refused as malformed; nothing ran.
    INVALID_REQUEST = "INVALID_REQUEST"
    # A compiled language's compile step failed; the program never ran.
    COMPILE_ERROR = "COMPILE_ERROR"


class TimeoutKind(_Named):
    """Which time limit ended a TIMEOUT: the CPU budget or the wall backstop."""

    CPU = "CPU"
    WALL = "WALL"
