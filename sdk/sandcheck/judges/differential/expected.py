"""The canonical solution's outputs and CPU times: computed once per dataset version, then cached.

They are computed the way candidates are run (the same harness, in the
jail), with a generous limit per input, and kept as codec bytes in a gzip'd
JSON file named after the dataset file's sha256, under
``$SANDCHECK_CACHE_DIR`` (default ``~/.cache/sandcheck``). A changed dataset
file is a new version and gets a new file. Tasks are computed when first
needed, so a run over a few tasks caches those few.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..._exceptions import SandcheckError
from ..._types import Limits
from ...client import Program
from ...progress import tracked
from .. import codec
from .harness import Record, build_program, complex_back, complex_marked, inputs_literal, parse_records
from .inputs import task_inputs

FORMAT = 3
_MARK = "\x00complex"  # complex numbers in the cache file (written by sandcheck only)
SPLITS = ("base", "plus")
CANONICAL_LIMIT_S = 20.0
MEMORY_MB = 4096  # EvalPlus's default memory limit (4 GiB) for every run, canonical or candidate  # per input; EvalPlus runs canonical solutions without a limit
_OUTPUT_CAP = 16 << 20


def cache_dir() -> Path:
    return Path(os.environ.get("SANDCHECK_CACHE_DIR") or Path.home() / ".cache" / "sandcheck") / "expected"


def cache_path(dataset: str, sha256: str) -> Path:
    return cache_dir() / f"{dataset.replace('+', 'plus')}-{sha256[:16]}-v{FORMAT}.json.gz"


def canonical_code(problem: Mapping[str, Any]) -> str:
    return problem["prompt"] + problem["canonical_solution"]


def expected_outputs(dataset: str, sha256: str, problems: Mapping[str, Mapping[str, Any]], client: Any,
                     memory_mb: int | None = None) -> dict[str, dict[str, list[Record]]]:
    """{task_id: {"base": [Record per input], "plus": [...]}}: cached tasks are read, the others computed and added."""
    path = cache_path(dataset, sha256)
    cached: dict[str, dict[str, list[Record]]] = {}
    if path.is_file():
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                cached = _load(json.load(f))
        except (OSError, ValueError, KeyError, TypeError, codec.CodecError):
            cached = {}  # a damaged cache is recomputed
    missing = {t: p for t, p in problems.items() if t not in cached}
    if missing:
        cached.update(_compute(dataset, missing, client, memory_mb))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        with gzip.open(tmp, "wt", encoding="utf-8") as f:
            json.dump(_dump(cached), f)
        os.replace(tmp, path)
    return {t: cached[t] for t in problems}


def _compute(dataset: str, problems: Mapping[str, Mapping[str, Any]], client: Any,
             memory_mb: int | None) -> dict[str, dict[str, list[Record]]]:
    nonce = secrets.token_hex(16)
    programs, sizes = [], {}
    for task_id, p in problems.items():
        for split in SPLITS:
            inputs = task_inputs(dataset, task_id, p[f"{split}_input"])
            sizes[(task_id, split)] = len(inputs)
            source = build_program(canonical_code(p), p["entry_point"], inputs_literal(inputs),
                                   [CANONICAL_LIMIT_S] * len(inputs), nonce)
            base = Limits.for_timeout(60.0, memory_mb or MEMORY_MB)
            limits = Limits(base.cpu_time_ms, base.wall_time_ms, base.memory_bytes, _OUTPUT_CAP)
            programs.append(Program(source, limits=limits, id=f"{task_id}\n{split}"))
    out: dict[str, dict[str, list[Record]]] = {t: {} for t in problems}
    label = f"{dataset}: canonical outputs of {len(problems)} tasks (once per dataset version)"
    for result in tracked(client.execute_batch(programs), label, total=len(programs), unit="run"):
        task_id, split = result.id.split("\n")
        if result.status in ("SANDBOX_ERROR", "INVALID_REQUEST"):  # never cached: no facts about the solution
            raise SandcheckError(f"{dataset}: the canonical solution of {task_id} got no verdict ({split} inputs): "
                                 f"{result.status} {result.error}")
        records = parse_records(result.stdout, nonce)
        missing = Record("error", detail=f"canonical solution gave no output ({result.status})")
        out[task_id][split] = [records.get(i, missing) for i in range(sizes[(task_id, split)])]
    return out


def _dump(expected: dict[str, dict[str, list[Record]]]) -> dict[str, Any]:
    def row(r: Record) -> list[Any]:
        raw = codec.encode(complex_marked(r.value, _MARK)) if r.kind == "value" else \
            r.value if r.kind == "digest" else b""
        payload = base64.b64encode(raw).decode()
        return [r.kind, payload, r.detail, r.seconds]

    return {"format": FORMAT, "tasks": {t: {s: [row(r) for r in recs] for s, recs in splits.items()}
                                        for t, splits in expected.items()}}


def _load(data: dict[str, Any]) -> dict[str, dict[str, list[Record]]]:
    if data.get("format") != FORMAT:
        raise ValueError("another cache format")

    def record(kind: str, payload: str, detail: str, seconds: float) -> Record:
        raw = base64.b64decode(payload)
        value = complex_back(codec.decode(raw), _MARK) if kind == "value" else raw if kind == "digest" else None
        return Record(kind, value, detail, seconds)

    return {t: {s: [record(*r) for r in recs] for s, recs in splits.items()} for t, splits in data["tasks"].items()}
