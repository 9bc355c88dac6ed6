"""`sandcheck serve --check`: the host's facts, a real jail tried, exit 0 only if it can serve."""

from __future__ import annotations

import subprocess
import sys

from .conftest import CGROUP_ROOTS, JAIL_PYTHON


def check(*extra: str) -> subprocess.CompletedProcess:
    proc = subprocess.Popen([sys.executable, "-m", "sandbox_server", "--check", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(timeout=300)
    for root in CGROUP_ROOTS:  # the probe's cgroups are gone
        assert not list(root.glob(f"server-*-{proc.pid}"))
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_check_reports_the_host_and_can_serve() -> None:
    out = check()
    assert out.returncode == 0, out.stdout + out.stderr
    lines = dict(line.split(":", 1) for line in out.stdout.splitlines())
    assert set(lines) >= {"host", "cgroups", "user namespaces", "seccomp", "nsjail", "runtime", "verdict"}
    assert lines["runtime"].strip().startswith(JAIL_PYTHON)
    assert lines["verdict"].strip().startswith("can serve: warm jails")


def test_check_names_what_is_missing_and_fails() -> None:
    out = check("--interpreter", "/nonexistent/python3")
    assert out.returncode == 1
    assert "cannot serve: runtime: interpreter /nonexistent/python3 does not exist" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr
