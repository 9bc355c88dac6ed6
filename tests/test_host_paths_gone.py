"""A host path every jail binds, removed under a running server (an operator's
or a cleaner's doing), fails each jail that would bind it: the check is a
SANDBOX_ERROR that names the path and the fix, never the program's verdict."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from sandcheck import Client

from .conftest import RunningServer


@pytest.mark.parametrize("mode", [("--jail-mode", "cold"), ("--concurrency", "1", "--warm-max-checks", "1")],
                         ids=["cold", "warm"])
def test_a_removed_package_directory_is_named_with_the_fix(mode: tuple[str, ...]) -> None:
    # Outside /tmp (the jails mount their own there), searchable by the jails' uids.
    site = Path(tempfile.mkdtemp(prefix="sandcheck-test-site-", dir="/var/tmp"))
    os.chmod(site, 0o755)
    (site / "hello_pkg.py").write_text("WORD = 'hello'\n")
    os.chmod(site / "hello_pkg.py", 0o644)
    server = RunningServer("--python-packages", str(site), *mode)
    try:
        with Client(server.target, timeout=120) as client:
            assert client.execute("import hello_pkg\nprint(hello_pkg.WORD)\n").stdout == b"hello\n"
            shutil.rmtree(site)
            gone = client.execute("print(1)\n")
            # Before: nsjail's own lines alone ("mount(...): No such file or directory").
            assert gone.status == "SANDBOX_ERROR", (gone.status, gone.error)
            assert f"{site} is gone from the host" in gone.error and "restart the server" in gone.error
    finally:
        server.stop()
        shutil.rmtree(site, ignore_errors=True)
