"""Progress on stderr: every phase longer than a second shows, and a bar's rate is its own phase's."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator

from sandcheck.data import sha256_file
from sandcheck.datasets import dataset_path, load_dataset
from sandcheck.judges.differential.expected import expected_outputs
from sandcheck.progress import TqdmReporter, phase, reporting, tracked


class Recorder:
    """A reporter that remembers each phase: its label, total and the steps counted."""

    def __init__(self) -> None:
        self.phases: list[dict] = []

    @contextlib.contextmanager
    def phase(self, label: str, total: int | None, unit: str, initial: int = 0) -> Iterator:
        seen = {"label": label, "total": total, "unit": unit, "steps": 0}
        self.phases.append(seen)

        def step(n: int = 1) -> None:
            seen["steps"] += n

        yield step


def test_expected_outputs_are_a_counted_phase(client, tmp_path, monkeypatch) -> None:
    # The first HumanEval+ run computes the canonical outputs (53 s for MBPP+): it must not look hung.
    monkeypatch.setenv("SANDCHECK_CACHE_DIR", str(tmp_path))
    problems = dict(list(load_dataset("humaneval+").problems.items())[:2])
    recorder = Recorder()
    with reporting(recorder):
        expected_outputs("humaneval+", sha256_file(dataset_path("humaneval+")), problems, client)
    assert recorder.phases == [{"label": "humaneval+: canonical outputs of 2 tasks (once per dataset version)",
                                "total": 4, "unit": "run", "steps": 4}]  # base and plus inputs of each task
    with reporting(recorder):  # cached now: no phase
        expected_outputs("humaneval+", sha256_file(dataset_path("humaneval+")), problems, client)
    assert len(recorder.phases) == 1


def test_no_reporter_no_output(capsys) -> None:
    with phase("quiet", total=3) as step:
        step(3)
    assert list(tracked([1, 2], "quiet too", total=2)) == [1, 2]
    assert capsys.readouterr() == ("", "")


def test_reporter_shows_phases_past_the_delay() -> None:
    out = io.StringIO()
    with reporting(TqdmReporter(file=out, delay=0.0)):
        with phase("starting a local sandbox server"):
            time.sleep(0.3)  # the line is written by a timer thread at `delay`
        with phase("canonical outputs", total=2, unit="run") as step:
            step(2)
    text = out.getvalue()
    assert "starting a local sandbox server ..." in text
    assert "canonical outputs: 100%" in text and "2/2" in text


def test_a_slow_start_does_not_poison_the_rate() -> None:
    # A phase that waits before its first step (the checks wait for the expected outputs) shows its
    # own rate: its clock starts at the first step, not `1/378 [00:52<5:31:44]`.
    out = io.StringIO()
    with reporting(TqdmReporter(file=out, delay=0.0)):
        with phase("checks", total=3, unit="check") as step:
            time.sleep(1.5)
            step(1)
            step(2)
    final = out.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    assert "3/3 [00:00<00:00" in final, final
