"""What a check costs per language: sandcheck against the bare compile-and-run, in one invocation.

    .venv/bin/python bench/languages.py                          # cpp java ts go rs, every gpt_solution
    .venv/bin/python bench/languages.py --langs cpp --limit 40   # quicker
    .venv/bin/python bench/languages.py --rerun-only             # the per-run cost of a compiled artifact
    .venv/bin/python bench/languages.py --langs java --also-with SANDCHECK_JAVAC_SERVICE=false
                                                   # also without the warm javac, side by side

For each language, on MultiPL-E's own gpt_solution programs (the first
--limit of them), side by side:
- bare: the plain commands on the host, one program after another, as an
  unprivileged user (uid 65534): g++ -std=c++17 -O2 and ./main; javac and
  java; tsc --target esnext --skipLibCheck and node; go test -c and the test
  binary; rustc --edition 2021 -O -C overflow-checks=on and ./main. These are the dataset's
  trusted programs, not hostile ones.
- sandcheck: `sandcheck eval` of the same programs with its embedded server,
  a fresh build cache, the result cache off: its whole process tree's CPU
  (jails, compilers and programs included, from a cgroup as bench/run.py
  measures), per program. `marginal` leaves out the start-up: (T(N) -
  T(1)) / (N - 1).

Also: pass@1 of both, and how many verdicts agree. `--rerun` measures a
compiled artifact run again with other stdin (a build cache hit, as a stdio
problem's tests run): the client's wall time per further run.
Results go to bench/results/languages-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import AccountingGroup, measure  # noqa: E402

from sandcheck.datasets import load_dataset, multipl_e  # noqa: E402
from sandbox_server.jail.toolchains import _java_home, _java_source, go_root  # noqa: E402

CLI = "from sandcheck.cli import main; main()"
TIMEOUT_S = 10.0
NOBODY = 65534
JAVATUPLES = "/usr/share/java/javatuples.jar"
GO_ROOT = go_root()
_GO_ENV = {"GOROOT": GO_ROOT, "GOPATH": "/usr/share/gocode", "GO111MODULE": "off", "CGO_ENABLED": "0",
           "GOTOOLCHAIN": "local"}


@dataclass(frozen=True)
class Bare:
    """A language's plain commands: the source's file name, the compile, the run (run in its directory)."""

    file: object  # str, or a function of the source
    compile: tuple[str, ...]
    run: tuple[str, ...]

    def name(self, source: str) -> str:
        return self.file(source.encode()) if callable(self.file) else self.file


BARE = {
    "cpp": Bare("main.cpp", ("g++", "-std=c++17", "-O2", "-o", "main", "{src}"), ("./main",)),
    "java": Bare(_java_source, (f"{_java_home()}/bin/javac", "-encoding", "UTF-8", "-cp", f".:{JAVATUPLES}", "{src}"),
                 (f"{_java_home()}/bin/java", "-cp", f".:{JAVATUPLES}", "{main}")),
    "ts": Bare("main.ts", ("node", "/usr/share/nodejs/typescript/bin/tsc", "--target", "esnext", "--skipLibCheck",
                           "--outDir", ".", "{src}"), ("node", "main.js")),
    "go": Bare("main_test.go", (f"{GO_ROOT}/bin/go", "test", "-c", "-o", "main.test", "{src}"), ("./main.test",)),
    "rs": Bare("main.rs", ("rustc", "--edition", "2021", "-O", "-C", "overflow-checks=on", "-o", "main", "{src}"),
               ("./main",)),
}


def programs(lang: str, limit: int) -> list[tuple[str, str]]:
    """(task_id, program) for the first `limit` gpt_solution answers of multipl-e-`lang`, as eval builds them."""
    ds = load_dataset(f"multipl-e-{lang}")
    rows = multipl_e.gpt_solutions(ds.problems)[:limit or None]
    return [(r["task_id"], ds.build(ds.problems[r["task_id"]], r["solution"], whole=True).program) for r in rows]


def _as_nobody() -> dict:
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []} if os.geteuid() == 0 else {}


def _compile_and_run(bare: Bare, program: str, d: Path, env: dict) -> bool:
    """Whether `program` compiled and then exited 0 (in its own directory `d`, removed after)."""
    d.mkdir()
    src = bare.name(program)
    (d / src).write_text(program)
    if os.geteuid() == 0:
        for p in (d, d / src):
            os.chown(p, NOBODY, NOBODY)
    fmt = {"src": src, "main": src.rsplit(".", 1)[0]}
    try:
        c = subprocess.run([a.format(**fmt) for a in bare.compile], cwd=d, env=env, capture_output=True,
                           timeout=120, **_as_nobody())
        if c.returncode != 0:
            return False
        r = subprocess.run([a.format(**fmt) for a in bare.run], cwd=d, env=env, capture_output=True,
                           timeout=TIMEOUT_S, stdin=subprocess.DEVNULL, **_as_nobody())
        return r.returncode == 0
    except subprocess.TimeoutExpired:
        return False
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_bare(lang: str, progs: list[tuple[str, str]], tmp: Path) -> tuple[dict, list[bool]]:
    """Each program compiled and run with the plain commands; CPU of all of them (children's rusage)."""
    bare = BARE[lang]
    home = tmp / f"bare-home-{lang}"
    home.mkdir()
    if os.geteuid() == 0:
        os.chown(home, NOBODY, NOBODY)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", **(_GO_ENV if lang == "go" else {}),
           "GOCACHE": str(home / "go-cache")}
    if lang == "go":  # a Go user's build cache holds testify already: warm it first, unmeasured
        _compile_and_run(bare, progs[0][1], tmp / "bare-go-warm-up", env)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    passed = [_compile_and_run(bare, program, tmp / f"bare-{lang}-{i}", env) for i, (_, program) in enumerate(progs)]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"cpu_s": round(cpu, 3), "wall_s": round(time.monotonic() - start, 3)}, passed


def run_sandcheck(lang: str, progs: list[tuple[str, str]], tmp: Path, tag: str,
                  python: str = sys.executable, extra_env: dict | None = None) -> tuple[dict, list[bool]]:
    """`sandcheck eval` of `progs` (solution rows) with an embedded server; its whole tree's CPU.
    `python`: the interpreter whose sandcheck runs (another checkout's, for a before/after);
    `extra_env`: server settings (SANDCHECK_...) for this run."""
    samples, out = tmp / f"sc-{lang}-{tag}.jsonl", tmp / f"sc-{lang}-{tag}-results.jsonl"
    ds = load_dataset(f"multipl-e-{lang}")
    answers = {r["task_id"]: r["solution"] for r in multipl_e.gpt_solutions(ds.problems)}
    samples.write_text("".join(json.dumps({"task_id": t, "solution": answers[t]}) + "\n" for t, _ in progs))
    group = AccountingGroup(f"lang-{lang}-{tag}")
    env = dict(os.environ, SANDCHECK_RESULT_CACHE_MB="0", **(extra_env or {}))
    if group.ok and not group.v2:
        env["SANDCHECK_CGROUP_ROOT"] = f"{group.name}/sandcheck"
    cmd = [python, "-c", CLI, "eval", str(samples), "--dataset", f"multipl-e-{lang}", "--timeout", str(TIMEOUT_S),
           "--k", "1", "-o", str(out), "--no-progress"]
    try:
        m = measure(cmd, env=env, log=tmp / f"sc-{lang}-{tag}.log", group=group)
    finally:
        group.remove()
    if m["exit_status"] != 0:
        raise SystemExit(f"sandcheck eval failed for {lang}: see {tmp}/sc-{lang}-{tag}.log\n"
                         + (tmp / f"sc-{lang}-{tag}.log").read_text()[-2000:])
    by_task = {}
    for line in out.read_text().splitlines():
        row = json.loads(line)
        by_task[row["task_id"]] = bool(row["passed"])
    return {"cpu_s": m["cpu_s"], "wall_s": m["wall_s"]}, [by_task[t] for t, _ in progs]


def _sandcheck(lang: str, progs: list[tuple[str, str]], tmp: Path, tag: str, python: str,
               bare_per: float, bare_passed: list[bool], extra_env: dict | None = None) -> dict:
    n = len(progs)
    print(f"[{lang}] sandcheck ({tag}) ...", file=sys.stderr, flush=True)
    sc, passed = run_sandcheck(lang, progs, tmp, tag, python, extra_env)
    one, _ = run_sandcheck(lang, progs[:1], tmp, f"{tag}-one", python, extra_env)
    per = sc["cpu_s"] / n
    marginal = (sc["cpu_s"] - one["cpu_s"]) / max(1, n - 1)
    return {**sc, "python": python, "start_and_one_program_cpu_s": one["cpu_s"], "cpu_per_program_ms": round(per * 1000),
            "marginal_cpu_per_program_ms": round(marginal * 1000), "pass@1": round(sum(passed) / n, 3),
            "ratio_to_bare": round(per / bare_per, 3), "marginal_ratio_to_bare": round(marginal / bare_per, 3),
            "verdicts_agree_with_bare": sum(a == b for a, b in zip(bare_passed, passed)),
            "disagreeing_tasks": [t for (t, _), a, b in zip(progs, bare_passed, passed) if a != b]}


def language(lang: str, limit: int, tmp: Path, before: str = "", also_with: tuple[str, ...] = ()) -> dict:
    progs = programs(lang, limit)
    n = len(progs)
    print(f"[{lang}] {n} programs: bare ...", file=sys.stderr, flush=True)
    bare, bare_passed = run_bare(lang, progs, tmp)
    bare_per = bare["cpu_s"] / n
    report = {"programs": n,
              "bare": {**bare, "cpu_per_program_ms": round(bare_per * 1000), "pass@1": round(sum(bare_passed) / n, 3)},
              "sandcheck": _sandcheck(lang, progs, tmp, "this", sys.executable, bare_per, bare_passed)}
    if before:
        report["sandcheck_before"] = _sandcheck(lang, progs, tmp, "before", before, bare_per, bare_passed)
    for setting in also_with:
        name, _, value = setting.partition("=")
        report[f"sandcheck with {setting}"] = _sandcheck(lang, progs, tmp, name.lower(), sys.executable, bare_per,
                                                         bare_passed, {name: value})
    return report


_ECHO_CPP = ("#include <iostream>\nint main() { long long x; long long s = 0; while (std::cin >> x) s += x * x; "
             "std::cout << s << std::endl; }\n")


def rerun(runs: int) -> dict:
    """A compiled C++ artifact run `runs` more times with other stdin, as a stdio problem's tests run it."""
    from sandcheck import Client
    from sandcheck.embedded import EmbeddedServer

    with EmbeddedServer() as target, Client(target) as client:
        first = client.execute(_ECHO_CPP, language="cpp", stdin=b"1 2 3\n")
        walls, server_walls, cached = [], [], 0
        for i in range(runs):
            t = time.monotonic()
            r = client.execute(_ECHO_CPP, language="cpp", stdin=f"{i} {i + 1}\n".encode())
            walls.append((time.monotonic() - t) * 1000)
            server_walls.append(r.wall_time_ms)
            cached += bool(r.compile and r.compile.cached)
            if r.stdout.strip() != str(i * i + (i + 1) ** 2).encode():
                raise SystemExit(f"rerun {i}: wrong output {r.stdout!r}")
    return {"runs": runs, "first_status": first.status, "cached_compiles": cached,
            "client_wall_ms_p50": round(statistics.median(walls), 1),
            "client_wall_ms_p90": round(sorted(walls)[int(0.9 * (runs - 1))], 1),
            "program_wall_ms_p50": statistics.median(server_walls)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--langs", default="cpp,java,ts,go,rs", help="MultiPL-E languages, comma-separated")
    ap.add_argument("--limit", type=int, default=0, help="only the first N programs of each (default: all)")
    ap.add_argument("--reruns", type=int, default=50, help="further runs of one compiled artifact (0: skip)")
    ap.add_argument("--rerun-only", action="store_true", help="only the further-run measurement")
    ap.add_argument("--out", help="results file (default: bench/results/languages-<time>.json)")
    ap.add_argument("--before", metavar="PYTHON", default="",
                    help="also run the sandcheck of another checkout: an interpreter that imports it")
    ap.add_argument("--also-with", metavar="SANDCHECK_SETTING=VALUE", action="append", default=[],
                    help="also run this sandcheck with a server setting changed (repeatable), e.g. "
                         "SANDCHECK_JAVAC_SERVICE=false")
    args = ap.parse_args()
    if any(not s.startswith("SANDCHECK_") or "=" not in s for s in args.also_with):
        ap.error("--also-with wants SANDCHECK_NAME=VALUE")
    report: dict = {"host": {"cpus": os.cpu_count(), "kernel": platform.release(), "load_at_start": os.getloadavg()},
                    "languages": {}}
    out = Path(args.out).resolve() if args.out else \
        HERE / "results" / f"languages-{time.strftime('%Y-%m-%dT%H%M%SZ', time.gmtime())}.json"
    with tempfile.TemporaryDirectory(prefix="sandcheck-bench-lang-") as d:
        tmp = Path(d)
        os.chmod(tmp, 0o755)
        # `python -m sandbox_server` imports from the working directory first: a checkout's root
        # would put its server under another checkout's client (--before).
        os.chdir(tmp)
        if not args.rerun_only:
            for lang in args.langs.split(","):
                report["languages"][lang] = language(lang.strip(), args.limit, tmp, args.before,
                                                     tuple(args.also_with))
                print(json.dumps({lang: report["languages"][lang]}), flush=True)
    if args.reruns:
        print(f"[rerun] {args.reruns} further runs ...", file=sys.stderr, flush=True)
        report["rerun"] = rerun(args.reruns)
        print(json.dumps({"rerun": report["rerun"]}), flush=True)
    report["host"]["load_at_end"] = os.getloadavg()
    out.write_text(json.dumps(report, indent=1) + "\n")
    print("\n| language | programs | bare CPU/program | sandcheck CPU/program (marginal) | ratio to bare (marginal) | "
          "pass@1 bare / sandcheck | verdicts agree with bare |\n|---|---|---|---|---|---|---|")
    for lang, r in report["languages"].items():
        for key in ("sandcheck_before", *(k for k in r if k.startswith("sandcheck with ")), "sandcheck"):
            if key in r:
                sc = r[key]
                label = {"sandcheck_before": " (before)", "sandcheck": ""}.get(key, f" ({key[len('sandcheck '):]})")
                print(f"| {lang}{label} | {r['programs']} | "
                      f"{r['bare']['cpu_per_program_ms']} ms | {sc['cpu_per_program_ms']} ms "
                      f"({sc['marginal_cpu_per_program_ms']} ms) | {sc['ratio_to_bare']} ({sc['marginal_ratio_to_bare']}) | "
                      f"{r['bare']['pass@1']} / {sc['pass@1']} | {sc['verdicts_agree_with_bare']} / {r['programs']} |")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
