"""What a C++ testlib checker costs, and what run_files saves.

One problem ("print any permutation of 1..n", a testlib checker), TESTS
tests, SAMPLES right Python samples, judged twice side by side on one
embedded server: as sandcheck judges it (the checker's data in
``run_files``: one compile per problem), and a baseline with the same data
in ``files`` (part of the build, so one compile per test). Each arm starts
from an empty result cache (the sources differ by a comment per arm and
round). Prints wall time, the compiles done and the checker runs' CPU.

Every checker run is distinct (each sample prints another permutation), so
the server's result cache shares none of them.

Usage: bench/checkers.py [--tests 10] [--samples 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from unittest import mock

from sandcheck import Client
from sandcheck.embedded import EmbeddedServer
from sandcheck.judges import checker
from sandcheck.judges.stdio import evaluate_stdio, stdio_problem

CHECKER = r"""
#include "testlib.h"
#include <vector>
int main(int argc, char* argv[]) {
    registerTestlibCmd(argc, argv);
    int n = inf.readInt();
    std::vector<bool> seen(n + 1);
    for (int i = 0; i < n; i++) {
        int x = ouf.readInt(1, n, "p_i");
        if (seen[x]) quitf(_wa, "%d appears twice", x);
        seen[x] = true;
    }
    quitf(_ok, "ok");
}
"""


def run(client: Client, arm: str, tests: int, samples: int) -> dict:
    problem = stdio_problem({"task_id": "perm", "checker": {"language": "cpp", "source": f"{CHECKER}// {arm}\n"},
                             "tests": [{"input": f"{n}\n", "output": " ".join(map(str, range(1, n + 1))) + "\n"}
                                       for n in range(samples, samples + tests)]})
    # Each sample prints another rotation, so no two checker runs are identical (the server would run one).
    rows = [{"task_id": "perm", "solution": f"n = int(input())\nprint(*[(i + {s}) % n + 1 for i in range(n)])  # {arm}"}
            for s in range(samples)]
    results = []
    build = checker.checker_program

    def program(*args, **kwargs):
        p = build(*args, **kwargs)
        if arm.startswith("files"):  # the baseline: the data is part of the build
            p = dataclasses.replace(p, files={**(p.files or {}), **p.run_files}, run_files=None)
        return p

    real_batch = client.execute_batch

    def batch(programs):
        for r in real_batch(programs):
            if r.compile is not None:
                results.append(r)
            yield r

    start = time.perf_counter()
    with mock.patch.object(checker, "checker_program", program), mock.patch.object(client, "execute_batch", batch):
        report = evaluate_stdio(rows, {"perm": problem}, client=client, k=[1], timeout=5.0)
    wall = time.perf_counter() - start
    assert all(r["passed"] for r in report.rows), [r["tests"][:2] for r in report.rows]
    return {"arm": arm, "wall_s": round(wall, 2), "checker_runs": len(results),
            "compiles": sum(not r.compile.cached for r in results),
            "compile_cpu_ms": sum(r.compile.cpu_time_ms for r in results if not r.compile.cached),
            "checker_run_cpu_ms_median": sorted(r.cpu_time_ms for r in results)[len(results) // 2]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tests", type=int, default=10)
    ap.add_argument("--samples", type=int, default=2)
    args = ap.parse_args()
    with EmbeddedServer() as target:
        for arm in ("run_files", "files", "run_files-2", "files-2"):
            with Client(target, timeout=600) as client:  # one connection per arm (the server ages them out)
                print(json.dumps(run(client, arm, args.tests, args.samples)), flush=True)


if __name__ == "__main__":
    main()
