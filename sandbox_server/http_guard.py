"""The HTTP door's connections, bounded as a front end bounds them.

uvicorn alone waits forever for a request's header (its keep-alive timer
starts only after a first response, and stops at the first byte of the
next request) and accepts connections until the process runs out of file
descriptors, which the gRPC door and the jails share. About 43,500
connections that each sent half a header took both doors down.

So each worker keeps its HTTP connections in a `ConnectionGuard`:

- at most `DoorLimits.max_connections` open at once, fewer if the process's
  fd limit is low (`connection_cap`: half the fds stay for gRPC and the jails);
- a connection that owes the server something has a deadline: its request
  header (`head_s` from its first byte, or from the connection), its body
  (`body_s` once the header is in), or its next request (`idle_s` after a
  response). Past it the connection is dropped, whatever the client sends;
- a new connection at the cap takes the place of the connection that has
  been owing the longest; only connections whose request is running are
  never dropped for another (if all are, the new one is).

A request that is running (its body fully received) has no deadline here:
its program runs under its own limits, and a client that goes away cancels it.

Beneath the guard, the listening socket itself (`CappedListener`) counts
the connections it has accepted and not yet closed, TLS handshakes included
(those reach no protocol until they finish, and are shut down at the header
deadline too), and closes a new one at once past twice the cap: a hard bound
on the door's fds whatever arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class DoorLimits:
    """Deadlines and caps of the HTTP door, per worker process."""

    head_s: float = 10.0  # the request line and headers, from the connection or the first byte
    body_s: float = 60.0  # the body, once the header is in (49 MiB at 1 MiB/s)
    idle_s: float = 5.0  # a kept-alive connection between requests
    max_connections: int = 1024
    # Bodies held in memory at once (read, not yet parsed), counted in maximum-size
    # bodies: a request waits for its share of that many bytes (`ByteBudget`).
    buffered_bodies: int = 2


def connection_cap(limits: DoorLimits) -> int:
    """`max_connections`, or half this process's fd limit if that is lower: the
    other half is the gRPC door's, the jails' and the server's own."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limits.max_connections
    return max(8, min(limits.max_connections, soft // 2))


def raise_fd_limit() -> None:
    """The soft fd limit up to the hard one: the caps above are then the binding ones."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class ConnectionGuard:
    """The open connections of one door, each with the deadline of what it owes."""

    _SWEEP_S = 0.5

    def __init__(self, limits: DoorLimits, cap: int, listener: CappedListener | None = None) -> None:
        self.limits = limits
        self.cap = cap
        self.listener = listener
        if listener is not None:
            listener.on_accept = self._ensure_sweeping
        # Connections that owe something, oldest first: protocol -> deadline (monotonic).
        self._owing: OrderedDict[GuardedProtocol, float] = OrderedDict()
        self._running: set[GuardedProtocol] = set()
        self._sweeper: asyncio.TimerHandle | None = None
        self.dropped = 0  # connections dropped for a deadline or for a newer one

    @property
    def open(self) -> int:
        return len(self._owing) + len(self._running)

    def opened(self, conn: GuardedProtocol) -> bool:
        """Take `conn` in (owing its header); False if it must be closed at once."""
        sock = conn.transport.get_extra_info("socket")
        if self.listener is not None and sock is not None:
            self.listener.arrived(sock.fileno())
        if self.open >= self.cap:
            if not self._owing:
                return False  # every connection is running a request
            oldest, _ = self._owing.popitem(last=False)
            self._drop(oldest)
        self.owes(conn, self.limits.head_s)
        self._ensure_sweeping()
        return True

    def owes(self, conn: GuardedProtocol, within_s: float) -> None:
        self._running.discard(conn)
        self._owing.pop(conn, None)
        self._owing[conn] = time.monotonic() + within_s

    def running(self, conn: GuardedProtocol) -> None:
        self._owing.pop(conn, None)
        self._running.add(conn)

    def closed(self, conn: GuardedProtocol) -> None:
        self._owing.pop(conn, None)
        self._running.discard(conn)

    def _drop(self, conn: GuardedProtocol) -> None:
        self.closed(conn)
        self.dropped += 1
        conn.transport.abort()

    def _ensure_sweeping(self) -> None:
        """From the first connection on, sweep for overdue ones every half second (in the door's event loop)."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(self._SWEEP_S, self._sweep)

    def _sweep(self) -> None:
        now = time.monotonic()
        for conn in [c for c, deadline in self._owing.items() if deadline <= now]:
            self._drop(conn)
        if self.listener is not None:
            self.listener.shut_overdue()
        self._sweeper = asyncio.get_running_loop().call_later(self._SWEEP_S, self._sweep)


class GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol, telling its guard what the connection owes.

    `guarded(guard)` makes the class a door passes to uvicorn as `http=`."""

    guard: ConnectionGuard

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._cycle_seen = None
        self._idle = False
        if not self.guard.opened(self):
            transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.closed(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._idle:  # the first byte of the next request: its header is due
            self._idle = False
            self.guard.owes(self, self.guard.limits.head_s)
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if cycle is None or cycle.response_complete or cycle.disconnected:
            return
        if cycle is not self._cycle_seen:  # a header is in: now the body is due
            self._cycle_seen = cycle
            self._idle = False
            self.guard.owes(self, self.guard.limits.body_s)
        if not cycle.more_body:
            self.guard.running(self)

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self._idle = True
            self.guard.owes(self, self.guard.limits.idle_s)
        super().on_response_complete()  # may start a pipelined request (handle_events)


def guarded(guard: ConnectionGuard) -> type[GuardedProtocol]:
    return type("DoorProtocol", (GuardedProtocol,), {"guard": guard})


class ByteBudget:
    """Request bodies held in memory at once, in bytes: a request reserves its
    Content-Length (the body limit when it has none) before reading its body,
    and gives it back once the body is parsed; a request that does not fit waits."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.free = total
        self._changed = asyncio.Condition()

    @contextlib.asynccontextmanager
    async def reserve(self, size: int) -> AsyncIterator[None]:
        size = min(size, self.total)
        async with self._changed:
            await self._changed.wait_for(lambda: self.free >= size)
            self.free -= size
        try:
            yield
        finally:
            async with self._changed:
                self.free += size
                self._changed.notify_all()


class CappedListener(socket.socket):
    """A listening socket whose accepted connections are counted until closed.

    A connection is "pending" from its accept until it reaches its protocol
    (`arrived`): at once for plain HTTP, after the handshake for TLS. Past
    `limit` open, a new connection is closed as it is accepted (the guard
    above makes room among the connections that reached it, so `limit` is
    twice its cap); a pending connection past `head_s` is shut down
    (`shut_overdue`), so a stalled TLS handshake is held no longer than an
    unfinished header."""

    def __init__(self, family: int, kind: int, proto: int, limit: int, head_s: float) -> None:
        super().__init__(family, kind, proto)
        self.limit = limit
        self.head_s = head_s
        self.open = 0
        self.refused = 0
        self.on_accept: Callable[[], None] | None = None  # the guard starts its sweeps
        self._pending: OrderedDict[int, tuple[weakref.ref, float]] = OrderedDict()

    def accept(self) -> tuple[socket.socket, object]:
        if self.on_accept is not None:
            self.on_accept()
        fd, address = self._accept()
        conn = _CountedConnection(self.family, self.type, self.proto, fileno=fd)
        self.open += 1
        # Counted down exactly once: at close, or if a connection is ever dropped unclosed, when it is collected.
        conn.forget = weakref.finalize(conn, self._one_closed, fd)
        if self.open > self.limit:
            self.refused += 1
            conn.close()
            raise ConnectionAbortedError  # asyncio's accept loop takes this as "nothing to accept now"
        self._pending[fd] = (weakref.ref(conn), time.monotonic() + self.head_s)
        return conn, address

    def arrived(self, fd: int) -> None:
        self._pending.pop(fd, None)

    def shut_overdue(self) -> None:
        now = time.monotonic()
        while self._pending:
            fd, (ref, deadline) = next(iter(self._pending.items()))
            if deadline > now:
                return
            del self._pending[fd]
            _shut(ref())

    def _one_closed(self, fd: int) -> None:
        self.open -= 1
        self._pending.pop(fd, None)


def _shut(conn: socket.socket | None) -> None:
    """End a connection asyncio owns without closing its fd under it: its transport sees the end and closes."""
    if conn is not None:
        try:
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _CountedConnection(socket.socket):
    forget: weakref.finalize

    def close(self) -> None:
        self.forget()
        super().close()
