"""cgroup v2 slots, against a fake cgroup2 tree in a tmp dir.

This machine's controllers are bound to cgroup v1, so the v2 path cannot run
real jails here: these tests check the files it writes and how it reads the
kernel's counters. The v1 path is covered by every test that runs a program.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox_server.jail import cgroups
from sandbox_server.jail.cgroups import (
    CgroupError, CgroupTree, CgroupV2Slot, CgroupV2Tree, MissingCgroups, detect, open_tree, own_cgroup,
)

MiB = 1024 * 1024


def fake_v2(tmp_path: Path, controllers: str = "cpuset cpu io memory hugetlb pids rdma misc") -> Path:
    mount = tmp_path / "cgroup"
    mount.mkdir()
    (mount / "cgroup.controllers").write_text(controllers + "\n")
    (mount / "cgroup.subtree_control").write_text("")
    (mount / "cgroup.procs").write_text("")
    return mount


def populate(slot_dir: Path, *, usage_usec: int = 0, oom_kill: int = 0, pids_max_hits: int = 0,
             peak: int = 0) -> None:
    """What the kernel would show in a slot's cgroup directory."""
    (slot_dir / "cgroup.procs").write_text("")
    (slot_dir / "cgroup.kill").write_text("")
    (slot_dir / "cpu.stat").write_text(f"usage_usec {usage_usec}\nuser_usec 0\nsystem_usec 0\n")
    (slot_dir / "memory.events").write_text(f"low 0\nhigh 0\nmax 3\noom 1\noom_kill {oom_kill}\noom_group_kill 0\n")
    (slot_dir / "pids.events").write_text(f"max {pids_max_hits}\n")
    (slot_dir / "memory.peak").write_text(f"{peak}\n")


def test_detect_v2_v1_and_none(tmp_path: Path) -> None:
    assert detect(fake_v2(tmp_path)) == "v2"
    hybrid = tmp_path / "hybrid"  # like this machine: v1 controllers plus an empty unified mount
    for c in ("memory", "pids", "cpuacct", "unified"):
        (hybrid / c).mkdir(parents=True)
    assert detect(hybrid) == "v1"
    assert isinstance(open_tree(mount=hybrid), CgroupTree)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CgroupError, match="refusing"):
        detect(empty)


def test_v2_without_needed_controllers_refuses(tmp_path: Path) -> None:
    mount = fake_v2(tmp_path, controllers="cpu io")
    with pytest.raises(CgroupError, match="memory, pids"):
        detect(mount)
    tree = open_tree(mount=mount)
    assert isinstance(tree, MissingCgroups)
    with pytest.raises(CgroupError, match="refusing to run programs"):
        tree.create()  # the executor turns this into a StartupError: no run without limits


def test_this_machine_is_v1() -> None:
    # The reason the v2 path is only unit-tested here.
    if Path("/sys/fs/cgroup/cgroup.controllers").exists():
        pytest.skip("a v2 host")
    assert detect() == "v1"


def test_own_cgroup(tmp_path: Path) -> None:
    f = tmp_path / "cgroup"
    f.write_text("0::/system.slice/sandcheck.service\n")
    assert own_cgroup(f) == "/system.slice/sandcheck.service"
    f.write_text("12:pids:/x\n0::/\n")
    assert own_cgroup(f) == "/"


def test_tree_enables_controllers_down_to_the_instance(tmp_path: Path) -> None:
    mount = fake_v2(tmp_path)
    (mount / "system.slice" / "sandcheck.service").mkdir(parents=True)
    tree = CgroupV2Tree("sandcheck", mount, own="/system.slice/sandcheck.service")
    tree.create()
    parent = mount / "system.slice" / "sandcheck.service"
    inst = parent / "sandcheck" / cgroups.instance_name()
    assert tree.base == {"unified": inst}
    for d in (parent, parent / "sandcheck", inst):
        assert (d / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    slot = tree.slot(3)
    assert slot.dir == inst / "slot-3" and slot.dir.is_dir()


def test_busy_parent_moves_its_processes_to_a_leaf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A container's own cgroup holds the server: v2 forbids controllers there until it is moved."""
    mount = fake_v2(tmp_path)
    (mount / "cgroup.procs").write_text("1\n42\n")
    real_write = cgroups._write
    attempts: list[str] = []

    def write(path: Path, value: str) -> None:
        if path == mount / "cgroup.subtree_control" and not attempts:
            attempts.append(value)
            raise OSError(cgroups.errno.EBUSY, "Device or resource busy")
        real_write(path, value)

    monkeypatch.setattr(cgroups, "_write", write)
    CgroupV2Tree("sandcheck", mount, own="/").create()
    assert (mount / cgroups.V2_SERVER_LEAF / "cgroup.procs").read_text() == "42"  # the last pid written
    assert (mount / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"


def test_slot_prepare_writes_limits_and_takes_baselines(tmp_path: Path) -> None:
    base = tmp_path / "inst"
    base.mkdir()
    slot = CgroupV2Slot(base, "slot-0")
    populate(slot.dir, usage_usec=5_000, oom_kill=2, pids_max_hits=7, peak=999 * MiB)
    slot.prepare(256 * MiB, 64)
    assert (slot.dir / "memory.max").read_text() == str(256 * MiB)
    assert (slot.dir / "memory.swap.max").read_text() == "0"
    assert (slot.dir / "pids.max").read_text() == "64"
    # memory.peak was reset through the slot's own fd (the >= 6.12 kernel interface).
    assert (slot.dir / "memory.peak").read_text().startswith("reset")

    slot.attach(1234)
    assert (slot.dir / "cgroup.procs").read_text() == "1234"
    (slot.dir / "cgroup.procs").write_text("")

    # The run: 0.25 s more CPU, one OOM kill, no pids hits, a 100 MiB peak.
    populate(slot.dir, usage_usec=255_000, oom_kill=3, pids_max_hits=7, peak=100 * MiB)
    assert slot.cpu_ns() == 250_000_000
    u = slot.usage()
    assert (u.cpu_ns, u.oom_kills, u.pids_limit_hits, u.peak_memory_bytes) == (250_000_000, 1, 0, 100 * MiB)


def test_slot_kill_all_uses_cgroup_kill(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "inst"
    base.mkdir()
    slot = CgroupV2Slot(base, "slot-0")
    populate(slot.dir)
    (slot.dir / "cgroup.procs").write_text("4242\n")
    real_write = cgroups._write

    def write(path: Path, value: str) -> None:
        real_write(path, value)
        if path.name == "cgroup.kill":  # the kernel empties the cgroup
            (slot.dir / "cgroup.procs").write_text("")

    monkeypatch.setattr(cgroups, "_write", write)
    monkeypatch.setattr(cgroups.os, "kill", lambda *a: pytest.fail("cgroup.kill should be enough"))
    assert slot.kill_all()
    assert (slot.dir / "cgroup.kill").read_text() == "1"


def test_sweep_removes_dead_instances_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mount = fake_v2(tmp_path)
    tree = CgroupV2Tree("sandcheck", mount, own="/")
    tree.create()
    top = mount / "sandcheck"
    dead = top / "server-12345-999999999" / "slot-0"
    dead.mkdir(parents=True)
    populate(dead)
    removed: list[Path] = []
    monkeypatch.setattr(cgroups, "_rmdir", removed.append)  # a fake tree's files would block rmdir
    assert tree.sweep() == 1
    assert removed == [dead, dead.parent]
    assert (dead / "cgroup.kill").read_text() == "1"
