"""Batch deduplication (dedup.py): identical items in one stream run once."""

from __future__ import annotations

from sandbox_server.config import ServerConfig
from sandbox_server.dedup import WorkAvoider
from sandbox_server.executor import Job
from sandbox_server.limits import Limits

from sandcheck import Client, Program
from sandcheck_api.status import Status

from ._fakes import CountingExecutor


def test_identical_batch_items_run_once_and_fan_out() -> None:
    ex = CountingExecutor()
    avoid = WorkAvoider(ex, ServerConfig(result_cache_mb=0), "python test")
    seen: dict = {}
    futs = [avoid.submit(Job(src, b"", Limits()), seen) for src in (b"a", b"b", b"a", b"a", b"b")]
    assert [j.source for j in ex.jobs] == [b"a", b"b"]
    assert [f.result().stdout for f in futs] == [b"a", b"b", b"a", b"a", b"b"]
    # Not identical: other stdin, other limits, other tenant.
    avoid.submit(Job(b"a", b"in", Limits()), seen)
    avoid.submit(Job(b"a", b"", Limits(cpu_time_ms=1000)), seen)
    avoid.submit(Job(b"a", b"", Limits(), "t2"), seen)
    assert len(ex.jobs) == 5


def test_server_batch_with_duplicates(client: Client) -> None:
    programs = [Program(f"print({i % 3})", id=str(i)) for i in range(9)]
    results = {r.id: r for r in client.execute_batch(programs)}
    assert {i: r.stdout for i, r in results.items()} == {str(i): f"{i % 3}\n".encode() for i in range(9)}


def test_an_item_resent_after_a_sandbox_error_or_timeout_runs_again() -> None:
    # A dispatcher resends a SANDBOX_ERROR'd item, often on the same stream: it must
    # run again, not be handed the finished failure it is resent to escape.
    for status in (Status.SANDBOX_ERROR, Status.TIMEOUT):
        ex = CountingExecutor(status)
        avoid = WorkAvoider(ex, ServerConfig(result_cache_mb=0), "python test")
        seen: dict = {}
        first = avoid.submit(Job(b"a", b"", Limits()), seen)
        assert first.result().status == status
        ex.status = Status.OK
        again = avoid.submit(Job(b"a", b"", Limits()), seen)
        assert len(ex.jobs) == 2 and again.result().status == Status.OK
        # A finished OK outcome is still shared.
        assert avoid.submit(Job(b"a", b"", Limits()), seen) is again and len(ex.jobs) == 2
