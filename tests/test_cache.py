"""The per-tenant result cache (cache.py), as the service reaches it through dedup.py."""

from __future__ import annotations

from sandbox_server.cache import ResultCache
from sandbox_server.config import ServerConfig
from sandbox_server.dedup import WorkAvoider
from sandbox_server.executor import Job
from sandbox_server.jail.outcome import Outcome
from sandbox_server.limits import Limits
from sandcheck_api.status import Status

from ._fakes import CountingExecutor


def test_cache_is_per_tenant_and_never_keeps_errors_or_timeouts() -> None:
    ex = CountingExecutor()
    avoid = WorkAvoider(ex, ServerConfig(result_cache_mb=1), "python test")
    avoid.submit(Job(b"p", b"", Limits(), "t1")).result()
    avoid.submit(Job(b"p", b"", Limits(), "t1")).result()
    assert len(ex.jobs) == 1  # a hit
    avoid.submit(Job(b"p", b"", Limits(), "t2")).result()
    assert len(ex.jobs) == 2  # another tenant runs its own
    avoid.submit(Job(b"p", b"", Limits(), "t1"), use_cache=False).result()
    assert len(ex.jobs) == 3  # opted out
    for status in (Status.TIMEOUT, Status.SANDBOX_ERROR):
        ex.status = status
        avoid.submit(Job(status.encode(), b"", Limits())).result()
        avoid.submit(Job(status.encode(), b"", Limits())).result()
    assert len(ex.jobs) == 7  # neither was kept


def test_cache_is_bounded() -> None:
    cache = ResultCache(64 * 1024)
    for i in range(100):
        cache.put("", bytes([i]), Outcome(status=Status.OK, stdout=b"x" * 4000))
    assert 0 < len(cache) < 100
    assert cache.get("", bytes([99])) is not None and cache.get("", bytes([0])) is None


def test_a_held_file_keys_as_its_text_sent_whole() -> None:
    # A file named by digest (held_files) is the server's own text object, keyed by its known
    # sha256; the same text sent whole keys the same, and any other content otherwise.
    from sandbox_server.cache import content_key
    from sandbox_server.jail.trusted_judges import HELD_TEXTS

    assert HELD_TEXTS  # the SDK's harness: the SDK is installed beside the server
    held = next(iter(HELD_TEXTS.values()))
    key = lambda content: content_key(b"salt", "python", b"print(1)", b"", None, ((".judge.py", content),))  # noqa: E731
    assert key(held) == key(bytes(bytearray(held)))
    assert key(held) != key(held + b"\n") and key(held) != key(b"")
    assert key(b"a") != key(b"b")
