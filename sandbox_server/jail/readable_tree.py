"""Make a tree the server built (Go's build cache, Rust's crates) readable by the jails.

Compile jails run as unprivileged uids and bind these trees read-only: every
directory must be 0755 and every file 0644, and none writable but by the
server's user, whatever umask the build ran under.
"""

from __future__ import annotations

import os
from pathlib import Path


def make_readable(root: Path | str) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames:
            os.chmod(os.path.join(dirpath, n), 0o755)
        for n in filenames:
            os.chmod(os.path.join(dirpath, n), 0o644)
    os.chmod(root, 0o755)
