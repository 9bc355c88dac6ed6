"""What `toolchains.detect` found, remembered on disk until the host changes.

Finding the toolchains runs each one's version probe and ``ldd`` over its
binaries: about half a second of CPU, once per server process, before the
first Python check could run. The answer changes only when a package is
installed or removed, a toolchain binary changes, or sandcheck's own
detection code does; the key is made of exactly those (the dpkg database's
and each binary's size and mtime, the code's text), so a hit is a few stats.
A hit is used only if every path it binds still exists.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

_DPKG_STATUS = "/var/lib/dpkg/status"
_KEEP_S = 30 * 86400
_CODE = ("toolchains.py", "go_cache.py", "rust_crates.py", "runtime.py", "detect_cache.py", "built_once.py",
         "cpp_pch.py", "javac_cds.py", "tsc_snapshot.py", "tsc_snapshot.js")


def key(binaries: list[str], only: tuple[str, ...] | None, cache_root: str) -> str:
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in _CODE:
        h.update((here / name).read_bytes())
    h.update(repr((sorted(only) if only else None, cache_root)).encode())
    for path in (_DPKG_STATUS, *sorted(set(binaries))):
        try:
            st = os.stat(path)
            h.update(f"{path} {st.st_size} {st.st_mtime_ns} {st.st_ino}\n".encode())
        except OSError:
            h.update(f"{path} -\n".encode())
    return h.hexdigest()[:32]


def load(cache_root: str, digest: str) -> dict | None:
    """The remembered answer for `digest`, or None (none kept, or a bound path is gone)."""
    path = Path(cache_root) / f"toolchains-{digest}.json"
    try:
        # It names the host paths every jail binds: only a file and a directory
        # that no one but this server's user can write are believed.
        if not all(_private(p) for p in (path, path.parent)):
            return None
        found = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    paths = [p for lang in found.get("languages", {}).values() for k in ("compile_binds", "run_binds") for p in lang[k]]
    return found if all(os.path.exists(p) for p in paths) else None


def save(cache_root: str, digest: str, answer: dict) -> None:
    """Keep `answer` for the next start; a cache directory that cannot be written is no error."""
    root = Path(cache_root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        for old in root.glob("toolchains-*.json"):  # answers for hosts long gone
            if time.time() - old.stat().st_mtime > _KEEP_S:
                old.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=root, prefix=".toolchains-")
        with os.fdopen(fd, "w") as f:
            json.dump(answer, f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, root / f"toolchains-{digest}.json")
    except OSError:
        pass


def _private(path: Path) -> bool:
    st = path.stat()
    return st.st_uid == os.geteuid() and not st.st_mode & 0o022
