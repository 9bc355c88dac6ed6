"""The dispatcher sends programs several to a message, not one per answer that frees room,
and a stream that dies loses none of them.

gRPC's cost per message, paid on both ends, was most of the client's CPU per
check (issue 22): a stream whose room freed one program at a time sent one
program a message. The stand-in server here answers every program in a reply
of its own, one every half millisecond, as a busy server finishes checks:
room frees one program at a time.
"""

from __future__ import annotations

import queue
import threading
import time

from sandcheck import Program
from sandcheck._types import ExecutionResult
from sandcheck.dispatch import Dispatcher, RetryPolicy
from sandcheck_api.status import Status


class AnswerEach:
    """A Client's stand-in (Dispatcher's `client_factory`): requests are read on a
    thread of their own, as gRPC reads them, and each program is answered in a
    reply message of its own, `gap` seconds after the one before. Records each
    request message's size."""

    sizes: list[int] = []
    gap = 0.0005

    def __init__(self, target: str, **_options) -> None:
        self.target = target

    def __enter__(self) -> "AnswerEach":
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def info(self) -> dict:
        return {}

    def execute_chunks(self, chunks):
        inbox: queue.Queue = queue.Queue()
        replies: queue.Queue = queue.Queue()

        def read() -> None:  # takes each request message as soon as it is made
            for chunk in chunks:
                AnswerEach.sizes.append(len(chunk))
                inbox.put(chunk)
            inbox.put(None)

        def answer() -> None:
            while (chunk := inbox.get()) is not None:
                for program in chunk:
                    time.sleep(AnswerEach.gap)
                    replies.put([ExecutionResult(id=program.id, status=Status.OK)])
            replies.put(None)

        for work in (read, answer):
            threading.Thread(target=work, daemon=True).start()
        while (reply := replies.get()) is not None:
            yield reply


def test_requests_carry_several_programs_while_answers_free_room_one_at_a_time():
    AnswerEach.sizes = []
    programs = [Program("pass", id=str(i)) for i in range(640)]
    results = list(Dispatcher(["stand-in"], window=64, client_factory=AnswerEach).execute_batch(programs))
    assert sorted(int(r.id) for r in results) == list(range(640))
    assert all(r.status == Status.OK for r in results)
    sizes = AnswerEach.sizes
    assert sum(sizes) == 640 and max(sizes) <= 64
    # Sent as room frees, ~580 messages; gathering room for 16 at a time, ~37.
    assert len(sizes) <= 640 / 4, f"{len(sizes)} request messages for 640 programs: {sizes[:40]}"


def test_a_small_window_still_sends_everything():
    AnswerEach.sizes = []
    programs = [Program("pass", id=str(i)) for i in range(50)]
    results = list(Dispatcher(["stand-in"], window=2, client_factory=AnswerEach).execute_batch(programs))
    assert sorted(int(r.id) for r in results) == list(range(50))
    assert max(AnswerEach.sizes) <= 2 and sum(AnswerEach.sizes) == 50


class DiesOnce(AnswerEach):
    """A stand-in whose first stream takes one request message and then fails, unanswered,
    as a killed server's stream does; later streams answer each program (AnswerEach). Like
    gRPC, the dead stream's reader is still inside its call for the next message when the
    stream fails: what that call returns is dropped, never sent."""

    streams = 0
    dropped: list[str] = []

    def execute_chunks(self, chunks):
        DiesOnce.streams += 1
        if DiesOnce.streams == 1:
            first = threading.Event()

            def read_then_drop() -> None:
                for i, chunk in enumerate(chunks):
                    if i == 0:
                        first.set()
                    else:  # the call is over: gRPC drops the message and stops reading
                        DiesOnce.dropped += [p.id for p in chunk]
                        return

            threading.Thread(target=read_then_drop, daemon=True).start()
            first.wait(10)
            time.sleep(0.05)
            raise ConnectionError("stream reset: the server was killed")
        yield from super().execute_chunks(chunks)


def test_a_dead_streams_reader_never_takes_work_from_the_stream_after_it():
    # The window is full when the stream dies: its request generator waits for room
    # (0.2 s at a time) while the next stream, started at once, takes the work back.
    # It used to see that stream's room and in-flight table when it woke, take work
    # for it, and hand it to the dead call: lost, and the batch waited until it gave up.
    DiesOnce.streams, DiesOnce.dropped = 0, []
    AnswerEach.gap = 0.002
    try:
        programs = [Program("pass", id=str(i)) for i in range(300)]
        retry = RetryPolicy(attempts=3, backoff_initial=0.001, backoff_max=0.001, give_up_after=10)
        d = Dispatcher(["stand-in"], window=8, retry=retry, client_factory=DiesOnce)
        results = list(d.execute_batch(programs))
    finally:
        AnswerEach.gap = 0.0005
    assert DiesOnce.streams >= 2
    assert sorted(int(r.id) for r in results) == list(range(300))
    assert all(r.status == Status.OK for r in results), {r.error for r in results if r.status != Status.OK}
    assert DiesOnce.dropped == []
