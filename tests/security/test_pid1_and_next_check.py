"""What a program does to the jail's PID 1, to the next check in the same
jail and to the server: it cannot reach them, and what it does is its own
result, never a SANDBOX_ERROR."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sandcheck import Client, Limits, evaluate, read_problems

from ..conftest import RunningServer
from . import _programs as P
from .conftest import FAST, assert_clean, assert_serves


@pytest.fixture(scope="module", params=["warm", "cold"])
def one_slot(request) -> Iterator[RunningServer]:
    """A server with one slot and no result cache: consecutive checks land in
    the same warm jail (or, cold, each in a new one)."""
    extra = ["--concurrency", "1", "--result-cache-mb", "0"]
    if request.param == "cold":
        extra += ["--jail-mode", "cold"]
    s = RunningServer(*extra)
    s.mode = request.param
    yield s
    assert s.stop() == 0


@pytest.fixture()
def same_jail(one_slot: RunningServer) -> Iterator[Client]:
    with Client(one_slot.target, timeout=120) as c:
        yield c
    assert one_slot.proc.poll() is None, one_slot.output()[-2000:]
    assert_clean(one_slot)


def test_pid1_fds_cannot_be_taken_or_compared(hostile) -> None:
    """pidfd_getfd on PID 1 (the zygote's control socket, the init's status
    pipe), kcmp and process_madvise are refused; a forged answer never
    reaches the server, so the program's own exit status is reported."""
    r = hostile.execute(P.PID1_FDS, limits=FAST)
    assert (r.status, r.exit_code, r.stdout) == ("NONZERO_EXIT", 3, b"SAFE\n"), (r.stdout, r.stderr[-1500:], r.error)
    after = hostile.execute("print('next')", limits=FAST)
    assert (after.status, after.stdout) == ("OK", b"next\n")


def test_one_sample_cannot_change_the_next_samples_verdicts(same_jail) -> None:
    """The reported attack end to end: a sample that tries to answer for PID
    1 and to lower its CPU rlimit, then six canonical solutions in the same
    jail: all of them pass."""
    attack = P.PID1_FDS.replace("sys.exit(3)", "import resource\ntry:\n"
                                "    resource.prlimit(1, resource.RLIMIT_CPU, (0, 0))\nexcept OSError:\n"
                                "    pass\nsys.exit(3)")
    r = same_jail.execute(attack, limits=FAST)
    assert (r.status, r.exit_code) == ("NONZERO_EXIT", 3), (r.stdout, r.stderr[-1500:], r.error)
    problems = {t: p for t, p in read_problems().items() if t in {f"HumanEval/{i}" for i in range(6)}}
    samples = [{"task_id": t, "completion": p["canonical_solution"]} for t, p in problems.items()]
    report = evaluate(samples, problems, client=same_jail, k=[1])
    assert report.pass_at_k == {"pass@1": 1.0}


def _rss_peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_floods_on_every_channel_keep_the_server_flat(hostile, server) -> None:
    """300 MiB tried on PID 1's channels, and floods on stdout, stderr and
    the report pipe: the server keeps a bounded amount of each."""
    before = _rss_peak_kb(server.proc.pid)
    r = hostile.execute(P.FLOOD_EVERY_CHANNEL, limits=Limits(cpu_time_ms=2000, wall_time_ms=4000))
    assert r.status in ("TIMEOUT", "OUTPUT_LIMIT", "OK"), (r.status, r.error, r.stderr[-500:])
    assert b"ESCAPE" not in r.stdout
    assert len(r.stdout) <= 1 << 20 and len(r.stderr) <= 1 << 20 and len(r.report) <= 4096
    assert _rss_peak_kb(server.proc.pid) - before < 100 * 1024


def _state_after(client: Client, spoiler: str) -> tuple[dict, str, dict]:
    """Run `spoiler`, then a check that looks: what the spoiler found at its
    start, what it printed, and what the next check found."""
    spoil = client.execute(spoiler, limits=FAST)
    assert spoil.status == "OK" and b"ESCAPE" not in spoil.stdout, (spoil.stdout, spoil.stderr[-1500:], spoil.error)
    look = client.execute(P.LOOK_AT_JAIL_STATE, limits=FAST)
    assert look.status == "OK", (look.stdout[-1000:], look.stderr[-1500:], look.error)
    return json.loads(spoil.report), spoil.stdout.decode(), json.loads(look.report)


def test_tmp_is_reset_for_the_next_check(same_jail, one_slot) -> None:
    """/tmp made 0555, given old times, a user.* xattr and POSIX ACLs (the
    default one would shape the next check's files): the next check finds
    /tmp as the first check found it, times included, in the same warm jail."""
    initial, printed, now = _state_after(same_jail, P.SPOIL_TMP)
    planted = json.loads(printed)
    assert planted["xattrs"], "the spoiler could not set any xattr: the test would prove nothing"
    assert now["tmp"]["mode"] == initial["tmp"]["mode"] == oct(0o41777)
    assert now["tmp"]["xattrs"] == []
    assert now["tmp"]["times"] != planted["times"]
    if one_slot.mode == "warm":
        assert now["tmp"] == initial["tmp"]  # same mount (st_dev), reset in place: mode, owner, times
    assert now["ipc"] == {"sysv": [0, 0, 0], "mqueue": "absent"}


def test_ipc_and_pid1_state_do_not_reach_the_next_check(same_jail) -> None:
    """SysV objects, a POSIX message queue, PID 1 at SCHED_IDLE, its I/O
    priority, affinity and rlimits: refused, or the jail recycled;
    the next check sees PID 1, and itself, as configured."""
    initial, _printed, now = _state_after(same_jail, P.SPOIL_PID1)
    assert now["ipc"] == {"sysv": [0, 0, 0], "mqueue": "absent"}, now["ipc"]
    assert now["pid1"] == initial["pid1"]
    assert now["self"] == initial["self"]
    assert now["pid1"]["sched"] == os.SCHED_OTHER


def test_signals_at_pid1_are_the_programs_business(same_jail, one_slot) -> None:
    """Every catchable signal sent to PID 1, its process group and the
    jail's other processes: PID 1 survives, the result is the program's,
    never a SANDBOX_ERROR, and the health check stays SERVING."""
    r = same_jail.execute(P.SIGNAL_PID1, limits=FAST)
    assert (r.status, r.stdout) == ("OK", b"alive\n"), (r.status, r.stdout, r.stderr[-1500:], r.error)
    for i in range(6):  # more than the health threshold of SANDBOX_ERRORs in a row
        r = same_jail.execute(f"import os, signal\nos.kill(1, signal.SIGINT)\nimport time\ntime.sleep(0.2)  # {i}",
                              limits=FAST)
        # cold: the init forwards SIGINT to the program (KeyboardInterrupt)
        assert r.status in ("OK", "NONZERO_EXIT"), (r.status, r.stderr[-1500:], r.error)
        assert r.status == "OK" or b"KeyboardInterrupt" in r.stderr
    with grpc.insecure_channel(one_slot.target) as ch:
        health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert_serves(same_jail)


def test_no_code_from_outside_the_read_only_root(hostile) -> None:
    """A memfd or a /tmp copy of the interpreter does not run: execveat of
    an fd, exec through the dynamic loader, PROT_EXEC maps of /tmp files,
    READ_IMPLIES_EXEC."""
    r = hostile.execute(P.EXEC_FROM_ANYWHERE, limits=Limits(cpu_time_ms=3000, wall_time_ms=6000))
    assert (r.status, r.stdout) == ("OK", b"SAFE\n"), (r.stdout[-2000:], r.stderr[-1500:], r.error)


def test_denied_calls_fail_in_an_ordinary_way(hostile) -> None:
    """Each call added to the policy fails with EPERM, arguments and all."""
    r = hostile.execute(P.PROCESS_AND_EXEC_SURFACE, limits=FAST)
    assert (r.status, r.stdout) == ("OK", b"SAFE\n"), (r.stdout[-2000:], r.stderr[-1500:], r.error)


def test_the_programs_own_scheduling_still_works(hostile) -> None:
    """What stays allowed: a program's own rlimits, nice, affinity and the
    harmless personalities (the ordinary Python that the policy must not break)."""
    src = ("import os, resource\nresource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
           "print(resource.prlimit(1, resource.RLIMIT_NOFILE)[0] > 0, os.nice(1) >= 1,\n"
           "      os.sched_getaffinity(0) == os.sched_getaffinity(1))\n"
           "import ctypes\nlibc = ctypes.CDLL(None)\nprint(libc.personality(0), libc.personality(8), libc.personality(0))")
    r = hostile.execute(src, limits=FAST)
    assert (r.status, r.stdout) == ("OK", b"True True True\n0 0 8\n"), (r.stdout, r.stderr[-1500:])
