"""Who may call the server: bearer tokens naming tenants, TLS/mTLS, per-tenant quotas.

- Tokens travel as gRPC metadata ``authorization: Bearer <token>``. A token
  file has one token per line: ``TOKEN TENANT [max_concurrent=N] [max_queued=N]``
  (``#`` starts a comment). Tokens are compared in constant time and never
  logged. A call without a known token gets UNAUTHENTICATED.
- Quotas, per tenant (0 means unlimited): ``max_concurrent`` calls in progress
  at once (an Execute or a whole ExecuteBatch stream), and ``max_queued``
  programs admitted but not yet finished. Over quota is RESOURCE_EXHAUSTED
  with a message that names the quota.
- The tenant travels with every job (``Job.tenant``): the executor never puts
  two tenants' checks in one jail or warm process.
- Binding: loopback (or a unix socket) may run without auth; any other address
  without a token file needs ``--insecure`` and logs a warning.
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import logging
import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import grpc

log = logging.getLogger("sandcheck.auth")

_ATTR = "_sandcheck_caller"  # set on the ServicerContext by the interceptor


class AuthError(ValueError):
    """Bad auth configuration (token file, TLS material, binding)."""


class QuotaExceeded(Exception):
    """A tenant is over one of its quotas."""


@dataclass(frozen=True)
class Tenant:
    name: str
    max_concurrent: int = 0
    max_queued: int = 0


def parse_tokens(text: str, origin: str = "tokens") -> dict[str, Tenant]:
    """Parse a token file: ``TOKEN TENANT [max_concurrent=N] [max_queued=N]`` per line."""
    tokens: dict[str, Tenant] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) < 2:
            raise AuthError(f"{origin}:{n}: expected 'TOKEN TENANT [max_concurrent=N] [max_queued=N]'")
        token, name, opts = fields[0], fields[1], fields[2:]
        if len(token) < 16:
            raise AuthError(f"{origin}:{n}: token is shorter than 16 characters")
        if token in tokens:
            raise AuthError(f"{origin}:{n}: duplicate token")
        quotas = {}
        for opt in opts:
            key, _, value = opt.partition("=")
            if key not in ("max_concurrent", "max_queued") or not value.isdigit():
                raise AuthError(f"{origin}:{n}: unknown option {opt!r} (max_concurrent=N, max_queued=N)")
            quotas[key] = int(value)
        tokens[token] = Tenant(name, **quotas)
    if not tokens:
        raise AuthError(f"{origin}: no tokens")
    return tokens


def load_tokens(path: str) -> dict[str, Tenant]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise AuthError(f"cannot read token file {path}: {exc.strerror}") from None
    return parse_tokens(text, path)


class Gate:
    """Per-tenant counters of calls in progress and of programs in flight.

    The counters live in shared memory, one row per server process: a fleet
    (fleet.py) forks its workers after the gate exists, so a tenant's quota
    holds across all of them, and a worker that dies and restarts clears
    only its own row (`use_row`), never leaking another's counts.
    """

    _CALLS, _QUEUED = 0, 1

    def __init__(self, tenants: Iterable[str], processes: int = 1) -> None:
        self._index = {name: i for i, name in enumerate(dict.fromkeys(tenants))}
        self._width = 2 * max(1, len(self._index))
        self._rows = max(1, processes)
        self._counts = multiprocessing.RawArray("q", self._rows * self._width)
        self._lock = multiprocessing.Lock()
        self._row = 0

    def use_row(self, row: int) -> None:
        """In a fleet's worker `row`: count there, starting from zero (a restart drops what a dead one held)."""
        with self._lock:
            self._row = row
            base = row * self._width
            for i in range(base, base + self._width):
                self._counts[i] = 0

    def _take(self, tenant: Tenant, kind: int, limit: int, what: str) -> None:
        col = 2 * self._index[tenant.name] + kind
        with self._lock:
            n = sum(self._counts[r * self._width + col] for r in range(self._rows))
            if limit and n >= limit:
                raise QuotaExceeded(f"tenant {tenant.name!r} has {n} {what} "
                                    f"(max_{'concurrent' if kind == self._CALLS else 'queued'}={limit}); retry later")
            self._counts[self._row * self._width + col] += 1

    def _give(self, tenant: Tenant, kind: int) -> None:
        with self._lock:
            self._counts[self._row * self._width + 2 * self._index[tenant.name] + kind] -= 1

    def enter_call(self, tenant: Tenant) -> None:
        self._take(tenant, self._CALLS, tenant.max_concurrent, "calls in progress")

    def exit_call(self, tenant: Tenant) -> None:
        self._give(tenant, self._CALLS)

    def reserve(self, tenant: Tenant) -> None:
        self._take(tenant, self._QUEUED, tenant.max_queued, "programs queued or running")

    def release(self, tenant: Tenant) -> None:
        self._give(tenant, self._QUEUED)


def _bearer(metadata) -> str | None:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
    return None


class AuthInterceptor(grpc.ServerInterceptor):
    """Resolve the caller's tenant from its bearer token; refuse unknown callers."""

    def __init__(self, tokens: dict[str, Tenant], processes: int = 1) -> None:
        self._tokens = [(t.encode(), tenant) for t, tenant in tokens.items()]
        self.gate = Gate((tenant.name for tenant in tokens.values()), processes)

    def lookup(self, token: str | None) -> Tenant | None:
        if token is None:
            return None
        found = None
        given = token.encode()
        for known, tenant in self._tokens:  # no early exit: constant time in the table size
            if hmac.compare_digest(known, given):
                found = tenant
        return found

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        tenant = self.lookup(_bearer(handler_call_details.invocation_metadata))
        if tenant is None:
            return _refuse(handler, grpc.StatusCode.UNAUTHENTICATED,
                           "missing or unknown bearer token (metadata 'authorization: Bearer <token>')")
        return _wrap(handler, self._bind(tenant))

    def _bind(self, tenant: Tenant):
        gate = self.gate

        def enter(context) -> None:
            try:
                gate.enter_call(tenant)
            except QuotaExceeded as exc:
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
            context.add_callback(lambda: gate.exit_call(tenant))
            setattr(context, _ATTR, (tenant, gate))

        return enter


def _refuse(handler, code: grpc.StatusCode, message: str):
    def deny(_request, context):
        context.abort(code, message)

    def deny_stream(_request, context):
        context.abort(code, message)
        yield  # pragma: no cover  (a generator, as the stream handlers expect)

    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    make = kinds[(handler.request_streaming, handler.response_streaming)]
    return make(deny_stream if handler.response_streaming else deny,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)


def _wrap(handler, enter: Callable):
    """The same handler, running `enter(context)` before the servicer method."""
    if handler.request_streaming and handler.response_streaming:
        inner, make = handler.stream_stream, grpc.stream_stream_rpc_method_handler
    elif handler.request_streaming:
        inner, make = handler.stream_unary, grpc.stream_unary_rpc_method_handler
    elif handler.response_streaming:
        inner, make = handler.unary_stream, grpc.unary_stream_rpc_method_handler
    else:
        inner, make = handler.unary_unary, grpc.unary_unary_rpc_method_handler

    if handler.response_streaming:
        def behavior(request, context):
            enter(context)
            yield from inner(request, context)
    else:
        def behavior(request, context):
            enter(context)
            return inner(request, context)

    return make(behavior, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)


def admit(job, context, submit: Callable) -> Future:
    """Stamp the caller's tenant on `job`, apply its queued-work quota, and submit.

    Without auth the job keeps the anonymous tenant "" and no quota applies.
    Raises QuotaExceeded (before anything is queued) when over quota.
    """
    caller = getattr(context, _ATTR, None) if context is not None else None
    if caller is None:
        return submit(job)
    tenant, gate = caller
    job = dataclasses.replace(job, tenant=tenant.name)
    gate.reserve(tenant)
    try:
        fut = submit(job)
    except BaseException:
        gate.release(tenant)
        raise
    fut.add_done_callback(lambda _f: gate.release(tenant))
    return fut


def server_credentials(cert: str | None, key: str | None, client_ca: str | None) -> grpc.ServerCredentials | None:
    """TLS credentials (mTLS when `client_ca` is given), or None for plaintext."""
    if not cert and not key:
        if client_ca:
            raise AuthError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if not (cert and key):
        raise AuthError("TLS needs both --tls-cert and --tls-key")

    def read(path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise AuthError(f"cannot read {path}: {exc.strerror}") from None

    return grpc.ssl_server_credentials(
        [(read(key), read(cert))],
        root_certificates=read(client_ca) if client_ca else None,
        require_client_auth=bool(client_ca),
    )


def is_loopback(listen: str) -> bool:
    """True for unix sockets and loopback addresses (127.0.0.0/8, ::1, localhost)."""
    if listen.startswith("unix:") or listen.startswith("unix-abstract:"):
        return True
    host = listen.rsplit(":", 1)[0] if ":" in listen else listen
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name or a wildcard: assume it is reachable from outside


def check_bind(listen: str, authenticated: bool, insecure: bool) -> None:
    """Refuse an unauthenticated non-loopback bind unless --insecure; warn when allowed."""
    if authenticated or is_loopback(listen):
        return
    if not insecure:
        raise AuthError(f"refusing to listen on {listen} without auth: pass --token-file "
                        "(and TLS), or --insecure to accept any caller that can reach it")
    log.warning("listening on %s WITHOUT authentication (--insecure): anyone who can reach it "
                "can run code and use its resources", listen)


# Calls anyone may make: a load balancer's health probe carries no token.
UNAUTHENTICATED_METHODS = ("/grpc.health.v1.Health/",)


@dataclass
class Security:
    """The server's auth and transport settings (`sandcheck serve` flags)."""

    token_file: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    insecure: bool = False
    # Server processes that share the tenants' quotas (a fleet's workers).
    processes: int = 1

    def __post_init__(self) -> None:
        self.tokens = load_tokens(self.token_file) if self.token_file else None
        self.credentials = server_credentials(self.tls_cert, self.tls_key, self.tls_client_ca)
        self.interceptor = AuthInterceptor(self.tokens, self.processes) if self.tokens else None

    @classmethod
    def from_args(cls, args, processes: int = 1) -> "Security":
        return cls(token_file=getattr(args, "token_file", None), tls_cert=getattr(args, "tls_cert", None),
                   tls_key=getattr(args, "tls_key", None), tls_client_ca=getattr(args, "tls_client_ca", None),
                   insecure=bool(getattr(args, "insecure", False)), processes=processes)

    def for_worker(self, index: int) -> "Security":
        """This security in fleet worker `index`: its quota counts go in its own row."""
        if self.interceptor is not None:
            self.interceptor.gate.use_row(index)
        return self

    def check_bind(self, listen: str) -> None:
        check_bind(listen, authenticated=self.tokens is not None or self.tls_client_ca is not None,
                   insecure=self.insecure)

    def interceptors(self) -> list:
        return [DecodeGuard(), *([_Exempt(self.interceptor)] if self.interceptor else [])]

    def add_port(self, server: grpc.Server, listen: str) -> int:
        if self.credentials is None:
            return server.add_insecure_port(listen)
        return server.add_secure_port(listen, self.credentials)


class _Exempt(grpc.ServerInterceptor):
    """Apply `inner` to every method but the UNAUTHENTICATED_METHODS."""

    def __init__(self, inner: grpc.ServerInterceptor) -> None:
        self.inner = inner

    def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.startswith(UNAUTHENTICATED_METHODS):
            return continuation(handler_call_details)
        return self.inner.intercept_service(continuation, handler_call_details)


def add_serve_arguments(p) -> None:
    """The auth flags of `sandcheck serve`."""
    p.add_argument("--token-file", metavar="PATH",
                   help="bearer tokens, one 'TOKEN TENANT [max_concurrent=N] [max_queued=N]' per line")
    p.add_argument("--tls-cert", metavar="PEM", help="serve TLS with this certificate chain")
    p.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    p.add_argument("--tls-client-ca", metavar="PEM", help="require client certificates signed by this CA (mTLS)")
    p.add_argument("--insecure", action="store_true",
                   help="allow a non-loopback address without auth (logs a warning)")


_UNDECODABLE = object()


class DecodeGuard(grpc.ServerInterceptor):
    """A unary request that is not a valid protobuf message: INVALID_ARGUMENT, not INTERNAL."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        decode = handler.request_deserializer

        def safe_decode(data: bytes):
            try:
                return decode(data)
            except Exception:
                return _UNDECODABLE

        inner = handler.unary_stream if handler.response_streaming else handler.unary_unary
        make = grpc.unary_stream_rpc_method_handler if handler.response_streaming else grpc.unary_unary_rpc_method_handler
        method = handler_call_details.method

        def behavior(request, context):
            if request is _UNDECODABLE:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the request is not a valid message for {method}")
            return inner(request, context)

        return make(behavior, request_deserializer=safe_decode, response_serializer=handler.response_serializer)
