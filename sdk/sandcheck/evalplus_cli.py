"""`sandcheck evalplus`: EvalPlus's ``evalplus.evaluate`` command line, flag for flag (0.3.1).

    sandcheck evalplus --dataset humaneval --samples samples.jsonl [--base-only] [--test-details]
        [--parallel N] [--i-just-wanna-run] [--min-time-limit S] [--gt-time-limit-factor F]

Flags are taken in both spellings EvalPlus's command line (python-fire)
takes, ``--base-only`` and ``--base_only``. What sandcheck cannot honour is
refused before anything runs: ``--mini`` and ``--noextreme`` (those
HumanEval+/MBPP+ variants are not shipped), a ``--version`` other than the
shipped one, and code generation (``--model``, ``--backend``). The pass@k
lines go to stdout, as EvalPlus prints them; everything else to stderr.
EvalPlus's environment variables EVALPLUS_TIMEOUT_PER_TASK (the whole run's
limit) and EVALPLUS_MAX_MEMORY_BYTES are honoured too.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ._exceptions import InvalidInput
from ._types import MAX_TIMEOUT_S


def add_parser(sub: argparse._SubParsersAction) -> None:
    from .cli import _MAX_WORKERS, _add_auth_arguments, _float_in, _int_at_least, _memory_mb, _positive_float

    p = sub.add_parser("evalplus", help="EvalPlus's evaluate command: HumanEval+ / MBPP+ results as EvalPlus "
                                        "prints and writes them")
    p.add_argument("--dataset", required=True, choices=["humaneval", "mbpp"],
                   help="humaneval: HumanEval+; mbpp: MBPP+ (EvalPlus's names)")
    p.add_argument("--samples", required=True,
                   help="a .jsonl (task_id, solution or completion) or EvalPlus's folder (TASK_ID/N.py)")
    p.add_argument("--base-only", "--base_only", dest="base_only", action="store_true",
                   help="only the base inputs")
    p.add_argument("--parallel", type=_int_at_least(1, _MAX_WORKERS),
                   help="checks the embedded server runs at once (default: two per CPU; with --server its own slots)")
    p.add_argument("--i-just-wanna-run", "--i_just_wanna_run", dest="i_just_wanna_run", action="store_true",
                   help="evaluate even when the results file exists (asks before replacing it)")
    p.add_argument("--test-details", "--test_details", dest="test_details", action="store_true",
                   help="run every input, and list every failing one (default: stop at the first)")
    p.add_argument("--min-time-limit", "--min_time_limit", dest="min_time_limit", type=_positive_float,
                   default=1.0, help="CPU seconds an input gets at least (default 1.0)")
    p.add_argument("--gt-time-limit-factor", "--gt_time_limit_factor", dest="gt_time_limit_factor",
                   type=_float_in(1000.0), default=4.0,
                   help="an input's limit: this times the canonical solution's CPU time on it (default 4.0)")
    p.add_argument("--mini", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--noextreme", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--version", default="default", help="the dataset version: only the shipped one (default)")
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--backend", help=argparse.SUPPRESS)
    p.add_argument("--memory-mb", type=_memory_mb, help="memory limit per run in MiB (default 4096, EvalPlus's)")
    p.add_argument("--server", help="ADDR[,ADDR...] of running servers (default: an embedded server)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_auth_arguments(p)


def _refuse_what_cannot_be_honoured(args: argparse.Namespace) -> None:
    if args.mini or args.noextreme:
        flag = "--mini" if args.mini else "--noextreme"
        raise InvalidInput(f"{flag}: sandcheck ships the full HumanEval+ and MBPP+ only, not their "
                           f"{flag.lstrip('-')} variants")
    if args.version != "default":
        raise InvalidInput(f"--version {args.version}: only the shipped dataset version (default) is available")
    if args.model or args.backend:
        raise InvalidInput("sandcheck evalplus evaluates samples; it does not generate them (--model, --backend): "
                           "sample with `sandcheck generate` or EvalPlus's codegen, then give --samples")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from . import evalplus
    from .cli import EXIT_OK
    from .datasets import load_dataset
    from .judges.differential import TimeLimits

    _refuse_what_cannot_be_honoured(args)
    samples = Path(args.samples)
    out = evalplus.results_path(samples)
    if out.is_file() and not args.i_just_wanna_run:
        print(f"Load from previous results from {out}", file=sys.stderr)
        results = evalplus.read_results(out)
    else:
        problems = load_dataset(evalplus.DATASETS[args.dataset]).problems
        solutions = evalplus.read_solutions(samples, problems, lambda m: print(f"warning: {m}", file=sys.stderr))
        covered = len({s.task_id for s in solutions})
        if covered < len(problems):
            print(f"warning: the samples cover {covered} of the {len(problems)} tasks (EvalPlus refuses such "
                  f"samples: \"Missing problems in samples\"); pass@k is over those {covered}", file=sys.stderr)
        time = TimeLimits(min_s=args.min_time_limit, factor=args.gt_time_limit_factor, run_s=_run_limit())
        memory_mb = _memory_mb(args)
        with _client(args) as client, tqdm(total=len(solutions), unit="sample", file=sys.stderr,
                                           disable=args.no_progress, dynamic_ncols=True, delay=1.0) as bar:
            results = evalplus.evaluate(solutions, dataset=args.dataset, client=client, base_only=args.base_only,
                                        test_details=args.test_details, time=time, memory_mb=memory_mb,
                                        on_done=lambda: bar.update(1))
    base, plus = evalplus.pass_at_k(results)
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    print(evalplus.format_pass_at_k(args.dataset, base, plus if not args.base_only else {}, color))
    if out.is_file() and args.i_just_wanna_run:
        if not _replace(out):
            return EXIT_OK
    if not out.is_file():
        evalplus.write_results(out, results)
        print(f"wrote {out}", file=sys.stderr)
    return EXIT_OK


def _run_limit() -> float:
    """EvalPlus's EVALPLUS_TIMEOUT_PER_TASK: the most seconds a whole run gets (default 60)."""
    text = os.environ.get("EVALPLUS_TIMEOUT_PER_TASK", "60")
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds <= MAX_TIMEOUT_S:
        raise InvalidInput(f"EVALPLUS_TIMEOUT_PER_TASK={text!r}: expected a number of seconds above 0, at most a day")
    return seconds


def _memory_mb(args: argparse.Namespace) -> int | None:
    """--memory-mb, else EvalPlus's EVALPLUS_MAX_MEMORY_BYTES (default 4 GiB); -1 (no limit) is refused."""
    text = os.environ.get("EVALPLUS_MAX_MEMORY_BYTES")
    if args.memory_mb or text is None:
        return args.memory_mb
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if not 1 << 20 <= limit < 1 << 63:
        raise InvalidInput(f"EVALPLUS_MAX_MEMORY_BYTES={text!r}: sandcheck always limits memory; give at least 1 MiB "
                           "(in bytes) or unset it")
    return limit >> 20


def _replace(out: Path) -> bool:
    """EvalPlus asks before replacing an earlier results file, and keeps it as .bak."""
    decision = ""
    while decision.lower() not in ("y", "n"):
        print(f"{out} already exists. Press [Y/N] to overwrite or exit...", file=sys.stderr)
        try:
            decision = input()
        except EOFError:
            print(f"no answer: {out} is kept, the new results are not written", file=sys.stderr)
            return False
    if decision.lower() == "n":
        return False
    backup = Path(str(out) + ".bak")
    while backup.is_file():
        backup = Path(str(backup) + ".bak")
    out.rename(backup)
    print(f"Backup {out} to {backup}", file=sys.stderr)
    return True


def _client(args: argparse.Namespace):
    import contextlib
    from functools import partial

    from .cli import _auth_kwargs
    from .client import Client
    from .dispatch import Dispatcher, split_targets

    @contextlib.contextmanager
    def client():
        if args.server:
            yield Dispatcher(split_targets(args.server), client_factory=partial(Client, **_auth_kwargs(args)))
            return
        from .embedded import EmbeddedServer

        embedded = EmbeddedServer(concurrency=args.parallel or 0, processes=0)  # the server's default processes
        with embedded:
            yield Dispatcher(embedded.targets)

    return client()
