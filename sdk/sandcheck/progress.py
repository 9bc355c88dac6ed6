"""Progress of the long phases of a run, shown by whoever runs it.

Library code marks a phase and counts its steps; it prints nothing itself:

    with phase("humaneval+: the canonical solutions' outputs", total=328, unit="run") as step:
        for result in results:
            step(1)
    for result in tracked(results, "humaneval+: ...", total=328):   # the same, for a loop
        ...

The CLI installs a reporter (`reporting(TqdmReporter())`) for the length of
a command, so every phase longer than a second gets a line on stderr; an
SDK caller that installs none sees nothing. `ChecksBar` is the bar of the
checks themselves: its clock starts at the first result, so a slow phase
before it (a server start, the expected outputs) does not poison its rate.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Protocol, TypeVar

Step = Callable[[int], None]
T = TypeVar("T")


class Reporter(Protocol):
    def phase(self, label: str, total: int | None, unit: str,
              initial: int) -> contextlib.AbstractContextManager[Step]: ...


_reporter: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar("sandcheck_progress", default=None)


@contextlib.contextmanager
def phase(label: str, total: int | None = None, unit: str = "it", initial: int = 0) -> Iterator[Step]:
    """A phase of `total` steps, `initial` of them done before (None: not counted);
    yields the function that counts them."""
    reporter = _reporter.get()
    if reporter is None:
        yield lambda n=1: None
        return
    with reporter.phase(label, total, unit, initial) as step:
        yield step


@contextlib.contextmanager
def reporting(reporter: Reporter) -> Iterator[None]:
    """Report the phases started in this context with `reporter`."""
    token = _reporter.set(reporter)
    try:
        yield
    finally:
        _reporter.reset(token)


class TqdmReporter:
    """A phase longer than `delay` seconds shows as a tqdm bar (a line, if not counted) on `file`."""

    def __init__(self, file: IO[str] | None = None, delay: float = 1.0, disable: bool = False) -> None:
        self.file = file or sys.stderr
        self.delay = delay
        self.disable = disable

    @contextlib.contextmanager
    def phase(self, label: str, total: int | None, unit: str, initial: int = 0) -> Iterator[Step]:
        if self.disable:
            yield lambda n=1: None
            return
        if total is None:
            timer = threading.Timer(self.delay, lambda: print(f"{label} ...", file=self.file, flush=True))
            timer.daemon = True
            timer.start()
            try:
                yield lambda n=1: None
            finally:
                timer.cancel()
            return
        from tqdm import tqdm

        with tqdm(total=total, initial=initial, desc=label, unit=unit, file=self.file, dynamic_ncols=True,
                  delay=self.delay) as bar:
            timer = _show_after(bar, self.delay)
            started = False

            def step(n: int = 1) -> None:
                nonlocal started
                if not started:  # the clock starts now: the wait before the first step is not the rate
                    started = True
                    now = bar._time()
                    bar.delay = max(0.0, bar.start_t + bar.delay - now)  # still shown 1 s after the phase began
                    bar.start_t = bar.last_print_t = now
                bar.update(n)

            try:
                yield step
            finally:
                timer.cancel()


def _show_after(bar, delay: float) -> threading.Timer:  # noqa: ANN001 (a tqdm)
    """Draw `bar` once after `delay` even if no step came: a phase whose first step is slow still shows."""
    def show() -> None:
        bar.refresh()
        bar.last_print_t = bar._time()  # shown: tqdm's close then ends its line

    timer = threading.Timer(delay, show)
    timer.daemon = True
    timer.start()
    return timer


def tracked(items: Iterable[T], label: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """`items`, counted as the steps of a phase."""
    with phase(label, total, unit) as step:
        for item in items:
            yield item
            step(1)
