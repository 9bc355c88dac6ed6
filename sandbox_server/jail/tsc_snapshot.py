"""tsc started from a Node.js snapshot with the standard library already parsed, built once per Node and TypeScript.

A tsc compile of a MultiPL-E program spends 1.1-1.2 s of CPU here, and
almost none of it on the program: loading typescript.js, then parsing and
binding the ~29,000 lines of lib .d.ts files a `--target esnext` compile
reads. Node builds a startup snapshot of a process that has done that
(``node --build-snapshot``, tsc_snapshot.js): each compile then starts
from it in 0.25-0.3 s. It is still one fresh process per compile, in the
compile jail, started from a file the server built on the host from
Debian's TypeScript (never from a request); the diagnostics and exit status
are tsc's own (tsc_snapshot.js runs what tsc's command line runs).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from .built_once import build_once

DRIVER = Path(__file__).with_name("tsc_snapshot.js")


class SnapshotError(Exception):
    """The snapshot cannot be built here; the message says why."""


def ensure(cache_root: str, node: str, typescript_js: str, tsc_args: tuple[str, ...]) -> str:
    """The snapshot blob for `node`, `typescript_js` and the compile's `tsc_args`, built if missing.

    A file lock lets several server processes share one build."""
    node_version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=60,
                                  env={"PATH": "/usr/bin:/bin"}).stdout.strip()
    h = hashlib.sha256(repr((node, node_version, tsc_args)).encode())
    for path in (node, typescript_js, DRIVER):
        st = os.stat(path)
        h.update(f"{path} {st.st_size} {st.st_mtime_ns}\n".encode())
    h.update(DRIVER.read_bytes())
    root = Path(cache_root) / f"tsc-snapshot-{node_version}-{h.hexdigest()[:12]}"
    blob = root / "tsc.blob"

    def snapshot(work: Path) -> None:
        built = subprocess.run([node, "--snapshot-blob", str(work / blob.name), "--build-snapshot", str(DRIVER),
                                typescript_js, *tsc_args], cwd=work, env={"PATH": "/usr/bin:/bin"},
                               capture_output=True, text=True, timeout=600)
        if built.returncode != 0 or not (work / blob.name).is_file():
            raise SnapshotError(f"node --build-snapshot of tsc failed: {built.stderr.strip()[-1000:]}")

    build_once(root, snapshot)
    return str(blob)
