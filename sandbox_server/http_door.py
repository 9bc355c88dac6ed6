"""A SandboxFusion-compatible HTTP door: `POST /run_code` onto the same executor as gRPC.

Clients written for SandboxFusion (bytedance/SandboxFusion, e.g. verl's
`sandbox_fusion` reward) send its request JSON and read its response JSON
unchanged. A request becomes the same `ExecuteRequest` -> `Job` as a gRPC
Execute (`service.to_job`: validation, defaults, limits clamped to the
server's maxima), passes the same bearer tokens and tenant quotas (auth.py),
and is submitted through the same result cache (dedup.py) to the same jails.

Mapping (SandboxFusion's own rules from `sandbox_api.parse_run_status`):
- OK -> "Success"; run_result "Finished", return_code 0.
- NONZERO_EXIT, SIGNALED, MEMORY_LIMIT -> "Failed"; run_result "Finished",
  return_code the exit code, or -N for signal N (as Python's subprocess
  reports it).
- OUTPUT_LIMIT (exit 0, more output than the cap) -> "Success", as
  SandboxFusion answers a program whose output it cut, but each stream that
  was cut ends with a line saying so (`CUT_NOTE`): a client comparing stdout
  with an answer (verl) scores a wrong answer, never a pass, where a bare
  "Failed" with return code 0 would be its "unknown failure".
- `language` "typescript"/"ts" runs as SandboxFusion runs it (tsx): the
  `ts_transpile` toolchain, which type-checks nothing; its transpile step is
  reported inside run_result, as SandboxFusion has no compile step for it.
- TIMEOUT -> "Failed"; run_result "TimeLimitExceeded", return_code null.
- SANDBOX_ERROR -> "SandboxError"; run_result "Error" with the reason in
  stderr and in `message`.
- `run_timeout` is the CPU budget (cpu_time_ms), with the server's usual wall
  backstop; `compile_timeout` the compile's CPU budget, for compiled
  languages (clamped to the server's compile maxima);
  `memory_limit_MB` <= 0 means the server's default.
- Compiled languages get `compile_result` as SandboxFusion fills it: the
  compiler's run ("Finished" with its return code, or "TimeLimitExceeded"),
  and no `run_result` when the compile failed (status "Failed").
- `files` (plain file name -> base64) go into the program's working
  directory (and, for other languages, beside its source).
- A language this server does not run, a malformed field, a file path that
  is not a plain name, or `fetch_files` (nothing leaves a jail) get HTTP 422 in
  FastAPI's `{"detail": [...]}` shape (naming the field), as SandboxFusion
  answers a request it cannot accept; a body that is not JSON gets 400, one
  over the body limit 413, a missing or unknown token 401, an exhausted
  tenant quota 429 and a full queue 503 (with a SandboxError body: retry later).

Bounded as a front end (SECURITY.md, "The HTTP door"): the token and the
tenant's call quota are checked from the header, before the body is read;
the body is read within a byte budget and decoded off the event loop
(http_body.py); connections are capped and timed by http_guard.py.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
import socket
import ssl
import threading
import types

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandcheck_api.status import Status
from sandcheck_api.v1 import sandbox_pb2 as pb

from . import auth, http_body, logs, settings
from .config import ServerConfig
from .dedup import WorkAvoider
from .executor import Job, Overloaded, StartupError
from .http_body import BadRequest, RunCodeRequest
from .http_guard import ByteBudget, CappedListener, ConnectionGuard, DoorLimits, connection_cap, guarded
from .jail.outcome import CompileInfo, Outcome
from .limits import MiB
from .service import InvalidRequest, to_job

log = logging.getLogger("sandcheck.http")

# SandboxFusion's names for languages that run differently here under their own name.
_FUSION_LANGUAGES = {"typescript": "ts_transpile", "ts": "ts_transpile"}
# Languages SandboxFusion runs without a compile step (`go test f_test.go` is one command
# there): sandcheck's is shown as part of the run, so a build failure is a run that failed.
_NO_COMPILE_STEP = frozenset({"ts_transpile", "go_test"})
# Ends a stream that went over the output cap (OUTPUT_LIMIT's "Success").
CUT_NOTE = "\n[sandcheck: output over the {cap}-byte cap; the rest was dropped]\n"

# JSON may spell one byte of code or stdin as six characters (\u00XX).
_JSON_EXPANSION = 6
_BODY_OVERHEAD = 1024 * 1024


def _response_for(exc: BadRequest) -> JSONResponse:
    if exc.status == 422:  # FastAPI's validation-error shape, as SandboxFusion answers
        loc = ["body", exc.loc] if exc.loc else ["body"]
        return JSONResponse({"detail": [{"type": "value_error", "loc": loc, "msg": str(exc)}]}, 422)
    # A body left unread (413) must not be taken for the next request: the connection closes.
    return JSONResponse({"detail": str(exc)}, exc.status, headers={"Connection": "close"} if exc.status == 413 else None)


def _seconds(value: float | None, name: str, default: float, most_ms: int) -> int:
    """A positive number of seconds as milliseconds, at most `most_ms` (so 1e308 clamps, never overflows)."""
    if value is None:
        value = default
    if not math.isfinite(value) or value <= 0:
        raise BadRequest(422, f"{name} must be a positive finite number of seconds, got {value!r}", name)
    return max(1, min(most_ms, math.ceil(min(value, most_ms / 1000) * 1000)))


def to_request(data: RunCodeRequest, config: ServerConfig) -> pb.ExecuteRequest:
    """SandboxFusion's RunCodeRequest as sandcheck's ExecuteRequest (limits clamped to the maxima).
    A field read here must be declared in `http_body.RunCodeRequest`: others are skipped unread."""
    if data.code is None:
        raise BadRequest(422, "code is required and must be a string", "code")
    if not data.language:
        raise BadRequest(422, "language is required and must be a string", "language")
    decoded = {}
    for path, content in (data.files or {}).items():
        if content is None:
            continue
        try:  # as SandboxFusion decodes: what is not base64's alphabet (encodebytes' newlines) is skipped
            decoded[path] = base64.b64decode(content)
        except (binascii.Error, ValueError):
            raise BadRequest(422, f"files[{path[:100]!r}] must be base64 text", "files") from None
    if data.fetch_files:
        raise BadRequest(422, "fetch_files is not supported: nothing is copied out of a jail", "fetch_files")
    cpu_ms = _seconds(data.run_timeout, "run_timeout", 10, config.max_limits.cpu_time_ms)
    compile_ms = _seconds(data.compile_timeout, "compile_timeout", 10, config.max_compile_limits.cpu_time_ms)
    memory_mb = data.memory_limit_MB if data.memory_limit_MB is not None else -1
    if not math.isfinite(memory_mb):
        raise BadRequest(422, f"memory_limit_MB must be a finite number, got {memory_mb!r}", "memory_limit_MB")
    most = config.max_limits.memory_bytes
    # SandboxFusion sets no memory limit unless asked (its default is -1): here the most the
    # server allows, not its (smaller) default for its own requests.
    memory = math.ceil(min(memory_mb, most / MiB) * MiB) if memory_mb > 0 else most
    language = _FUSION_LANGUAGES.get(data.language.strip().lower(), data.language)
    # SandboxFusion runs an empty `code` (a Python program that does nothing; a compiled one
    # without main fails to build); sandcheck refuses an empty source, so it gets a newline.
    source = data.code.encode() or b"\n"
    return pb.ExecuteRequest(source=source, stdin=(data.stdin or "").encode(), language=language,
                             limits=pb.Limits(cpu_time_ms=cpu_ms, memory_bytes=min(memory, most)), files=decoded,
                             compile_limits=pb.Limits(cpu_time_ms=compile_ms))


def return_code(outcome: Outcome) -> int:
    """The program's return code as Python's subprocess reports it: -N for signal N."""
    return -outcome.signal if outcome.signal else outcome.exit_code


def _compile_result(info: CompileInfo | None) -> dict | None:
    """The compiler's run as SandboxFusion reports it (None for interpreted languages)."""
    if info is None:
        return None
    timed_out = Status(info.status) == Status.TIMEOUT
    return {"status": "TimeLimitExceeded" if timed_out else "Finished", "execution_time": info.wall_time_ms / 1000,
            "return_code": None if timed_out else info.exit_code,
            "stdout": info.stdout.decode("utf-8", errors="replace"), "stderr": info.stderr.decode("utf-8", errors="replace")}


def _stream(data: bytes, truncated: bool, cap: int) -> str:
    text = data.decode("utf-8", errors="replace")
    return text + CUT_NOTE.format(cap=cap) if truncated else text


def to_fusion(outcome: Outcome, language: str = "") -> dict:
    """SandboxFusion's RunCodeResponse for an outcome of a program in `language`
    (sandcheck's name; see the module docstring)."""
    status = Status(outcome.status)
    if status == Status.SANDBOX_ERROR:
        run = {"status": "Error", "execution_time": None, "return_code": None, "stdout": None, "stderr": outcome.error}
        return _response("SandboxError", outcome.error, run)
    compiled = _compile_result(outcome.compile)
    if language in _NO_COMPILE_STEP:
        if status == Status.COMPILE_ERROR:  # what SandboxFusion's one command would have said
            return _response("Failed", f"sandcheck status {status.value}", compiled)
        compiled = None
    if status == Status.COMPILE_ERROR:
        return _response("Failed", f"sandcheck status {status.value}", None, compiled)
    cap = outcome.limits.output_bytes if outcome.limits else 0
    run = {
        "status": "TimeLimitExceeded" if status == Status.TIMEOUT else "Finished",
        "execution_time": outcome.wall_time_ms / 1000,
        "return_code": None if status == Status.TIMEOUT else return_code(outcome),
        "stdout": _stream(outcome.stdout, status == Status.OUTPUT_LIMIT and outcome.stdout_truncated, cap),
        "stderr": _stream(outcome.stderr, status == Status.OUTPUT_LIMIT and outcome.stderr_truncated, cap),
    }
    if status == Status.OK:
        return _response("Success", "", run, compiled)
    if status == Status.OUTPUT_LIMIT:
        return _response("Success", f"sandcheck status {status.value}: output over the {cap}-byte cap was dropped",
                         run, compiled)
    return _response("Failed", f"sandcheck status {status.value}" + (f": {outcome.error}" if outcome.error else ""), run,
                     compiled)


def _response(status: str, message: str, run: dict | None, compiled: dict | None = None) -> dict:
    return {"status": status, "message": message, "compile_result": compiled, "run_result": run,
            "executor_pod_name": None, "files": {}}


def _refused(http_status: int, message: str) -> JSONResponse:
    """Not run (overload, quota): a SandboxError body, and an HTTP status that says retry."""
    return JSONResponse(_response("SandboxError", f"not run: {message}", None), http_status,
                        headers={"Retry-After": "1"})


class HttpDoor:
    """The HTTP front end of one Server: a uvicorn server on its own thread."""

    def __init__(self, config: ServerConfig, avoid: WorkAvoider, security: auth.Security,
                 reuse_port: bool = False, limits: DoorLimits | None = None) -> None:
        self.config = config
        self.avoid = avoid
        self.security = security
        self.reuse_port = reuse_port  # a fleet's workers share the port, as they do gRPC's
        # What a request can legitimately carry: source and files, and stdin, each
        # max_source_bytes, each byte spelled \u00XX at worst, and the rest of the JSON.
        self.body_limit = 2 * _JSON_EXPANSION * config.max_source_bytes + _BODY_OVERHEAD
        self.limits = limits or DoorLimits()
        self.budget = ByteBudget(self.limits.buffered_bodies * self.body_limit)
        self.guard: ConnectionGuard | None = None
        self.app = logs.HttpRequestLog(Starlette(routes=[Route("/run_code", self.run_code, methods=["POST"]),
                                                         Route("/v1/ping", self.ping, methods=["GET"])]))
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def _refusal(self, reason: str, response: JSONResponse) -> JSONResponse:
        """A request refused before it ran, counted as gRPC's refusals are
        (`sandcheck_rejected_requests` by reason)."""
        self.avoid.executor.observer.rejected(reason)
        return response

    async def ping(self, _request: Request) -> JSONResponse:
        return JSONResponse("pong")

    async def run_code(self, request: Request) -> JSONResponse:
        # Who asks, and may they, from the header alone: no body is read for a refusal.
        tenant = None
        if self.security.interceptor is not None:
            tenant = self.security.interceptor.lookup(auth._bearer([("authorization", request.headers.get("authorization"))]))
            if tenant is None:
                return self._refusal("unauthenticated", JSONResponse(
                    {"detail": "missing or unknown bearer token (header 'Authorization: Bearer <token>')"},
                    401, headers={"WWW-Authenticate": "Bearer"}))
        gate = self.security.interceptor.gate if tenant is not None else None
        try:
            if gate is not None:
                gate.enter_call(tenant)
        except auth.QuotaExceeded as exc:
            return self._refusal("overloaded", _refused(429, str(exc)))
        try:
            try:
                job = await self._job(request)
            except BadRequest as exc:
                return self._refusal("invalid_request", _response_for(exc))
            except InvalidRequest as exc:
                return self._refusal("invalid_request", _response_for(BadRequest(422, str(exc))))
            except ClientDisconnect:
                return JSONResponse({"detail": "the client went away"}, 400)  # written nowhere
            # The same admission as gRPC: tenant stamped on the job, its queued quota, the cache.
            context = types.SimpleNamespace(**{auth._ATTR: (tenant, gate)}) if gate is not None else None
            try:
                fut = auth.admit(job, context, lambda j: self.avoid.submit(j, language=j.language))
            except auth.QuotaExceeded as exc:
                return self._refusal("overloaded", _refused(429, str(exc)))
            except Overloaded as exc:
                return self._refusal("overloaded", _refused(503, str(exc)))
            try:
                outcome = await asyncio.wrap_future(fut)
            except asyncio.CancelledError:
                fut.cancel()  # the client went away before it ran
                raise
            return JSONResponse(to_fusion(outcome, job.language))
        finally:
            if gate is not None:
                gate.exit_call(tenant)

    async def _job(self, request: Request) -> Job:
        """Read the body (at most `body_limit` bytes, within the budget of bodies held
        at once) and turn it into a job on a worker thread, off the event loop."""
        declared = request.headers.get("content-length") if "transfer-encoding" not in request.headers else None
        if declared is not None and not (declared.isdigit() and len(declared) < 19):
            raise BadRequest(400, "Content-Length is not a number of bytes")
        size = int(declared) if declared is not None else self.body_limit
        if size > self.body_limit:
            raise BadRequest(413, f"request body is {size} bytes; the limit is {self.body_limit}")
        async with self.budget.reserve(size):
            body = await self._body(request, size if declared else None)
            return await asyncio.to_thread(self._parse, body)

    async def _body(self, request: Request, size: int | None) -> bytearray:
        """The body in one buffer: sized once from Content-Length (h11 holds the client
        to it), or grown chunk by chunk for a chunked body."""
        body = bytearray(size) if size is not None else bytearray()
        at = 0
        async for chunk in request.stream():
            if at + len(chunk) > self.body_limit:
                raise BadRequest(413, f"request body is over {self.body_limit} bytes")
            if size is None:
                body += chunk
            else:
                body[at:at + len(chunk)] = chunk
            at += len(chunk)
        del body[at:]
        return body

    def _parse(self, body: bytearray) -> Job:
        req = to_request(http_body.decode(body), self.config)
        return to_job(req, self.config, self.avoid.executor.languages, self.avoid.executor.unavailable)

    # -- start and stop --------------------------------------------------
    def _bind(self) -> socket.socket:
        try:
            host, port = settings.parse_host_port(self.config.http_listen)
            family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                                 flags=socket.AI_PASSIVE)[0]
            sock = CappedListener(family, kind, proto, limit=2 * connection_cap(self.limits), head_s=self.limits.head_s)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(address)
            sock.listen(1024)
        except (OSError, ValueError) as exc:
            raise StartupError(f"cannot serve HTTP on {self.config.http_listen}: {exc}") from None
        return sock

    def start(self) -> int:
        """Bind (failing here, synchronously, if the address is taken) and serve on a thread."""
        sock = self._bind()
        self.port = sock.getsockname()[1]
        sec = self.security
        grace = int(self.config.max_limits.wall_time_ms / 1000 + 5)  # as the gRPC stop: running checks finish
        # Connections are capped and timed by the guard (http_guard.py), below this process's fd limit.
        self.guard = ConnectionGuard(self.limits, connection_cap(self.limits), listener=sock)
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off",
                                http=guarded(self.guard), ws="none", timeout_keep_alive=math.ceil(self.limits.idle_s),
                                backlog=2048, timeout_graceful_shutdown=grace, ssl_certfile=sec.tls_cert, ssl_keyfile=sec.tls_key,
                                ssl_ca_certs=sec.tls_client_ca,
                                ssl_cert_reqs=ssl.CERT_REQUIRED if sec.tls_client_ca else ssl.CERT_NONE)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name="http-door",
                                        daemon=True)
        self._thread.start()
        while not self._server.started:
            if not self._thread.is_alive():
                raise StartupError(f"cannot serve HTTP on {self.config.http_listen}")
            self._thread.join(0.02)
        return self.port

    def stop(self) -> None:
        """Stop accepting; requests in progress get their answers first."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join()
