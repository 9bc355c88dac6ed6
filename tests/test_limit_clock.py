"""The limit clock's arithmetic with made-up counters, and how a jail's
run-queue wait is summed (test_warm runs the clock against real programs)."""

from __future__ import annotations

import os
import subprocess

from sandbox_server.jail import limit_clock
from sandbox_server.jail.limit_clock import WALL_STRETCH_MAX, LimitClock, runqueue_wait_s, schedstat_wait_ns
from sandbox_server.limits import Limits


def clock(waits: list[float], cpu_ns: int = 0) -> LimitClock:
    """A 1 s clock started at 0 whose run-queue reads return `waits` in turn."""
    reads = iter(waits)
    return LimitClock(Limits(cpu_time_ms=1000, wall_time_ms=1000), 0.0, 2, lambda: cpu_ns, lambda: next(reads))


def test_cpu_used_up_is_a_cpu_timeout_whatever_the_wall() -> None:
    assert clock([], cpu_ns=1_000_000_000).expired(0.1) == "CPU"
    assert clock([0.0], cpu_ns=999_999_999).expired(0.5) == ""


def test_time_waiting_for_a_cpu_moves_the_wall_deadline() -> None:
    c = clock([0.0])
    assert c.expired(0.999) == "" and c.expired(1.0) == "WALL"  # no wait: the limit as asked
    c = clock([0.5, 0.7])
    assert c.expired(1.2) == "" and c.wall_deadline == 1.5
    assert c.expired(1.3) == "" and c.wall_deadline == 1.7  # read at each poll once past: waited more since
    c = clock([0.5, 0.5])
    assert c.expired(1.2) == "" and c.expired(1.5) == "WALL"


def test_past_the_first_deadline_the_wait_is_read_at_most_every_20_ms() -> None:
    c = clock([0.5, 0.6])  # a third reading would raise StopIteration
    assert c.expired(1.0) == "" and c.expired(1.01) == "" and c.expired(1.019) == ""
    assert c.expired(1.021) == "" and c.wall_deadline == 1.6


def test_a_wait_that_ends_with_its_process_is_not_taken_back() -> None:
    """The program waited 0.8 s by the first deadline and then ended, before
    its init reported: the next reading holds only the init's (near nothing).
    The time since the last reading is credited, the most the program can
    have waited in it; before, the deadline fell back to the limit as asked
    and a program that had finished was called a timeout (seen in CI: a cold
    check under load)."""
    c = clock([0.8, 0.0])
    assert c.expired(1.0) == "" and c.wall_deadline == 1.8
    assert c.expired(1.8) == "" and c.wall_deadline == 2.6
    c = clock([0.8, 0.9, 0.9])
    assert c.expired(1.0) == "" and c.expired(1.5) == "" and c.wall_deadline == 1.9
    assert c.expired(1.9) == "WALL"  # no more waiting, nobody gone: the deadline holds


def test_a_failed_read_credits_nothing_and_the_stretch_is_capped() -> None:
    readings = iter([0.5, OSError("the cgroup is gone"), 0.6])

    def read() -> float:
        r = next(readings)
        if isinstance(r, Exception):
            raise r
        return r

    c = LimitClock(Limits(cpu_time_ms=1000, wall_time_ms=1000), 0.0, 2, lambda: 0, read)
    assert c.expired(1.0) == "" and c.wall_deadline == 1.5
    assert c.expired(1.1) == "" and c.wall_deadline == 1.5
    assert c.expired(1.2) == "" and c.wall_deadline == 1.6

    def gone() -> float:
        raise OSError("the cgroup is gone")

    assert LimitClock(Limits(cpu_time_ms=1000, wall_time_ms=1000), 0.0, 2, lambda: 0, gone).expired(1.0) == "WALL"
    c = clock([1000.0, 1000.0])
    assert c.expired(1.0) == "" and c.wall_deadline == WALL_STRETCH_MAX * 1.0
    assert c.expired(WALL_STRETCH_MAX * 1.0) == "WALL"


def test_a_serial_process_wait_adds_to_the_longest_of_the_others(monkeypatch) -> None:
    """A cold jail's init waits before it forks the program and after it
    ends, never beside it: its wait is added, the others' overlap (max)."""
    waits_ns = {1: 200_000_000, 2: 500_000_000, 3: 300_000_000}
    monkeypatch.setattr(limit_clock, "schedstat_wait_ns", waits_ns.__getitem__)
    assert runqueue_wait_s([1, 2, 3]) == 0.5
    assert runqueue_wait_s([1, 2, 3], serial=1) == 0.7
    assert runqueue_wait_s([1], serial=1) == 0.2 and runqueue_wait_s([]) == 0.0


def test_a_long_lived_process_counts_only_its_wait_since_the_check_began(monkeypatch) -> None:
    """A warm judge process judges hundreds of checks: the wait it gathered
    before this one stretched this check's wall limit (up to 10x)."""
    waits_ns = {1: 100_000_000, 7: 2_000_000_000, 9: 50_000_000}
    monkeypatch.setattr(limit_clock, "schedstat_wait_ns", waits_ns.__getitem__)
    assert runqueue_wait_s([1, 7, 9], serial=1) == 2.1  # the judge's (pid 7) whole life
    assert runqueue_wait_s([1, 7, 9], serial=1, before={7: 1_980_000_000}) == 0.15  # the program's 50 ms now


def test_schedstat_reads_a_live_process_and_a_gone_one_as_zero() -> None:
    assert schedstat_wait_ns(os.getpid()) > 0  # this process has waited for a CPU at some point
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert schedstat_wait_ns(gone.pid) == 0
