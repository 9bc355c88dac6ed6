"""A function-call check's cost, side by side with a HumanEval isolated check.

200 function-call checks (50 tests x 2 samples x the apps and livecodebench
harnesses, a one-line function) and 200 HumanEval-style isolated checks of
the same function, alternating, twice, on one embedded server; each round's
sources differ by a comment, so the result cache serves nothing.

Usage: bench/function_calls.py
"""

from __future__ import annotations

import json
import statistics
import time

from sandcheck import Client
from sandcheck.embedded import EmbeddedServer
from sandcheck.judges.function_call import evaluate_function_calls
from sandcheck.judges.run import evaluate

PROBLEMS = {h: {"task_id": h, "fn_name": "f", "harness": h,
                "call_tests": [{"args": [i, i + 1], "expected": [2 * i + 1] if h == "apps" else 2 * i + 1}
                               for i in range(50)]}
            for h in ("apps", "livecodebench")}
HUMANEVAL = {f"he{i}": {"task_id": f"he{i}", "prompt": "def f(a, b):\n", "entry_point": "f",
                        "test": f"def check(candidate):\n    assert candidate({i}, {i + 1}) == {2 * i + 1}\n"}
             for i in range(200)}


def main() -> None:
    fc_samples = [{"task_id": h, "solution": f"def f(a, b):\n    return a + b  # {n}"}
                  for h in PROBLEMS for n in range(2)]
    he_samples = [{"task_id": f"he{i}", "completion": "    return a + b\n"} for i in range(200)]
    with EmbeddedServer() as target, Client(target, timeout=600) as c:
        evaluate_function_calls(fc_samples[:1], PROBLEMS, client=c, k=[1])  # warm jails
        for name in ("function_call", "humaneval_isolated", "function_call", "humaneval_isolated"):
            t = time.perf_counter()
            if name == "function_call":
                rep = evaluate_function_calls(fc_samples, PROBLEMS, client=c, k=[1])
                cpu = [x["cpu_time_ms"] for r in rep.rows for x in r["tests"]]
                checks = len(cpu)
            else:
                rep, cpu = evaluate(he_samples, HUMANEVAL, client=c, k=[1]), []
                checks = len(rep.rows)
            wall = time.perf_counter() - t
            print(json.dumps({"judge": name, "checks": checks, "samples_passed": sum(r["passed"] for r in rep.rows),
                              "wall_s": round(wall, 2), **({"cpu_ms_median": statistics.median(cpu)} if cpu else {})}),
                  flush=True)
            # New sources each round: the result cache serves nothing.
            fc_samples = [dict(s, solution=s["solution"] + "#") for s in fc_samples]
            he_samples = [dict(s, completion=s["completion"] + "#\n") for s in he_samples]


if __name__ == "__main__":
    main()
