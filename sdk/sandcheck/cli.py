"""The `sandcheck` command: serve, eval, run.

Exit codes (eval and run): 0 done; 2 bad input, nothing ran; 1 anything else
(a server error, a check without a verdict, a program that did not end OK
for `run`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from ._exceptions import InvalidInput, SandcheckError
from ._types import Limits

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


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

    s = sub.add_parser("serve", help="run the sandbox server")
    try:
        from sandbox_server.server import add_serve_arguments
    except ImportError:
        s.set_defaults(server_missing=True)
    else:
        add_serve_arguments(s)

    e = sub.add_parser("eval", help="evaluate HumanEval-style samples (drop-in for evaluate_functional_correctness)")
    e.add_argument("samples", nargs="?", help="samples JSONL or JSONL.gz (task_id, completion)")
    e.add_argument("--problems", "--problem_file", dest="problems", help="problem file (default: HumanEval)")
    e.add_argument("--k", type=_ks, default=[1, 10, 100], help="comma-separated k values (default 1,10,100)")
    e.add_argument("--timeout", type=_positive_float, default=3.0, help="CPU seconds per check (default 3.0)")
    e.add_argument("--workers", "--n_workers", dest="workers", type=_positive_int, default=0,
                   help="checks run at once by the embedded server (default: one per CPU)")
    e.add_argument("--server", help="ADDR of a running server (default: start an embedded one)")
    e.add_argument("-o", "--output", help="results file (default: SAMPLES_results.jsonl)")
    e.add_argument("--canonical", action="store_true", help="evaluate the problems' canonical solutions")
    e.add_argument("--memory-mb", type=_positive_int, help="memory limit per check in MiB (default: server's)")
    e.add_argument("--no-progress", action="store_true", help="no progress bar")

    r = sub.add_parser("run", help="run one program and print its result as JSON")
    r.add_argument("file", help="a Python file")
    r.add_argument("--timeout", type=_positive_float, default=3.0, help="CPU seconds (default 3.0)")
    r.add_argument("--memory-mb", type=_positive_int, help="memory limit in MiB (default: server's)")
    r.add_argument("--stdin", help="file whose bytes are the program's stdin")
    r.add_argument("--server", help="ADDR of a running server (default: start an embedded one)")
    return p


@contextlib.contextmanager
def _target(server: str | None, workers: int = 0) -> Iterator[str]:
    if server:
        yield server
        return
    from .embedded import EmbeddedServer

    with EmbeddedServer(concurrency=workers) as target:
        yield target


def cmd_eval(args: argparse.Namespace) -> int:
    from .client import Client
    from .data import read_problems, read_samples, write_jsonl
    from .evaluate import evaluate

    problems = read_problems(args.problems)
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

    with _target(args.server, args.workers) as target, Client(target) as client:
        with tqdm(total=len(samples), unit="check", file=sys.stderr, disable=args.no_progress,
                  dynamic_ncols=True) as bar:
            report = evaluate(samples, problems, client=client, k=args.k, timeout=args.timeout,
                              memory_mb=args.memory_mb, on_result=lambda i, row: bar.update(1))
    if out:
        write_jsonl(out, report.rows)
        print(f"wrote {len(report.rows)} results to {out}", file=sys.stderr)
    statuses = ", ".join(f"{s} {n}" for s, n in report.statuses.most_common())
    print(f"statuses: {statuses}", file=sys.stderr)
    if report.sandbox_errors:
        print(f"warning: {report.sandbox_errors} checks got no verdict (SANDBOX_ERROR); pass@k counts them as failed",
              file=sys.stderr)
    print(json.dumps(report.pass_at_k))
    return EXIT_FAILURE if report.sandbox_errors else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from .client import Client

    path = Path(args.file)
    try:
        source = path.read_bytes()
        stdin = Path(args.stdin).read_bytes() if args.stdin else b""
    except OSError as exc:
        raise InvalidInput(f"{exc.filename}: {exc.strerror}") from None
    with _target(args.server) as target, Client(target) as client:
        result = client.execute(source, stdin=stdin, limits=Limits.for_timeout(args.timeout, args.memory_mb))
    print(json.dumps(result.to_json()))
    return EXIT_OK if result.status == "OK" else EXIT_FAILURE


def cmd_serve(args: argparse.Namespace) -> int:
    if getattr(args, "server_missing", False):
        print("sandcheck serve needs the server extra: pip install 'sandcheck[server]'", file=sys.stderr)
        return EXIT_FAILURE
    from sandbox_server.server import run_from_args

    return run_from_args(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"serve": cmd_serve, "eval": cmd_eval, "run": cmd_run}[args.command]
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
