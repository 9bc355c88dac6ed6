"""The interpreter that runs checks, and the files the jail must show it.

The jail's root is an empty read-only tmpfs; the only host files in it are
the interpreter, its standard library, and the shared libraries those load
(found with ``ldd``), and the operator's third-party packages when there are
some (packages.py). No /etc, /home, /root, /proc, nor the server's own
virtualenv: jailed code must not read server code or configuration.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .packages import PackageSet, PackagesError, default_dir

# Where a host keeps its own CPython, in the order they are tried.
_SYSTEM_PYTHONS = ("/usr/bin/python3", *(f"/usr/bin/python3.{minor}" for minor in range(14, 9, -1)),
                   "/usr/local/bin/python3")
_PROBE = ("import sys, sysconfig; print(sys.version.split()[0]); print(int(sys.prefix != sys.base_prefix)); "
          "print(sysconfig.get_paths()['stdlib']); print(sysconfig.get_paths()['platstdlib'])")

_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


class RuntimeError_(Exception):
    """The configured interpreter cannot be used in a jail."""


@dataclass(frozen=True)
class Runtime:
    """One interpreter: its path, version, and what the jail must bind."""

    language: str
    interpreter: str
    version: str
    # Host paths bound read-only at the same path inside the jail.
    binds: tuple[str, ...] = field(default_factory=tuple)
    # (link path, target) symlinks created inside the jail.
    symlinks: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    # Third-party packages on sys.path in every Python jail (None: the standard library only).
    packages: PackageSet | None = None
    # Modules a warm jail imports once, before its first fork (the children inherit them).
    preload: tuple[str, ...] = ()

    @classmethod
    def python(cls, interpreter: str = "", packages_dir: str = "", preload: tuple[str, ...] = (),
               cache_root: str = "/var/cache/sandcheck") -> "Runtime":
        """Describe a CPython interpreter (the host's own by default), refusing one
        whose files are not world-readable. `packages_dir`: a directory scripts/setup
        built for it (packages.py), bound and put on sys.path; "auto": the one
        for this interpreter's version under `cache_root`, if it was built."""
        interpreter = interpreter or default_python()
        if not interpreter:
            raise RuntimeError_(f"no CPython >= 3.10 found at {', '.join(_SYSTEM_PYTHONS)}; install the "
                                "distribution's python3, or name one with --interpreter")
        path = Path(interpreter)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise RuntimeError_(f"interpreter {interpreter} does not exist or is not executable")
        version, _venv, stdlib, platstdlib = _probe(interpreter)
        dynload = os.path.join(platstdlib, "lib-dynload")
        binaries = [str(path)]
        if os.path.isdir(dynload):
            binaries += [os.path.join(dynload, n) for n in sorted(os.listdir(dynload)) if n.endswith(".so")]
        libs = _shared_libraries(binaries)
        packages = None
        if packages_dir == "auto":
            packages_dir = default_dir(cache_root, version)
            packages_dir = packages_dir if os.path.isdir(packages_dir) else ""
        if packages_dir:
            try:
                packages = PackageSet.load(packages_dir, version)
            except PackagesError as exc:
                raise RuntimeError_(str(exc)) from None
            libs |= {packages.path, *packages.libraries}
        binds = sorted({str(path), stdlib, platstdlib, *libs})
        for p in binds:
            _require_world_readable(p)
        symlinks = []
        # Debian's merged /usr: /lib and /lib64 are links into /usr.
        for link in ("/lib", "/lib64"):
            if os.path.islink(link):
                symlinks.append((link, os.readlink(link)))
        return cls("python", str(path), version, tuple(binds), tuple(symlinks), packages, tuple(preload))

    @property
    def version_info(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.version.split(".")[:2])

    def argv(self, init_source: str, *init_args: str) -> list[str]:
        # -I: isolated (no env vars, no user site); -S: no site module, so
        # no dist-packages: the standard library, and the operator's packages
        # last on sys.path (as site-packages: no package shadows the standard
        # library). Not -u: a program's stdout is block-buffered as under
        # `python3 main.py > out` in every harness sandcheck stands in for (a
        # write per print made printing 100,000 lines cost 5-10x the CPU, enough
        # to time out; what a killed program had not flushed is lost, as there).
        if self.packages is not None:
            init_source = f"import sys; sys.path.append({self.packages.path!r})\n" + init_source
        return [self.interpreter, "-I", "-S", "-c", init_source, *init_args]


def _probe(interpreter: str) -> list[str]:
    """version, in-a-virtualenv (0/1), stdlib and platstdlib of `interpreter`."""
    try:
        probe = subprocess.run([interpreter, "-I", "-S", "-c", _PROBE], capture_output=True, text=True,
                               timeout=30, env={})
    except OSError as exc:
        raise RuntimeError_(f"interpreter {interpreter} failed to start: {exc}") from None
    if probe.returncode != 0:
        raise RuntimeError_(f"interpreter {interpreter} failed to start: {probe.stderr.strip()}")
    return probe.stdout.split("\n")[:4]


def default_python() -> str:
    """The host's own CPython >= 3.10, outside any virtualenv; "" if there is none.

    The jail binds the interpreter, its standard library and the libraries
    they load, so any distribution's python3 works: Debian 12's 3.11,
    Ubuntu 24.04's 3.12.
    """
    for candidate in _SYSTEM_PYTHONS:
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        try:
            version, venv, _, _ = _probe(candidate)
        except RuntimeError_:
            continue
        if venv == "0" and tuple(int(p) for p in version.split(".")[:2]) >= (3, 10):
            return os.path.realpath(candidate)  # /usr/bin/python3 -> /usr/bin/python3.11: the name results carry
    return ""


def _shared_libraries(binaries: list[str]) -> set[str]:
    libs: set[str] = set()
    # ldd runs the dynamic loader on each file, a few ms each: batches of 8
    # run side by side, so start-up does not wait for them one by one.
    ldds = [subprocess.Popen(["ldd", *binaries[i : i + 8]], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            for i in range(0, len(binaries), 8)]
    for ldd in ldds:
        out, _ = ldd.communicate(timeout=60)
        for line in out.splitlines():
            m = _LDD_PATH.search(line)
            if m and os.path.exists(m.group(1)):
                libs.add(m.group(1))
    # Symlinked names (libz.so.1 -> libz.so.1.2.13) resolve at bind time;
    # the loader looks libraries up under the canonical /usr/lib path.
    return {_canonical(p) for p in libs}


def _canonical(path: str) -> str:
    head, name = os.path.split(path)
    return os.path.join(os.path.realpath(head), name)


def _require_world_readable(path: str) -> None:
    """A jailed, unprivileged uid must reach `path`: every parent needs o+x."""
    p = Path(path)
    for part in [p, *p.parents]:
        mode = part.stat().st_mode
        if part != p and not mode & 0o001:
            raise RuntimeError_(
                f"{path} is not reachable by an unprivileged user ({part} is mode {oct(mode & 0o777)}); "
                "use an interpreter outside it, e.g. the distribution's /usr/bin/python3"
            )
