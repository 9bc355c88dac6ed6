"""What the host does to the disk where builds are made is never a program's
verdict: a compile that fails for want of space, a kept build the host
removed. The build cache leaves room for compiles on a small filesystem (a
pod's memory-backed emptyDir is 256 MiB, the cache's default budget too)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandcheck import Client

from .conftest import RunningServer

HELLO = '#include <cstdio>\nint main() { std::puts("hi"); return 0; }\n'
BROKEN = "int main() { return undeclared; }\n"

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ is not installed")


@pytest.fixture
def small_tmpdir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A 48 MiB tmpfs as the server's TMPDIR (its parents searchable by the jails' uids)."""
    mnt = Path(tempfile.mkdtemp(prefix="sandcheck-test-small-", dir="/tmp"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=755", "tmpfs", str(mnt)], check=True)
    monkeypatch.setenv("TMPDIR", str(mnt))
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        mnt.rmdir()


def _fill(mnt: Path, leave: int) -> Path:
    filler = mnt / "filler"
    st = os.statvfs(mnt)
    with open(filler, "wb") as f:
        f.write(b"\0" * (st.f_bavail * st.f_frsize - leave))
    return filler


def test_a_compile_on_a_full_disk_is_a_sandbox_error_and_runs_once_there_is_room(small_tmpdir: Path) -> None:
    server = RunningServer()
    try:
        with Client(server.target, timeout=300) as client:
            broken = client.execute(BROKEN, language="cpp")  # room enough: the program's own error
            assert broken.status == "COMPILE_ERROR" and b"undeclared" in broken.compile.stderr
            filler = _fill(small_tmpdir, 8 * 1024)
            full = client.execute(HELLO, language="cpp")
            # Before: COMPILE_ERROR, "the program did not compile" (the linker's ENOSPC), and
            # kept as a failed compile.
            assert full.status == "SANDBOX_ERROR", (full.status, full.error)
            assert "want of space" in full.error and "TMPDIR" in full.error
            filler.unlink()
            again = client.execute(HELLO, language="cpp")
            assert (again.status, again.stdout) == ("OK", b"hi\n")
    finally:
        server.stop()


def test_the_build_cache_leaves_room_for_compiles_on_a_small_filesystem(small_tmpdir: Path) -> None:
    # 48 MiB holds less than the free space the cache keeps (64 MiB): it keeps no build,
    # so a compile always finds the room it had. A normal /tmp keeps it (test_build_dedup).
    server = RunningServer()
    try:
        with Client(server.target, timeout=300) as client:
            # Another stdin each time: the same build, not the same check (the result cache).
            first, second = (client.execute(HELLO, stdin=stdin, language="cpp") for stdin in (b"1", b"2"))
    finally:
        server.stop()
    assert (first.status, second.status) == ("OK", "OK")
    assert not first.compile.cached and not second.compile.cached


def test_a_kept_build_the_host_removed_is_compiled_again_not_run_missing() -> None:
    double = '#include <cstdio>\nint main() { int x; std::scanf("%d", &x); std::printf("%d\\n", 2 * x); }\n'
    server = RunningServer()
    try:
        with Client(server.target, timeout=300) as client:
            first, second = (client.execute(double, stdin=stdin, language="cpp") for stdin in (b"1", b"2"))
            assert (first.stdout, second.stdout, second.compile.cached) == (b"2\n", b"4\n", True)
            kept = glob.glob(f"{tempfile.gettempdir()}/sandcheck.server-*-{server.proc.pid}.*/cache/*/*")
            assert kept  # the artifact and its source
            for path in kept:  # as a /tmp cleaner would
                os.remove(path)
            # Before: NONZERO_EXIT 127, "cannot run /build/main", for every later check of it.
            third, fourth = (client.execute(double, stdin=stdin, language="cpp") for stdin in (b"3", b"4"))
    finally:
        server.stop()
    assert (third.status, third.stdout, third.compile.cached) == ("OK", b"6\n", False)
    assert (fourth.status, fourth.stdout, fourth.compile.cached) == ("OK", b"8\n", True)
