"""Non-root mode: the server refuses to start as an unprivileged user, and says why.

Without root (or a delegated cgroup subtree) it cannot cap memory and
processes with cgroups, and it will not run untrusted programs with weaker
limits. The venv's interpreter lives under /root (mode 0700) here, so rather
than exec it as `nobody` through setpriv/runuser, the child imports the
server as root and then drops to nobody (uid and gid 65534, no supplementary
groups) before it starts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import REPO, free_port

DROP_AND_SERVE = r"""
import os, sys
import sandbox_server.server as server, sandbox_server.executor, sandbox_server.jail.cgroups  # noqa: F401
import logging, json, encodings.idna  # noqa: F401  (everything start-up needs, before the drop)
os.setgroups([])
os.setgid(65534)
os.setuid(65534)
assert os.geteuid() == 65534 and os.getegid() == 65534
sys.exit(server.main(["--listen", sys.argv[1]]))
"""


def _nobody_dirs() -> set[Path]:
    return {p for p in Path("/tmp").glob("sandcheck.server-*") if p.stat().st_uid == 65534}


def test_server_refuses_to_start_as_nobody() -> None:
    before = _nobody_dirs()
    r = subprocess.run([sys.executable, "-c", DROP_AND_SERVE, f"127.0.0.1:{free_port()}"], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "cannot start" in r.stderr and "needs root" in r.stderr, r.stderr
    assert "cgroups" in r.stderr  # it says why
    assert "listening" not in r.stderr
    assert _nobody_dirs() == before  # the refused server left no private dir behind
