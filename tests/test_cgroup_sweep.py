"""Servers that start together (a fleet's workers) sweep the same dead
instances at once; none of them may fail to start for it (real cgroup v1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox_server.jail.cgroups import CGROUP_MOUNT, CONTROLLERS, CgroupError, CgroupTree, detect

REPO = Path(__file__).resolve().parent.parent
ROOT = "sandcheck-test-sweep"  # its own subtree: the servers of other tests never see it
PID_MAX_LIMIT = 4_194_304  # no process ever has this pid or a larger one: these owners are dead

# One server's start as far as its cgroups go: make its instance (sweeping the
# dead ones), then remove it. It waits for a line on stdin, so that all start at once.
START = """
import sys
from sandbox_server.jail.cgroups import CgroupTree
tree = CgroupTree(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
try:
    tree.create()
except Exception as exc:
    print(f"failed: {exc!r}", flush=True)
else:
    print("started", flush=True)
    tree.remove()
"""

pytestmark = pytest.mark.skipif(detect() != "v1", reason="the cgroup v1 tree; v2's sweep runs the same removal code")


def _dead_instances(n: int) -> None:
    for c in CONTROLLERS:
        for i in range(n):
            inst = CGROUP_MOUNT / c / ROOT / f"server-1-{PID_MAX_LIMIT + i}"
            for slot in ("slot-0", "slot-1", "javac-0", "run-0"):
                (inst / slot / "warm").mkdir(parents=True, exist_ok=True)


def _remove_tree() -> None:
    for c in CONTROLLERS:
        top = CGROUP_MOUNT / c / ROOT
        if top.is_dir():
            for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                d.rmdir()
            top.rmdir()


def test_servers_starting_together_sweep_the_same_dead_instances() -> None:
    # Before: 17 of 20 such rounds had a server fail to start ("cannot start: cgroups:
    # [Errno 2] No such file or directory: .../javac-0"): another one had just removed it.
    try:
        for _ in range(5):
            _dead_instances(8)
            servers = [subprocess.Popen([sys.executable, "-c", START, ROOT], cwd=REPO, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE) for _ in range(4)]
            assert [s.stdout.readline() for s in servers] == ["ready\n"] * 4
            for s in servers:
                s.stdin.write("go\n")
                s.stdin.flush()
            assert [s.communicate(timeout=120)[0] for s in servers] == ["started\n"] * 4
            left = [p for c in CONTROLLERS for p in (CGROUP_MOUNT / c / ROOT).iterdir() if p.is_dir()]
            assert left == []
    finally:
        _remove_tree()


def test_a_server_that_cannot_make_its_own_cgroup_still_sweeps_the_dead_ones() -> None:
    # A host out of memory cgroups (leaked by servers that died) refuses every mkdir with EBUSY.
    # The sweep that would have freed them ran only after the server had made its own
    # directory, so never: every later start failed until someone removed them by hand.
    # Here the instance has the name of a file every cgroup holds, so its mkdir fails too.
    try:
        _dead_instances(3)
        tree = CgroupTree(ROOT)
        tree.instance = "cgroup.procs"
        with pytest.raises(CgroupError, match="cannot create .*cgroup.procs"):
            tree.create()
        assert [p for c in CONTROLLERS for p in (CGROUP_MOUNT / c / ROOT).iterdir() if p.is_dir()] == []
        tree.remove()  # nothing of its own to remove
    finally:
        _remove_tree()
