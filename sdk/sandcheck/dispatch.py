"""Exactly one result per program, across servers that fail, restart or shed load.

`Dispatcher` streams programs to one or more servers. Each server gets its
own batch stream, which pulls work from one shared queue while it has room,
so a faster server takes more. A stream that breaks (server killed,
restarted, unreachable) puts its unanswered programs back in the queue and
reconnects with exponential backoff and jitter, while the other servers go
on. Results are keyed by program id: a program answered twice (sent again
after a break, though the first server did run it) is reported once.

A result that says the server could not run the program (``SANDBOX_ERROR``:
overload, shutdown, a jail that failed to start) is retried, at most
``RetryPolicy.attempts`` times in all. A program still without a verdict is
reported as its last ``SANDBOX_ERROR``, so a run always ends.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sandcheck_api.status import Status

from ._exceptions import InvalidInput, Unavailable
from ._types import ExecutionResult
from .client import Client, Program, require_program


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before a program is reported without a verdict."""

    # Runs of one program that ended in SANDBOX_ERROR before it is reported.
    attempts: int = 3
    # Reconnect backoff: initial, factor, cap (seconds), with full jitter.
    backoff_initial: float = 0.2
    backoff_max: float = 10.0
    # Give up on the remaining programs after no server answered for this long.
    give_up_after: float = 600.0

    def backoff(self, failures: int) -> float:
        cap = min(self.backoff_max, self.backoff_initial * (2 ** min(failures, 16)))
        return random.uniform(0, cap)


_DONE = object()
_CHUNK = 64  # programs per request message at most
# While results are on their way, a request message waits up to _LINGER_S for
# room for _CHUNK_MIN programs. Sent as room freed, a busy stream's messages
# held one or two programs, and gRPC's cost per message, paid on both ends,
# was most of the client's CPU per check (tests/test_dispatch_batching.py).
_CHUNK_MIN = 16
_LINGER_S = 0.05

# gRPC target schemes; "ipv4:a,b" and "ipv6:a,b" are one multi-address target.
_SCHEMES = ("ipv4", "ipv6", "dns", "unix", "unix-abstract", "vsock", "xds")


def split_targets(server: str) -> list[str]:
    """``a:1,b:2`` is two servers; a gRPC multi-address target (``ipv4:a,b``) stays one."""
    if server.split(":", 1)[0] in _SCHEMES:
        return [server] if "," not in server or server.startswith(("ipv4:", "ipv6:")) else server.split(",")
    return [t.strip() for t in server.split(",") if t.strip()]


class Dispatcher:
    """``Dispatcher(["a:1", "b:2"]).execute_batch(programs)``: one result per program id."""

    def __init__(
        self,
        targets: Iterable[str],
        *,
        retry: RetryPolicy = RetryPolicy(),
        window: int = 64,
        client_factory: Callable[[str], Client] = Client,
    ) -> None:
        self.targets = [t for t in targets if t]
        if not self.targets:
            raise InvalidInput("no server given")
        self.retry = retry
        self.window = window
        self._client_factory = client_factory
        self._connections: list[tuple[str, int]] | None = None

    def connections(self) -> list[tuple[str, int]]:
        """(target, connection index) for each stream to open, asked of each server once.

        A server of several processes (``serve --processes N``) says so in its
        info: on unix sockets it lists every process's address, and each gets
        a stream; on a shared TCP port it gives the count, and the target gets
        2 x N connections, which the kernel spreads over the processes.
        """
        if self._connections is None:
            found: list[tuple[str, int]] = []
            for target in self.targets:
                try:
                    with self._client_factory(target, timeout=10) as client:
                        info = client.info()
                except Exception:  # down for now: one stream, which retries and fails over
                    info = {}
                processes = int(info.get("processes") or 1)
                streams = 2 * processes if processes > 1 else 1
                for address in info.get("endpoints") or [target]:
                    found += [(address, i) for i in range(streams)]
            self._connections = list(dict.fromkeys(found))
        return self._connections

    def execute_batch(self, programs: Iterable[Program]) -> Iterator[ExecutionResult]:
        """Yield one result per program, in completion order."""
        run = _Run(list(programs), self)
        yield from run.results()

    # Same front door as Client, so evaluate() takes either.
    def info(self) -> dict:
        """The first answering server's info (what a judge checks before it runs anything)."""
        errors = []
        for target in self.targets:
            try:
                with self._client_factory(target, timeout=10) as client:
                    return client.info()
            except Exception as exc:  # down for now: ask the next
                errors.append(f"{target}: {exc}")
        raise Unavailable("no server answered: " + "; ".join(errors), "UNAVAILABLE")

    def close(self) -> None:
        pass

    def __enter__(self) -> "Dispatcher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Run:
    """The state of one batch: pending work, attempts, answered ids."""

    def __init__(self, programs: list[Program], d: Dispatcher) -> None:
        for p in programs:
            require_program(p)
        ids = [p.id for p in programs]
        if len(set(ids)) != len(ids) or any(not i for i in ids):
            raise InvalidInput("every program in a dispatched batch needs a unique, non-empty id")
        self.d = d
        self.programs = {p.id: p for p in programs}
        self.pending: queue.Queue[str] = queue.Queue()
        for i in ids:
            self.pending.put(i)
        self.attempts: dict[str, int] = {}
        self.answered: set[str] = set()
        self.out: queue.Queue = queue.Queue()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.last_progress = time.monotonic()

    def results(self) -> Iterator[ExecutionResult]:
        total = len(self.programs)
        if not total:
            return
        threads = [threading.Thread(target=self._serve, args=(t, i), daemon=True, name=f"dispatch-{t}-{i}")
                   for t, i in self.d.connections()]
        for t in threads:
            t.start()
        delivered = 0
        try:
            while delivered < total:
                try:
                    batch = self.out.get(timeout=1.0)
                except queue.Empty:
                    if time.monotonic() - self.last_progress > self.d.retry.give_up_after:
                        batch = self._give_up()
                    else:
                        continue
                delivered += len(batch)
                yield from batch
        finally:
            self.stop.set()

    def _give_up(self) -> list[ExecutionResult]:
        with self.lock:
            left = [i for i in self.programs if i not in self.answered]
            self.answered.update(left)
            self.last_progress = time.monotonic()
        return [ExecutionResult(id=i, status=Status.SANDBOX_ERROR, error="no server answered; gave up") for i in left]

    def _accept(self, result: ExecutionResult) -> bool:
        """Record a result; False when it is a duplicate or will be retried (else the caller delivers it)."""
        with self.lock:
            if result.id not in self.programs or result.id in self.answered:
                return False
            if result.rejected:
                # Nothing ran: resend without spending an attempt.
                self.pending.put(result.id)
                return False
            self.last_progress = time.monotonic()
            if result.status == Status.SANDBOX_ERROR:
                n = self.attempts.get(result.id, 0) + 1
                self.attempts[result.id] = n
                if n < self.d.retry.attempts:
                    self.pending.put(result.id)
                    return False
            self.answered.add(result.id)
        return True

    def _serve(self, target: str, index: int = 0) -> None:
        """One connection's loop: stream work until the batch is done; reconnect on failure."""
        connection = {"connection": index} if index else {}
        failures = 0
        while not self.stop.is_set():
            failures = self._stream(target, connection, failures)
            if self.stop.is_set():
                return
            time.sleep(self.d.retry.backoff(failures))

    def _stream(self, target: str, connection: dict, failures: int) -> int:
        """One stream to `target`, until it fails, is refused or the batch is done; the
        failures in a row after it. Its state is this call's own: gRPC may still be
        pulling on a dead stream's request generator, which must never take work
        for the stream that replaces it."""
        in_flight: dict[str, None] = {}
        room = threading.Semaphore(self.d.window)
        ended = threading.Event()

        def take(room_wait: float, work_wait: float) -> str | None:
            """One pending id, with room for it, waiting up to `room_wait` seconds for
            room and `work_wait` for work; None when there is none (then)."""
            if not room.acquire(timeout=max(0.0, room_wait)):
                return None
            try:
                return self.pending.get(timeout=work_wait) if work_wait > 0 else self.pending.get_nowait()
            except queue.Empty:
                room.release()
                return None

        def requests() -> Iterator[list[Program]]:
            """Chunks of what is pending and fits the window: one blocking take, then all that
            is ready, and, while results are on their way and work is pending, what room frees
            within _LINGER_S, up to `least` programs."""
            least = max(1, min(_CHUNK_MIN, self.d.window // 4))
            while not self.stop.is_set() and not ended.is_set():
                first = take(0.2, 0.2)
                if first is None:
                    continue
                ids = [first]
                until = time.monotonic() + _LINGER_S
                while len(ids) < _CHUNK:
                    pid = take(0, 0)
                    if pid is None and len(ids) < least and in_flight and not self.pending.empty():
                        pid = take(until - time.monotonic(), 0)
                    if pid is None:
                        break
                    ids.append(pid)
                chunk = []
                with self.lock:
                    if ended.is_set():
                        # The stream died while these were being taken.
                        for pid in ids:
                            self.pending.put(pid)
                        return
                    for pid in ids:
                        if pid in self.answered:
                            room.release()
                            continue
                        in_flight[pid] = None
                        chunk.append(self.programs[pid])
                if chunk:
                    yield chunk

        try:
            with self.d._client_factory(target, **connection) as client:
                for results in client.execute_chunks(requests()):
                    failures = 0
                    with self.lock:
                        for result in results:
                            in_flight.pop(result.id, None)
                    room.release(len(results))
                    accepted = [r for r in results if self._accept(r)]
                    if accepted:
                        self.out.put(accepted)  # one hand-off per reply, not per result
                    if any(r.rejected for r in results):
                        # Overloaded or draining: leave it, come back later.
                        failures += 1
                        break
                    if self.stop.is_set():
                        break
        except Exception:  # a server error, or a bug: neither may strand this server's work
            failures += 1
        finally:
            with self.lock:
                ended.set()
                # Unanswered work goes back for any server to take.
                for pid in in_flight:
                    if pid not in self.answered:
                        self.pending.put(pid)
                in_flight.clear()
        return failures
