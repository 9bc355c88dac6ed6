"""The interpreter that runs checks, and the files the jail must show it.

The jail's root is an empty read-only tmpfs; the only host files in it are
the interpreter, its standard library, and the shared libraries those load
(found with ``ldd``). No /etc, /home, /root, /proc, nor the server's own
virtualenv: jailed code must not read server code or configuration.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PYTHON = "/usr/bin/python3.11"

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

    @classmethod
    def python(cls, interpreter: str = DEFAULT_PYTHON) -> "Runtime":
        """Describe a CPython interpreter, refusing one whose files are not world-readable."""
        path = Path(interpreter)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise RuntimeError_(f"interpreter {interpreter} does not exist or is not executable")
        probe = subprocess.run(
            [interpreter, "-I", "-S", "-c", "import sys; print(sys.version.split()[0]); print(sys.prefix); "
             "import sysconfig; print(sysconfig.get_paths()['stdlib']); print(sysconfig.get_paths()['platstdlib'])"],
            capture_output=True, text=True, timeout=30, env={},
        )
        if probe.returncode != 0:
            raise RuntimeError_(f"interpreter {interpreter} failed to start: {probe.stderr.strip()}")
        version, _prefix, stdlib, platstdlib = probe.stdout.split("\n")[:4]
        dynload = os.path.join(platstdlib, "lib-dynload")
        binaries = [str(path)]
        if os.path.isdir(dynload):
            binaries += [os.path.join(dynload, n) for n in sorted(os.listdir(dynload)) if n.endswith(".so")]
        libs = _shared_libraries(binaries)
        binds = sorted({str(path), stdlib, platstdlib, *libs})
        for p in binds:
            _require_world_readable(p)
        symlinks = []
        # Debian's merged /usr: /lib and /lib64 are links into /usr.
        for link in ("/lib", "/lib64"):
            if os.path.islink(link):
                symlinks.append((link, os.readlink(link)))
        return cls("python", str(path), version, tuple(binds), tuple(symlinks))

    def argv(self, init_source: str, *init_args: str) -> list[str]:
        # -I: isolated (no env vars, no user site); -S: no site module, so
        # no dist-packages: the standard library only; -u: unbuffered, so
        # output written just before a kill is not lost.
        return [self.interpreter, "-I", "-S", "-u", "-c", init_source, *init_args]


def _shared_libraries(binaries: list[str]) -> set[str]:
    libs: set[str] = set()
    # ldd runs the dynamic loader on each file; batch to keep start-up fast.
    for i in range(0, len(binaries), 64):
        out = subprocess.run(["ldd", *binaries[i : i + 64]], capture_output=True, text=True, timeout=60)
        for line in out.stdout.splitlines():
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
                "use an interpreter outside it, e.g. /usr/bin/python3.11"
            )
