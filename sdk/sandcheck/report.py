"""A self-contained HTML report of a results file: one file to attach or mail.

Plots are PNGs embedded as base64 data URIs, so the page needs no network
and no files beside it. matplotlib is the optional ``report`` extra
(``pip install 'sandcheck[report]'``); the rest of the SDK does not need it.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._exceptions import SandcheckError
from .data import check_writable
from .analysis import analyze, pass_at_k_ci, read_results
from .run_record import read_meta

Rows = Sequence[Mapping[str, Any]]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise SandcheckError("the HTML report needs matplotlib: pip install 'sandcheck[report]'") from None
    matplotlib.use("Agg")  # no display on eval hosts
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def curve_ks(n: int) -> list[int]:
    """1, 2, 5, 10, 20, 50, ... up to n, and n itself: a pass@k curve's points."""
    ks, base = [], 1
    while base <= n:
        ks += [k for k in (base, 2 * base, 5 * base) if k <= n]
        base *= 10
    return sorted(set(ks) | {n})


def plot_pass_at_k(rows: Rows, analysis: Mapping[str, Any], *, bootstrap: int = 200) -> str:
    """pass@k against k with its bootstrap band, and the ways of choosing one sample."""
    plt = _pyplot()
    n_min = min(p["n"] for p in analysis["per_problem"])
    ks = curve_ks(n_min)
    ci = pass_at_k_ci(rows, ks, bootstrap=bootstrap)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    est = [ci[f"pass@{k}"]["estimate"] for k in ks]
    ax.plot(ks, est, marker="o", label="pass@k (oracle)")
    ax.fill_between(ks, [ci[f"pass@{k}"]["low"] for k in ks], [ci[f"pass@{k}"]["high"] for k in ks],
                    alpha=0.2, label="95% CI")
    ranked = analysis["ranked"]
    for name, style in (("mean_logprob", "s--"), ("sum_logprob", "^--"), ("random", ":")):
        if name in ranked:
            rk = ranked["ks"]
            ax.plot(rk, [ranked[name][str(k)] for k in rk], style, label=f"choose 1 of k: {name}")
    ax.set_xscale("log")
    ax.set_xlabel("k")
    ax.set_ylabel("pass rate")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def plot_per_problem(analysis: Mapping[str, Any]) -> str:
    """Each problem's pass rate, sorted: where the model is solid and where it never succeeds."""
    plt = _pyplot()
    rates = sorted((p["pass_rate"] for p in analysis["per_problem"]), reverse=True)
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    ax.bar(range(len(rates)), rates, width=1.0)
    ax.set_xlabel(f"problems, sorted by pass rate ({len(rates)})")
    ax.set_ylabel("pass rate")
    ax.set_ylim(0, 1.02)
    return _png(fig)


def plot_statuses(analysis: Mapping[str, Any]) -> str:
    plt = _pyplot()
    items = list(analysis["statuses"].items())[::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.4 * len(items)))
    ax.barh([s for s, _ in items], [n for _, n in items])
    ax.set_xlabel("samples")
    return _png(fig)


def plot_temperatures(analysis: Mapping[str, Any]) -> str | None:
    table = analysis["temperatures"]["pass_at_k"]
    if len(table) < 2:
        return None
    plt = _pyplot()
    temps = [float(t) for t in table]
    names = list(next(iter(table.values())))
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for name in names:
        ax.plot(temps, [table[t].get(name, float("nan")) for t in table], marker="o", label=name)
    ax.set_xlabel("temperature")
    ax.set_ylabel("pass rate")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


def _table(header: Sequence[str], body: Iterable[Sequence[Any]]) -> str:
    def cell(v: Any) -> str:
        return f"{v:.4f}" if isinstance(v, float) else html.escape(str(v))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in r) + "</tr>" for r in body)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


_CSS = """
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child{text-align:left}img{max-width:100%}pre{background:#f6f6f6;padding:1em;overflow:auto}
"""


def render(rows: Rows, *, meta: Mapping[str, Any] | None, title: str, ks: Iterable[int] = (1, 10, 100),
           bootstrap: int = 1000) -> str:
    """The report as one HTML string."""
    a = analyze(rows, ks, bootstrap=bootstrap)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>{a['samples']} samples over {a['problems']} problems.</p>", "<h2>pass@k</h2>",
             _table(["metric", "estimate", "95% CI low", "95% CI high"],
                    [(k, v["estimate"], v["low"], v["high"]) for k, v in a["pass_at_k"].items()]),
             f"<img alt='pass@k curve' src='{plot_pass_at_k(rows, a)}'>"]
    r = a["ranked"]
    cols = ["oracle", "random"] + [c for c in ("mean_logprob", "sum_logprob") if c in r]
    parts += ["<h2>Choosing one of k samples</h2>",
              "<p>k = n is the Codex paper's ranked pass@1." +
              ("" if r["rankable"] else " The results carry no logprobs, so there is no ranking by logprob.") + "</p>",
              _table(["k", *cols], [(str(k), *(r[c][str(k)] for c in cols)) for k in r["ks"]])]
    temps = plot_temperatures(a)
    if temps:
        best = a["temperatures"]["best"]
        parts += ["<h2>Temperatures</h2>", f"<img alt='pass@k by temperature' src='{temps}'>",
                  _table(["metric", "best temperature", "pass rate"],
                         [(k, str(b["temperature"]), b["value"]) for k, b in best.items()])]
    parts += ["<h2>Statuses</h2>", f"<img alt='status breakdown' src='{plot_statuses(a)}'>",
              _table(["status", "samples"], a["statuses"].items()),
              "<h2>Per problem</h2>", f"<img alt='per-problem pass rates' src='{plot_per_problem(a)}'>"]
    pk = [k for k in a["pass_at_k"]]
    parts.append(_table(["task_id", "n", "passed", "pass rate", *pk, "statuses"],
                        [(p["task_id"], p["n"], p["passed"], p["pass_rate"], *(p.get(k, "") for k in pk),
                          ", ".join(f"{s} {n}" for s, n in p["statuses"].items())) for p in a["per_problem"]]))
    parts.append("<h2>Reproducibility</h2>")
    if meta:
        lim = meta.get("limits", {})
        summary = [("sandcheck version", meta.get("sandcheck_version", "")),
                   ("runtime", meta.get("runtime", "")),
                   ("server version", meta.get("server", {}).get("version", "")),
                   ("problem file", meta.get("problems", {}).get("path", "")),
                   ("problem file sha256", meta.get("problems", {}).get("sha256", "")),
                   ("effective limits", json.dumps(lim.get("effective", {}))),
                   ("command", " ".join(meta.get("command", []))),
                   ("created", meta.get("created", ""))]
        parts += [_table(["field", "value"], summary),
                  f"<details><summary>full run record</summary><pre>{html.escape(json.dumps(meta, indent=2))}</pre>"
                  "</details>"]
    else:
        parts.append("<p>No run record (<code>.meta.json</code>) was found beside the results file.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(results: str | os.PathLike[str], output: str | os.PathLike[str], *,
                 ks: Iterable[int] = (1, 10, 100), bootstrap: int = 1000) -> Path:
    """Read a results file and its run record; write the HTML report."""
    check_writable(output)
    rows = read_results(results)
    text = render(rows, meta=read_meta(results), title=f"sandcheck report: {Path(results).name}", ks=ks,
                  bootstrap=bootstrap)
    out = Path(output)
    out.write_text(text, encoding="utf-8")
    return out
