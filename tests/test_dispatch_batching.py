"""The dispatcher sends programs several to a message, not one per answer that frees room.

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
from sandcheck.dispatch import Dispatcher
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
