"""Third-party Python packages a jailed program can import.

``scripts/setup`` installs them (``deploy/jail-requirements.txt``, and an
operator's own file) for the jail's interpreter into one directory under
/var/cache/sandcheck, named for its Python version: ``python3.11-packages``.
Every Python jail, warm or cold, binds that directory read-only at the same
path and appends it to ``sys.path`` (as site-packages would be; the jail's
Python runs with ``-I -S``), together with the host's shared libraries the
packages' extensions load (libstdc++, libgcc_s, libz...). Nothing is fetched
at run time: the jail has no network.

Finding those libraries takes ``ldd`` over every extension module (about two
seconds for the default set), so it is done once, when the directory is
built, and kept in ``sandcheck-packages.json`` beside the packages; a server
start only reads it, and looks again itself only if the directory changed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path

MANIFEST = "sandcheck-packages.json"
# A name a config may give `preload`: a dotted module path, nothing else.
MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class PackagesError(Exception):
    """The configured packages directory cannot be used by the jail."""


def default_dir(cache_root: str, python_version: str) -> str:
    """Where scripts/setup puts the packages of a Python ``X.Y[.Z]``: one directory per X.Y."""
    major_minor = ".".join(python_version.split(".")[:2])
    return os.path.join(cache_root, f"python{major_minor}-packages")


@dataclass(frozen=True)
class PackageSet:
    """A directory of installed packages: what it holds and what it needs from the host."""

    path: str
    # (distribution name, version), sorted by name.
    packages: tuple[tuple[str, str], ...]
    # Host shared libraries its extension modules load, bound read-only too.
    libraries: tuple[str, ...]
    # The X.Y of the Python it was installed for.
    python: str

    @classmethod
    def load(cls, path: str, python_version: str) -> "PackageSet":
        """The set at `path`, from its manifest when that still describes it; raise
        PackagesError when the directory is missing or was built for another Python."""
        if not os.path.isdir(path):
            raise PackagesError(f"python_packages: {path} is not a directory (build it with scripts/setup)")
        want = ".".join(python_version.split(".")[:2])
        found = _read_manifest(path)
        if found is None or found.packages != _distributions(path) or not all(map(os.path.exists, found.libraries)):
            found = scan(path, want)
        if found.python != want:
            raise PackagesError(f"python_packages: {path} was installed for Python {found.python}, the jail runs "
                                f"{want}; run scripts/setup again")
        return found

    def to_json(self) -> dict:
        return {"python": self.python, "packages": [list(p) for p in self.packages], "libraries": list(self.libraries)}


def scan(path: str, python: str) -> PackageSet:
    """Look at the directory itself: its distributions, and the host libraries (ldd) its extensions load."""
    from .runtime import _shared_libraries  # ldd, as for the interpreter

    root = os.path.realpath(path)
    extensions = [str(p) for p in Path(root).rglob("*.so*") if p.is_file() and not p.is_symlink()]
    libraries = sorted(lib for lib in _shared_libraries(extensions)
                       if not os.path.realpath(lib).startswith(root + os.sep))
    return PackageSet(path, _distributions(path), tuple(libraries), python)


def write_manifest(found: PackageSet) -> Path:
    target = Path(found.path) / MANIFEST
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(found.to_json(), indent=1) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    return target


def _read_manifest(path: str) -> PackageSet | None:
    try:
        data = json.loads((Path(path) / MANIFEST).read_text())
        return PackageSet(path, tuple((str(n), str(v)) for n, v in data["packages"]),
                          tuple(str(lib) for lib in data["libraries"]), str(data["python"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _distributions(path: str) -> tuple[tuple[str, str], ...]:
    """(name, version) of every ``*.dist-info`` directly in `path`."""
    found = []
    for meta in sorted(Path(path).glob("*.dist-info/METADATA")):
        headers = HeaderParser().parsestr(meta.read_text(errors="replace"), headersonly=True)
        if headers.get("Name") and headers.get("Version"):
            found.append((headers["Name"], headers["Version"]))
    return tuple(sorted(found, key=lambda p: p[0].lower()))


# The languages whose run jails see the operator's node_modules (NODE_PATH).
NODE_LANGUAGES = ("js", "ts", "ts_transpile")


def node_modules_dir(setting: str, cache_root: str) -> str:
    """The node_modules directory jailed JavaScript and TypeScript can require from: "auto" is
    the one ``npm install --prefix CACHE/node`` made (scripts/setup), when it exists; "none" none."""
    if setting in ("none", ""):
        return ""
    if setting == "auto":
        path = os.path.join(cache_root, "node", "node_modules")
        return path if os.path.isdir(path) else ""
    if not os.path.isdir(setting):
        raise PackagesError(f"node_modules: {setting} is not a directory")
    return setting


def node_packages(node_modules: str) -> tuple[tuple[str, str], ...]:
    """(name, version) of the packages installed at the top of `node_modules` (@scope/name too)."""
    found = []
    for manifest in [*Path(node_modules).glob("*/package.json"), *Path(node_modules).glob("@*/*/package.json")]:
        try:
            data = json.loads(manifest.read_text())
            found.append((str(data["name"]), str(data["version"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return tuple(sorted(found))


def main(argv: list[str] | None = None) -> int:
    """``python -m sandbox_server.jail.packages DIR X.Y``: describe DIR once (scripts/setup
    runs it after installing), so that server starts only read the manifest."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m sandbox_server.jail.packages DIR PYTHON_X.Y", file=sys.stderr)
        return 2
    found = scan(args[0], args[1])
    write_manifest(found)
    print(f"{len(found.packages)} packages for Python {found.python} in {found.path}: "
          + ", ".join(f"{n} {v}" for n, v in found.packages))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
