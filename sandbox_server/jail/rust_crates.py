"""The Rust crates programs may use (rand, regex, md5), built once from Debian's sources.

HumanEval-X's Rust declarations ``use rand::Rng; use regex::Regex; use md5;``.
Debian packages those crates' sources (librust-*-dev, under
/usr/share/cargo/registry); Debian's cargo builds them here, offline, once
per rustc version, into a cache directory that compile jails bind
read-only, and each compile gets ``--extern`` flags for them. The build
runs on the host: its input is Debian's packaged source, never a request.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from pathlib import Path

from .readable_tree import make_readable

CRATES = {"rand": '"0.8"', "regex": '{ version = "1", default-features = false, features = ["std", "unicode"] }',
          "md5": '"0.7"'}
DEBIAN_REGISTRY = "/usr/share/cargo/registry"
_CARGO = "/usr/bin/cargo"


class CratesError(Exception):
    """The crates cannot be built here; the message says why."""


def _manifest() -> str:
    deps = "\n".join(f"{name} = {spec}" for name, spec in CRATES.items())
    return f'[package]\nname = "sandcheck-crates"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\n{deps}\n'


def ensure(cache_root: str, rustc_version: str) -> tuple[str, dict[str, str]]:
    """The deps directory and {crate: rlib} for `rustc_version`, built if missing.

    A file lock lets several server processes share one build."""
    root = Path(cache_root) / f"rust-crates-{rustc_version}"
    done = root / "externs.json"
    if done.exists():
        return str(root / "target/release/deps"), json.loads(done.read_text())
    if not (os.path.exists(_CARGO) and os.path.isdir(DEBIAN_REGISTRY)):
        raise CratesError(f"needs {_CARGO} and {DEBIAN_REGISTRY} (apt-get install cargo librust-rand-dev "
                          "librust-regex-dev librust-md5-dev)")
    root.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(root.parent, 0o755)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return str(root / "target/release/deps"), json.loads(done.read_text())
        shutil.rmtree(root, ignore_errors=True)
        (root / "src").mkdir(parents=True)
        (root / ".cargo").mkdir()
        (root / "Cargo.toml").write_text(_manifest())
        (root / "src/lib.rs").write_text("")
        (root / ".cargo/config.toml").write_text(
            f'[source.crates-io]\nreplace-with = "debian"\n[source.debian]\ndirectory = "{DEBIAN_REGISTRY}"\n')
        env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "CARGO_HOME": str(root / ".cargo"), "RUSTC": "/usr/bin/rustc"}
        build = subprocess.run([_CARGO, "build", "--release", "--offline", "--message-format=json"], cwd=root,
                               env=env, capture_output=True, text=True, timeout=900)
        if build.returncode != 0:
            raise CratesError(f"cargo build of {', '.join(CRATES)} failed: {build.stderr.strip()[-1000:]}")
        externs = {}
        for line in build.stdout.splitlines():
            msg = json.loads(line)
            name = msg.get("target", {}).get("name")
            if msg.get("reason") == "compiler-artifact" and name in CRATES:
                externs[name] = next(f for f in msg["filenames"] if f.endswith(".rlib"))
        if set(externs) != set(CRATES):
            raise CratesError(f"cargo built {sorted(externs)}, not {sorted(CRATES)}")
        make_readable(root)
        done.write_text(json.dumps(externs))
    return str(root / "target/release/deps"), externs


def compile_flags(deps: str, externs: dict[str, str]) -> tuple[str, ...]:
    return ("-L", f"dependency={deps}", *(a for name, rlib in sorted(externs.items()) for a in ("--extern", f"{name}={rlib}")))
