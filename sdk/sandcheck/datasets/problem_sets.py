"""Which problems `sandcheck eval` runs, and which judge runs them.

    --problems FILE    human-eval problems (check(candidate) tests), or
                       stdin/stdout problems (`tests`, see sandcheck.judges.stdio)
    --dataset NAME     a built-in set (sandcheck.datasets); the plus sets
                       are judged as EvalPlus judges them, HumanEval-X and
                       MultiPL-E by exit status in their own languages
                       (sandcheck.judges.exit_status)

Every kind's evaluate takes the same arguments as `sandcheck.evaluate` and
returns an `Evaluation`, so the journal, resume, results and run record (`eval_run`) stay one
code path.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._exceptions import InvalidInput
from ..judges.run import Evaluation


@dataclass
class ProblemSet:
    problems: dict[str, dict[str, Any]]
    kind: str  # "humaneval", "stdio", "evalplus" or "multilang"
    evaluate: Callable[..., Evaluation]
    dataset: str | None = None
    language: str = "python"  # the server language its programs run as


def add_problem_set_arguments(p: argparse.ArgumentParser) -> None:
    from . import DATASETS

    p.add_argument("--dataset", action="extend", type=dataset_names, metavar="NAME[,NAME...]",
                   help="built-in problem set(s), shipped with sandcheck, instead of --problems; several (comma-"
                        f"separated or repeated) give one table: {', '.join(DATASETS)}")
    p.add_argument("--stop-at-first-failure", action="store_true",
                   help="stdin/stdout problems: stop a sample at its first failed test")


def dataset_names(text: str) -> list[str]:
    """--dataset's value: built-in names, comma-separated (a usage error names an unknown one)."""
    from . import DATASETS

    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown dataset {', '.join(unknown) or repr(text)}; "
                                         f"choose from {', '.join(DATASETS)}")
    return names


def select_problems(problems: Mapping[str, Any], task_ids: Sequence[str] | None = None,
                    limit: int | None = None) -> dict[str, Any]:
    """The problems named by `task_ids` (all when None), in file order, at most `limit` of them."""
    if task_ids:
        unknown = [t for t in task_ids if t not in problems]
        if unknown:
            raise InvalidInput(f"task id(s) not in the problem file: {', '.join(unknown[:5])}"
                               + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))
        wanted = set(task_ids)
        problems = {t: p for t, p in problems.items() if t in wanted}
    chosen = list(problems.items())[:limit] if limit else list(problems.items())
    return dict(chosen)


def load_problem_set(args: argparse.Namespace) -> ProblemSet:
    """From --dataset (its file becomes args.problems, for the run record) or --problems."""
    from ..data import read_jsonl, read_problems
    from ..judges.run import evaluate
    from ..judges.stdio import evaluate_stdio, is_stdio_problem, read_stdio_problems

    # --judge picks how check(candidate) tests run; the other kinds have judges of their own.
    humaneval = functools.partial(evaluate, judge=getattr(args, "judge", "isolated"))
    if getattr(args, "dataset", None):
        from . import dataset_path, load_dataset

        if args.problems:
            raise InvalidInput("give --dataset or --problems, not both")
        dataset = load_dataset(args.dataset)
        args.problems = str(dataset_path(args.dataset))
        if dataset.info.harness:
            from ..judges.exit_status import evaluate_languages

            language = dataset.build(next(iter(dataset.problems.values())), "", False).language
            run = functools.partial(evaluate_languages, build=dataset.build)
            return ProblemSet(dataset.problems, "multilang", run, dataset.name, language)
        if dataset.differential:
            from ..judges.differential import evaluate_differential

            run = functools.partial(evaluate_differential, dataset=dataset.name)
            return ProblemSet(dataset.problems, "evalplus", run, dataset.name)
        return ProblemSet(dataset.problems, "humaneval", humaneval, dataset.name)
    if args.problems:
        first = next(iter(read_jsonl(args.problems)), None)
        if first is not None and is_stdio_problem(first):
            run = functools.partial(evaluate_stdio, stop_at_first_failure=args.stop_at_first_failure)
            return ProblemSet(read_stdio_problems(args.problems), "stdio", run)
    return ProblemSet(read_problems(args.problems), "humaneval", humaneval)
