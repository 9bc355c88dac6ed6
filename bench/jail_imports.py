"""What importing a heavy package costs a check: cold jails, warm jails, and warm jails
that preload it (`serve --preload`), side by side in one invocation.

For each server kind, each module: N checks of ``import MODULE`` (each source
distinct, so the result cache answers none), and N checks of ``pass`` as the
baseline; the median wall and CPU time the server reports per check, and the
peak memory. A preloaded module makes the zygote bigger, so every fork (every
check, whatever it imports) copies more page tables: the ``pass`` row shows it. Needs root, nsjail and the jail's packages (scripts/setup).

Usage: .venv/bin/python bench/jail_imports.py [--checks N] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sandcheck import Client, Limits  # noqa: E402
from tests.conftest import RunningServer  # noqa: E402

MODULES = ("numpy", "pandas", "scipy.stats", "sympy")
LIMITS = Limits(cpu_time_ms=20_000, memory_bytes=1024 * 2**20)


def measure(target: str, source: str, checks: int) -> dict[str, float]:
    walls, cpus, mems = [], [], []
    with Client(target, timeout=300) as c:
        for i in range(checks):
            r = c.execute(f"{source}\n# {i}\n", limits=LIMITS)
            if r.status != "OK":
                raise SystemExit(f"{source!r}: {r.status} {r.stderr[-500:]!r}")
            walls.append(r.wall_time_ms)
            cpus.append(r.cpu_time_ms)
            mems.append(r.memory_bytes)
    return {"wall_ms": statistics.median(walls), "cpu_ms": statistics.median(cpus),
            "peak_mib": round(statistics.median(mems) / 2**20, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checks", type=int, default=15)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    kinds = {
        "cold": ("--jail-mode", "cold"),
        "warm": (),
        "warm, numpy preloaded": ("--preload", "numpy"),
        "warm, all preloaded": ("--preload", ",".join(MODULES)),
    }
    results: dict[str, dict[str, dict[str, float]]] = {}
    for kind, flags in kinds.items():
        server = RunningServer(*flags, "--concurrency", "1", "--result-cache-mb", "0")
        try:
            results[kind] = {m: measure(server.target, "pass" if m == "pass" else f"import {m}", args.checks)
                            for m in ("pass", *MODULES)}
        finally:
            server.stop()
    print(f"{'module':12} " + " ".join(f"{k:>28}" for k in kinds))
    print(f"{'':12} " + " ".join(f"{'wall ms / CPU ms / peak MiB':>28}" for _ in kinds))
    for m in ("pass", *MODULES):
        cells = [f"{r[m]['wall_ms']:>8.0f} / {r[m]['cpu_ms']:>6.0f} / {r[m]['peak_mib']:>7.1f}" for r in results.values()]
        print(f"{m:12} " + " ".join(f"{c:>28}" for c in cells))
    if args.out:
        args.out.write_text(json.dumps({"checks": args.checks, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
