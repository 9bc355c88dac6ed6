"""A server that cannot start says why in one line and leaves nothing behind
(no slot cgroups, no private dir, no socket of another server taken over);
real servers, real cgroups, each test in a cgroup root and TMPDIR of its own."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox_server.config import max_concurrency
from sandbox_server.jail.cgroups import CGROUP_MOUNT, CONTROLLERS, open_tree

from sandcheck import Client

from .conftest import REPO, free_port

ROOT = "sandcheck-test-start"  # its own cgroup subtree: other servers' instances never show in it

# A server whose slot `index` 2 cannot be made (as on a host out of cgroups): the
# exception is built from argv[1]; the rest of argv is `sandcheck serve`'s.
FAILING_SLOT = """
import errno, os, sys
from sandbox_server import server
from sandbox_server.jail import cgroups

def failing(real):
    def slot(self, index, role=""):
        if index == 2:
            where = str(next(iter(self.base.values())) / f"{role or 'slot'}-{index}")
            raise {"EBUSY": OSError(errno.EBUSY, os.strerror(errno.EBUSY), where),
                   "unexpected": RuntimeError("boom")}[sys.argv[1]]
        return real(self, index, role)
    return slot

for cls in (cgroups.CgroupTree, cgroups.CgroupV2Tree):
    cls.slot = failing(cls.slot)
sys.exit(server.main(sys.argv[2:]))
"""


@pytest.fixture()
def own_tmp() -> Iterator[Path]:
    """A TMPDIR for the server's private dirs (searchable by the jails' uids, as /tmp is)."""
    d = Path(tempfile.mkdtemp(prefix="sc-start-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture()
def env(own_tmp: Path) -> Iterator[dict[str, str]]:
    yield {**os.environ, "SANDCHECK_CGROUP_ROOT": ROOT, "TMPDIR": str(own_tmp)}
    tree = open_tree(ROOT)
    if tree.mode != "none":
        tree.sweep()  # what a failing server left, if it did
    for top in _tops():
        top.rmdir()


def _tops() -> list[Path]:
    """ROOT's top directories, on whichever cgroup hierarchy this host has."""
    tree = open_tree(ROOT)
    tops = [CGROUP_MOUNT / c / ROOT for c in CONTROLLERS] if tree.mode == "v1" else [tree.parent / ROOT] \
        if tree.mode == "v2" else []
    return [t for t in tops if t.is_dir()]


def _instances() -> list[Path]:
    return [p for top in _tops() for p in top.iterdir() if p.is_dir()]


def _serve(*args: str, env: dict[str, str] | None = None, script: str | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess:
    """`sandcheck serve ARGS` that must end by itself: one that serves instead is stopped, and fails the test."""
    cmd = [sys.executable, "-c", script, *args] if script else [sys.executable, "-m", "sandbox_server", *args]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
        pytest.fail(f"the server did not refuse to start; it served until stopped: {err[-2000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def _errors(p: subprocess.CompletedProcess) -> list[str]:
    """stderr's lines for a person, the JSON log lines aside."""
    assert "Traceback" not in p.stderr, p.stderr
    return [line for line in p.stderr.splitlines() if not line.startswith("{")]


# -- a start that fails leaves nothing behind --------------------------------------------------


def test_a_concurrency_past_the_bound_is_refused_before_anything_is_made(env: dict[str, str], own_tmp: Path) -> None:
    # `sandcheck eval --workers 100000` started a server of 100,000 slots: it used up the host's
    # 65,535 memory cgroups, failed with EBUSY and left them, so that no server could start there.
    # (--interpreter fails the start before any cgroup on a server without the bound.)
    p = _serve("--listen", f"127.0.0.1:{free_port()}", "--concurrency", "100000",
               "--interpreter", "/nonexistent/python3", env=env)
    assert p.returncode == 2
    assert _errors(p) == [f"sandcheck serve: bad configuration: concurrency must be at most {max_concurrency()} "
                          f"(4 per CPU, at least 1024: more slots only wait for a CPU, and each takes a jail and "
                          f"cgroups), got 100000"]
    assert _tops() == [] and list(own_tmp.iterdir()) == []


def test_a_start_that_fails_after_its_slots_removes_them(env: dict[str, str], own_tmp: Path) -> None:
    # The metrics port is bound last, once the jails run: its OSError ended the server with a
    # traceback and its slots' cgroups, jails and private dirs left behind.
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        metrics = f"127.0.0.1:{busy.getsockname()[1]}"
        p = _serve("--listen", f"127.0.0.1:{free_port()}", "--processes", "1", "--concurrency", "2",
                   "--metrics-listen", metrics, env=env)
    assert p.returncode == 1
    assert _errors(p) == [f"sandcheck serve: cannot start: cannot serve metrics on {metrics}: Address already in use"]
    assert _instances() == [] and list(own_tmp.iterdir()) == []


@pytest.mark.parametrize("failure, says", [("EBUSY", "Device or resource busy: the host may be out of cgroups"),
                                           ("unexpected", "RuntimeError: boom")])
@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_start_whose_slot_cannot_be_made_removes_the_others(env: dict[str, str], own_tmp: Path, processes: str,
                                                              failure: str, says: str) -> None:
    # Slot creation's OSError escaped serve(): a traceback, or in a fleet a bare line from each
    # worker, "worker 0: OSError(16, ...)", and os._exit; both left every slot made so far behind.
    p = _serve(failure, "--listen", f"127.0.0.1:{free_port()}", "--processes", processes, "--concurrency", "8",
               env=env, script=FAILING_SLOT)
    assert p.returncode == 1
    errors = _errors(p)
    assert len(errors) == 1 and errors[0].startswith("sandcheck serve: cannot start: ") and says in errors[0], errors
    assert _instances() == [] and list(own_tmp.iterdir()) == []


# -- unix sockets --------------------------------------------------------------------------------


@pytest.fixture()
def sock_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="sc-sock-"))  # short: a socket's path has at most 107 bytes
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _listener(path: Path, listen: bool) -> socket.socket:
    """A socket file at `path`: listening (a server is there), or not (left by a dead one)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    if listen:
        s.listen()
    return s


def test_a_second_server_on_a_unix_socket_in_use_is_refused(sock_dir: Path) -> None:
    # The second took the socket over (gRPC deletes the file first) and, when it stopped,
    # deleted it: the first was unreachable from then on.
    path = sock_dir / "s.sock"
    _listener(path, listen=False).close()  # a killed server's socket: removed, and the first server starts
    first = subprocess.Popen([sys.executable, "-m", "sandbox_server", "--listen", f"unix:{path}", "--processes", "1",
                              "--concurrency", "1"], stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        with Client(f"unix:{path}") as c:
            c.wait_ready(timeout=60)
            p = _serve("--listen", f"unix:{path}", "--processes", "1", "--concurrency", "1")
            assert p.returncode == 1
            assert _errors(p) == [f"sandcheck serve: cannot start: cannot listen on unix:{path}: another server is "
                                  "listening there or starting (stop it, or pick another --listen)"]
            assert c.execute("print(6 * 7)").stdout == b"42\n"  # the first one still serves there
        assert path.is_socket()
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
    assert not path.exists()


def test_two_servers_started_at_once_on_one_unix_socket_one_is_refused(sock_dir: Path) -> None:
    # Both found nobody answering there and both started: the later bind took the socket
    # (gRPC deletes the file first), and the other served on nothing, unseen. A fleet
    # binds seconds after its check, so the window was wide.
    path = sock_dir / "s.sock"
    cmd = [sys.executable, "-m", "sandbox_server", "--listen", f"unix:{path}", "--processes", "2", "--concurrency", "2"]
    servers = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True) for _ in range(2)]
    try:
        with Client(f"unix:{path}") as c:
            c.wait_ready(timeout=120)
            assert c.execute("print(6 * 7)").stdout == b"42\n"
        deadline = time.monotonic() + 60  # the refused one ends at once; wait for it
        while not any(s.poll() is not None for s in servers) and time.monotonic() < deadline:
            time.sleep(0.2)
        ended = [s for s in servers if s.poll() is not None]
        assert len(ended) == 1, "both servers started on one socket"
        assert ended[0].returncode == 1
        errors = [line for line in ended[0].stderr.read().splitlines() if not line.startswith("{")]
        assert errors == [f"sandcheck serve: cannot start: cannot listen on unix:{path}: another server is "
                          "listening there or starting (stop it, or pick another --listen)"]
    finally:
        for s in servers:
            if s.poll() is None:
                s.send_signal(signal.SIGTERM)
                assert s.wait(timeout=60) == 0
            s.stderr.close()
    assert list(sock_dir.iterdir()) == []  # the socket and its lock file removed


def test_a_unix_socket_in_a_missing_directory_is_refused(sock_dir: Path) -> None:
    # gRPC logged "Failed to add port"; the server then logged "listening on" and listened nowhere.
    listen = f"unix:{sock_dir}/missing/s.sock"
    p = _serve("--listen", listen, "--processes", "1", "--concurrency", "1")
    assert p.returncode == 1
    assert _errors(p) == [f"sandcheck serve: cannot start: cannot listen on {listen}: No such file or directory: "
                          f"no directory {sock_dir}/missing (pick another --listen)"]


def test_a_fleet_checks_every_workers_unix_socket(sock_dir: Path) -> None:
    # Worker 1 listens on PATH.1: a server there would have lost it to the fleet.
    path = sock_dir / "s.sock"
    with _listener(Path(f"{path}.1"), listen=True):
        p = _serve("--listen", f"unix:{path}", "--processes", "2", "--concurrency", "2")
    assert p.returncode == 1
    assert _errors(p) == [f"sandcheck serve: cannot start: cannot listen on unix:{path}.1: another server is "
                          "listening there (stop it, or pick another --listen)"]
    assert not path.exists()


def test_a_fleet_worker_restarted_on_its_unix_socket_serves_again(sock_dir: Path) -> None:
    # The check is the fleet's, once: a worker restarted after a kill finds its own dead
    # socket file and must take it, not refuse it.
    path = sock_dir / "s.sock"
    fleet = subprocess.Popen([sys.executable, "-m", "sandbox_server", "--listen", f"unix:{path}", "--processes", "2",
                              "--concurrency", "2"], stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for address in (f"unix:{path}", f"unix:{path}.1"):
            with Client(address) as c:
                c.wait_ready(timeout=60)
        workers = subprocess.run(["pgrep", "-P", str(fleet.pid)], capture_output=True, text=True).stdout.split()
        assert len(workers) == 2
        for worker in workers:
            os.kill(int(worker), signal.SIGKILL)
        for address in (f"unix:{path}", f"unix:{path}.1"):  # each replaced on its own, old, socket file
            deadline = time.monotonic() + 90
            while True:
                try:
                    with Client(address, timeout=30) as c:
                        assert c.execute("print(6 * 7)").stdout == b"42\n"
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
    finally:
        fleet.send_signal(signal.SIGTERM)
        assert fleet.wait(timeout=60) == 0
    assert list(sock_dir.iterdir()) == []
