"""Work avoided before a job reaches a jail: batch deduplication and the cache.

`WorkAvoider.submit` stands in front of `Executor.submit`:
- Within one ExecuteBatch stream, requests identical in every input
  (same text of source, stdin, files, language, resolved limits, tenant) share one
  execution: the first one's Future is handed to the others, and each gets
  its own response (its own id) when it completes. One that finished as a
  SANDBOX_ERROR or TIMEOUT is not handed on: a client resends such an item
  (often on the same stream) to have it run again, not to hear the same answer.
- Across requests, a result found in the tenant's `ResultCache` is answered
  at once; a finished execution fills it (never a SANDBOX_ERROR or TIMEOUT).
"""

from __future__ import annotations

from concurrent.futures import Future

from .cache import ResultCache, cacheable, content_key
from .config import ServerConfig
from .executor import Executor, Job

CACHE_METADATA_KEY = "sandcheck-cache"


class WorkAvoider:
    def __init__(self, executor: Executor, config: ServerConfig, runtime_id: str) -> None:
        self.executor = executor
        mb = config.result_cache_mb
        self.cache: ResultCache | None = ResultCache(mb * 1024 * 1024) if mb > 0 else None
        self._salt = f"{runtime_id}|{config.jail!r}".encode()
        self.deduplicated = 0  # batch items that shared another item's run

    def key(self, job: Job, language: str = "python") -> bytes:
        return content_key(self._salt, language, job.source, job.stdin, job.limits, job.files, job.compile_limits,
                           job.run_files, job.args)

    def submit(self, job: Job, batch: dict[bytes, Future] | None = None, use_cache: bool = True,
               language: str = "python") -> Future:
        """A Future for `job`'s outcome; may raise Overloaded like Executor.submit."""
        key = self.key(job, language)
        bkey = job.tenant.encode() + b"\0" + key
        if batch is not None:
            shared = batch.get(bkey)
            if shared is not None and _shareable(shared):
                self.deduplicated += 1
                return shared
        cache = self.cache if use_cache else None
        if cache is not None:
            hit = cache.get(job.tenant, key)
            if hit is not None:
                fut: Future = Future()
                fut.set_running_or_notify_cancel()
                fut.set_result(hit)
                if batch is not None:
                    batch[bkey] = fut
                return fut
        fut = self.executor.submit(job)
        if cache is not None:
            tenant = job.tenant

            def fill(f: Future) -> None:
                if not f.cancelled() and f.exception() is None:
                    cache.put(tenant, key, f.result())

            fut.add_done_callback(fill)
        if batch is not None:
            batch[bkey] = fut
        return fut


def _shareable(fut: Future) -> bool:
    """Running, or finished with an outcome worth keeping (the cache's rule)."""
    if not fut.done():
        return True
    return not fut.cancelled() and fut.exception() is None and cacheable(fut.result())


def cache_wanted(context) -> bool:
    """False when the request opts out with gRPC metadata ``sandcheck-cache: off``."""
    try:
        for k, v in context.invocation_metadata() or ():
            if k == CACHE_METADATA_KEY and str(v).lower() in ("off", "0", "false", "no"):
                return False
    except Exception:
        pass
    return True
