"""Which problems `sandcheck eval` runs, and which judge runs them.

    --problems FILE    rows in any format `sandcheck.datasets.rows` knows: human-eval
                       problems (check(candidate) tests), stdin/stdout problems
                       (sandcheck.judges.stdio), function-call problems
                       (sandcheck.judges.function_call), or LiveCodeBench, APPS/TACO
                       and CodeContests rows as published (each loader says which
                       judge its problems get: by the problem's shape)
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
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._exceptions import InvalidInput
from ..judges.languages import canonical, sample_language
from ..judges.run import Evaluation, summarize
from .rows import is_function_call


@dataclass
class ProblemSet:
    problems: dict[str, dict[str, Any]]
    kind: str  # "humaneval", "stdio", "function_call", "mixed", "evalplus" or "multilang"
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
    p.add_argument("--language",
                   help="stdin/stdout problems: the language of samples that name none (cpp, java, go, rust, "
                        "python...; default: the problem's language field, else python)")


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
    from ..data import read_problems
    from ..judges.run import evaluate

    # --judge picks how check(candidate) tests run; the other kinds have judges of their own.
    humaneval = functools.partial(evaluate, judge=getattr(args, "judge", "isolated"))
    if getattr(args, "dataset", None):
        from . import dataset_path, load_dataset

        if args.problems:
            raise InvalidInput("give --dataset or --problems, not both")
        _python_only(args, f"--dataset {args.dataset}'s problems")
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
        from ..data import read_jsonl
        from .rows import detect, read_problem_rows

        first = next(iter(read_jsonl(args.problems)), None)
        if first is not None and detect(first, f"{args.problems}: problem 1").name != "human-eval":
            return _judged_by_shape(read_problem_rows(args.problems), args)
    _python_only(args, "human-eval problems")
    return ProblemSet(read_problems(args.problems), "humaneval", humaneval)


def _python_only(args: argparse.Namespace, what: str) -> None:
    given = getattr(args, "language", None)
    if given and canonical(given) != "python":
        raise InvalidInput(f"--language {given} is for stdin/stdout problems; {what} run as they are")


def _judged_by_shape(problems: dict[str, dict[str, Any]], args: argparse.Namespace) -> ProblemSet:
    """stdin/stdout problems to the stdio judge, function calls to the function-call judge, a mix to both."""
    from ..judges.stdio import evaluate_stdio

    default = getattr(args, "language", None)
    stdio = functools.partial(evaluate_stdio, stop_at_first_failure=args.stop_at_first_failure, language=default)
    calls = sum(is_function_call(p) for p in problems.values())
    language, _ = sample_language({}, {}, default, "--language")  # InvalidInput for an unknown name
    if not calls:
        return ProblemSet(problems, "stdio", stdio, language=language)
    if language != "python":
        raise InvalidInput(f"--language {default}: {calls} of these problems are function calls, judged in Python only")
    if calls == len(problems):
        return ProblemSet(problems, "function_call", _function_calls(), language=language)
    return ProblemSet(problems, "mixed", functools.partial(evaluate_mixed, stdio=stdio, calls=_function_calls()),
                      language=language)


def _function_calls() -> Callable[..., Evaluation]:
    def evaluate_function_calls(*args: Any, **kwargs: Any) -> Evaluation:
        from ..judges.function_call import evaluate_function_calls as judge  # only when a sample needs it

        return judge(*args, **kwargs)

    return evaluate_function_calls


def evaluate_mixed(samples: Sequence[Mapping[str, Any]], problems: Mapping[str, Mapping[str, Any]], *,
                   stdio: Callable[..., Evaluation], calls: Callable[..., Evaluation], k: Iterable[int] = (1, 10, 100),
                   on_result: Callable[[int, dict[str, Any]], None] | None = None,
                   done: Mapping[int, dict[str, Any]] | None = None, **common: Any) -> Evaluation:
    """A problem set of both kinds (LiveCodeBench): each judge gets its samples; rows come back in sample order."""
    k = list(k)
    shares: dict[bool, list[int]] = {True: [], False: []}
    for i, s in enumerate(samples):
        problem = problems.get(s.get("task_id")) if isinstance(s, Mapping) else None
        shares[problem is not None and is_function_call(problem)].append(i)
    for i in shares[True]:
        given = samples[i].get("language")
        if given and canonical(str(given)) != "python":
            raise InvalidInput(f"sample {i}: language {given!r}, but its problem is a function call, judged in "
                               "Python only")
    rows: list[dict[str, Any] | None] = [None] * len(samples)
    evaluations = []
    for is_call, judge in ((False, stdio), (True, calls)):
        index = shares[is_call]
        if not index:
            continue
        kept = {j: done[i] for j, i in enumerate(index) if done and i in done}
        own = {t: p for t, p in problems.items() if is_function_call(p) is is_call}  # a judge sees its kind only
        report = judge([samples[i] for i in index], own, k=k, done=kept,
                       on_result=None if on_result is None else (lambda j, row, index=index: on_result(index[j], row)),
                       **common)
        for j, row in enumerate(report.rows):
            rows[index[j]] = row
        evaluations.append(report)
    finished = [r for r in rows if r is not None]
    statuses: Counter = sum((e.statuses for e in evaluations), Counter())
    return Evaluation(finished, summarize(finished, k), statuses, "mixed")
