"""A cgroup v2 tree in a tmp dir that keeps the kernel's rules that matter to us.

The development machine binds its controllers to cgroup v1, so the v2 code
runs here against this fake. It patches the two calls through which
`sandbox_server.jail.cgroups` changes a tree (`_mkdir`, `_write`) and applies
the kernel's rules to them:
- a cgroup is offered the controllers its parent enabled in cgroup.subtree_control;
- enabling a controller the cgroup is not offered fails with ENOENT;
- a non-root cgroup with processes cannot enable controllers (EBUSY), and a
  non-root cgroup with enabled controllers cannot take processes (EBUSY);
- writing a pid to cgroup.procs moves it out of every other cgroup;
- cgroup.kill empties the cgroup;
- a path listed in `read_only` refuses writes (EROFS), like a container's
  read-only /sys/fs/cgroup.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from sandbox_server.jail import cgroups

ALL = "cpuset cpu io memory hugetlb pids rdma misc"


class FakeCgroup2:
    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch, controllers: str = ALL) -> None:
        self.mount = root
        self.read_only: set[Path] = set()
        root.mkdir(parents=True, exist_ok=True)
        self._files(root, controllers)
        monkeypatch.setattr(cgroups, "_mkdir", self.mkdir)
        monkeypatch.setattr(cgroups, "_write", self.write)

    # -- building the tree, as a test or the kernel would -------------------
    def _files(self, d: Path, controllers: str) -> None:
        (d / "cgroup.controllers").write_text(controllers + "\n")
        (d / "cgroup.subtree_control").write_text("")
        (d / "cgroup.procs").write_text("")
        if d != self.mount:
            for name, text in (("cgroup.kill", ""), ("cpu.stat", "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"),
                               ("memory.max", "max\n"), ("memory.swap.max", "max\n"), ("memory.peak", "0\n"),
                               ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"),
                               ("pids.max", "max\n"), ("pids.events", "max 0\n")):
                (d / name).write_text(text)

    def cgroup(self, rel: str, procs: list[int] = ()) -> Path:
        """Create the cgroups along `rel` as a host would have them, with `procs` in the last."""
        d = self.mount
        for part in Path(rel).parts:
            d = d / part
            if not d.exists():
                self.mkdir(d)
        (d / "cgroup.procs").write_text("".join(f"{p}\n" for p in procs))
        return d

    def enabled(self, d: Path) -> set[str]:
        return set((d / "cgroup.subtree_control").read_text().split())

    def procs(self, d: Path) -> list[int]:
        return [int(p) for p in (d / "cgroup.procs").read_text().split()]

    # -- the two calls the code under test makes ----------------------------
    def mkdir(self, path: Path) -> None:
        if path.exists():
            return
        path.mkdir()
        self._files(path, " ".join(sorted(self.enabled(path.parent))))

    def write(self, path: Path, value: str) -> None:
        if path in self.read_only or path.parent in self.read_only:
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        d = path.parent
        if path.name == "cgroup.subtree_control":
            offered = set((d / "cgroup.controllers").read_text().split())
            wanted = {w[1:] for w in value.split() if w.startswith("+")}
            if wanted - offered:
                raise OSError(errno.ENOENT, "No such file or directory", str(path))
            if d != self.mount and self.procs(d):
                raise OSError(errno.EBUSY, "Device or resource busy", str(path))
            path.write_text(" ".join(sorted(self.enabled(d) | wanted)))
            for child in (c for c in d.iterdir() if c.is_dir()):  # what children are offered follows
                (child / "cgroup.controllers").write_text(" ".join(sorted(self.enabled(d))) + "\n")
        elif path.name == "cgroup.procs":
            if d != self.mount and self.enabled(d):
                raise OSError(errno.EBUSY, "Device or resource busy", str(path))
            pid = int(value)
            for f in self.mount.rglob("cgroup.procs"):
                f.write_text("".join(f"{p}\n" for p in self.procs(f.parent) if p != pid))
            path.write_text("".join(f"{p}\n" for p in [*self.procs(d), pid]))
        elif path.name == "cgroup.kill":
            (d / "cgroup.procs").write_text("")
        else:
            path.write_text(value)
