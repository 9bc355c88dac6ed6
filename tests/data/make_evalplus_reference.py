"""Compute EvalPlus's own verdicts (base and plus) on the CodeGen-16B samples in tests/data for HumanEval+.

Run once by hand, in a separate environment with the `evalplus` package
(evalplus 0.3.1 was used, under Debian's Python 3.11, the jail's runtime):

    python3.11 -m venv /tmp/ep && /tmp/ep/bin/pip install --no-deps evalplus==0.3.1 \
        && /tmp/ep/bin/pip install numpy psutil wget tempdir appdirs termcolor tqdm tree-sitter tree-sitter-python rich fire
    /tmp/ep/bin/python tests/data/make_evalplus_reference.py tests/data/humaneval-codegen16b/samples.jsonl.gz \
        sdk/sandcheck/datasets/data/HumanEvalPlus.jsonl.gz tests/data/humanevalplus_codegen16b_reference.jsonl.gz --per-task 10

It runs EvalPlus's harness unchanged (`evalplus.evaluate.evaluate`, pointed
at the shipped HumanEval+ file with HUMANEVAL_OVERRIDE_PATH) on the first N
samples of each task: unsandboxed, as EvalPlus runs, on those known samples,
never user input. Its output is committed next to this file and read by the
agreement test in tests/test_datasets_evalplus.py.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import sys
import tempfile
import types
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("samples")
    ap.add_argument("dataset")
    ap.add_argument("out")
    ap.add_argument("--per-task", type=int, default=10)
    ap.add_argument("--parallel", type=int, default=2)
    args = ap.parse_args()

    with gzip.open(args.samples, "rt") as f:
        samples = [json.loads(line) for line in f]
    taken, per_task = [], defaultdict(int)
    for index, s in enumerate(samples):
        if per_task[s["task_id"]] < args.per_task:
            per_task[s["task_id"]] += 1
            taken.append((index, s))

    work = Path(tempfile.mkdtemp(prefix="evalplus-ref-"))
    plain = work / "HumanEvalPlus.jsonl"
    with gzip.open(args.dataset, "rb") as src:
        plain.write_bytes(src.read())
    os.environ["HUMANEVAL_OVERRIDE_PATH"] = str(plain)
    sys.modules.setdefault("datasets", types.ModuleType("datasets"))  # only EvalPerf's loader uses it
    sys.modules["datasets"].load_dataset = None
    from evalplus.evaluate import evaluate

    sample_file = work / "samples.jsonl"
    sample_file.write_text("".join(json.dumps({"task_id": s["task_id"], "completion": s["completion"]}) + "\n"
                                   for _, s in taken))
    evaluate(dataset="humaneval", samples=str(sample_file), parallel=args.parallel, i_just_wanna_run=True)
    results = json.loads((work / "samples_eval_results.json").read_text())["eval"]

    seen: dict[str, int] = defaultdict(int)
    rows = []
    for index, s in taken:
        r = results[s["task_id"]][seen[s["task_id"]]]
        seen[s["task_id"]] += 1
        assert r["solution"] == s["completion"] or r["solution"].endswith(s["completion"]), index
        rows.append({"index": index, "task_id": s["task_id"],
                     "sha256": hashlib.sha256(s["completion"].encode()).hexdigest()[:16],
                     "base_status": r["base_status"], "plus_status": r["plus_status"]})
    with gzip.open(args.out, "wt") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"wrote {len(rows)} rows to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
