"""The channels between the server and a running jail, and the one loop that serves them.

A run, cold or warm, has a few pipes and sockets to the jail (stdout,
stderr, the report descriptor, PID 1's status channel, the program's stdin).
`serve_channels()` services all of them until they close, while its
`LimitClock` says when a time limit is spent and the jail must be killed.
Every byte read from a jail lands in a `Capped` buffer: whatever a program
writes, the server keeps at most a fixed amount.
"""

from __future__ import annotations

import os
import selectors
import time
from collections.abc import Callable, Mapping

from .limit_clock import LimitClock

CHUNK = 65536
# After a kill, how long the channels may take to close before the server stops waiting.
_CLOSE_AFTER_KILL_S = 10.0

# A channel's handler: called when its fd is ready; False once it is done.
Handler = Callable[[], bool]


class Capped:
    """A byte buffer that keeps the first `cap` bytes and counts the rest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parts: list[bytes] = []
        self.size = 0
        self.dropped = 0

    def add(self, data: bytes) -> None:
        room = self.cap - self.size
        if room > 0:
            kept = data[:room]
            self.parts.append(kept)
            self.size += len(kept)
        self.dropped += max(0, len(data) - max(room, 0))

    def value(self) -> bytes:
        return b"".join(self.parts)


def reader(fd: int, sink: Capped, on_overflow: Callable[[], None] | None = None) -> Handler:
    """A handler that reads `fd` into `sink` until end of file. With `on_overflow`,
    the first byte past the cap calls it and ends the channel (PID 1's channels:
    more than PID 1 ever sends means the program got hold of them)."""
    os.set_blocking(fd, False)

    def read() -> bool:
        try:
            chunk = os.read(fd, CHUNK)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        sink.add(chunk)
        if sink.dropped and on_overflow is not None:
            on_overflow()
            return False
        return True

    return read


def writer(fd: int, data: bytes, close: Callable[[], None]) -> Handler:
    """A handler that writes `data` to `fd` (a program's stdin), then `close()`s it;
    a program that stops reading just gets the rest dropped."""
    os.set_blocking(fd, False)
    view = memoryview(data)

    def write() -> bool:
        nonlocal view
        try:
            view = view[os.write(fd, view[:CHUNK]):]
        except BlockingIOError:
            return True
        except BrokenPipeError:
            view = view[:0]
        if view:
            return True
        close()
        return False

    return write


def serve_channels(channels: Mapping[int, tuple[int, Handler]], clock: LimitClock,
                   kill: Callable[[str], None]) -> str:
    """Serve `channels` ({fd: (selectors event, handler)}) until every one is done,
    calling `kill(kind)` once when `clock` says a limit is spent; return that
    kind ("CPU", "WALL") or "" if none fired."""
    sel = selectors.DefaultSelector()
    for fd, (events, handler) in channels.items():
        sel.register(fd, events, handler)
    killed = ""
    give_up = 0.0
    try:
        while sel.get_map():
            now = time.monotonic()
            if not killed:
                killed = clock.expired(now)
                if killed:
                    kill(killed)
                    give_up = now + _CLOSE_AFTER_KILL_S
            elif now > give_up:
                break
            for key, _ in sel.select(0.05 if killed else clock.next_poll(now)):
                if not key.data():
                    sel.unregister(key.fd)
    finally:
        sel.close()
    return killed
