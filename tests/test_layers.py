"""The layers point one way: proto -> sandcheck_api -> (server | SDK).

The server and the SDK talk only through the API package, so neither imports
the other, and the API package imports nothing of ours. Its generated code is
committed; it must be exactly what ``scripts/gen-api`` makes from ``proto/``.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OURS = {"sandcheck", "sandcheck_api", "sandbox_server"}
PACKAGES = {  # package -> where it lives, and which of our packages it may import
    "sandcheck_api": (REPO / "sandcheck_api", {"sandcheck_api"}),
    "sandbox_server": (REPO / "sandbox_server", {"sandbox_server", "sandcheck_api"}),
    "sandcheck": (REPO / "sdk" / "sandcheck", {"sandcheck", "sandcheck_api"}),
}


def imported_packages(path: Path) -> set[str]:
    """Top-level names of the absolute imports in one file (relative ones stay inside its package)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_imports_point_one_way(package: str) -> None:
    root, allowed = PACKAGES[package]
    files = sorted(root.rglob("*.py"))
    assert files
    wrong = {f"{path.relative_to(REPO)} imports {name}"
             for path in files for name in imported_packages(path) & OURS - allowed}
    assert not wrong, sorted(wrong)


def test_the_scan_sees_imports(tmp_path: Path) -> None:
    """The checker itself: each import form is found, relative imports are not."""
    f = tmp_path / "m.py"
    f.write_text("import sandbox_server.server\nfrom sandcheck import Client\n"
                 "from . import sibling\ndef f():\n    import sandcheck_api.v1\n")
    assert imported_packages(f) == {"sandbox_server", "sandcheck", "sandcheck_api"}


def test_generated_code_matches_the_proto(tmp_path: Path) -> None:
    subprocess.run([REPO / "scripts" / "gen-api", tmp_path], check=True,
                   env={**os.environ, "PYTHON": sys.executable})
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert fresh
    committed = {p: (REPO / p).read_bytes() for p in fresh if (REPO / p).exists()}
    stale = sorted(str(p) for p in fresh if committed.get(p) != fresh[p])
    assert not stale, f"generated code differs from proto/; run scripts/gen-api: {stale}"


def test_sandcheck_serve_runs_the_server_program() -> None:
    """`sandcheck serve` takes the server's flags and exit codes without importing it."""
    cli = [sys.executable, "-c", "import sys; from sandcheck.cli import main; sys.exit(main())", "serve"]
    shown = subprocess.run([*cli, "--print-config", "--listen", "127.0.0.1:1"], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert '"listen": "127.0.0.1:1"' in shown.stdout
    bad = subprocess.run([*cli, "--no-such-flag"], capture_output=True, text=True)
    assert bad.returncode == 2
    assert "sandcheck serve: error: unrecognized arguments: --no-such-flag" in bad.stderr
    assert "Traceback" not in bad.stderr
