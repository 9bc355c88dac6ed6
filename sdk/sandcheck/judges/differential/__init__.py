"""EvalPlus's differential testing (HumanEval+, MBPP+), run in the jail and judged outside it.

    from sandcheck.judges.differential import evaluate_differential
    report = evaluate_differential(samples, load_dataset("humaneval+").problems, client=client,
                                   dataset="humaneval+")
    report.pass_at_k   # {"base": {"pass@1": ...}, "plus": {"pass@1": ...}}

Each sample runs twice, as in EvalPlus: on the task's base inputs and on its
plus inputs, each in a fresh process. For every input its output is
compared with the canonical solution's (`oracle`). The canonical outputs and
CPU times are computed once per dataset version and cached (`expected`).
Each input gets a CPU-time limit of max(1 s, 4 × the canonical solution's
time on it), and the whole run min(60 s, their sum) + 1 s, EvalPlus's
factors; memory is 4 GiB unless `memory_mb` says otherwise, as EvalPlus. A sample passes ``base`` when every base input agrees, and
``plus`` (its ``passed``) when every base and every plus input agrees.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..._types import ExecutionResult, Limits
from ...client import Program
from ..run import Evaluation, checked_ks, kept_rows, summarize
from ...samples import sample_code, validate_samples
from .expected import MEMORY_MB, SPLITS, expected_outputs
from .harness import Record, build_program, digest, inputs_literal, parse_records
from .inputs import task_inputs
from .oracle import MBPP_NOT_NONE, Comparison, compares_as_sets

MIN_TIME_LIMIT_S = 1.0
TIME_LIMIT_FACTOR = 4.0
RUN_LIMIT_S = 60.0
_OUTPUT_CAP = 16 << 20


def evaluate_differential(
    samples: Sequence[Mapping[str, Any]],
    problems: Mapping[str, Mapping[str, Any]],
    *,
    client: Any,
    dataset: str,
    k: Iterable[int] = (1, 10, 100),
    timeout: float | None = None,
    memory_mb: int | None = None,
    on_result: Callable[[int, dict[str, Any]], None] | None = None,
    done: Mapping[int, dict[str, Any]] | None = None,
) -> Evaluation:
    """Base and plus verdicts per sample; pass@k for both. `timeout` is unused: limits come from the canonical runs."""
    k = checked_ks(k)
    from ...datasets import dataset_path
    from ...data import sha256_file

    validate_samples(samples, problems)
    rows = kept_rows(samples, done)
    todo = [i for i in range(len(samples)) if i not in rows]
    needed = {samples[i]["task_id"]: problems[samples[i]["task_id"]] for i in todo}  # only the tasks sampled
    expected = expected_outputs(dataset, sha256_file(dataset_path(dataset)), needed, client, memory_mb)
    nonces: dict[tuple[str, str], str] = {}
    literals: dict[tuple[str, str], str] = {}

    def programs() -> Iterable[Program]:  # built as the stream asks: 16,400 samples would not fit in memory
        for i in todo:
            problem = problems[samples[i]["task_id"]]
            code = sample_code(samples[i], problem)
            nonce = nonces.setdefault((problem["task_id"], code), secrets.token_hex(16))
            for split in SPLITS:
                key = (problem["task_id"], split)
                if key not in literals:
                    literals[key] = inputs_literal(task_inputs(dataset, key[0], problem[f"{split}_input"]))
                yield split_program(problem, code, literals[key], expected[key[0]][split], nonce, memory_mb,
                                    f"{i}/{split}", dataset=dataset)

    halves: dict[int, dict[str, ExecutionResult]] = {i: {} for i in todo}
    for result in client.execute_batch(programs()):
        i_text, split = result.id.split("/")
        i = int(i_text)
        if i in rows or split in halves[i]:
            continue
        halves[i][split] = result
        if len(halves[i]) == len(SPLITS):
            problem = problems[samples[i]["task_id"]]
            code = sample_code(samples[i], problem)
            rows[i] = _row(dataset, samples[i], problem, expected[problem["task_id"]], halves.pop(i),
                           nonces[(problem["task_id"], code)])
            if on_result is not None:
                on_result(i, rows[i])
    if len(rows) != len(samples):
        raise RuntimeError(f"server returned no result for {len(samples) - len(rows)} samples")
    finished = [rows[i] for i in range(len(samples))]
    base = [{**r, "passed": r["base_passed"]} for r in finished]
    pass_at_k = {"base": summarize(base, k), "plus": summarize(finished, k)}
    return Evaluation(finished, pass_at_k, Counter(r["status"] for r in finished), "evalplus")


@dataclass(frozen=True)
class TimeLimits:
    """EvalPlus's time budget: each input max(`min_s`, `factor` × the canonical solution's
    CPU time on it); the whole run min(`run_s`, their sum) + 1 s."""

    min_s: float = MIN_TIME_LIMIT_S
    factor: float = TIME_LIMIT_FACTOR
    run_s: float = RUN_LIMIT_S


def time_limits(expected: list[Record], limits: TimeLimits = TimeLimits()) -> list[float]:
    return [max(limits.min_s, limits.factor * r.seconds) for r in expected]


def split_program(problem: Mapping[str, Any], code: str, inputs: str, expected: list[Record], nonce: str,
                  memory_mb: int | None, id: str, time: TimeLimits = TimeLimits(),
                  keep_going: bool = False, dataset: str = "") -> Program:
    """The program that runs `code` on one split's inputs (`inputs_literal`'s text)."""
    per_input = time_limits(expected, time)
    base = Limits.for_timeout(min(time.run_s, sum(per_input)) + 1.0, memory_mb or MEMORY_MB)
    limits = Limits(base.cpu_time_ms, base.wall_time_ms, base.memory_bytes, _OUTPUT_CAP)
    source = build_program(code, problem["entry_point"], inputs, per_input, nonce, keep_going,
                           as_set=compares_as_sets(dataset, problem["entry_point"]))
    return Program(source, limits=limits, id=id)


def judge_split(dataset: str, problem: Mapping[str, Any], split: str, expected: list[Record],
                result: ExecutionResult, nonce: str) -> tuple[str, str]:
    """("pass" | "fail" | "timeout", why) for one split's execution."""
    records = parse_records(result.stdout, nonce)
    if -1 in records:
        return "fail", f"the solution did not load: {records[-1].detail}"
    inputs = task_inputs(dataset, problem["task_id"], problem[f"{split}_input"])
    comparison = Comparison(dataset, problem["entry_point"], float(problem.get("atol") or 0))
    not_none = dataset == "mbpp+" and problem["entry_point"] in MBPP_NOT_NONE
    for n, (args, exp) in enumerate(zip(inputs, expected)):
        got = records.get(n)
        if got is None:
            if result.status == "TIMEOUT":
                return "timeout", f"{split} input {n}: out of time ({result.timeout_kind or 'CPU'} limit of the run)"
            return "fail", f"{split} input {n}: no result (the program ended: {result.status})"
        if got.kind == "timeout":
            return "timeout", f"{split} input {n}: over its time limit"
        why = _disagreement(comparison, not_none, args, got, exp)
        if why:
            return "fail", f"{split} input {n}: {why}"
    return "pass", ""


def input_agreements(dataset: str, problem: Mapping[str, Any], split: str, expected: list[Record],
                     result: ExecutionResult, nonce: str) -> list[bool] | None:
    """Input by input, whether the output agreed, for the inputs that got a result, from the first
    until the first without one (the run ended there); None when the solution did not load."""
    records = parse_records(result.stdout, nonce)
    if -1 in records:
        return None
    inputs = task_inputs(dataset, problem["task_id"], problem[f"{split}_input"])
    comparison = Comparison(dataset, problem["entry_point"], float(problem.get("atol") or 0))
    not_none = dataset == "mbpp+" and problem["entry_point"] in MBPP_NOT_NONE
    agreed: list[bool] = []
    for n, (args, exp) in enumerate(zip(inputs, expected)):
        got = records.get(n)
        if got is None:
            break
        agreed.append(_disagreement(comparison, not_none, args, got, exp) is None)
    return agreed


def _disagreement(comparison: Comparison, not_none: bool, args: list[Any], got: Record, exp: Record) -> str | None:
    """Why the output `got` for one input is not the canonical `exp`; None when it agrees."""
    if got.kind not in ("value", "opaque", "digest"):
        return got.detail or got.kind
    if exp.kind not in ("value", "opaque", "digest"):
        return f"the canonical solution has no output here ({exp.detail})"
    if "digest" in (got.kind, exp.kind):  # a large value: only exact equality of the encodings can be seen
        return None if digest(got) == digest(exp) else "wrong output"
    if not_none:
        exp_value: Any = not (exp.kind == "value" and exp.value is None)
    else:
        exp_value = exp.value if exp.kind == "value" else _Opaque(exp)
    out_value = got.value if got.kind == "value" else _Opaque(got)
    return None if comparison.agrees(args, out_value, exp_value, got.exact_type) else "wrong output"


class _Opaque:
    """A value that was not plain data: only its type name is known; never equal to anything."""

    def __init__(self, record: Record) -> None:
        self.type_name = record.detail

    def __repr__(self) -> str:
        return f"<{self.type_name}>"


def _row(dataset: str, sample: Mapping[str, Any], problem: Mapping[str, Any], expected: Mapping[str, list[Record]],
         results: Mapping[str, ExecutionResult], nonce: str) -> dict[str, Any]:
    verdicts = {s: judge_split(dataset, problem, s, expected[s], results[s], nonce) for s in SPLITS}
    base_passed = verdicts["base"][0] == "pass"
    passed = base_passed and verdicts["plus"][0] == "pass"
    errors = [results[s].status for s in SPLITS if results[s].status in ("SANDBOX_ERROR", "INVALID_REQUEST")]
    failed = next((s for s in SPLITS if verdicts[s][0] != "pass"), None)
    status = errors[0] if errors else results[failed or "plus"].status
    result = "passed" if passed else f"failed: {verdicts[failed][1]}"
    if errors:
        result = f"failed: sandbox error: {next(results[s].error for s in SPLITS if results[s].status in errors)}"
    return {**sample, "result": result, "passed": passed, "status": status, "base_passed": base_passed,
            "base_status": verdicts["base"][0], "plus_status": verdicts["plus"][0]}
