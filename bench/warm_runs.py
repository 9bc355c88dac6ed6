"""What a compiled program's further runs cost: warm runs against cold run jails, in one invocation.

    .venv/bin/python bench/warm_runs.py                    # 200 tests, 3 rounds each way
    .venv/bin/python bench/warm_runs.py --tests 50 --rounds 1

Two servers run side by side (one process each, the default slots, result
cache off), each in an accounting cgroup of its own (bench/run.py's
`AccountingGroup`: the server, nsjail, the jails and their programs): one
with warm runs (the default), one with ``--warm-runs off``, where every run
of a built program is a cold run jail. Rounds alternate between them. Each
round is a C++ stdin/stdout problem with --tests tests and a program new to
both servers (a fresh compile), measured twice:

- judge: the SDK's stdio judge (`evaluate_stdio`), which compiles with the
  first test and sends the rest as one batch: its wall time and the
  server tree's CPU, per test;
- one by one: --tests more runs of the same build, each sent after the
  last one answered: the wall time the client sees per run (median, p90),
  the server tree's CPU per run, and the program's own (the server's
  cpu_time_ms: the jail's cgroup, the zygote's fork included).

Every output is checked. Results go to bench/results/warm_runs-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import AccountingGroup  # noqa: E402

from sandcheck import Client  # noqa: E402
from sandcheck.judges.stdio import evaluate_stdio  # noqa: E402

# A typical stdin problem: the sum and the largest of each test's numbers.
PROGRAM = """#include <bits/stdc++.h>
using namespace std;
// round %s
int main() {
    int n;
    cin >> n;
    long long s = 0, best = LLONG_MIN;
    for (int i = 0; i < n; i++) { long long x; cin >> x; s += x; best = max(best, x); }
    cout << s << " " << best << "\\n";
}
"""


def tests(count: int, rng: random.Random) -> list[dict[str, str]]:
    out = []
    for _ in range(count):
        xs = [rng.randint(-10**9, 10**9) for _ in range(rng.randint(1, 50))]
        out.append({"input": f"{len(xs)}\n{' '.join(map(str, xs))}\n", "output": f"{sum(xs)} {max(xs)}\n"})
    return out


class Server:
    """`python -m sandbox_server` on a unix socket, in an accounting cgroup of its own."""

    def __init__(self, name: str, *flags: str) -> None:
        self.name = name
        self.group = AccountingGroup(f"warm-runs-{name}")
        self.dir = Path(tempfile.mkdtemp(prefix=f"bench-warm-runs-{name}-"))
        self.target = f"unix:{self.dir}/sock"
        env = dict(os.environ, SANDCHECK_RESULT_CACHE_MB="0")
        if self.group.ok and not self.group.v2:
            env["SANDCHECK_CGROUP_ROOT"] = f"{self.group.name}/sandcheck"
        self.log = open(self.dir / "log", "wb")
        self.proc = subprocess.Popen(self.group.wrap([sys.executable, "-m", "sandbox_server", "--listen", self.target,
                                                      "--processes", "1", *flags]),
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        with Client(self.target) as c:
            c.wait_ready(timeout=120)

    def cpu_s(self) -> float:
        return self.group.cpu_s() or 0.0

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.log.close()
        self.group.remove()


def one_round(server: Server, n: int, seed: int) -> dict:
    rng = random.Random(seed)
    source = PROGRAM % f"{seed}-{server.name}"  # new to this server: compiled in this round
    problem = {"task_id": "sum_max", "tests": tests(n, rng), "language": "cpp"}
    load = os.getloadavg()[0]
    with Client(server.target, timeout=600) as client:
        cpu0, t0 = server.cpu_s(), time.monotonic()
        ev = evaluate_stdio([{"task_id": "sum_max", "solution": source}], {"sum_max": problem}, client=client, k=(1,))
        judge_wall, judge_cpu = time.monotonic() - t0, server.cpu_s() - cpu0
        verdicts = [t["verdict"] for t in ev.rows[0]["tests"]]
        if verdicts != ["accepted"] * n:
            raise SystemExit(f"{server.name}: the judge's verdicts: {sorted(set(verdicts))}")
        more = tests(n, rng)
        walls, program_cpu = [], []
        cpu0 = server.cpu_s()
        for t in more:
            start = time.monotonic()
            r = client.execute(source, language="cpp", stdin=t["input"].encode())
            walls.append((time.monotonic() - start) * 1000)
            if r.stdout.decode() != t["output"] or not (r.compile and r.compile.cached):
                raise SystemExit(f"{server.name}: wrong run: {r.status} {r.stdout!r} {r.stderr[-300:]!r}")
            program_cpu.append(r.cpu_time_ms)
        one_cpu = server.cpu_s() - cpu0
    walls.sort()
    return {
        "load_avg_1m_before": round(load, 2), "load_avg_1m_after": round(os.getloadavg()[0], 2),
        "judge": {"tests": n, "wall_s": round(judge_wall, 2), "wall_ms_per_test": round(judge_wall * 1000 / n, 1),
                  "server_cpu_ms_per_test": round(judge_cpu * 1000 / n, 1)},
        "one_by_one": {"runs": n, "client_wall_ms_p50": round(statistics.median(walls), 1),
                       "client_wall_ms_p90": round(walls[int(0.9 * (n - 1))], 1),
                       "client_wall_ms_mean": round(statistics.fmean(walls), 1),
                       "server_cpu_ms_per_run": round(one_cpu * 1000 / n, 1),
                       "program_cpu_ms_p50": statistics.median(program_cpu)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tests", type=int, default=200, help="tests per problem, and runs one by one (default 200)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds each way, alternating (default 3)")
    ap.add_argument("--out", type=Path, help="result file (default bench/results/warm_runs-<time>.json)")
    args = ap.parse_args()
    servers = {"warm": Server("warm"), "cold": Server("cold", "--warm-runs", "off")}
    rounds: dict[str, list[dict]] = {name: [] for name in servers}
    try:
        for i in range(args.rounds):
            for name, server in (servers.items() if i % 2 == 0 else reversed(list(servers.items()))):
                print(f"[round {i + 1}] {name} ...", file=sys.stderr, flush=True)
                rounds[name].append(one_round(server, args.tests, seed=i))
                print(json.dumps({name: rounds[name][-1]}), flush=True)
    finally:
        for server in servers.values():
            server.stop()

    def med(name: str, part: str, key: str) -> float:
        return statistics.median(r[part][key] for r in rounds[name])

    summary = {part: {key: {"warm": med("warm", part, key), "cold": med("cold", part, key),
                            "cold/warm": round(med("cold", part, key) / max(med("warm", part, key), 1e-9), 2)}
                      for key in keys}
               for part, keys in (("judge", ("wall_ms_per_test", "server_cpu_ms_per_test")),
                                  ("one_by_one", ("client_wall_ms_p50", "client_wall_ms_p90", "server_cpu_ms_per_run",
                                                  "program_cpu_ms_p50")))}
    report = {"when": time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime()), "cpus": os.cpu_count(),
              "tests": args.tests, "rounds": rounds, "median_of_rounds": summary}
    out = args.out or HERE / "results" / f"warm_runs-{report['when']}.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
