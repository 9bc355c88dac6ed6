"""A per-tenant result cache, keyed by the content hash of what would run.

The key covers everything that decides a result: the runtime (interpreter
and version), the jail's fixed shape (rlimits, tmpfs, PYTHONHASHSEED), the
language, the source, stdin, the files and the resolved limits. Identical inputs then
give the same facts, run or not, because the hash seed is fixed.

- Each tenant has its own entries: one tenant never gets a result that
  another tenant's run produced (nor learns, by timing, what others ran).
- SANDBOX_ERROR and TIMEOUT results are never stored: the first says
  nothing about the program, the second may depend on the machine's load.
  Results the server handed back without running (``rejected``) neither.
- It is bounded by bytes kept (outputs dominate) and evicts the least
  recently used entry first, across all tenants.
- Opt-outs: ``result_cache_mb = 0`` (``--result-cache-mb 0``,
  ``SANDCHECK_RESULT_CACHE_MB=0``) turns it off; a request with the gRPC
  metadata ``sandcheck-cache: off`` neither reads nor fills it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict

from sandcheck_api.status import Status

from .jail.outcome import Outcome
from .jail.trusted_judges import HELD_TEXTS

NEVER_CACHED = frozenset({Status.SANDBOX_ERROR, Status.TIMEOUT, Status.INVALID_REQUEST})
_ENTRY_OVERHEAD = 512


# The sha256 of each text the server holds, by the text object: a held file
# (ExecuteRequest.held_files) is that very object, so its ~24 KB is not
# hashed again for every check.
_HELD_DIGESTS = {id(text): bytes.fromhex(digest) for digest, text in HELD_TEXTS.items()}


def _file_digest(content: bytes) -> bytes:
    held = _HELD_DIGESTS.get(id(content))
    return held if held is not None else hashlib.sha256(content).digest()


def content_key(salt: bytes, language: str, source: bytes, stdin: bytes, limits, files=(),
                compile_limits=None, run_files=(), args=()) -> bytes:
    """sha256 over everything that decides a result; `salt` names runtime and jail.
    A file counts by its name and its content's sha256."""
    h = hashlib.sha256()
    named = [part for name, content in files for part in (name.encode(), _file_digest(content))]
    parts = [salt, language.encode(), source, stdin, _limits_text(limits).encode(), len(files).to_bytes(4, "little"),
             *named, _limits_text(compile_limits).encode()]
    if run_files or args:  # (only then: the keys of requests without them stay as they were)
        parts += [len(run_files).to_bytes(4, "little"),
                  *(part for name, content in run_files for part in (name.encode(), content)),
                  len(args).to_bytes(4, "little"), *(a.encode() for a in args)]
    for part in parts:
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.digest()


def _limits_text(limits) -> str:
    if limits is None:
        return ""
    return f"{limits.cpu_time_ms}/{limits.wall_time_ms}/{limits.memory_bytes}/{limits.output_bytes}"


def cacheable(outcome: Outcome) -> bool:
    # A compile that timed out is no more a fact about the program than a run that did.
    compile_timed_out = outcome.compile is not None and outcome.compile.status in NEVER_CACHED
    return outcome.status not in NEVER_CACHED and not outcome.rejected and not compile_timed_out


class ResultCache:
    """LRU of Outcomes by (tenant, content key), bounded by bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, bytes], tuple[Outcome, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _size(o: Outcome) -> int:
        compiled = len(o.compile.stdout) + len(o.compile.stderr) if o.compile else 0
        return len(o.stdout) + len(o.stderr) + len(o.report) + len(o.error) + compiled + _ENTRY_OVERHEAD

    def get(self, tenant: str, key: bytes) -> Outcome | None:
        with self._lock:
            item = self._entries.get((tenant, key))
            if item is None:
                self.misses += 1
                return None
            self._entries.move_to_end((tenant, key))
            self.hits += 1
            return dataclasses.replace(item[0])

    def put(self, tenant: str, key: bytes, outcome: Outcome) -> bool:
        if not cacheable(outcome):
            return False
        size = self._size(outcome)
        if size > self.max_bytes // 4:
            return False
        with self._lock:
            old = self._entries.pop((tenant, key), None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[(tenant, key)] = (outcome, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
        return True

    def __len__(self) -> int:
        return len(self._entries)
