"""`sandcheck serve --check`: what this host offers a jail, and whether the server can serve here.

It prints one line per fact (cgroups, user namespaces, seccomp, nsjail, the
runtime), then starts a real executor, as `serve` would, on one slot: a cold
jail and a warm jail each run a probe. Exit 0 only if that worked, so a
deployment can run it as a pre-flight check. It changes nothing a server
start would not change (the cgroup delegation), and removes what it made.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
from pathlib import Path

from .config import ServerConfig
from .executor import Executor, python_runtime
from .jail import cgroups


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _facts(config: ServerConfig) -> list[tuple[str, str]]:
    facts = [("host", f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs, euid {os.geteuid()}")]
    try:
        mode = cgroups.detect()
    except cgroups.CgroupError as exc:
        mode = f"none ({exc})"
    if mode == "v2":
        own = cgroups.own_cgroup()
        here = cgroups.CGROUP_MOUNT / own.lstrip("/")
        facts.append(("cgroups", f"v2; own cgroup {own}: offered [{_read(f'{here}/cgroup.controllers')}], "
                                 f"enabled below [{_read(f'{here}/cgroup.subtree_control')}]"))
    else:
        facts.append(("cgroups", mode))
    userns = _read("/proc/sys/user/max_user_namespaces") or "?"
    restrict = _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns")
    facts.append(("user namespaces", f"max {userns}" + (f", apparmor_restrict_unprivileged_userns={restrict} "
                                                       "(applies to unprivileged users only)" if restrict else "")))
    status = dict(line.split(":\t", 1) for line in _read("/proc/self/status").splitlines() if ":\t" in line)
    facts.append(("seccomp", f"this process: mode {status.get('Seccomp', '?')} "
                             f"(0 none, 2 filtered; nsjail's children get ours on top)"))
    facts.append(("nsjail", config.nsjail if shutil.which(config.nsjail) or os.path.exists(config.nsjail)
                  else f"missing at {config.nsjail}"))
    try:
        rt = python_runtime(config)
        facts.append(("runtime", f"{rt.interpreter} {rt.version}, {len(rt.binds)} paths bound read-only"))
        facts.append(("python packages", f"{len(rt.packages.packages)} in {rt.packages.path}" if rt.packages
                      else "none (standard library only; scripts/setup installs them)"))
    except Exception as exc:  # reported, and the start below says why it fails
        facts.append(("runtime", f"unusable: {exc}"))
    return facts


def check(config: ServerConfig) -> int:
    """Print the facts and the verdict; 0 if a server could serve here."""
    for name, value in _facts(config):
        print(f"{name + ':':18} {value}")
    probe = Executor(dataclasses.replace(config, concurrency=1))
    try:
        probe.start()
    except Exception as exc:
        print(f"{'verdict:':18} cannot serve: {exc}")
        probe.stop()
        return 1
    tree = probe.cgroups
    delegated = "; ".join(getattr(tree, "delegated", [])) or "nothing changed"
    languages, unavailable = probe.languages, probe.unavailable
    probe.stop()
    print(f"{'delegation:':18} {delegated}")
    for name, lang in languages.items():
        tc = lang.toolchain
        tools = ", ".join(t for t in (tc.compiler, tc.interpreter) if t)
        print(f"{'language ' + name + ':':18} {lang.version} ({tools})")
    for name, why in unavailable.items():
        print(f"{'language ' + name + ':':18} not served: {why}")
    print(f"{'verdict:':18} can serve: {config.jail_mode} jails, {config.effective_concurrency()} slots in "
          f"{config.effective_processes()} processes, cgroup {tree.mode}")
    return 0
