"""An executor stand-in for unit tests of the work avoided (dedup.py, cache.py)."""

from __future__ import annotations

from concurrent.futures import Future

from sandbox_server.executor import Job
from sandbox_server.jail.outcome import Outcome
from sandcheck_api.status import Status


class CountingExecutor:
    """Answers every job at once with `status`, echoing its source; keeps the jobs it ran."""

    def __init__(self, status: Status = Status.OK) -> None:
        self.jobs: list[Job] = []
        self.status = status

    def submit(self, job: Job) -> Future:
        self.jobs.append(job)
        f: Future = Future()
        f.set_running_or_notify_cancel()
        f.set_result(Outcome(status=self.status, stdout=job.source, limits=job.limits))
        return f
