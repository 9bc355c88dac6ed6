"""A warm javac per slot: one long-lived compile jail that compiles Java requests one after another.

A cold javac spends most of a compile starting its JVM and running the
compiler interpreted (0.5 s of CPU for a MultiPL-E program here); kept in
one JVM it compiles the same programs in 30-40 ms each. `CompileSlot` keeps
at most one such service per executor slot (`JavacService.java`, our own
program, built once per JDK into the toolchain cache), in a jail made as a
cold compile's is: the language's compile config (plus the service's own
classes, read-only), seccomp, the slot's uid, a cgroup of its own that
carries the compile's memory and task limits. Its /build is a work
directory of the slot's, where each compile's source and files are put as
a cold compile's are, and from where the server copies the result into a
directory of its own (sealed by builds.py before any run sees it).

Rules kept:
- one compile at a time; the slot's counters are reset before each, so its
  CPU time and peak memory are that compile's (the JVM's JIT threads
  included), and its CPU and wall limits are enforced as a cold compile's:
  over them, TIMEOUT, and the service is killed;
- javac runs with -proc:none (refused otherwise, here and in the service):
  no annotation processor, code a request could bring, runs in the JVM;
- tenants never share a service: a compile from another tenant, or under
  another memory limit (the JVM's heap is sized from it), starts a new one;
- a service is recycled after `max_compiles` compiles and after anything
  unexpected: a timeout, its death, an OOM kill, an answer that is not one
  well-formed line;
- a service that cannot start is the compile's SANDBOX_ERROR: the server
  never falls back to cold compiles on its own (`javac_service = false`
  asks for them).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import os
import selectors
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sandcheck_api.status import Status

from ..limits import Limits
from .built_once import build_once
from .channels import Capped
from .files import pack_files, put_program
from .limit_clock import LimitClock, runqueue_wait_s
from .nsjail_config import BUILD_DIR, jail_args
from .outcome import STATUS_CAP, Outcome, SandboxFault, classify_end, jail_broken, oom_killed, parse_report, timed_out
from .process import PDEATHSIG_PREFIX, child_of, jail_script, kill, reap, without_ldso_noise, write_all
from .shared_dir import TooMuchLeft, copy_tree, empty
from .supervisor import Supervisor
from .warm import count_recycle
from .toolchains import Language

log = logging.getLogger("sandcheck.server")

SOURCE = Path(__file__).with_name("JavacService.java")
NO_PROCESSORS = "-proc:none"
# The service's first compile, before it says it is ready: it loads javac's classes and proves it works.
_WARM_UP = "class Warmup { java.util.List<String> f() { return new java.util.ArrayList<>(); } }\n"
# JVM start and the warm-up compile: about 0.5 s of CPU, far longer on a loaded host.
_START_TIMEOUT_S = 120.0
# What the JVM needs beyond its heap (code, metaspace, threads): the heap gets the rest of the memory limit.
_NON_HEAP_BYTES = 256 * 1024 * 1024
_MIN_HEAP_BYTES = 64 * 1024 * 1024
# The JVM's exit status when its heap is exhausted (-XX:+ExitOnOutOfMemoryError).
_JVM_OOM_EXIT = 3


class ServiceError(Exception):
    """The service cannot be built here; the message says why."""


def ensure(cache_root: str, javac: str, jdk_version: str) -> str:
    """The directory of the service's classes for `javac`'s JDK, built once."""
    h = hashlib.sha256(SOURCE.read_bytes() + _WARM_UP.encode())
    for path in (javac, os.path.realpath(javac)):
        st = os.stat(path)
        h.update(f"{path} {st.st_size} {st.st_mtime_ns}\n".encode())
    root = Path(cache_root) / f"javac-service-{jdk_version}-{h.hexdigest()[:12]}"

    def build(work: Path) -> None:
        done = subprocess.run([javac, "-proc:none", "-d", str(work), str(SOURCE)], capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", "HOME": str(work)}, timeout=600)
        if done.returncode != 0 or not (work / "JavacService.class").is_file():
            message = (done.stdout + done.stderr).strip()[-1000:]
            raise ServiceError(f"the javac compile service did not build: {message}")
        (work / "Warmup.java").write_text(_WARM_UP)

    build_once(root, build)
    return str(root)


@dataclass(frozen=True)
class ServiceCommand:
    """How the service's JVM starts: its argv up to the class, and the directory of its classes."""

    jvm: tuple[str, ...]  # the JVM's argv up to the service's class
    classes: str  # the service's directory (bound read-only in its jail)

    def argv(self, javac_args: list[str], memory_bytes: int) -> list[str]:
        """The JVM's argv: heap sized from `memory_bytes`, the warm-up compile with
        the compile's own options (its output in the jail's /tmp)."""
        heap = max(_MIN_HEAP_BYTES, memory_bytes - _NON_HEAP_BYTES) // (1024 * 1024)
        options = javac_args[:-1]
        if "-d" in options:
            options[options.index("-d") + 1] = "/tmp"
        return [*self.jvm, f"-Xmx{heap}m", "-XX:+ExitOnOutOfMemoryError", "-cp", self.classes, "JavacService",
                *options, f"{self.classes}/Warmup.java"]


def command(lang: Language, classes: str) -> ServiceCommand:
    """The service's JVM for `lang`: the JVM beside its javac, with the flags javac's -J options give."""
    javac = lang.compile_argv("Main.java")
    flags = tuple(a[2:] for a in javac[1:] if a.startswith("-J") and not a.startswith("-J-XX:SharedArchiveFile="))
    return ServiceCommand((os.path.join(os.path.dirname(javac[0]), "java"), *flags, "-XX:-UsePerfData",
                          # The JVM's own messages (an exhausted heap's among them) on stderr, never among the answers.
                          "-XX:+DisplayVMOutputToStderr"), classes)


def javac_args(lang: Language, src: str, source: bytes) -> list[str]:
    """javac's arguments for one compile, as the cold compile passes them (its -J options are the JVM's)."""
    args = [a for a in lang.compile_argv(src, source)[1:] if not a.startswith("-J")]
    if NO_PROCESSORS not in args:
        raise SandboxFault(f"the javac compile service compiles only with {NO_PROCESSORS}")
    if any(c in a for a in args for c in "\t\n\r"):
        raise SandboxFault("a javac argument holds a tab or a line break")
    return args


def _drain(fd: int, cap: int) -> bytes:
    """What a non-blocking `fd` holds now, up to `cap` bytes."""
    got = b""
    while len(got) < cap:
        try:
            chunk = os.read(fd, cap - len(got))
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        got += chunk
    return got


class _Gone(Exception):
    """The service was dead before this compile reached it: start another and retry."""


class JavacService:
    """One JVM running JavacService.java in a compile jail, for one tenant and one memory limit."""

    def __init__(self, sup: Supervisor, config_path: str, cg, outside_uid: int, workdir: str, tenant: str,
                 memory_bytes: int, max_tasks: int, argv: list[str]) -> None:
        self.tenant = tenant
        self.memory_bytes = memory_bytes
        self.compiles = 0
        self.dirty = ""  # why it must not compile again
        self.cg = cg
        self.workdir = workdir
        self._sup = sup
        self.proc: subprocess.Popen | None = None
        self.init_pid = 0
        self.counters = None
        self._status_r = -1
        self._log_r = -1
        self._start(config_path, outside_uid, max_tasks, argv)

    def _start(self, config_path: str, outside_uid: int, max_tasks: int, argv: list[str]) -> None:
        sup = self._sup
        self.cg.prepare(self.memory_bytes, max_tasks)
        empty(self.workdir)
        fds: list[int] = []
        try:
            payload = os.memfd_create("sandcheck-payload", os.MFD_CLOEXEC)
            fds.append(payload)
            write_all(payload, len(sup.seccomp_bpf).to_bytes(4, "little") + sup.seccomp_bpf)
            packed = pack_files(())
            write_all(payload, len(packed).to_bytes(4, "little") + packed + json.dumps({"argv": argv}).encode())
            os.lseek(payload, 0, os.SEEK_SET)
            go_r, go_w = os.pipe()
            status_r, status_w = os.pipe()
            report_r, report_w = os.pipe()
            log_r, log_w = os.pipe()
            fds += [go_r, go_w, status_w, report_r, report_w, log_w]
            self._status_r, self._log_r = status_r, log_r
            child_fds = [payload, go_r, status_w, report_w]
            self.proc = subprocess.Popen(
                [*PDEATHSIG_PREFIX, sup.nsjail, "--config", config_path,
                 *jail_args(outside_uid, log_w, child_fds, limits=None),  # lives across compiles
                 "--bindmount", f"{self.workdir}:{BUILD_DIR}", "--cwd", BUILD_DIR,
                 "--", *sup.runtime.argv(jail_script("init.py"), *(str(fd) for fd in child_fds), "exec")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(*child_fds, log_w),
                env={}, start_new_session=True)
            for fd in (payload, go_r, status_w, report_w, log_w):
                os.close(fd)
                fds.remove(fd)
            os.close(report_r)  # the service writes nothing there
            fds.remove(report_r)
            os.set_blocking(self._log_r, False)
            for f in (self.proc.stdout, self.proc.stderr):
                os.set_blocking(f.fileno(), False)
            deadline = time.monotonic() + _START_TIMEOUT_S
            if self._read_until(self._status_r, b"R", deadline) != b"R":
                raise SandboxFault(f"the javac compile service's jail did not start: {self._diag()}")
            self.init_pid = child_of(self.proc.pid)
            self.cg.attach(self.init_pid)
            os.write(go_w, b"G")
            ready = self._read_until(self.proc.stdout.fileno(), b"\n", deadline)
            if ready != b"ready\n":
                raise SandboxFault(f"the javac compile service did not start: {self._diag()}")
            self.counters = self.cg.counters()
        except BaseException:
            self.close()
            raise
        finally:
            for fd in fds:
                os.close(fd)

    def _read_until(self, fd: int, end: bytes, deadline: float) -> bytes:
        """What `fd` gives up to and including `end` (at most a status's worth), or less at EOF or the deadline."""
        got = b""
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while not got.endswith(end) and len(got) < STATUS_CAP:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    break
                try:
                    chunk = os.read(fd, 1)
                except BlockingIOError:
                    continue
                if not chunk:
                    break
                got += chunk
        return got

    def _diag(self) -> str:
        parts = []
        for fd in (self.proc.stderr.fileno() if self.proc else -1, self._log_r):
            try:
                parts.append(os.read(fd, 65536)) if fd >= 0 else None
            except OSError:
                pass
        return without_ldso_noise(b"".join(parts)).decode(errors="replace").strip()[-2000:] or "no message"

    def close(self) -> None:
        if self.init_pid:
            kill(self.init_pid)
            self.init_pid = 0
        if self.proc is not None:
            reap(self.proc)
        self.cg.kill_all()
        for fd in (self._status_r, self._log_r):
            if fd >= 0:
                os.close(fd)
        self._status_r = self._log_r = -1
        if self.counters is not None:
            self.counters.close()
            self.counters = None

    # -- one compile --------------------------------------------------------
    def compile(self, args: list[str], limits: Limits) -> Outcome:
        """Compile in the work directory (already holding the program); how it ended."""
        self.counters.reset()
        oom_base = self.counters.oom_kills()
        request = "\t".join([str(limits.output_bytes), *args]).encode() + b"\n"
        try:
            write_all(self.proc.stdin.fileno(), request)
        except OSError as exc:
            self.dirty = f"gone: {exc}"
            raise _Gone() from None
        self.compiles += 1
        start = time.monotonic()
        wait_base = runqueue_wait_s(self.counters.pids())
        clock = LimitClock(limits, start, self._sup.ncpu, self.counters.cpu_ns,
                           lambda: runqueue_wait_s(self.counters.pids()) - wait_base)
        # Base64 of twice the cap, and the numbers: an answer longer than this is not the service's.
        answer, diag = Capped(3 * limits.output_bytes + 4096), Capped(65536)
        out_fd, err_fd = self.proc.stdout.fileno(), self.proc.stderr.fileno()
        killed, ended = "", False
        with selectors.DefaultSelector() as sel:
            sel.register(out_fd, selectors.EVENT_READ)
            sel.register(err_fd, selectors.EVENT_READ)
            while b"\n" not in answer.value() and not answer.dropped and not ended:
                now = time.monotonic()
                killed = clock.expired(now)
                if killed:
                    break
                for key, _ in sel.select(clock.next_poll(now)):
                    try:
                        chunk = os.read(key.fd, 65536)
                    except BlockingIOError:
                        continue
                    if key.fd == err_fd:
                        if not chunk:
                            sel.unregister(err_fd)
                        diag.add(chunk)
                    elif not chunk:
                        ended = True
                    else:
                        answer.add(chunk)
        wall_ms = math.ceil((time.monotonic() - start) * 1000)
        outcome = Outcome(status="", wall_time_ms=wall_ms, cpu_time_ms=self.counters.cpu_ns() // 1_000_000,
                          memory_bytes=self.counters.peak_memory(), limits=limits)
        if killed:
            self.dirty = f"timeout ({killed})"
            self.close()
            return timed_out(outcome, killed)
        if ended:
            return self._died(outcome, self.counters.oom_kills() - oom_base, diag.value())
        try:
            return self._answered(outcome, answer.value(), answer.dropped)
        except ValueError as exc:
            self.dirty = "broken answer"
            self.close()
            outcome = jail_broken(outcome, f"the javac compile service answered off its protocol ({exc})")
            outcome.stderr = f"{outcome.error}\n".encode()
            return outcome

    def _answered(self, outcome: Outcome, answer: bytes, dropped: int) -> Outcome:
        """The service's answer, which must be one line of exactly its JSON (ValueError if not)."""
        if dropped or not answer.endswith(b"\n") or answer.count(b"\n") != 1:
            raise ValueError("not one answer line from the javac compile service")
        value = json.loads(answer)
        keys = {"exit": int, "stdout": str, "stderr": str, "stdout_dropped": int, "stderr_dropped": int}
        if not isinstance(value, dict) or set(value) != set(keys) or \
                not all(type(value[k]) is t for k, t in keys.items()):
            raise ValueError("not an answer of the javac compile service")
        cap = outcome.limits.output_bytes
        outcome.stdout = base64.b64decode(value["stdout"], validate=True)
        outcome.stderr = base64.b64decode(value["stderr"], validate=True)
        if len(outcome.stdout) > cap or len(outcome.stderr) > cap or not 0 <= value["exit"] <= 255:
            raise ValueError("an answer of the javac compile service past its bounds")
        outcome.stdout_truncated, outcome.stderr_truncated = value["stdout_dropped"] > 0, value["stderr_dropped"] > 0
        # javac ended as a cold compile's would have: an exit status, no signal, no OOM kill.
        return classify_end(outcome, {"exit_code": value["exit"], "signal": 0}, oom_kills=0)

    def _died(self, outcome: Outcome, oom_kills: int, diag: bytes) -> Outcome:
        """The service ended during a compile: its memory (the cgroup's OOM killer, or the
        JVM's heap exhausted), else a fault of the service."""
        self.dirty = "died"
        report = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=10)
                diag += _drain(self.proc.stderr.fileno(), 65536)  # what it said last
                status = self._read_until(self._status_r, b"\n", time.monotonic() + 5)
                report = parse_report(status, "the init's status pipe", newline=True) if status else None
            except Exception:  # noqa: BLE001 - a report we cannot read is no report
                report = None
        self.close()
        if oom_kills or (report is not None and report.get("exit_code") == _JVM_OOM_EXIT
                         and b"java.lang.OutOfMemoryError" in diag):
            return oom_killed(outcome)
        raise SandboxFault(f"the javac compile service ended during a compile: "
                           f"{without_ldso_noise(diag).decode(errors='replace').strip()[-2000:] or report}")


class CompileSlot:
    """One executor slot's javac compile service: at most one live, for one tenant."""

    def __init__(self, sup: Supervisor, config_path: str, cg, outside_uid: int, workdir: str, command: ServiceCommand,
                 max_tasks: int, max_compiles: int) -> None:
        self.sup = sup
        self.config_path = config_path
        self.cg = cg
        self.uid = outside_uid
        self.workdir = workdir
        self.command = command
        self.max_tasks = max_tasks
        self.max_compiles = max(1, max_compiles)
        self.service: JavacService | None = None
        self.started = 0  # services started, for tests and metrics
        self.recycled: dict[str, int] = {}
        os.makedirs(workdir, mode=0o755, exist_ok=True)
        os.chown(workdir, outside_uid, 0)  # the compile writes its classes here, as into a cold compile's directory
        os.chmod(workdir, 0o755)

    def serves(self, lang: Language) -> bool:
        return lang.name == "java"

    def _recycle(self, reason: str) -> None:
        if self.service is not None:
            count_recycle(self.recycled, reason)
            log.debug("recycling the javac compile service (%s) after %d compiles", reason, self.service.compiles)
            self.service.close()
            self.service = None

    def compile(self, tenant: str, lang: Language, files: tuple[tuple[str, bytes], ...], src: str, source: bytes,
                limits: Limits, into: str, max_bytes: int) -> Outcome:
        """Compile `source` (file name `src`) with `files` beside it; copy what the compile
        left in its directory into `into`. SandboxFault when no service can take it."""
        args = javac_args(lang, src, source)
        for _attempt in range(2):
            if self.service is not None and self.service.tenant != tenant:
                self._recycle("other tenant")
            if self.service is not None and self.service.memory_bytes != limits.memory_bytes:
                self._recycle("other memory limit")
            if self.service is None:
                self.started += 1
                self.service = JavacService(self.sup, self.config_path, self.cg, self.uid, self.workdir, tenant,
                                            limits.memory_bytes, self.max_tasks,
                                            self.command.argv(args, limits.memory_bytes))
            try:
                empty(self.workdir)
                put_program(self.workdir, files, src, source)
                outcome = self.service.compile(args, limits)
                if outcome.status == Status.OK:
                    try:
                        copy_tree(self.workdir, into, max_bytes)
                    except TooMuchLeft as exc:
                        outcome.status, outcome.stderr = Status.OUTPUT_LIMIT, outcome.stderr + f"\n{exc}\n".encode()
                return outcome
            except _Gone:
                self._recycle(self.service.dirty)
                continue
            except BaseException:
                if self.service is not None:
                    self._recycle(self.service.dirty or "sandbox error")
                raise
            finally:
                if self.service is not None and (self.service.dirty or self.service.compiles >= self.max_compiles):
                    self._recycle(self.service.dirty or "max compiles")
                if os.path.isdir(self.workdir):
                    empty(self.workdir)
        raise SandboxFault("no javac compile service could take the compile")

    def release_idle(self) -> None:
        """Stop the service while the slot has no work: an idle JVM keeps ~190 MB."""
        self._recycle("idle")

    def close(self) -> None:
        if self.service is not None:
            self.service.close()
            self.service = None
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.cg.remove()


def work_dir(root: Path, index: int) -> str:
    return str(root / f"javac-{index}")

