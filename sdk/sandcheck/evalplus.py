"""EvalPlus's ``evalplus.evaluate`` (0.3.1) as sandcheck runs it: same samples, output and results file.

    sandcheck evalplus --dataset humaneval --samples samples.jsonl

reads the samples (a ``.jsonl`` of task_id with solution or completion, or
EvalPlus's folder: one folder per task id with ``/`` as ``_``, numbered
``.py`` files holding whole solutions), judges each on the task's base and
plus inputs with `sandcheck.judges.differential` (in the jail, outputs
compared outside it), prints EvalPlus's pass@k lines, and writes its
results file beside the samples (``NAME_eval_results.json``, or
``eval_results.json`` in the folder)::

    {"date": "2026-12-05 19:00", "hash": MD5 OF THE DATASET FILE,
     "eval": {task_id: [{"task_id", "solution", "base_status", "plus_status",
                         "base_fail_tests", "plus_fail_tests"}, ...]}}

Statuses are EvalPlus's: ``pass``; ``fail`` (the solution did not load, an
input raised, ran past its time limit or gave a wrong output); ``timeout``
(the run ended before every input had a result: past the whole run's time
limit, or the process died). The fail tests are the inputs, as the dataset
holds them, that failed: the first only, unless ``test_details`` runs every
input; after a ``timeout`` EvalPlus lists the last input that had a result,
and so does this.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ._exceptions import InvalidInput, SandcheckError
from ._types import ExecutionResult
from .client import Program
from .data import read_jsonl, sha256_file
from .datasets import dataset_path, load_dataset
from .judges.differential import TimeLimits, input_agreements, split_program
from .judges.differential.expected import SPLITS, expected_outputs
from .judges.differential.harness import inputs_literal
from .judges.differential.inputs import task_inputs
from .metrics import estimate_pass_at_k
from .samples import sample_code

PASS, FAIL, TIMEOUT = "pass", "fail", "timeout"
DATASETS = {"humaneval": "humaneval+", "mbpp": "mbpp+"}  # EvalPlus's names for sandcheck's sets
KS = (1, 10, 100)

Results = dict[str, Any]


@dataclass(frozen=True)
class Solution:
    """One sample: its task and its whole program (a completion is put after the task's prompt)."""

    task_id: str
    solution: str


def results_path(samples: str | Path) -> Path:
    """Where EvalPlus writes the results: ``eval_results.json`` in a folder, else beside the file."""
    path = Path(samples)
    if path.is_dir():
        return path / "eval_results.json"
    name = re.sub(r"\.jsonl(\.gz)?$", "", path.name)
    return path.with_name(name + "_eval_results.json")


def read_solutions(samples: str | Path, problems: Mapping[str, Mapping[str, Any]],
                   warn: Callable[[str], None]) -> list[Solution]:
    """The samples of a ``.jsonl``(``.gz``) file or an EvalPlus folder, in order; a task the
    dataset lacks is skipped with a warning, as EvalPlus skips it."""
    path = Path(samples)
    if path.is_dir():
        rows = _folder_rows(path)
    elif path.is_file():
        if not re.search(r"\.jsonl(\.gz)?$", path.name):
            raise InvalidInput(f"--samples {path}: give a .jsonl file (or .jsonl.gz) or a folder of solutions")
        rows = _file_rows(path)
    else:
        raise InvalidInput(f"--samples {path}: no such file or folder")
    out: list[Solution] = []
    unknown: list[str] = []
    for _, row in rows:
        task_id = row["task_id"]
        if task_id not in problems:
            if task_id not in unknown:
                unknown.append(task_id)
                warn(f"Task {task_id} is found in the samples but not found in the dataset")
            continue
        out.append(Solution(task_id, sample_code(row, problems[task_id])))
    if not out:
        raise InvalidInput(f"--samples {path}: no samples of this dataset's tasks")
    return out


def _file_rows(path: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    for i, row in enumerate(read_jsonl(path), 1):
        where = f"{path}: line {i}"
        if not isinstance(row, dict) or not isinstance(row.get("task_id"), str):
            raise InvalidInput(f"{where}: needs a string task_id")
        if not any(isinstance(row.get(f), str) for f in ("solution", "completion")):
            raise InvalidInput(f"{where}: needs a string solution or completion (one row per sample)")
        yield where, row


def _folder_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """EvalPlus's layout: TASK_ID (with / as _)/N.py, each a whole solution; in task, then number, order."""
    rows = []
    for task_dir in sorted((d for d in path.iterdir() if d.is_dir()), key=lambda d: _natural(d.name)):
        for file in sorted(task_dir.glob("*.py"), key=lambda f: _natural(f.stem)):
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidInput(f"{file}: cannot be read as UTF-8 text ({exc})") from None
            rows.append((str(file), {"task_id": task_dir.name.replace("_", "/"), "solution": text}))
    if not rows:
        raise InvalidInput(f"--samples {path}: no TASK_ID/N.py solutions in the folder")
    return rows


def _natural(name: str) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def dataset_hash(dataset: str) -> str:
    """EvalPlus's "hash": the md5 of the dataset's JSONL (uncompressed)."""
    with gzip.open(dataset_path(DATASETS[dataset]), "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def evaluate(solutions: Sequence[Solution], *, dataset: str, client: Any, base_only: bool = False,
             test_details: bool = False, time: TimeLimits = TimeLimits(), memory_mb: int | None = None,
             on_done: Callable[[], None] | None = None) -> Results:
    """EvalPlus's results for `solutions` (dataset "humaneval" or "mbpp"): ``{"date", "hash", "eval"}``.

    A run that got no verdict from the server (a sandbox error) is a `SandcheckError`: no
    solution is counted as failed for it.
    """
    name = DATASETS[dataset]
    problems = load_dataset(name).problems
    splits = SPLITS[:1] if base_only else SPLITS
    needed = {s.task_id: problems[s.task_id] for s in solutions}
    expected = expected_outputs(name, sha256_file(dataset_path(name)), needed, client, memory_mb)
    nonces = [secrets.token_hex(16) for _ in solutions]
    literals: dict[tuple[str, str], str] = {}

    def programs() -> Iterable[Program]:
        for i, s in enumerate(solutions):
            problem = problems[s.task_id]
            for split in splits:
                key = (s.task_id, split)
                if key not in literals:
                    literals[key] = inputs_literal(task_inputs(name, s.task_id, problem[f"{split}_input"]))
                yield split_program(problem, s.solution, literals[key], expected[s.task_id][split], nonces[i],
                                    memory_mb, f"{i}/{split}", time, keep_going=test_details, dataset=name)

    verdicts: dict[int, dict[str, tuple[str, list[int]]]] = {i: {} for i in range(len(solutions))}
    errors: list[str] = []
    for result in client.execute_batch(programs()):
        i_text, split = result.id.split("/")
        i = int(i_text)
        if split in verdicts[i]:
            continue
        s = solutions[i]
        if result.status in ("SANDBOX_ERROR", "INVALID_REQUEST"):
            errors.append(f"{s.task_id} ({split} inputs): {result.status} {result.error}")
            verdicts[i][split] = (FAIL, [])
        else:
            verdicts[i][split] = _split_verdict(name, problems[s.task_id], split, expected[s.task_id][split],
                                                result, nonces[i], test_details)
        if len(verdicts[i]) == len(splits) and on_done is not None:
            on_done()
    if errors:
        raise SandcheckError(f"{len(errors)} runs got no verdict from the server, so nothing was written; "
                             f"the first: {errors[0]}")
    missing = sum(len(v) != len(splits) for v in verdicts.values())
    if missing:
        raise SandcheckError(f"the server returned no result for {missing} samples")
    results: Results = {"date": datetime.now().strftime("%Y-%m-%d %H:%M"), "hash": dataset_hash(dataset), "eval": {}}
    for i, s in enumerate(solutions):
        problem = problems[s.task_id]
        row: dict[str, Any] = {"task_id": s.task_id, "solution": s.solution}
        base_status, base_failed = verdicts[i]["base"]
        plus_status, plus_failed = verdicts[i].get("plus", (None, []))
        row["base_status"], row["plus_status"] = base_status, plus_status
        row["base_fail_tests"] = fail_tests(name, problem, "base", base_failed)
        row["plus_fail_tests"] = fail_tests(name, problem, "plus", plus_failed)
        results["eval"].setdefault(s.task_id, []).append(row)
    return results


def _split_verdict(dataset: str, problem: Mapping[str, Any], split: str, expected: list[Any],
                   result: ExecutionResult, nonce: str, test_details: bool) -> tuple[str, list[int]]:
    agreed = input_agreements(dataset, problem, split, expected, result, nonce)
    return split_status(agreed, len(expected), test_details)


def split_status(agreed: list[bool] | None, n_inputs: int, test_details: bool) -> tuple[str, list[int]]:
    """EvalPlus's status of one split and the indices of its fail tests, from how each input went
    (`input_agreements`: None when the solution did not load)."""
    if agreed is None:
        return FAIL, []
    failed = [n for n, ok in enumerate(agreed) if not ok]
    if not test_details and failed:
        return FAIL, failed[:1]  # EvalPlus stops at the first failing input
    if len(agreed) < n_inputs:  # the run ended early: EvalPlus lists the last input that got a result
        return TIMEOUT, failed if test_details else [len(agreed) - 1] if agreed else []
    return (FAIL if failed else PASS), failed


def fail_tests(dataset: str, problem: Mapping[str, Any], split: str, failed: list[int]) -> list[Any]:
    """The failing inputs as EvalPlus writes them: the dataset's own JSON values, except three MBPP+
    tasks whose inputs EvalPlus writes back in its own serialisation (sets as lists, complex as text)."""
    if not failed:
        return []
    raw = problem[f"{split}_input"]
    number = int(problem["task_id"].rsplit("/", 1)[-1])
    if dataset == "mbpp+" and number in (115, 124, 252):
        args = task_inputs(dataset, problem["task_id"], raw)
        if number == 115:
            return [[[list(item) for item in args[n][0]]] for n in failed]
        return [[str(a) for a in args[n]] for n in failed]
    return [raw[n] for n in failed]


def pass_at_k(results: Results) -> tuple[dict[str, Any], dict[str, Any]]:
    """(base, base + extra) pass@k as EvalPlus computes them, numpy floats; base + extra is empty
    without plus statuses (``--base-only``)."""
    import numpy as np

    rows = list(results["eval"].values())
    total = np.array([len(r) for r in rows])
    base_correct = np.array([sum(s["base_status"] == PASS for s in r) for r in rows])
    base = {f"pass@{k}": estimate_pass_at_k(total, base_correct, k).mean() for k in KS if total.min() >= k}
    if any(s["plus_status"] is None for r in rows for s in r):
        return base, {}
    plus_correct = np.array([sum(s["base_status"] == s["plus_status"] == PASS for s in r) for r in rows])
    plus = {f"pass@{k}": estimate_pass_at_k(total, plus_correct, k).mean() for k in KS if (total >= k).all()}
    return base, plus


def format_pass_at_k(dataset: str, base: Mapping[str, Any], plus: Mapping[str, Any], color: bool = False) -> str:
    """EvalPlus's lines: the base block (red on a terminal), then the base + extra one (green)."""
    def paint(text: str, code: int) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    lines = [paint(f"{dataset} (base tests)", 31)] + [paint(f"{k}:\t{v:.3f}", 31) for k, v in base.items()]
    if plus:
        lines += [paint(f"{dataset}+ (base + extra tests)", 32)]
        lines += [paint(f"{k}:\t{v:.3f}", 32) for k, v in plus.items()]
    return "\n".join(lines)


def write_results(path: Path, results: Results) -> None:
    """As EvalPlus writes it: one ``json.dump``, written to a temporary file then renamed."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(results, f)
    tmp.replace(path)


def read_results(path: Path) -> Results:
    try:
        results = json.loads(path.read_text())
        if not isinstance(results.get("eval"), dict):
            raise ValueError("no 'eval' object")
    except (OSError, ValueError, AttributeError) as exc:
        raise InvalidInput(f"{path}: not an EvalPlus results file ({exc}); --i-just-wanna-run evaluates anew")
    return results
