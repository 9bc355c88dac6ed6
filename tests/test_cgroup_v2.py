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

from .fake_cgroupfs import FakeCgroup2

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


def test_start_delegates_controllers_from_the_top(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host like a fresh Ubuntu VM: the root enables nothing below it, the server sits in a session scope."""
    fs = FakeCgroup2(tmp_path / "cgroup", monkeypatch)
    own = fs.cgroup("user.slice/user-0.slice/session-1.scope", procs=[os.getpid(), 4242])
    tree = CgroupV2Tree("sandcheck", fs.mount, own="/user.slice/user-0.slice/session-1.scope")
    tree.create()
    for d in (fs.mount, fs.mount / "user.slice", fs.mount / "user.slice/user-0.slice", own):
        assert {"memory", "pids", "cpu"} <= fs.enabled(d), d
    # Only the server's own cgroup was emptied, into a leaf beside the tree.
    assert fs.procs(own / cgroups.V2_SERVER_LEAF) == [os.getpid(), 4242]
    assert fs.procs(own) == []
    inst = own / "sandcheck" / cgroups.instance_name()
    assert tree.base == {"unified": inst}
    slot = tree.slot(3)
    assert set((slot.dir / "cgroup.controllers").read_text().split()) == {"cpu", "memory", "pids"}
    slot.attach(777)  # a jail's PID 1 can enter a slot
    assert fs.procs(slot.dir) == [777]
    assert any("moved processes" in d for d in tree.delegated)


def test_start_leaves_a_delegated_host_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """systemd Delegate=yes: everything is offered already; nothing above the unit is written."""
    fs = FakeCgroup2(tmp_path / "cgroup", monkeypatch)
    fs.cgroup("system.slice")
    fs.write(fs.mount / "cgroup.subtree_control", "+memory +pids +cpu")
    fs.write(fs.mount / "system.slice" / "cgroup.subtree_control", "+memory +pids +cpu")
    unit = fs.cgroup("system.slice/sandcheck.service", procs=[os.getpid()])
    fs.read_only |= {fs.mount, fs.mount / "system.slice"}
    tree = CgroupV2Tree("sandcheck", fs.mount, own="/system.slice/sandcheck.service")
    tree.create()
    assert fs.procs(unit / cgroups.V2_SERVER_LEAF) == [os.getpid()]
    assert [d for d in tree.delegated if str(unit) not in d] == []


def test_foreign_processes_on_the_way_refuse_with_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fs = FakeCgroup2(tmp_path / "cgroup", monkeypatch)
    fs.cgroup("kubepods", procs=[55])  # someone else's processes in an inner cgroup
    fs.cgroup("kubepods/pod1", procs=[os.getpid()])
    with pytest.raises(CgroupError) as exc:
        CgroupV2Tree("sandcheck", fs.mount, own="/kubepods/pod1").create()
    msg = str(exc.value)
    assert f"{fs.mount / 'kubepods' / 'cgroup.subtree_control'}" in msg
    assert "holds processes that are not the server's" in msg and "Delegate=yes" in msg
    assert fs.procs(fs.mount / "kubepods") == [55]  # never moved


def test_read_only_cgroupfs_refuses_with_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fs = FakeCgroup2(tmp_path / "cgroup", monkeypatch)
    fs.cgroup("docker-abc.scope", procs=[os.getpid()])
    fs.read_only.add(fs.mount)
    with pytest.raises(CgroupError) as exc:
        CgroupV2Tree("sandcheck", fs.mount, own="/docker-abc.scope").create()
    assert f"cannot enable +memory +pids +cpu in {fs.mount / 'cgroup.subtree_control'}: Read-only" in str(exc.value)
    assert "writable cgroup" in str(exc.value)


def test_undelegated_controller_is_enoent_and_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A container whose cgroup namespace root was never offered memory: nothing above it can be written."""
    fs = FakeCgroup2(tmp_path / "cgroup", monkeypatch, controllers="cpu pids")
    with pytest.raises(CgroupError) as exc:
        CgroupV2Tree("sandcheck", fs.mount, own="/").create()
    assert "lacks memory" in str(exc.value)


def test_warm_jail_cgroup_nests_in_an_emptied_slot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fs = FakeCgroup2(tmp_path / "cgroup", monkeypatch)
    fs.cgroup("srv", procs=[os.getpid()])
    tree = CgroupV2Tree("sandcheck", fs.mount, own="/srv")
    tree.create()
    slot = tree.slot(0)
    slot.attach(99)  # a cold run's init still in the slot: v2 refuses to nest below it
    with pytest.raises(OSError):
        slot.unlimit()
    slot.kill_all()
    slot.unlimit()
    jail = slot.child("warm")
    assert (slot.dir / "memory.max").read_text() == "max"
    jail.set_memory_limit(256 * MiB)
    assert (jail.dir / "memory.max").read_text() == str(256 * MiB)
    assert (jail.dir / "memory.swap.max").read_text() == "0"
    jail.attach(1234)
    assert fs.procs(jail.dir) == [1234]


def test_v2_counters_take_baselines_and_reset_peak(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fs = FakeCgroup2(tmp_path / "cgroup", monkeypatch)
    fs.cgroup("srv", procs=[os.getpid()])
    tree = CgroupV2Tree("sandcheck", fs.mount, own="/srv")
    tree.create()
    d = tree.slot(0).dir
    (d / "cpu.stat").write_text("usage_usec 5000\nuser_usec 0\nsystem_usec 0\n")
    counters = tree.slot(0).counters()
    (d / "cpu.stat").write_text("usage_usec 255000\nuser_usec 0\nsystem_usec 0\n")
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\n")
    assert counters.cpu_ns() == 250_000_000 and counters.oom_kills() == 1
    counters.reset()
    assert counters.cpu_ns() == 0
    assert (d / "memory.peak").read_text().startswith("reset")  # the >= 6.12 per-fd reset
    counters.close()


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


def test_a_second_server_in_the_leaf_uses_the_delegated_cgroup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fleet workers start after the parent delegated: they find themselves in the leaf."""
    fs = FakeCgroup2(tmp_path / "cgroup", monkeypatch)
    own = fs.cgroup("srv", procs=[os.getpid()])
    CgroupV2Tree("sandcheck", fs.mount, own="/srv").delegate()
    second = CgroupV2Tree("sandcheck", fs.mount, own=f"/srv/{cgroups.V2_SERVER_LEAF}")
    second.create()
    assert second.parent == own and second.base["unified"].parent == own / "sandcheck"
    assert not (own / cgroups.V2_SERVER_LEAF / cgroups.V2_SERVER_LEAF).exists()
