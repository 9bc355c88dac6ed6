"""The gRPC service: validate requests, queue them, stream results back."""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import Future

import grpc
from sandcheck_api.limits import wall_backstop_ms
from sandcheck_api.status import Status, TimeoutKind
from sandcheck_api.v1 import sandbox_pb2 as pb
from sandcheck_api.v1 import sandbox_pb2_grpc as pb_grpc

from . import __version__, auth
from .logs import stream_end_reason
from .config import ServerConfig
from .dedup import WorkAvoider, cache_wanted
from .executor import Executor, Job, Overloaded
from .jail import toolchains
from .jail.files import JUDGE_FILE, compiler_state
from .jail.trusted_judges import HELD_TEXTS
from .jail.outcome import CompileInfo, Outcome
from .limits import Limits

log = logging.getLogger("sandcheck.server")

PYTHON_NAMES = ("python", "python3", "py")
_END = object()
_CHUNK_MAX = 256  # results per ResponseChunk
# How long a ResponseChunk waits for more results while more are running: at
# 2 ms a busy 2-CPU server sent 1.2 results a message, and gRPC's cost per
# message, paid on both ends, was most of the client's CPU per check.
_LINGER_S = 0.02


class InvalidRequest(ValueError):
    """The request is malformed; nothing ran."""


class NotHeld(InvalidRequest):
    """A held_files digest this server does not hold: nothing ran, and the client
    may send the text itself (a fleet of several versions behind one address)."""


# The server's edge: proto messages <-> server types, here and nowhere else.

def resolve_language(name: str, installed: Collection[str], unavailable: Mapping[str, str] | None = None) -> str:
    """The canonical name of a request's language, served here; else InvalidRequest,
    with the reason the server found at start (`unavailable`) when it has one."""
    if not name or name.lower() in PYTHON_NAMES:
        return "python"
    tc = toolchains.find(name)
    if tc is None:
        raise InvalidRequest(f"unknown language {name!r}; this server runs {', '.join(('python', *installed))}")
    if tc.name not in installed:
        if unavailable and tc.name in unavailable:
            raise InvalidRequest(f"language {tc.name} is not served here: {unavailable[tc.name]}")
        raise InvalidRequest(f"language {tc.name} is not installed on this server (apt-get install {tc.packages})")
    return tc.name


def _limits(asked: pb.Limits, default: Limits, maximum: Limits, what: str) -> Limits:
    values = {}
    for name in ("cpu_time_ms", "wall_time_ms", "memory_bytes", "output_bytes"):
        v = getattr(asked, name)
        if v < 0:
            raise InvalidRequest(f"{what}.{name} is negative ({v})")
        values[name] = v or getattr(default, name)
    if not asked.wall_time_ms and asked.cpu_time_ms:
        values["wall_time_ms"] = wall_backstop_ms(asked.cpu_time_ms)
    limits = Limits(**values).clamp(maximum)
    try:
        limits.validate()
    except ValueError as exc:
        raise InvalidRequest(f"{what}: {exc}") from None
    return limits


def to_job(req: pb.ExecuteRequest, config: ServerConfig, installed: Collection[str] = (),
           unavailable: Mapping[str, str] | None = None) -> Job:
    """Validate a request and resolve its limits; raise InvalidRequest with the reason.
    `installed`: the languages other than Python this server runs; `unavailable`: why the others are not."""
    language = resolve_language(req.language, installed, unavailable)
    if not req.source:
        raise InvalidRequest("source is empty")
    files, run_files = to_files(req), to_files(req, "run_files")
    if req.held_files:
        files = held_files(req, files)
    if set(dict(files)) & set(dict(run_files)):
        raise InvalidRequest("a name is in both files and run_files")
    size = len(req.source) + sum(len(name.encode()) + len(content) for name, content in files + run_files)
    if size > config.max_source_bytes:
        what = "source and files are" if files else "source is"
        raise InvalidRequest(f"{what} {size} bytes; the maximum is {config.max_source_bytes}")
    if len(req.stdin) > config.max_source_bytes:
        raise InvalidRequest(f"stdin is {len(req.stdin)} bytes; the maximum is {config.max_source_bytes}")
    try:
        req.source.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"source is not valid UTF-8 (byte {exc.start})") from None
    if b"\x00" in req.source:
        raise InvalidRequest("source contains a NUL byte")
    limits = _limits(req.limits, config.default_limits, config.max_limits, "limits")
    compile_limits = None
    if language == "python":
        if req.args:
            raise InvalidRequest("args are for programs in other languages; a python program runs without them")
        # No compile: every file is put in /tmp alike.
        files, run_files = tuple(sorted(files + run_files)), ()
    else:
        if any(name == JUDGE_FILE for name, _ in (*files, *run_files)):
            raise InvalidRequest(f"file name {JUDGE_FILE!r} names a judge, which only Python checks take")
        toolchain = toolchains.find(language)
        own = toolchain.file_name(req.source)
        if any(name == own for name, _ in files):
            raise InvalidRequest(f"file name {own!r} is the program's own source file")
        refused = compiler_state(language, (name for name, _ in files))
        if refused:
            raise InvalidRequest(refused)
        if toolchain.compile is not None:
            compile_limits = _limits(req.compile_limits, config.default_compile_limits, config.max_compile_limits,
                                     "compile_limits")
    if len(req.args) > MAX_ARGS or any("\0" in a for a in req.args) \
            or sum(len(a.encode()) for a in req.args) > MAX_ARGS_BYTES:
        raise InvalidRequest(f"args: at most {MAX_ARGS}, {MAX_ARGS_BYTES} bytes in all, no NUL")
    return Job(source=req.source, stdin=req.stdin, limits=limits, files=files, language=language,
               compile_limits=compile_limits, run_files=run_files, args=tuple(req.args))


MAX_FILES = 64
MAX_ARGS, MAX_ARGS_BYTES = 64, 64 * 1024


def to_files(req: pb.ExecuteRequest, field: str = "files") -> tuple[tuple[str, bytes], ...]:
    """The request's `field` (files or run_files), sorted by name; InvalidRequest
    unless each name is a plain file name."""
    given = getattr(req, field)
    if len(given) > MAX_FILES:
        raise InvalidRequest(f"{len(given)} {field}; the maximum is {MAX_FILES}")
    for name in given:
        _plain_name(name)
    return tuple(sorted(given.items()))


def held_files(req: pb.ExecuteRequest, files: tuple[tuple[str, bytes], ...]) -> tuple[tuple[str, bytes], ...]:
    """`files` with the request's held_files, each the text this server holds under that sha256,
    sorted by name; InvalidRequest for a name given twice or a digest the server does not hold."""
    if len(files) + len(req.held_files) > MAX_FILES:
        raise InvalidRequest(f"{len(files) + len(req.held_files)} files; the maximum is {MAX_FILES}")
    named = dict(files)
    for name, digest in req.held_files.items():
        _plain_name(name)
        if name in named:
            raise InvalidRequest(f"file name {name[:100]!r} is in both files and held_files")
        text = HELD_TEXTS.get(digest)
        if text is None:
            raise NotHeld(f"held_files[{name[:100]!r}]: this server holds no text with sha256 {digest[:64]!r} "
                          "(GetInfo lists those it holds); send the text in files")
        named[name] = text
    return tuple(sorted(named.items()))


def _plain_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\0" in name or len(name.encode()) > 255:
        raise InvalidRequest(f"file name {name[:100]!r} is not a plain file name (no '/', '.', '..', "
                             "NUL, at most 255 bytes)")


def to_compile_result(info: CompileInfo) -> pb.CompileResult:
    return pb.CompileResult(
        status=pb.Status.Value(Status(info.status).value),
        timeout_kind=pb.TimeoutKind.Value(TimeoutKind(info.timeout_kind).value) if info.timeout_kind else 0,
        exit_code=info.exit_code, stdout=info.stdout, stderr=info.stderr, wall_time_ms=info.wall_time_ms,
        cpu_time_ms=info.cpu_time_ms, memory_bytes=info.memory_bytes, cached=info.cached)


def to_runtime(lang: toolchains.Language) -> pb.Runtime:
    return pb.Runtime(language=lang.name, interpreter=lang.toolchain.interpreter, version=lang.version,
                      compiler=lang.toolchain.compiler)


def to_response(req_id: str, outcome: Outcome, runtime: pb.Runtime) -> pb.ExecuteResponse:
    """The answer for a request that reached the executor."""
    return pb.ExecuteResponse(
        id=req_id,
        status=pb.Status.Value(Status(outcome.status).value),
        timeout_kind=pb.TimeoutKind.Value(TimeoutKind(outcome.timeout_kind).value) if outcome.timeout_kind else 0,
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        stdout=outcome.stdout,
        stderr=outcome.stderr,
        stdout_truncated=outcome.stdout_truncated,
        stderr_truncated=outcome.stderr_truncated,
        report=outcome.report,
        wall_time_ms=outcome.wall_time_ms,
        cpu_time_ms=outcome.cpu_time_ms,
        memory_bytes=outcome.memory_bytes,
        runtime=runtime,
        limits=to_limits(outcome.limits),
        error=outcome.error,
        rejected=outcome.rejected,
        compile=to_compile_result(outcome.compile) if outcome.compile else None,
    )


def not_run(req_id: str, status: Status, error: str, rejected: bool = False) -> pb.ExecuteResponse:
    """The answer for a batch item that never reached the executor."""
    return pb.ExecuteResponse(id=req_id, status=pb.Status.Value(status.value), error=error, rejected=rejected)


def to_limits(limits: Limits) -> pb.Limits:
    return pb.Limits(cpu_time_ms=limits.cpu_time_ms, wall_time_ms=limits.wall_time_ms,
                     memory_bytes=limits.memory_bytes, output_bytes=limits.output_bytes)


class SandboxService(pb_grpc.SandboxServicer):
    def __init__(self, config: ServerConfig, executor: Executor, fleet: list[str] = ()) -> None:
        self.config = config
        self.executor = executor
        # In a fleet (fleet.py), every worker's address: distinct ones (unix
        # sockets) are listed for clients to use; one shared by all (a TCP
        # port) is reported as a count, so clients open several connections.
        distinct = list(dict.fromkeys(fleet))
        self.fleet_endpoints = distinct if len(distinct) > 1 else []
        self.fleet_processes = len(fleet) if len(distinct) == 1 else 1
        rt = executor.runtime
        self.runtime = pb.Runtime(language=rt.language, interpreter=rt.interpreter, version=rt.version)
        self.runtimes = {"python": self.runtime, **{n: to_runtime(lang) for n, lang in executor.languages.items()}}
        # Batch deduplication and the per-tenant result cache (dedup.py, cache.py).
        self.avoid = WorkAvoider(executor, config, f"{rt.language} {rt.interpreter} {rt.version}")
        # Batch items admitted per stream before reading more: gRPC flow
        # control then pushes back on a client that sends faster than we run.
        self.window = max(4, 4 * executor.concurrency)

    def Execute(self, request, context):
        try:
            job = to_job(request, self.config, self.executor.languages, self.executor.unavailable)
        except NotHeld as exc:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
        except InvalidRequest as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        try:
            fut = auth.admit(job, context, lambda j: self.avoid.submit(
                j, use_cache=cache_wanted(context), language=j.language))
        except (Overloaded, auth.QuotaExceeded) as exc:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        context.add_callback(fut.cancel)
        outcome = fut.result()
        return to_response(request.id, outcome, self.runtimes[job.language])

    def ExecuteBatch(self, request_iterator, context):
        """One result per request, in completion order, however each item fares."""
        for finished in self._stream(([req] for req in request_iterator), context):
            yield from finished

    def ExecuteChunked(self, request_iterator, context):
        """ExecuteBatch, several items per message: each reply holds what finished since the last,
        waiting up to _LINGER_S for more while more are running."""
        for finished in self._stream((chunk.requests for chunk in request_iterator), context, _LINGER_S):
            yield pb.ResponseChunk(responses=finished)

    def _stream(self, chunks: Iterator[Iterable[pb.ExecuteRequest]], context,
                linger: float = 0.0) -> Iterator[list[pb.ExecuteResponse]]:
        """Admit the requests of every chunk as the window allows; yield the results
        finished so far (at least one) each time, until every request has one."""
        results: queue.Queue = queue.Queue()
        window = threading.Semaphore(self.window)
        pending: list[Future] = []
        seen: dict[bytes, Future] = {}  # identical items in this stream run once
        use_cache = cache_wanted(context)
        stream_id = uuid.uuid4().hex[:8]

        def admit() -> bool:
            while not window.acquire(timeout=1.0):
                if not context.is_active():
                    return False
            return True

        admitted = [0]  # requests taken so far, read by the sender to know whether more can come

        def feed() -> None:
            accepted = 0
            try:
                for chunk in chunks:
                    for req in chunk:
                        if not admit():
                            return
                        accepted += 1
                        admitted[0] = accepted
                        self._start(req, pending, results.put, seen, use_cache, context)
            except Exception as exc:  # the client went away mid-stream
                log.info("batch %s: request stream ended after %d requests: %s", stream_id, accepted,
                         stream_end_reason(exc, context))
            finally:
                results.put((_END, accepted))

        context.add_callback(lambda: [f.cancel() for f in pending])
        threading.Thread(target=feed, name=f"batch-{stream_id}", daemon=True).start()
        sent, total = 0, None
        while total is None or sent < total:
            try:
                items = [results.get(timeout=1.0)]
            except queue.Empty:
                if not context.is_active():
                    return
                if self.executor.draining and sent == admitted[0]:
                    # Nothing of this stream runs, and nothing more will: end it now, not
                    # when the stop's grace runs out (a client's idle stream would hold
                    # the stop that long); the client sends the rest elsewhere.
                    context.abort(grpc.StatusCode.UNAVAILABLE, "server shutting down; send the rest elsewhere")
                continue
            until = time.monotonic() + linger
            while len(items) < _CHUNK_MAX:
                wait = until - time.monotonic()
                try:
                    # Wait for more only while more are running (fewer, fuller messages).
                    more = sent + len(items) < admitted[0] and wait > 0
                    items.append(results.get(timeout=wait) if more else results.get_nowait())
                except queue.Empty:
                    break
            finished = []
            for item in items:
                if isinstance(item, tuple) and item[0] is _END:
                    total = item[1]
                    continue
                finished.append(item)
                window.release()
            sent += len(finished)
            if finished:
                yield finished

    def _start(self, req: pb.ExecuteRequest, pending: list[Future], deliver: Callable[[pb.ExecuteResponse], None],
               seen: dict | None = None, use_cache: bool = True, context=None) -> None:
        """Validate and submit one batch item; `deliver` gets its response, now or once it ran."""
        try:
            job = to_job(req, self.config, self.executor.languages, self.executor.unavailable)
        except NotHeld as exc:  # not run: the client sends the text and the item again
            return deliver(not_run(req.id, Status.SANDBOX_ERROR, f"not run: {exc}", rejected=True))
        except InvalidRequest as exc:
            return deliver(not_run(req.id, Status.INVALID_REQUEST, str(exc)))
        try:
            fut = auth.admit(job, context, lambda j: self.avoid.submit(j, seen, use_cache, j.language))
        except (Overloaded, auth.QuotaExceeded) as exc:
            return deliver(not_run(req.id, Status.SANDBOX_ERROR, f"not run: {exc}", rejected=True))
        pending.append(fut)
        runtime = self.runtimes[job.language]
        fut.add_done_callback(lambda f: deliver(self._finished(req.id, f, runtime)))

    def _finished(self, req_id: str, fut: Future, runtime: pb.Runtime) -> pb.ExecuteResponse:
        if fut.cancelled():
            return not_run(req_id, Status.SANDBOX_ERROR, "cancelled before it ran", rejected=True)
        return to_response(req_id, fut.result(), runtime)

    def GetInfo(self, request, context):
        rt = self.executor.runtime
        notes = [
            "namespaces: user, pid, mount, network, ipc, uts, cgroup",
            f"uid: jail uid 1000 mapped to outside uids {self.config.uid_base}+slot (unprivileged)",
            "root: read-only tmpfs with only the interpreter and its libraries",
            "seccomp: deny-list compiled by libseccomp; non-native ABIs killed",
            {"v2": "cgroup v2: memory, pids, cpu per jail"}.get(self.executor.cgroups.mode,
                                                             "cgroup v1: memory, pids, cpuacct per jail"),
        ]
        return pb.ServerInfo(
            version=__version__,
            runtimes=list(self.runtimes.values()),
            default_limits=to_limits(self.config.default_limits),
            max_limits=to_limits(self.config.max_limits),
            max_source_bytes=self.config.max_source_bytes,
            max_tasks=self.config.jail.max_tasks,
            tmpfs_bytes=self.config.jail.tmpfs_bytes,
            isolation=notes,
            concurrency=self.executor.concurrency,
            endpoints=self.fleet_endpoints,
            processes=self.fleet_processes,
            packages=[*(pb.Package(language="python", name=name, version=version)
                        for name, version in (rt.packages.packages if rt.packages else ())),
                      *(pb.Package(language="js", name=name, version=version)
                        for name, version in self.executor.node_packages)],
            preloaded=list(rt.preload if self.config.jail_mode == "warm" else ()),
            held_files=list(HELD_TEXTS),
        )
