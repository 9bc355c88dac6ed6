"""Structured JSON logs with request ids, and the RPC interceptor that writes them.

One JSON object per line, so a log pipeline (Loki, Cloud Logging, jq) can
filter by request id, status or slot without parsing prose. Every RPC gets a
request id: the caller's `x-request-id` metadata if it sent one (so a client
can correlate), else a fresh one. Lines logged while serving that RPC carry
it, through a context variable.

The HTTP door's requests get one line each too (`HttpRequestLog`, an ASGI
middleware), with the same request ids (the caller's `x-request-id`
header, or a fresh one).

Program source, stdin and program output are never logged: they are
untrusted, may be large, and may hold a user's secrets. The interceptor logs
only ids, statuses, limits and timings; the formatter also drops any extra
field with one of those names, in case a later log call passes one.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from sandcheck_api.status import Status
from sandcheck_api.v1 import sandbox_pb2 as pb

from .observer import ExecutionObserver

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# Extra fields the JSON formatter never writes, whoever passes them.
NEVER_LOGGED = frozenset({"source", "stdin", "stdout", "stderr", "report"})

# gRPC codes that mean "refused before running", as rejection reasons.
REJECTION_REASONS = {
    grpc.StatusCode.INVALID_ARGUMENT: "invalid_request",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "overloaded",
    grpc.StatusCode.UNAUTHENTICATED: "unauthenticated",
    grpc.StatusCode.PERMISSION_DENIED: "permission_denied",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: ts, level, logger, msg, request_id, fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", "") or request_id.get()
        if rid:
            out["request_id"] = rid
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({k: v for k, v in fields.items() if k not in NEVER_LOGGED})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(fmt: str = "json", level: str = "INFO") -> None:
    """Route the root logger to stderr in `fmt` ('json' or 'text')."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    elif fmt == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        raise ValueError(f"log format must be 'json' or 'text', got {fmt!r}")
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


log = logging.getLogger("sandcheck.rpc")


def _incoming_id(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and 0 < len(value) <= 128:
            return value
    return uuid.uuid4().hex[:16]


class RequestLogInterceptor(grpc.ServerInterceptor):
    """Logs each sandcheck RPC (INFO) and each execution result (DEBUG); counts rejections.

    One line per RPC, with the statuses of a batch's results, keeps the log
    cheap at thousands of checks a second; a line per execution costs about
    a tenth of the server's CPU, so it is there only at DEBUG. Only methods
    under `prefix` are wrapped; health and reflection pass through untouched,
    since probes every few seconds would drown the log.
    """

    def __init__(self, observer: ExecutionObserver, prefix: str = "/sandcheck.") -> None:
        self.observer = observer
        self.prefix = prefix

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(self.prefix):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream(method, handler.stream_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    def _unary(self, method: str, inner: Callable) -> Callable:
        def behavior(request, context):
            token = request_id.set(_incoming_id(context))
            start = time.monotonic()
            statuses: Counter = Counter()
            try:
                response = inner(request, context)
                self._item(response, statuses)
                return response
            finally:
                self._done(method, context, start, statuses)
                request_id.reset(token)

        return behavior

    def _stream(self, method: str, inner: Callable) -> Callable:
        def behavior(request_iterator, context) -> Iterator:
            token = request_id.set(_incoming_id(context))
            start = time.monotonic()
            statuses: Counter = Counter()
            try:
                for response in inner(request_iterator, context):
                    self._item(response, statuses)
                    yield response
            finally:
                self._done(method, context, start, statuses)
                request_id.reset(token)

        return behavior

    def _item(self, response: Any, statuses: Counter) -> None:
        """Tally one execution result, log it at DEBUG (never its output), count batch rejections."""
        if isinstance(response, pb.ResponseChunk):
            for item in response.responses:
                self._item(item, statuses)
            return
        if not isinstance(response, pb.ExecuteResponse):
            return
        status = pb.Status.Name(response.status)
        if status == Status.INVALID_REQUEST:
            self.observer.rejected("invalid_request")
        elif status == Status.SANDBOX_ERROR and _refused(response):
            self.observer.rejected("overloaded")
        statuses[status] += 1
        if not log.isEnabledFor(logging.DEBUG):
            return
        log.debug("execution", extra={"fields": {
            "id": response.id, "status": status, "wall_time_ms": response.wall_time_ms,
            "cpu_time_ms": response.cpu_time_ms, "memory_bytes": response.memory_bytes,
            "error": response.error[:300],
        }})

    def _done(self, method: str, context: grpc.ServicerContext, start: float, statuses: Counter) -> None:
        code = context.code() or grpc.StatusCode.OK
        reason = REJECTION_REASONS.get(code)
        if reason:
            self.observer.rejected(reason)
        details = context.details() or b""
        log.info("rpc", extra={"fields": {
            "method": method, "code": code.name, "peer": context.peer(),
            "duration_ms": round((time.monotonic() - start) * 1000, 1),
            "details": (details.decode(errors="replace") if isinstance(details, bytes) else str(details))[:300],
            "results": sum(statuses.values()), "statuses": dict(statuses),
        }})


def _refused(response: pb.ExecuteResponse) -> bool:
    """A batch item answered without running because the server or a quota was full.

    A cancelled item is not a refusal: its client went away.
    """
    return response.rejected and not response.error.startswith("cancelled")


def stream_end_reason(exc: BaseException, context: grpc.ServicerContext) -> str:
    """Why a batch's request stream stopped early, in words: gRPC's exceptions here often have no text."""
    text = str(exc) or repr(exc)
    if not context.is_active():
        return f"the client cancelled or closed the call ({type(exc).__name__}: {text})"
    return f"{type(exc).__name__}: {text}"


http_log = logging.getLogger("sandcheck.http")


class HttpRequestLog:
    """ASGI middleware: one INFO line per HTTP request (method, path, status, duration, peer), as
    gRPC calls get; the request id of the caller's `x-request-id` header, or a fresh one. Bodies
    (code, stdin, output) are never logged."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        token = request_id.set(incoming if 0 < len(incoming) <= 128 else uuid.uuid4().hex[:16])
        start = time.monotonic()
        status = [500]  # what the client sees if the app fails before answering

        async def sending(message: dict) -> None:
            if message.get("type") == "http.response.start":
                status[0] = message.get("status", 0)
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            client = scope.get("client") or ("", 0)
            http_log.info("http", extra={"fields": {
                "method": scope.get("method", ""), "path": scope.get("path", ""), "status": status[0],
                "peer": f"{client[0]}:{client[1]}", "duration_ms": round((time.monotonic() - start) * 1000, 1),
            }})
            request_id.reset(token)
