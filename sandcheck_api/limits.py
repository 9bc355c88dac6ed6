"""The limit rules a client and a server must agree on."""

from __future__ import annotations

# A program that blocks or sleeps uses no CPU; the wall clock ends it. Twice
# the CPU budget leaves a program that computes room to hit its CPU limit
# first, so a slow machine does not turn a CPU timeout into a wall one.
WALL_PER_CPU = 2


def wall_backstop_ms(cpu_time_ms: int) -> int:
    """The wall-clock limit that goes with a CPU budget when none is given."""
    return WALL_PER_CPU * cpu_time_ms
