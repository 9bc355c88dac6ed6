"""An append-only journal of finished checks, so an interrupted eval can resume.

``SAMPLES_results.jsonl.journal`` sits next to the results file. Its first
line records the run's parameters (the samples' and problems' sha256, the
limits); each further line is one finished sample, keyed by its index in
the samples file, flushed as it arrives. A run killed at any point (Ctrl-C,
kill -9) leaves at most one torn last line, which is ignored.

``Journal.start()`` keeps the rows of an earlier run with the same
parameters (a rerun resumes), and starts over when they differ, saying why:
results made under other limits must not be mixed in. ``resume=True``
insists on resuming and refuses, naming the differences; ``resume=False``
(``--fresh``) starts over whatever is there.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._exceptions import InvalidInput

_FORMAT = 2


@dataclass
class Start:
    """What `Journal.start` found: the rows kept, and how many were discarded and why."""

    kept: dict[int, dict[str, Any]] = field(default_factory=dict)
    discarded: int = 0
    why: str = ""  # why the discarded rows were not kept: "asked to start over", "other parameters (...)"


def differences(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """``name: old -> new`` for each parameter that changed (one a journal lacks is None)."""
    return [f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in sorted(set(before) | set(now))
            if before.get(k) != now.get(k)]


def _is_entry(entry: Any) -> bool:
    """A line as `Journal.append` writes it: a sample's index and its row, which has a task_id and a verdict."""
    if not isinstance(entry, dict) or type(entry.get("index")) is not int or entry["index"] < 0:
        return False
    row = entry.get("row")
    return isinstance(row, dict) and isinstance(row.get("task_id"), str) and isinstance(row.get("passed"), bool)


class Journal:
    """Append-only record of rows by sample index, for one set of parameters."""

    def __init__(self, path: str | os.PathLike[str], params: Mapping[str, Any]) -> None:
        self.path = Path(path)
        # Through JSON once, so that a loaded header compares equal (tuples become lists).
        self.params = json.loads(json.dumps(dict(params), default=str))
        self._f = None
        self._synced = 0.0

    def read(self) -> tuple[dict[str, Any] | None, dict[int, dict[str, Any]]]:
        """The parameters and rows of the journal on disk: (None, {}) when there is
        none; ({}, {}) for one this version cannot read (an older format)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (FileNotFoundError, UnicodeDecodeError):
            return None, {}
        try:
            header = json.loads(lines[0]) if lines else None
        except json.JSONDecodeError:
            header = None
        if not isinstance(header, dict) or header.get("journal") != _FORMAT:
            return ({} if lines else None), {}
        rows: dict[int, dict[str, Any]] = {}
        for line in lines[1:]:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn line from a kill mid-write
            if _is_entry(entry):  # else a line not of ours (edited by hand): its sample runs again
                rows.setdefault(entry["index"], entry["row"])
        return header.get("params") or {}, rows

    def start(self, *, resume: bool | None = None) -> Start:
        """Open for appending, keeping the rows of an earlier run with the same
        parameters. `resume` None: keep them if the parameters match, else start
        over; True: keep them, and refuse (InvalidInput) if the parameters
        differ; False: start over whatever is there."""
        params, rows = self.read()
        if resume and params == {}:
            raise InvalidInput(f"--resume: {self.path} was written by another sandcheck version; "
                               "run without --resume to start over")
        if resume and params and differences(params, self.params):
            raise InvalidInput(f"--resume: {self.path} was written with other parameters "
                               f"({'; '.join(differences(params, self.params))}); run without --resume "
                               "to start over, or with the earlier parameters to continue")
        if params is None:
            start = Start()
        elif resume is False:
            start = Start(discarded=len(rows), why="asked to start over")
        elif params and not differences(params, self.params):
            start = Start(kept=rows)
        elif params == {}:
            start = Start(discarded=len(rows), why="written by another sandcheck version")
        else:
            start = Start(discarded=len(rows), why="written with other parameters "
                                                   f"({'; '.join(differences(params, self.params))})")
        self._open(start.kept)
        return start

    def _open(self, keep: dict[int, dict[str, Any]]) -> None:
        """Rewrite the journal with `keep`, then append."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps({"journal": _FORMAT, "params": self.params}) + "\n")
            for index in sorted(keep):
                f.write(json.dumps({"index": index, "row": keep[index]}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._f = open(self.path, "a", encoding="utf-8")

    def append(self, index: int, row: dict[str, Any]) -> None:
        assert self._f is not None, "Journal.start() first"
        self._f.write(json.dumps({"index": index, "row": row}) + "\n")
        self._f.flush()  # survives a kill of this process
        if time.monotonic() - self._synced > 1.0:  # and, within a second, of the machine
            os.fsync(self._f.fileno())
            self._synced = time.monotonic()

    def close(self, remove: bool = False) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None
        if remove:
            self.path.unlink(missing_ok=True)
