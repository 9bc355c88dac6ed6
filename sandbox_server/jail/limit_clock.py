"""When a running program has used up its time, for cold and warm jails alike.

CPU time is the budget, read from the jail's cgroup counter, summed over
every process. Wall time is a backstop for programs that sleep or block.
Time the program's processes spent runnable but waiting for a CPU is
contention, not the program's doing, so it is added back to the wall limit,
up to WALL_STRETCH_MAX times that limit. More checks than cores therefore
do not turn passing programs into timeouts.

The wait is read from /proc for the processes alive at the reading, so a
process takes its wait with it when it ends, and the wait a process gathers
after a reading is unknown until the next. So once the first deadline has
passed, the clock reads at every poll (at most every _READ_EVERY_S) and
adds up what each reading grew by; a reading that fell (the longest waiter
ended: most often the program, done, its init not yet reported) adds the
time since the last one, the most that process can have waited. Reading
only at the deadline (before) judged programs that ended just before a
deadline set seconds earlier as timeouts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..limits import Limits

WALL_STRETCH_MAX = 10
_MAX_POLL_S = 0.1
_READ_EVERY_S = 0.02


class LimitClock:
    """Polled by a supervisor loop: `expired()` names the limit used up, if any."""

    def __init__(self, limits: Limits, start: float, ncpu: int, cpu_ns: Callable[[], int],
                 runqueue_wait_s: Callable[[], float]) -> None:
        self.cpu_limit_ns = limits.cpu_time_ms * 1_000_000
        self.wall_s = limits.wall_time_ms / 1000
        self.start = start
        self.ncpu = max(1, ncpu)
        self.wall_deadline = start + self.wall_s
        self._cpu_ns = cpu_ns
        self._runqueue_wait_s = runqueue_wait_s
        self._cpu = 0
        self._waited_s = 0.0  # the wait credited so far
        self._last: float | None = None  # the last reading, once past the first deadline
        self._read_at = 0.0

    def expired(self, now: float) -> str:
        """"CPU" or "WALL" once that limit is used up; "" while neither is."""
        self._cpu = self._cpu_ns()
        if self._cpu >= self.cpu_limit_ns:
            return "CPU"
        if now >= self.wall_deadline or (self._last is not None and now - self._read_at >= _READ_EVERY_S):
            self._credit_wait(now)
            if now >= self.wall_deadline:
                return "WALL"
        return ""

    def _credit_wait(self, now: float) -> None:
        try:
            reading = self._runqueue_wait_s()
        except (OSError, ValueError):
            return  # nothing credited; the next poll reads again
        if self._last is None:
            grown = reading
        elif reading < self._last:
            grown = now - self._read_at  # the longest waiter ended since the last reading
        else:
            grown = reading - self._last
        self._waited_s += max(0.0, grown)
        self._last, self._read_at = reading, now
        self.wall_deadline = self.start + min(self.wall_s + self._waited_s, WALL_STRETCH_MAX * self.wall_s)

    def next_poll(self, now: float) -> float:
        """Seconds to sleep before a limit could be reached: CPU use cannot
        outgrow ncpu x elapsed time."""
        cpu_left_s = (self.cpu_limit_ns - self._cpu) / 1e9 / self.ncpu
        return max(0.001, min(self.wall_deadline - now, cpu_left_s, _MAX_POLL_S))


def runqueue_wait_s(pids: list[int], serial: int = 0, before: Mapping[int, int] | None = None) -> float:
    """Longest run-queue wait among `pids`, in seconds, plus all of `serial`'s:
    a process that runs before and after the others, never beside them (a
    cold jail's init forks the program, then sleeps until it ends), so its
    waits add to theirs. `before`: {pid: ns} a process that outlives checks
    (a warm judge process) had waited when this check began; only its wait
    since counts, not that of the hundreds of checks it judged before."""
    before = before or {}
    longest = max((schedstat_wait_ns(p) - before.get(p, 0) for p in pids if p != serial), default=0)
    return (longest + (schedstat_wait_ns(serial) if serial else 0)) / 1e9


def schedstat_wait_ns(pid: int) -> int:
    """/proc/PID/schedstat: ns on a CPU, ns waiting on a run queue, slices."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
