"""Render `sandcheck report` as a reader sees it: real samples, real eval, headless Chromium.

    .venv/bin/python bench/report_screenshot.py                  # 10 CodeGen-16B samples per problem
    .venv/bin/python bench/report_screenshot.py --per-problem 1  # n = 1: no curve, no ranking
    .venv/bin/python bench/report_screenshot.py --problems 20    # a shorter page

It takes the first N samples per problem from tests/data/humaneval-codegen16b,
tags them with the model and sampling parameters they were made with
(CodeGen-Mono-16B, T 0.8, top_p 0.95: see tests/data/README.md), runs
`sandcheck eval` on an embedded server and `sandcheck report`, then has
Debian's `chromium` take a full-page screenshot. Look at the PNG: the test
suite checks the HTML's facts, not whether a person can read it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from workloads import PROBLEMS, SAMPLES, read_jsonl, write_jsonl

SANDCHECK = str(Path(sys.executable).parent / "sandcheck")
SAMPLED_WITH = {"model": "CodeGen-Mono-16B", "temperature": 0.8, "top_p": 0.95}


def chosen_samples(per_problem: int, problems: int) -> list[dict]:
    taken: dict[str, int] = defaultdict(int)
    rows = []
    for s in read_jsonl(SAMPLES):
        known = s["task_id"] in taken
        if (known or len(taken) < problems) and taken[s["task_id"]] < per_problem:
            taken[s["task_id"]] += 1
            rows.append({"task_id": s["task_id"], "completion": s["completion"], **SAMPLED_WITH})
    return rows


def screenshot(page: Path, png: Path, width: int = 1100, height: int = 9000) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        sys.exit("needs Debian's chromium: apt-get install -y chromium")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-problem", type=int, default=10, help="samples per problem (default 10)")
    ap.add_argument("--problems", type=int, default=164, help="how many problems (default all 164)")
    ap.add_argument("--out", default="/tmp/sandcheck-report", help="folder for the files (default %(default)s)")
    ap.add_argument("--height", type=int, default=9000, help="screenshot height in pixels (default 9000)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    samples = out / "samples.jsonl"
    write_jsonl(samples, chosen_samples(args.per_problem, args.problems))
    results = out / "samples.jsonl_results.jsonl"
    ks = ",".join(str(k) for k in (1, 2, 5, 10, 100) if k <= args.per_problem)
    subprocess.run([SANDCHECK, "eval", str(samples), "--problems", str(PROBLEMS), "--k", ks, "--no-progress",
                    "-o", str(results)], check=True)
    page = out / "report.html"
    subprocess.run([SANDCHECK, "report", str(results), "-o", str(page), "--k", ks], check=True)
    png = out / "report.png"
    screenshot(page, png, height=args.height)
    print(json.dumps({"report": str(page), "screenshot": str(png), "bytes": page.stat().st_size}))


if __name__ == "__main__":
    main()
