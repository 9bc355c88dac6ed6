"""Run one program in a fresh nsjail and report how it ended.

The supervisor starts nsjail, waits for the jail's init to report ready,
moves the init into the slot's cgroups, lets it start the program, and then
enforces the CPU and wall limits in milliseconds (polling the cgroup's CPU
counter), caps the output it keeps, and classifies the end from facts it
owns: which limit it fired, the cgroup's OOM counter, the init's report.
"""

from __future__ import annotations

import json
import math
import os
import selectors
import subprocess
import time
from dataclasses import dataclass

from ..limits import Limits
from .channels import Capped, reader, serve_channels, writer
from .files import Files, pack_files
from .limit_clock import LimitClock, runqueue_wait_s, schedstat_wait_ns
from .nsjail_config import BUILD_DIR, WORKDIR, jail_args
from .outcome import (REPORT_CAP, STATUS_CAP, JailBroken, Outcome, SandboxFault, classify_end, jail_broken,
                      oom_killed, parse_report, timed_out)
from .process import (PDEATHSIG_PREFIX, child_of, drain, jail_script, kill, read_with_timeout, reap, start_failure,
                      without_ldso_noise, write_all)
from .runtime import Runtime

INIT_SOURCE = jail_script("init.py")
_READY_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class ExecPlan:
    """A program that is not Python source: the jail's init execs `argv`
    (a compiler, an artifact, an interpreter) instead of running source,
    in a jail of the language's own config, with the host's `build_dir` at
    /build: read-write for a compile (its working directory), else
    read-only and exec-allowed."""

    config_path: str
    argv: tuple[str, ...]
    build_dir: str
    writable: bool = False

    def payload(self) -> bytes:
        return json.dumps({"argv": list(self.argv)}).encode()

    def jail_args(self) -> list[str]:
        # Bind mounts from nsjail's command line are not noexec: the artifact runs from there.
        return ["--bindmount" if self.writable else "--bindmount_ro", f"{self.build_dir}:{BUILD_DIR}",
                "--cwd", BUILD_DIR if self.writable else WORKDIR]


class Supervisor:
    """Launches jails for one server: nsjail binary, config file, runtime, policy."""

    def __init__(self, nsjail: str, config_path: str, runtime: Runtime, seccomp_bpf: bytes, ncpu: int) -> None:
        self.nsjail = nsjail
        self.config_path = config_path
        self.runtime = runtime
        self.seccomp_bpf = seccomp_bpf
        self.ncpu = max(1, ncpu)

    def run(self, slot, outside_uid: int, source: bytes, stdin: bytes, limits: Limits, max_tasks: int,
            files: Files = (), plan: ExecPlan | None = None) -> Outcome:
        """Run Python `source`, or with `plan` the program it names (`source` unused)."""
        slot.prepare(limits.memory_bytes, max_tasks)
        fds: list[int] = []
        proc = None
        try:
            payload = os.memfd_create("sandcheck-payload", os.MFD_CLOEXEC)
            fds.append(payload)
            packed = pack_files(files)
            os.write(payload, len(self.seccomp_bpf).to_bytes(4, "little") + self.seccomp_bpf)
            write_all(payload, len(packed).to_bytes(4, "little") + packed + (plan.payload() if plan else source))
            os.lseek(payload, 0, os.SEEK_SET)
            go_r, go_w = os.pipe()
            status_r, status_w = os.pipe()
            report_r, report_w = os.pipe()
            log_r, log_w = os.pipe()
            fds += [go_r, go_w, status_r, status_w, report_r, report_w, log_r, log_w]
            child_fds = [payload, go_r, status_w, report_w]
            argv = [
                # nsjail dies with the server thread that started it.
                *PDEATHSIG_PREFIX,
                self.nsjail, "--config", plan.config_path if plan else self.config_path,
                *jail_args(outside_uid, log_w, child_fds, limits), *(plan.jail_args() if plan else ()),
                "--", *self.runtime.argv(INIT_SOURCE, *(str(fd) for fd in child_fds), *(["exec"] if plan else [])),
            ]
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(*child_fds, log_w),
                env={},
                start_new_session=True,
            )
            for fd in (payload, go_r, status_w, report_w, log_w):
                os.close(fd)
                fds.remove(fd)
            return self._supervise(proc, slot, go_w, status_r, report_r, log_r, stdin, limits)
        finally:
            for fd in fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if proc is not None:
                reap(proc)
            slot.kill_all()

    def _supervise(self, proc, slot, go_w, status_r, report_r, log_r, stdin, limits) -> Outcome:
        status_buf = bytearray()
        log = Capped(65536)
        # 1. Wait for the init to be ready, then put it in the cgroups.
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while b"R" not in status_buf[:1]:
            if time.monotonic() > deadline:
                raise SandboxFault("jail did not start in time")
            chunk = read_with_timeout(status_r, deadline - time.monotonic())
            if chunk is None:
                continue
            if not chunk:
                proc.wait(timeout=5)
                log.add(drain(log_r))
                err = drain(proc.stderr) if proc.stderr else b""
                raise SandboxFault("jail failed to start: " + start_failure(log.value() + err + bytes(status_buf)))
            status_buf += chunk
            if len(status_buf) > STATUS_CAP:  # only the init writes here yet
                raise SandboxFault("jail init wrote more than a status")
        status = Capped(STATUS_CAP)
        status.add(bytes(status_buf[1:]))
        init_pid = child_of(proc.pid)
        slot.attach(init_pid)
        init_waited_s = schedstat_wait_ns(init_pid) / 1e9  # starting up: before the clock
        os.write(go_w, b"G")  # closed by run(), which owns every fd it made
        start = time.monotonic()

        # 2. Run: collect output, enforce limits.
        out, err, rep = Capped(limits.output_bytes), Capped(limits.output_bytes), Capped(REPORT_CAP)
        broken = ""

        def status_overflow() -> None:
            nonlocal broken
            broken = f"more than {STATUS_CAP} bytes on the init's status pipe"
            kill(init_pid)

        channels = {fd: (selectors.EVENT_READ, reader(fd, sink)) for fd, sink in
                    ((proc.stdout.fileno(), out), (proc.stderr.fileno(), err), (report_r, rep), (log_r, log))}
        channels[status_r] = (selectors.EVENT_READ, reader(status_r, status, status_overflow))
        if stdin:
            channels[proc.stdin.fileno()] = (selectors.EVENT_WRITE, writer(proc.stdin.fileno(), stdin, proc.stdin.close))
        clock = LimitClock(limits, start, self.ncpu, slot.cpu_ns,
                           lambda: runqueue_wait_s(slot.pids(), serial=init_pid) - init_waited_s)
        killed = serve_channels(channels, clock, lambda _kind: kill(init_pid))
        # Rounded up: a program that ran took time, however little.
        wall_ms = math.ceil((time.monotonic() - start) * 1000)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        slot.kill_all()
        usage = slot.usage()
        outcome = Outcome(
            status="",
            stdout=out.value(),
            stderr=without_ldso_noise(err.value()),
            stdout_truncated=out.dropped > 0,
            stderr_truncated=err.dropped > 0,
            report=rep.value(),
            wall_time_ms=wall_ms,
            cpu_time_ms=usage.cpu_ns // 1_000_000,
            memory_bytes=usage.peak_memory_bytes,
            limits=limits,
        )
        if broken:
            return jail_broken(outcome, broken)
        try:
            # The init's one report line after b"R": none if it died first.
            init_report = parse_report(status.value(), "the init's status pipe", newline=True) if status.size else None
        except JailBroken as exc:
            return jail_broken(outcome, str(exc))
        if killed:
            return timed_out(outcome, killed)
        if init_report is None:
            if usage.oom_kills:
                return oom_killed(outcome)
            raise SandboxFault(
                f"jail ended without a report (nsjail exit {proc.returncode}): "
                + without_ldso_noise(log.value()).decode(errors="replace")[-2000:]
            )
        return classify_end(outcome, init_report, usage.oom_kills)
