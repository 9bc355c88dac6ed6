"""Compile, then run: programs in languages other than Python.

A program's directory (its source and the request's files) is made on the
host, private to the server. A compiled language's compiler runs in a jail
of its own, under the compile limits, with that directory read-write at
/build; the artifact then runs in a fresh jail under the check's limits,
the directory read-only (but not noexec) at /build, the files copied into
its /tmp. A compile that fails or hits a limit is COMPILE_ERROR, and the
program never runs. Interpreted languages (js, bash) skip the compile.

Identical compiles (tenant, language, toolchain version, source, files) are done
once: finished directories are kept in a bounded LRU on disk
(`BuildCache`), made read-only and owned by root before any run sees them.
A request for a key whose compile is under way waits for it (bounded by its
compile wall time) rather than compiling beside it. The cache is per server
process: with --processes N, each process compiles a given program once.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from sandcheck_api.status import Status

from ..limits import Limits
from .files import put_program
from .javac_service import CompileSlot
from .outcome import CompileInfo, Outcome, SandboxFault
from .supervisor import ExecPlan, Supervisor
from .toolchains import Language
from .warm import Artifact, JailNotStarted, WarmSlot

log = logging.getLogger("sandcheck.server")

# A compile may leave at most this much in its directory (the artifact and
# what the compiler writes beside it); more is a compile error.
MAX_BUILD_BYTES = 256 * 1024 * 1024

# A failed compile on a filesystem with less than this free may have failed
# for want of space (the linker's ENOSPC reads like any other error): that is
# the host's fault, or another compile's, never the program's, so it is a
# SANDBOX_ERROR and is not cached.
MIN_BUILD_FREE_BYTES = 32 * 1024 * 1024

# How long past its own compile wall time a request waits for an identical
# compile under way before it compiles itself.
WAIT_MARGIN_S = 5.0


class Program(Protocol):
    """What a check in another language brings (the executor's Job)."""

    language: str
    tenant: str
    source: bytes
    stdin: bytes
    limits: Limits
    files: tuple[tuple[str, bytes], ...]
    compile_limits: Limits | None
    run_files: tuple[tuple[str, bytes], ...]
    args: tuple[str, ...]


def build_key(lang: Language, source: bytes, files: tuple[tuple[str, bytes], ...], tenant: str = "") -> str:
    """A build's cache key: its tenant's own (a cache hit, `compile.cached` and a
    build's time would otherwise tell one tenant what another compiled)."""
    h = hashlib.sha256()
    for part in (tenant.encode(), lang.name.encode(), lang.version.encode(), " ".join(lang.compile_argv("")).encode(),
                 source, *(x for name, data in sorted(files) for x in (name.encode(), data))):
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


@dataclass
class _Flight:
    """A compile under way for one key, and how it ended."""

    limits: Limits
    done: bool = False
    failed: CompileInfo | None = None  # its compile error (not a timeout), for those who waited with the same limits


@dataclass
class Lookup:
    """What `BuildCache.acquire` found: a kept build (pinned), a compile error an
    identical compile under way got, or neither: then the caller compiles, and
    when it `leads` it must `settle` the key afterwards."""

    build: tuple[str, CompileInfo] | None = None
    failed: CompileInfo | None = None
    leads: bool = False


# A kept build's regular files: (path within it, size, mtime in ns).
Manifest = tuple[tuple[str, int, int], ...]


class BuildCache:
    """Finished build directories by key, LRU, at most `max_bytes` on disk.

    A directory in use by a run is pinned and never evicted under it. One
    compile per key is under way at a time in this process; others wait.
    Failed compiles are not kept: only requests that waited share them."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.root.mkdir(mode=0o711, parents=True, exist_ok=True)
        # key -> (directory, size, compile, what it held); directories are named at random, not by their content.
        self._entries: OrderedDict[str, tuple[str, int, CompileInfo, Manifest]] = OrderedDict()
        self._pins: dict[str, int] = {}
        self._bytes = 0
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._flights: dict[str, _Flight] = {}
        self.hits = 0
        self.misses = 0

    def acquire(self, key: str, limits: Limits | None = None) -> Lookup:
        """The build kept for `key`; when its compile is under way, wait for it
        up to `limits`' wall time plus a margin. Without `limits`, never wait."""
        with self._lock:
            flight = None
            deadline = time.monotonic() + (limits.wall_time_ms / 1000 + WAIT_MARGIN_S if limits else 0.0)
            while True:
                entry = self._entries.get(key)
                if entry is not None and not _intact(entry[0], entry[3]):
                    # Removed or changed on the host (a /tmp cleaner, an operator): run, it
                    # would fail as if the program had ("cannot run /build/main"). Compile again.
                    log.warning("a kept build changed on disk (%s); compiling it again", entry[0])
                    self._drop(key)
                    entry = None
                if entry is not None:
                    self.hits += 1
                    self._entries.move_to_end(key)
                    self._pins[key] = self._pins.get(key, 0) + 1
                    return Lookup(build=(entry[0], entry[2]))
                if flight is not None and flight.done:
                    if flight.failed is not None and flight.limits == limits:
                        self.hits += 1
                        return Lookup(failed=flight.failed)
                    break  # it died, kept nothing, or failed under other limits: compile here
                current = self._flights.get(key)
                if current is None:
                    if limits is None or self.max_bytes <= 0:
                        break
                    self.misses += 1
                    self._flights[key] = _Flight(limits)
                    return Lookup(leads=True)
                flight = current
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._settled.wait(left)
            self.misses += 1
            return Lookup()

    def settle(self, key: str, failed: CompileInfo | None) -> None:
        """End the compile under way for `key` (after `put` when it was kept), waking who waits."""
        with self._lock:
            flight = self._flights.pop(key)
            flight.done, flight.failed = True, failed
            self._settled.notify_all()

    def put(self, key: str, directory: str, manifest: Manifest, info: CompileInfo) -> tuple[str, bool]:
        """Keep `directory`, sealed with `manifest`, under `key` (pinned); (its path, whether it is kept)."""
        size = _size(manifest)
        with self._lock:
            if key in self._entries or self.max_bytes <= 0 or size > self.max_bytes // 4:
                return directory, False  # another slot kept the same build first, or too big to keep
            kept = os.path.join(self.root, os.path.basename(directory))
            os.rename(directory, kept)
            self._entries[key] = (kept, size, info, manifest)
            self._bytes += size
            self._pins[key] = self._pins.get(key, 0) + 1
            self._evict()
            return kept, True

    def hold(self, key: str) -> None:
        """Pin `key`'s build once more (a warm run jail binds its directory for
        its life); the caller already holds a pin on it, so it is there."""
        with self._lock:
            if key not in self._entries:
                raise KeyError(f"no kept build {key}")
            self._pins[key] += 1

    def release(self, key: str) -> None:
        with self._lock:
            self._pins[key] -= 1
            if not self._pins[key]:
                del self._pins[key]
            self._evict()

    def _evict(self) -> None:
        """Down to `max_bytes`, and to keep 2 x MIN_BUILD_FREE_BYTES free on the
        filesystem (one smaller than the cache, as a pod's emptyDir can be, would
        otherwise fill up and fail the compiles), least recently used first."""
        for key in list(self._entries):
            if self._bytes <= self.max_bytes and _free_bytes(str(self.root)) >= 2 * MIN_BUILD_FREE_BYTES:
                return
            if key in self._pins:
                continue
            self._drop(key)

    def _drop(self, key: str) -> None:
        directory, size, _, _ = self._entries.pop(key)
        self._bytes -= size
        shutil.rmtree(directory, ignore_errors=True)


def _size(manifest: Manifest) -> int:
    return sum(size for _, size, _ in manifest)


def _intact(directory: str, manifest: Manifest) -> bool:
    """Does `directory` still hold every file of `manifest`, unchanged? (Only root
    can change them: a kept build is root's and read-only.)"""
    try:
        for rel, size, mtime_ns in manifest:
            st = os.lstat(os.path.join(directory, rel))
            if st.st_size != size or st.st_mtime_ns != mtime_ns:
                return False
    except OSError:
        return False
    return bool(manifest) or os.path.isdir(directory)


def _seal(directory: str) -> Manifest:
    """Make a compile's directory root's and read-only (no set-id bits, symlinks left
    as they are, never followed); return what it holds, to tell later whether it
    still does (chmod and chown leave sizes and mtimes). Raises OSError when too big."""
    files: list[tuple[str, int, int]] = []
    total = 0
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            os.lchown(path, 0, 0)
            if stat.S_ISLNK(st.st_mode):
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
                files.append((os.path.relpath(path, directory), st.st_size, st.st_mtime_ns))
                os.chmod(path, 0o755 if st.st_mode & 0o100 else 0o644)
            elif stat.S_ISDIR(st.st_mode):
                os.chmod(path, 0o755)
            else:
                os.unlink(path)  # fifos, sockets: nothing a run needs
        if total > MAX_BUILD_BYTES:
            raise OSError(f"the compile left more than {MAX_BUILD_BYTES // (1024 * 1024)} MiB")
    os.chown(directory, 0, 0)
    os.chmod(directory, 0o755)
    return tuple(files)


def _compile_info(out: Outcome, cached: bool = False) -> CompileInfo:
    return CompileInfo(status=out.status, timeout_kind=out.timeout_kind, exit_code=out.exit_code, stdout=out.stdout,
                       stderr=out.stderr, wall_time_ms=out.wall_time_ms, cpu_time_ms=out.cpu_time_ms,
                       memory_bytes=out.memory_bytes, cached=cached)


class Builds:
    """Runs programs of the installed `languages`: compile (cached), then run, each in a fresh jail."""

    def __init__(self, sup: Supervisor, languages: dict[str, Language], configs: dict[tuple[str, str], str],
                 workdir: Path, cache: BuildCache, compile_limits: Limits, max_tasks: int) -> None:
        self.sup = sup
        self.languages = languages
        self.configs = configs  # (language, "compile" | "run") -> nsjail config path
        self.scratch = workdir
        self.scratch.mkdir(mode=0o711, parents=True, exist_ok=True)
        self.cache = cache
        self.compile_limits = compile_limits
        self.max_tasks = max_tasks

    def _fresh_dir(self, prog: Program, lang: Language, src: str, owner: int) -> str:
        d = tempfile.mkdtemp(dir=self.scratch)
        put_program(d, prog.files, src, prog.source)
        # The compile's jail (uid `owner` outside) writes its artifact here; a run only reads.
        os.chown(d, owner if lang.compiled else 0, 0)
        os.chmod(d, 0o755)
        return d

    def run(self, slot, outside_uid: int, prog: Program, compiler: CompileSlot | None = None,
            warm: WarmSlot | None = None) -> Outcome:
        """Compile (in `compiler`, the slot's warm compile service, when it serves the language), then run:
        in a fresh jail, or with `warm` in that slot's warm jail for the artifact when its build was kept."""
        lang = self.languages[prog.language]
        src = lang.toolchain.file_name(prog.source)
        key = build_key(lang, prog.source, prog.files, prog.tenant) if lang.compiled else ""
        limits = prog.compile_limits or self.compile_limits
        found = self.cache.acquire(key, limits) if key else Lookup()
        if found.failed is not None:
            return _not_compiled(prog, replace(found.failed, cached=True))
        if found.build is not None:
            directory, info = found.build
            info, kept = replace(info, cached=True), True
        else:
            directory, info, kept = "", None, False
        try:
            if found.build is None:
                service = compiler if compiler is not None and compiler.serves(lang) else None
                directory, info, kept = self._compile(slot, outside_uid, prog, lang, src, key, limits, found.leads,
                                                      service)
                if info is not None and info.status != Status.OK:
                    return _not_compiled(prog, info)
            plan = ExecPlan(self.configs[(lang.name, "run")],
                            (*lang.run_argv(src, prog.limits.memory_bytes), *prog.args), directory)
            # The files are beside the source in /build, and put in /tmp, the run's working
            # directory, with the run's own files.
            files = tuple(sorted(prog.files + prog.run_files))
            outcome = None
            if warm is not None and found.build is not None:
                # A kept build run again (a stdio problem's tests, repeated samples) runs in a
                # warm jail of its own, which holds the cache's pin on `directory` while it
                # lives. A first run stays cold: most programs run once, a warm jail costs what
                # a cold one does to start, and an idle one would keep its build pinned.
                artifact = Artifact(lang.name, key, plan.config_path, directory, self.cache)
                try:
                    outcome = warm.run(prog.tenant, plan.payload(), prog.stdin, prog.limits, files, artifact)
                except JailNotStarted as exc:  # nothing ran: the run jail the program would have had
                    log.warning("a warm run jail for %s did not start, running cold: %s", lang.name, exc)
            if outcome is None:
                outcome = self.sup.run(slot, outside_uid, b"", prog.stdin, prog.limits, self.max_tasks, files, plan)
            outcome.compile = info
            return outcome
        finally:
            if kept:
                self.cache.release(key)
            elif directory:
                shutil.rmtree(directory, ignore_errors=True)

    def _compile(self, slot, outside_uid: int, prog: Program, lang: Language, src: str, key: str, limits: Limits,
                 leads: bool, compiler: CompileSlot | None = None) -> tuple[str, CompileInfo | None, bool]:
        """A fresh directory with `prog` built in it (kept in the cache when it can be):
        (directory, compile info or None when not compiled, kept). When it `leads`,
        settles `key` for those waiting, however it ends."""
        failed = None
        directory = ""
        try:
            if compiler is not None:
                # The warm service compiles in its own directory; what it left is copied here.
                directory = tempfile.mkdtemp(dir=self.scratch)
                out = compiler.compile(prog.tenant, lang, prog.files, src, prog.source, limits, directory,
                                       MAX_BUILD_BYTES)
            else:
                directory = self._fresh_dir(prog, lang, src, outside_uid)
                if not lang.compiled:
                    return directory, None, False
                plan = ExecPlan(self.configs[(lang.name, "compile")], tuple(lang.compile_argv(src, prog.source)),
                                directory, writable=True)
                out = self.sup.run(slot, outside_uid, b"", b"", limits, self.max_tasks, plan=plan)
            info = _compile_info(out)
            manifest: Manifest = ()
            if out.status == Status.OK:
                try:
                    manifest = _seal(directory)
                except OSError as exc:
                    info.status, info.stderr = Status.OUTPUT_LIMIT, info.stderr + f"\n{exc}\n".encode()
            if info.status != Status.OK:
                short = _short_of_space(directory)
                if short:
                    raise SandboxFault(short)
                # A timeout depends on the host's load (as in the result cache): those
                # who waited compile themselves; other compile errors they share.
                failed = info if info.status not in (Status.TIMEOUT, Status.SANDBOX_ERROR) else None
                return directory, info, False
            kept_dir, kept = self.cache.put(key, directory, manifest, info)
            return kept_dir, info, kept
        except BaseException:
            if directory:
                shutil.rmtree(directory, ignore_errors=True)
            raise
        finally:
            if leads:
                self.cache.settle(key, failed)


def _free_bytes(path: str) -> int:
    """Bytes free to the server on `path`'s filesystem (unknown: plenty)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return 1 << 62
    return st.f_bavail * st.f_frsize


def _short_of_space(directory: str) -> str:
    """Why a compile that failed in `directory` says nothing of its program: the
    filesystem is (nearly) full. "" when it has room."""
    free = _free_bytes(directory)
    if free >= MIN_BUILD_FREE_BYTES:
        return ""
    return (f"the compile failed with {free // 1024} KiB free where builds are made ({os.path.dirname(directory)}), "
            f"so it may have failed for want of space: give the server's TMPDIR more room, or a smaller "
            f"build_cache_mb; not run")


def _not_compiled(prog: Program, info: CompileInfo) -> Outcome:
    return Outcome(status=Status.COMPILE_ERROR, exit_code=info.exit_code, limits=prog.limits, compile=info,
                   error="the program did not compile")
