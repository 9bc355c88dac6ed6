"""A directory in the host's cache, built once and from then on only read.

Saved start-up work (C++ precompiled headers, javac's class archive, tsc's
snapshot) is built on the host by whichever server process needs it first.
A file lock lets several processes share one build; the build fills a
temporary directory beside the final one, made readable to the jails and
renamed into place, so no reader sees half of one; a marker inside says it
finished, so a build that died is started over.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .readable_tree import make_readable

_DONE = ".sandcheck-done"


def build_once(root: Path, build: Callable[[Path], None]) -> None:
    """Make `root` with `build(work)`, unless a finished one is there; `build` raises to fail."""
    if (root / _DONE).exists():
        return
    root.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(root.parent, 0o755)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (root / _DONE).exists():
            return
        shutil.rmtree(root, ignore_errors=True)
        work = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}."))
        try:
            build(work)
            make_readable(work)
            os.rename(work, root)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        (root / _DONE).write_text("")
