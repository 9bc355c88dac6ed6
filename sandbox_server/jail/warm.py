"""The warm execution path: long-lived jails that fork one child per check.

One `WarmJail` is one nsjail whose PID 1 is the zygote (``zygote.py``): a
warm ``python3.11`` that has loaded the seccomp filter and the usual modules
once, and forks a fresh child per check. The jail sits in its slot's
cgroups for its whole life, and runs one check at a time, so the slot's
counters, reset before each check, are that check's: CPU time (cpuacct),
peak memory, OOM kills. The zygote itself is in them too; it costs about a
fork per check.

Rules kept (see issue 4 and SECURITY.md):
- the zygote never holds request data: it receives file descriptors that it
  does not read, and only the forked child reads its program from them;
- tenants never share a jail: a `WarmSlot` holds at most one jail, keyed by
  tenant, and a check from another tenant recycles it first;
- after each check the zygote kills leftovers and wipes /tmp, and says
  whether anything stayed behind; a judged check's judge process (one per
  judge text, its own tenant's) is the only process it keeps, and the only
  one besides the zygote that the jail's cgroup may hold between checks (it
  stays across the tenant's unjudged checks too, and kills what they leave,
  since a kill(-1) from the zygote would end it as well);
- a jail is recycled after `max_checks` checks and after any anomaly:
  timeout, OOM kill, sandbox error, leftover processes, /tmp not reset,
  SysV IPC objects left, the zygote's limits or scheduling changed, an
  unexpected process in the cgroup, a memory limit that could not be set,
  an answer on the control socket the zygote would not send (too long, a
  second one, not a report: the program broke its jail).

What a check sees is what a cold jail shows it: the same nsjail config,
seccomp filter, environment, uid, /tmp, rlimits and the same ``__main__``
semantics; the verdict and the status rules are those of `Supervisor`.

Warm runs: a built program (an `Artifact`: C++, Go, Rust, Java, TypeScript)
that runs again and again, as a stdio problem runs it once per test, gets
a warm jail of its own, in a `WarmSlot` of its own per slot: an exec jail,
started from its language's run config with the build directory read-only
at /build, exactly as a cold run jail (supervisor.py's `ExecPlan`), whose
zygote forks and execs the artifact per run, with the same argv, files,
fds, rlimits and filter as the cold init. It is keyed by tenant and
artifact: another tenant, another artifact (language, build key, directory)
recycles it, and so does everything that recycles a Python jail. It keeps
the build cache's pin on its directory while it lives, so the directory it
binds is never evicted under it.
"""

from __future__ import annotations

import logging
import math
import os
import selectors
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Protocol

from sandcheck_api.status import Status

from ..limits import Limits, rlimit_cpu_s
from . import trusted_judges
from .cgroups import Counters
from .channels import Capped, reader, serve_channels, writer
from .files import Files, pack_files
from .limit_clock import LimitClock, runqueue_wait_s
from .nsjail_config import jail_args
from .outcome import (REPORT_CAP, STATUS_CAP, JailBroken, Outcome, SandboxFault, classify_end, jail_broken,
                      oom_killed, parse_report, timed_out)
from .process import PDEATHSIG_PREFIX, child_of, jail_script, kill, reap, start_failure, without_ldso_noise, write_all
from .supervisor import ExecPlan, Supervisor

log = logging.getLogger("sandcheck.server")

ZYGOTE_SOURCE = trusted_judges.script_prefix() + jail_script("zygote.py")
_READY_TIMEOUT_S = 20.0
_EXEC_FLAG = "--exec"  # zygote.py's EXEC_FLAG


class JailNotStarted(SandboxFault):
    """A warm jail did not start: nothing of the check ran in it."""


class Pins(Protocol):
    """Who keeps a build directory on disk while it is in use (builds.BuildCache)."""

    def hold(self, key: str) -> None: ...

    def release(self, key: str) -> None: ...


@dataclass(frozen=True)
class Artifact:
    """A built program that an exec jail runs again and again: its language,
    the build cache's key, its language's run jail config and its directory
    (bound read-only at /build). A jail runs only the artifact it was made for."""

    language: str
    key: str
    config_path: str
    build_dir: str
    pins: Pins = field(compare=False, repr=False)

    def jail_args(self) -> list[str]:
        """The bind and working directory of a cold run jail of this artifact."""
        return ExecPlan(self.config_path, (), self.build_dir).jail_args()


class WarmJail:
    """One nsjail holding a zygote, in one slot's cgroups, for one tenant
    (with `artifact`, an exec jail for that one built program)."""

    def __init__(self, sup: Supervisor, cg, outside_uid: int, tenant: str, max_tasks: int,
                 memory_bytes: int, artifact: Artifact | None = None) -> None:
        self.sup = sup
        self.slot = cg  # the jail's own cgroups, nested in its slot's
        self.uid = outside_uid
        self.tenant = tenant
        self.artifact = artifact  # an exec jail's program; None: Python checks
        self._pinned = False
        self.max_tasks = max_tasks
        self.checks = 0
        self.dirty = ""  # why this jail must not run another check
        self.proc: subprocess.Popen | None = None
        self.ctrl: socket.socket | None = None
        self.diag_r = -1
        self.zygote_pid = 0
        self._oom_base = 0
        self.counters: Counters | None = None
        self._schedstat = -1  # the zygote's /proc/PID/schedstat, open for the jail's life
        self._zygote_wait_base = 0
        self._judge = (0, 0)  # the warm judge process: (its pid in the jail, on the host)
        self._judge_schedstat = -1  # its /proc/PID/schedstat, open while it is the jail's judge
        self._judge_wait_base: dict[int, int] = {}  # {its host pid: its wait when the check began}
        try:
            self._start(memory_bytes)
        except BaseException:
            self.close()  # gives back the artifact's pin too
            raise

    # -- life ---------------------------------------------------------------
    def _start(self, memory_bytes: int) -> None:
        # The zygote counts against pids.max, as the cold path's init does.
        self.slot.prepare(memory_bytes, self.max_tasks)
        if self.artifact is not None:
            self.artifact.pins.hold(self.artifact.key)
            self._pinned = True
        bpf = os.memfd_create("sandcheck-bpf", os.MFD_CLOEXEC)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        diag_r, diag_w = os.pipe()
        self.ctrl, self.diag_r = ours, diag_r
        try:
            write_all(bpf, self.sup.seccomp_bpf)
            os.lseek(bpf, 0, os.SEEK_SET)
            child_fds = [bpf, theirs.fileno()]
            art = self.artifact
            argv = [
                *PDEATHSIG_PREFIX,  # nsjail dies with the slot thread that started it
                self.sup.nsjail, "--config", art.config_path if art else self.sup.config_path,
                *jail_args(self.uid, diag_w, child_fds, limits=None),  # lives across checks
                *(art.jail_args() if art else ()),
                "--", *self.sup.runtime.argv(ZYGOTE_SOURCE, *(str(fd) for fd in child_fds),
                                             # modules imported before the first fork; none to exec
                                             *([_EXEC_FLAG] if art else self.sup.runtime.preload)),
            ]
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=diag_w, stderr=diag_w,
                pass_fds=(*child_fds, diag_w), env={}, start_new_session=True,
            )
        finally:
            os.close(bpf)
            os.close(diag_w)
            theirs.close()
        os.set_blocking(self.diag_r, False)
        ours.settimeout(_READY_TIMEOUT_S)
        try:
            msg = ours.recv(4096)
        except (socket.timeout, OSError) as exc:
            raise JailNotStarted(f"warm jail did not start: {exc}; {self._diag()}") from None
        if msg != b"R":
            detail = msg.decode(errors="replace") or "no answer"
            raise JailNotStarted(f"warm jail failed to start: {detail}; {self._diag()}")
        ours.settimeout(None)
        self.zygote_pid = child_of(self.proc.pid)
        self.slot.attach(self.zygote_pid)
        self.counters = self.slot.counters()
        # The zygote's run-queue wait, read at the start of every check.
        self._schedstat = os.open(f"/proc/{self.zygote_pid}/schedstat", os.O_RDONLY | os.O_CLOEXEC)

    def _diag(self) -> str:
        try:
            return start_failure(os.read(self.diag_r, 65536))
        except OSError:
            return ""

    def close(self) -> None:
        if self.zygote_pid:
            kill(self.zygote_pid)
        if self.ctrl is not None:
            self.ctrl.close()
            self.ctrl = None
        if self.proc is not None:
            reap(self.proc)
            self.proc = None
        if self.diag_r >= 0:
            os.close(self.diag_r)
            self.diag_r = -1
        self.slot.kill_all()
        self.zygote_pid = 0
        if self.counters is not None:
            self.counters.close()
            self.counters = None
        for fd in (self._schedstat, self._judge_schedstat):
            if fd >= 0:
                os.close(fd)
        self._schedstat = self._judge_schedstat = -1
        if self._pinned:
            self._pinned = False
            self.artifact.pins.release(self.artifact.key)

    # -- one check ----------------------------------------------------------
    def _prepare(self, limits: Limits) -> None:
        try:
            self.slot.set_memory_limit(limits.memory_bytes)  # a no-op when unchanged
        except OSError as exc:
            # Usage above the new limit (the kernel could not reclaim).
            self.dirty = f"memory limit not set: {exc.strerror}"
            raise _Retry() from None
        self.counters.reset()
        self._oom_base = self.counters.oom_kills()

    def run(self, source: bytes, stdin: bytes, limits: Limits, files: Files = ()) -> Outcome:
        if self.dirty or self.ctrl is None:
            raise _Retry()
        self._prepare(limits)
        fds: list[int] = []
        stdin_pipe = None  # a warm run's stdin, written by the server as a cold run's is
        try:
            job = os.memfd_create("sandcheck-job", os.MFD_CLOEXEC)
            fds.append(job)
            cpu_backstop = rlimit_cpu_s(limits.cpu_time_ms)
            files, judge_number = trusted_judges.leave_out(files)
            packed = pack_files(files)
            header = b"".join(n.to_bytes(4, "little")
                              for n in (cpu_backstop, len(source), len(packed), judge_number))
            write_all(job, header + source + packed)
            stdin_fd, stdin_w = self._stdin(stdin)
            fds.append(stdin_fd)
            if stdin_w >= 0:
                stdin_pipe = open(stdin_w, "wb", buffering=0)  # closed once, however the run ends
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            rep_r, rep_w = os.pipe()
            fds += [out_r, out_w, err_r, err_w, rep_r, rep_w]
            try:
                socket.send_fds(self.ctrl, [b"G"], [job, stdin_fd, out_w, err_w, rep_w])
            except OSError as exc:
                self.dirty = f"zygote gone: {exc}"
                raise _Retry() from None
            start = time.monotonic()
            self._zygote_wait_base = _wait_ns(self._schedstat)
            judge_fd = self._judge_schedstat
            self._judge_wait_base = {self._judge[1]: _wait_ns(judge_fd)} if judge_fd >= 0 else {}
            for fd in (job, stdin_fd, out_w, err_w, rep_w):
                os.close(fd)
                fds.remove(fd)
            self.checks += 1
            return self._supervise(start, out_r, err_r, rep_r, limits, stdin_pipe, stdin)
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if stdin_pipe is not None:
                stdin_pipe.close()

    def _stdin(self, stdin: bytes) -> tuple[int, int]:
        """The fd a check reads as its stdin, and the server's end to write `stdin`
        into (-1: none). A Python check reads a memfd. A warm run gets what a cold
        run jail gives its program: a pipe the server writes, or /dev/null when
        there is no stdin, so that a program that seeks or maps its stdin fails
        warm as it fails cold."""
        if self.artifact is not None:
            if not stdin:
                return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC), -1
            return os.pipe()
        fd = os.memfd_create("sandcheck-stdin", os.MFD_CLOEXEC)
        if stdin:
            write_all(fd, stdin)
            os.lseek(fd, 0, os.SEEK_SET)
        return fd, -1

    def _supervise(self, start: float, out_r: int, err_r: int, rep_r: int, limits: Limits, stdin_pipe=None,
                   stdin: bytes = b"") -> Outcome:
        out, err, rep = Capped(limits.output_bytes), Capped(limits.output_bytes), Capped(REPORT_CAP)
        answer: bytes | None = None
        broken = ""

        def zygote_answered() -> bool:
            nonlocal answer, broken
            answer, broken = self._answer()
            return False

        def timed_out_now(kind: str) -> None:
            self.dirty = f"timeout ({kind})"
            kill(self.zygote_pid)

        channels = {fd: (selectors.EVENT_READ, reader(fd, sink)) for fd, sink in ((out_r, out), (err_r, err), (rep_r, rep))}
        channels[self.ctrl.fileno()] = (selectors.EVENT_READ, zygote_answered)
        if stdin_pipe is not None:
            channels[stdin_pipe.fileno()] = (selectors.EVENT_WRITE, writer(stdin_pipe.fileno(), stdin, stdin_pipe.close))
        counters = self.counters
        clock = LimitClock(limits, start, self.sup.ncpu, counters.cpu_ns,
                           lambda: self._runqueue_wait_s(self._zygote_wait_base))
        killed = serve_channels(channels, clock, timed_out_now)
        # Rounded up: a program that ran took time, however little.
        wall_ms = math.ceil((time.monotonic() - start) * 1000)
        oom_kills = counters.oom_kills() - self._oom_base
        outcome = Outcome(
            status="",
            stdout=out.value(),
            stderr=without_ldso_noise(err.value()),
            stdout_truncated=out.dropped > 0,
            stderr_truncated=err.dropped > 0,
            report=rep.value(),
            wall_time_ms=wall_ms,
            cpu_time_ms=counters.cpu_ns() // 1_000_000,
            memory_bytes=counters.peak_memory(),
            limits=limits,
        )
        if killed:
            return timed_out(outcome, killed)
        try:
            if broken:
                raise JailBroken(broken)
            report = parse_report(answer, "the zygote's control socket", error_is_fault=True) if answer else None
        except JailBroken as exc:
            self.dirty = "jail broken"
            return jail_broken(outcome, str(exc))
        if oom_kills:
            self.dirty = "OOM kill"
        if report is None:
            self.dirty = self.dirty or "zygote died"
            if oom_kills:
                return oom_killed(outcome)
            raise SandboxFault(f"warm jail ended without a report: {self._diag()}")
        if report.get("dirty"):
            self.dirty = ", ".join(report["dirty"])
        elif not self._only_expected(counters.pids(), report.get("judge_pid")):
            self.dirty = "unexpected processes in the jail's cgroup"
        classify_end(outcome, report, oom_kills)
        if outcome.status == Status.TIMEOUT:
            self.dirty = self.dirty or "timeout (CPU rlimit)"
        return outcome

    def _answer(self) -> tuple[bytes, str]:
        """The zygote's one answer, read into a bounded buffer, and why the
        jail is broken if it is: an answer too long, or a second one queued
        behind it (the zygote sends neither)."""
        try:
            msg, _anc, flags, _addr = self.ctrl.recvmsg(STATUS_CAP)
        except OSError:
            return b"", ""
        if flags & socket.MSG_TRUNC:
            return b"", f"more than {STATUS_CAP} bytes in one message on the zygote's control socket"
        try:
            more = self.ctrl.recv(1, socket.MSG_DONTWAIT)
        except OSError:  # BlockingIOError: nothing more, as it should be
            more = b""
        if more:
            return b"", "more than one answer on the zygote's control socket"
        return msg, ""

    def _only_expected(self, pids: list[int], judge_pid: int | None) -> bool:
        """Whether the jail holds only the zygote and, if it reported one, its
        warm judge process (`judge_pid` is that process's pid in the jail).
        A pid that no longer exists is none of these: a list read as a
        process ends can still hold it."""
        others = [pid for pid in pids if pid != self.zygote_pid and _exists(pid)]
        if not others:
            return True
        if judge_pid is None or len(others) != 1:
            return False
        if self._judge != (judge_pid, others[0]):
            if _pid_in_jail(others[0]) != judge_pid:
                return False
            self._judge = (judge_pid, others[0])
            if self._judge_schedstat >= 0:
                os.close(self._judge_schedstat)
            try:
                self._judge_schedstat = os.open(f"/proc/{others[0]}/schedstat", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                self._judge_schedstat = -1
        return True

    def _runqueue_wait_s(self, zygote_base_ns: int) -> float:
        """Time this check sat runnable without a CPU: the zygote's since the
        check began (it forks the check, then waits), plus the longest of the
        check's own processes. A failed read raises: the clock credits nothing."""
        return (runqueue_wait_s(self.counters.pids(), serial=self.zygote_pid, before=self._judge_wait_base)
                - zygote_base_ns / 1e9)


def _wait_ns(schedstat_fd: int) -> int:
    """The run-queue wait an open /proc/PID/schedstat gives (0 if unreadable:
    the process ended)."""
    try:
        return int(os.pread(schedstat_fd, 256, 0).split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass
    return True


def _pid_in_jail(host_pid: int) -> int:
    """A process's pid in the jail's pid namespace (the last of its NSpid), or 0."""
    try:
        with open(f"/proc/{host_pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return 0


class _Retry(Exception):
    """The jail cannot take this check (it never started in it): use a new jail."""


def count_recycle(recycled: dict[str, int], reason: str) -> None:
    """Count a recycle under its reason's kind (what precedes a ':' or ' (' detail),
    the label the metrics and tests use."""
    kind = reason.split(":")[0].split(" (")[0]
    recycled[kind] = recycled.get(kind, 0) + 1


class WarmSlot:
    """One concurrency slot on the warm path: at most one live jail, one tenant
    (and for warm runs, one artifact)."""

    def __init__(self, sup: Supervisor, slot, outside_uid: int, max_tasks: int, max_checks: int,
                 default_limits: Limits, cgroup: str = "warm") -> None:
        self.sup = sup
        self.slot = slot
        self.cgroup = cgroup  # its jail's cgroup's name in the slot's (a slot may hold two warm slots)
        self.uid = outside_uid
        self.max_tasks = max_tasks
        self.max_checks = max(1, max_checks)
        self.default_limits = default_limits
        self.jail: WarmJail | None = None
        self.cg = None  # the jail's cgroup, nested in the slot's
        self.started = 0  # jails started, for tests and metrics
        self.recycled: dict[str, int] = {}
        # Warm run jails replaced by another build's: their normal end, not a recycle
        # (the recycle metric and its alert count anomalies and tenant changes).
        self.switched = 0

    def prewarm(self, tenant: str = "") -> None:
        """Have a jail ready for `tenant`, so that the next check does not wait for one."""
        if self.jail is None:
            self.jail = self._new(tenant, self.default_limits.memory_bytes)

    def _new(self, tenant: str, memory_bytes: int, artifact: Artifact | None = None) -> WarmJail:
        if self.cg is None:
            # The slot's own cgroups stay empty and unlimited; the jail lives
            # in a nested cgroup that carries each check's limits. (Moving a
            # process into a v1 memory cgroup costs ~11 ms: once per jail.)
            self.slot.unlimit()
            self.cg = self.slot.child(self.cgroup)
        self.started += 1
        return WarmJail(self.sup, self.cg, self.uid, tenant, self.max_tasks, memory_bytes, artifact)

    def _recycle(self, reason: str) -> None:
        if self.jail is not None:
            count_recycle(self.recycled, reason)
            log.debug("recycling warm jail (%s) after %d checks", reason, self.jail.checks)
            self.jail.close()
            self.jail = None

    def run(self, tenant: str, source: bytes, stdin: bytes, limits: Limits, files: Files = (),
            artifact: Artifact | None = None) -> Outcome:
        """Run a Python check, or with `artifact` one run of it (`source`: its `ExecPlan.payload()`)."""
        for attempt in range(2):
            if self.jail is not None and self.jail.tenant != tenant:
                self._recycle("other tenant")
            elif self.jail is not None and self.jail.artifact != artifact:
                self.switched += 1
                self.jail.close()
                self.jail = None
            if self.jail is None:
                self.jail = self._new(tenant, limits.memory_bytes, artifact)
            try:
                return self.jail.run(source, stdin, limits, files)
            except _Retry:
                self._recycle(self.jail.dirty or "not ready")
                continue
            except BaseException:
                self._recycle(self.jail.dirty or "sandbox error")
                raise
            finally:
                if self.jail is not None and (self.jail.dirty or self.jail.checks >= self.max_checks):
                    self._recycle(self.jail.dirty or "max checks")
        raise SandboxFault("no warm jail could take the check")

    def release_idle(self) -> None:
        """Close the jail while the slot has no work (a run jail gives back its
        build's pin); the next check starts one, as after a recycle."""
        if self.jail is not None:
            self.jail.close()
            self.jail = None

    def close(self) -> None:
        self.release_idle()
        if self.cg is not None:
            self.cg.remove()
            self.cg = None
