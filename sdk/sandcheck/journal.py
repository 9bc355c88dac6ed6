"""An append-only journal of finished checks, so an interrupted eval can resume.

``SAMPLES_results.jsonl.journal`` sits next to the results file. Its first
line fingerprints the run (samples, problems, limits); each further line is
one finished sample, keyed by its index in the samples file, flushed as it
arrives. A run killed at any point (Ctrl-C, kill -9) leaves at most one torn
last line, which is ignored. ``--resume`` keeps the journaled rows whose
fingerprint matches and runs only the rest; without it the journal is
started afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

_FORMAT = 1


def fingerprint(**facts: Any) -> str:
    """A digest of what makes two runs the same run."""
    return hashlib.sha256(json.dumps(facts, sort_keys=True, default=str).encode()).hexdigest()


class Journal:
    """Append-only record of rows by sample index."""

    def __init__(self, path: str | os.PathLike[str], run_fingerprint: str) -> None:
        self.path = Path(path)
        self.fingerprint = run_fingerprint
        self._f = None
        self._synced = 0.0

    def load(self) -> dict[int, dict[str, Any]]:
        """Rows of an earlier run with the same fingerprint; {} if none."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except (FileNotFoundError, UnicodeDecodeError):
            return {}
        if not lines:
            return {}
        try:
            header = json.loads(lines[0])
        except json.JSONDecodeError:
            return {}
        if header.get("journal") != _FORMAT or header.get("fingerprint") != self.fingerprint:
            return {}
        rows: dict[int, dict[str, Any]] = {}
        for line in lines[1:]:
            try:
                entry = json.loads(line)
                rows.setdefault(int(entry["index"]), entry["row"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # a torn line from a kill mid-write
        return rows

    def open(self, keep: dict[int, dict[str, Any]]) -> None:
        """Start writing: rewrite the journal with `keep`, then append."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps({"journal": _FORMAT, "fingerprint": self.fingerprint}) + "\n")
            for index in sorted(keep):
                f.write(json.dumps({"index": index, "row": keep[index]}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._f = open(self.path, "a", encoding="utf-8")

    def append(self, index: int, row: dict[str, Any]) -> None:
        assert self._f is not None, "Journal.open() first"
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
