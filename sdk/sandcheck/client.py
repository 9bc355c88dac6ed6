"""Clients for a sandcheck server: `Client` (blocking) and `AsyncClient` (asyncio).

Both share `_BaseClient` for what does not touch the network: building
requests and turning responses and gRPC errors into SDK values. A target is
anything gRPC accepts: ``host:port``, ``unix:/path``, ``dns:///name:port``,
or ``ipv4:a:p,b:p``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import grpc.aio
from sandcheck_api.status import Status, TimeoutKind
from sandcheck_api.v1 import sandbox_pb2 as pb
from sandcheck_api.v1 import sandbox_pb2_grpc as pb_grpc

from . import _auth
from ._exceptions import InvalidInput, InvalidRequest, ServerError, Unavailable
from ._types import CompileResult, ExecutionResult, Limits

DEFAULT_TARGET = "127.0.0.1:50051"
_MAX_MESSAGE = 64 * 1024 * 1024

# Texts the SDK sends with many requests (the isolated judge's harness), by
# their sha256 (hex): a request names such a file by digest (held_files) to
# a server whose GetInfo lists the digest, instead of sending the text.
_HELD_TEXTS: dict[bytes, str] = {}
_HELD_SIZES: set[int] = set()


def register_held_text(text: bytes) -> None:
    """Let requests name a file with this content by its sha256, to the servers that hold it."""
    _HELD_TEXTS[text] = hashlib.sha256(text).hexdigest()
    _HELD_SIZES.add(len(text))


def _names_held_text(program: Program) -> bool:
    return bool(program.files) and any(len(c) in _HELD_SIZES and c in _HELD_TEXTS for c in program.files.values())


def require_program(item: object) -> None:
    """InvalidInput unless `item` is a Program: a batch's item, checked before it is sent."""
    if not isinstance(item, Program):
        raise InvalidInput(f"a batch takes sandcheck.Program items, got {type(item).__name__}")


class _Requests:
    """A stream's requests, made as gRPC pulls them. The caller's error in making one
    (an item that is not a Program) ends the stream and is raised to the caller once
    the call ends (`reraise`): raised in gRPC's thread, it would come back as the
    server's UNKNOWN "Exception iterating requests!"."""

    def __init__(self, made: Iterator[Any]) -> None:
        self.made, self.error = made, None

    def __iter__(self) -> Iterator[Any]:
        try:
            yield from self.made
        except InvalidInput as exc:
            self.error = exc

    def reraise(self) -> None:
        if self.error is not None:
            raise self.error


# Targets that answered a text named by digest with "not held" (a fleet of
# several versions behind one address: GetInfo and the request met different
# servers): this process sends them every text whole from then on. The
# server runs nothing for such a request; a batch item comes back `rejected`
# (the dispatcher sends it again), a single execute is sent again at once.
_NOT_HOLDING: set[str] = set()
_NOT_HELD = "holds no text with sha256"


@dataclass(frozen=True)
class Program:
    """One program to run: the unit of a batch.

    `language` is one the server lists in its info (``python``, the default;
    ``cpp``, ``go``, ``go_test``, ``java``, ``js``, ``ts``, ``rust``, ``bash``).
    `compile_limits` bound a compiled language's compile step (None: the
    server's compile defaults).
    """

    source: str | bytes
    stdin: bytes = b""
    limits: Limits | None = None
    id: str = ""
    language: str = "python"
    # Put in the program's working directory (/tmp) before it runs: plain
    # file name -> content. A Python file NAME.py is importable as NAME.
    files: Mapping[str, bytes] | None = None
    compile_limits: Limits | None = None
    # Put in /tmp for the run only: a compiled language's build never sees
    # them, so one build serves runs with different data (a checker's files).
    run_files: Mapping[str, bytes] | None = None
    # argv after the program's name; every language but python.
    args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Checked here, where the caller made the mistake: protobuf would say only
        # "expected bytes, str found", and a str taken as args, or a None source,
        # would run as something else than was meant.
        _expect("source", self.source, (str, bytes), "str or bytes")
        _expect("stdin", self.stdin, bytes, "bytes (encode a str first)")
        _expect("id", self.id, str, "a str")
        _expect("language", self.language, str, "a str")
        for name in ("source", "id", "language"):
            _text(self, name, getattr(self, name))
        for name in ("limits", "compile_limits"):
            value = getattr(self, name)
            if value is not None:
                _expect(name, value, Limits, "a sandcheck.Limits or None")
        for name in ("files", "run_files"):
            value = getattr(self, name)
            if value is None:
                continue
            _expect(name, value, Mapping, "a mapping of file name to bytes, or None")
            for key, content in value.items():
                _expect(f"{name} key", key, str, "a str (a file name)")
                _expect(f"{name}[{key!r}]", content, bytes, "bytes (encode a str first)")
                _text(self, f"{name} key", key)
        if isinstance(self.args, (str, bytes)) or not isinstance(self.args, (tuple, list)):
            raise InvalidInput(f"Program.args must be a tuple of str, got {type(self.args).__name__}")
        for arg in self.args:
            _expect("args item", arg, str, "a str")
            _text(self, "args item", arg)


def _expect(field: str, value: object, kinds: type | tuple[type, ...], what: str) -> None:
    if not isinstance(value, kinds):
        raise InvalidInput(f"Program.{field} must be {what}, got {type(value).__name__}")


def _text(program: Program, field: str, value: object) -> None:
    """A str the request carries must encode as UTF-8: a lone surrogate ("\\ud800", which JSON
    can hold) would fail only as the request is sent, where gRPC calls it the server's error."""
    if type(value) is str and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            named = f"Program {program.id!r}" if field != "id" and type(program.id) is str and program.id else "Program"
            raise InvalidInput(f"{named}: {field} is not valid text ({value[exc.start:exc.end]!r} at "
                               f"{exc.start} cannot be encoded as UTF-8)") from None


_E = TypeVar("_E", Status, TimeoutKind)


def _named(kind: type[_E], proto_enum: Any, number: int) -> _E | None:
    """The member of `kind` named as the proto enum's value `number`; None if it has none."""
    try:
        return kind(proto_enum.Name(number))
    except ValueError:
        return None


class _BaseClient:
    def __init__(self, target: str = DEFAULT_TARGET, *, timeout: float | None = None, token: str | None = None,
                 tls_ca: str | None = None, tls_cert: str | None = None, tls_key: str | None = None,
                 connection: int = 0) -> None:
        self.target = target
        self.timeout = timeout
        # Auth (_auth.py): a bearer token (else $SANDCHECK_TOKEN) and TLS/mTLS material.
        self._token = _auth.resolve_token(token)
        self._creds = _auth.channel_credentials(tls_ca, tls_cert, tls_key)
        self._options = [
            ("grpc.max_receive_message_length", _MAX_MESSAGE),
            ("grpc.max_send_message_length", _MAX_MESSAGE),
            ("grpc.lb_policy_name", "round_robin"),
            # A server that died without closing its connections (host gone,
            # network cut) is noticed within ~40 s, so its work is resent.
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.keepalive_permit_without_calls", 1),
        ]
        if connection:
            # Channels with equal arguments share one connection; a distinct
            # one lands on another of the processes sharing a server's port.
            self._options.append(("sandcheck.connection", connection))

    # The SDK's edge: SDK values <-> proto messages, here and nowhere else.

    @staticmethod
    def _limits(lim: Limits | None) -> pb.Limits:
        lim = lim or Limits()
        return pb.Limits(cpu_time_ms=lim.cpu_time_ms or 0, wall_time_ms=lim.wall_time_ms or 0,
                         memory_bytes=lim.memory_bytes or 0, output_bytes=lim.output_bytes or 0)

    @staticmethod
    def _request(program: Program, held: frozenset[str] = frozenset()) -> pb.ExecuteRequest:
        """The request for `program`; a file whose text the server holds (`held`: their
        digests, from GetInfo) is named by digest, not sent."""
        source = program.source.encode("utf-8") if isinstance(program.source, str) else program.source
        files, held_files = dict(program.files or {}), {}
        if held and program.files:
            for name, content in program.files.items():
                digest = _HELD_TEXTS.get(content) if len(content) in _HELD_SIZES else None
                if digest in held:
                    held_files[name] = digest
                    del files[name]
        return pb.ExecuteRequest(
            id=program.id,
            language=program.language,
            source=source,
            stdin=program.stdin,
            limits=_BaseClient._limits(program.limits),
            files=files,
            compile_limits=_BaseClient._limits(program.compile_limits) if program.compile_limits else None,
            run_files=dict(program.run_files or {}),
            args=list(program.args),
            held_files=held_files,
        )

    def _note_refusals(self, results: list[ExecutionResult]) -> list[ExecutionResult]:
        """`results`, after noting whether this target refused a text named by digest
        (`_NOT_HOLDING`: the items come back rejected and are sent again whole)."""
        if any(r.rejected and _NOT_HELD in r.error for r in results):
            _NOT_HOLDING.add(self.target)
        return results

    @staticmethod
    def _not_held_refusal(req: pb.ExecuteRequest, exc: grpc.RpcError) -> bool:
        """Whether `exc` says that the server holds no text `req` named by digest (nothing ran)."""
        return (bool(req.held_files) and exc.code() == grpc.StatusCode.FAILED_PRECONDITION
                and _NOT_HELD in (exc.details() or ""))

    @staticmethod
    def _compile(resp: pb.ExecuteResponse) -> CompileResult | None:
        if not resp.HasField("compile"):
            return None
        c = resp.compile
        return CompileResult(
            status=_named(Status, pb.Status, c.status) or Status.SANDBOX_ERROR,
            timeout_kind=_named(TimeoutKind, pb.TimeoutKind, c.timeout_kind),
            exit_code=c.exit_code, stdout=c.stdout, stderr=c.stderr, wall_time_ms=c.wall_time_ms,
            cpu_time_ms=c.cpu_time_ms, memory_bytes=c.memory_bytes, cached=c.cached,
        )

    @staticmethod
    def _result(resp: pb.ExecuteResponse) -> ExecutionResult:
        rt = resp.runtime
        status, error = _named(Status, pb.Status, resp.status), resp.error
        if status is None:  # unset, or from a newer server: not a verdict on the program
            status, error = Status.SANDBOX_ERROR, error or f"unknown status {resp.status} from the server"
        return ExecutionResult(
            id=resp.id,
            status=status,
            exit_code=resp.exit_code,
            signal=resp.signal,
            stdout=resp.stdout,
            stderr=resp.stderr,
            stdout_truncated=resp.stdout_truncated,
            stderr_truncated=resp.stderr_truncated,
            report=resp.report,
            timeout_kind=_named(TimeoutKind, pb.TimeoutKind, resp.timeout_kind),
            wall_time_ms=resp.wall_time_ms,
            cpu_time_ms=resp.cpu_time_ms,
            memory_bytes=resp.memory_bytes,
            runtime=f"{rt.interpreter or rt.compiler} {rt.version}".strip(),
            limits={name: getattr(resp.limits, name) for name in pb.Limits.DESCRIPTOR.fields_by_name},
            error=error,
            rejected=resp.rejected,
            compile=_BaseClient._compile(resp),
        )

    @staticmethod
    def _error(exc: grpc.RpcError) -> ServerError:
        code = exc.code() if hasattr(exc, "code") else None
        details = exc.details() if hasattr(exc, "details") else str(exc)
        name = code.name if code else "UNKNOWN"
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return InvalidRequest(details, name)
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED,
                    grpc.StatusCode.DEADLINE_EXCEEDED):
            return Unavailable(f"{name}: {details}", name)
        return ServerError(f"{name}: {details}", name)

    @staticmethod
    def _info(resp: pb.ServerInfo) -> dict[str, Any]:
        from google.protobuf.json_format import MessageToDict

        return MessageToDict(resp, preserving_proto_field_name=True)


class Client(_BaseClient):
    """A blocking client. Use as a context manager, or call `close()`."""

    def __init__(self, target: str = DEFAULT_TARGET, *, timeout: float | None = None, connection: int = 0,
                 **auth: str | None) -> None:
        super().__init__(target, timeout=timeout, connection=connection, **auth)
        self._channel = _auth.sync_channel(target, self._options, self._token, self._creds)
        self._stub = pb_grpc.SandboxStub(self._channel)
        self._held: frozenset[str] | None = None

    def _request_for(self, program: Program) -> pb.ExecuteRequest:
        require_program(program)
        if not _names_held_text(program) or self.target in _NOT_HOLDING:
            return self._request(program)
        if self._held is None:  # asked once; a server that cannot say holds nothing for now
            try:
                self._held = frozenset(self._stub.GetInfo(pb.GetInfoRequest(), timeout=self.timeout or 30).held_files)
            except grpc.RpcError:
                return self._request(program)
        return self._request(program, self._held)

    def execute(self, source: str | bytes, *, stdin: bytes = b"", limits: Limits | None = None,
                language: str = "python", id: str = "", files: Mapping[str, bytes] | None = None,
                compile_limits: Limits | None = None) -> ExecutionResult:
        """Run one program and return how it ended."""
        program = Program(source, stdin, limits, id, language, files, compile_limits)
        req = self._request_for(program)
        try:
            return self._result(self._stub.Execute(req, timeout=self.timeout))
        except grpc.RpcError as exc:
            if not self._not_held_refusal(req, exc):
                raise self._error(exc) from None
        _NOT_HOLDING.add(self.target)  # nothing ran: again, with the text itself
        try:
            return self._result(self._stub.Execute(self._request(program), timeout=self.timeout))
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def execute_batch(self, programs: Iterable[Program]) -> Iterator[ExecutionResult]:
        """Stream programs to the server; yield each result as it finishes (any order)."""
        requests = _Requests(self._request_for(p) for p in programs)
        try:
            for resp in self._stub.ExecuteBatch(iter(requests), timeout=self.timeout):
                yield self._note_refusals([self._result(resp)])[0]
        except grpc.RpcError as exc:
            requests.reraise()
            raise self._error(exc) from None
        requests.reraise()

    def execute_chunks(self, chunks: Iterable[list[Program]]) -> Iterator[list[ExecutionResult]]:
        """`execute_batch` with several programs per message each way (ExecuteChunked):
        far less gRPC work per program for callers that can group them. Yields
        the results of each reply together, as they finish."""
        requests = _Requests(pb.RequestChunk(requests=[self._request_for(p) for p in chunk]) for chunk in chunks)
        try:
            for reply in self._stub.ExecuteChunked(iter(requests), timeout=self.timeout):
                yield self._note_refusals([self._result(resp) for resp in reply.responses])
        except grpc.RpcError as exc:
            requests.reraise()
            raise self._error(exc) from None
        requests.reraise()

    def info(self) -> dict[str, Any]:
        """The server's runtimes, limits and isolation notes."""
        try:
            return self._info(self._stub.GetInfo(pb.GetInfoRequest(), timeout=self.timeout))
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def wait_ready(self, timeout: float = 10.0) -> None:
        ready = grpc.channel_ready_future(self._channel)
        try:
            ready.result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise Unavailable(f"server at {self.target} not reachable within {timeout}s", "UNAVAILABLE") from None
        finally:
            ready.cancel()  # stops gRPC's watching of the channel, which would outlive close()

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_BaseClient):
    """An asyncio client with the same methods as `Client`, awaitable."""

    def __init__(self, target: str = DEFAULT_TARGET, *, timeout: float | None = None, **auth: str | None) -> None:
        super().__init__(target, timeout=timeout, **auth)
        self._channel = _auth.aio_channel(target, self._options, self._token, self._creds)
        self._stub = pb_grpc.SandboxStub(self._channel)
        self._held: frozenset[str] | None = None

    async def _request_for(self, program: Program) -> pb.ExecuteRequest:
        require_program(program)
        if not _names_held_text(program) or self.target in _NOT_HOLDING:
            return self._request(program)
        if self._held is None:  # asked once; a server that cannot say holds nothing for now
            try:
                info = await self._stub.GetInfo(pb.GetInfoRequest(), timeout=self.timeout or 30)
                self._held = frozenset(info.held_files)
            except grpc.RpcError:
                return self._request(program)
        return self._request(program, self._held)

    async def execute(self, source: str | bytes, *, stdin: bytes = b"", limits: Limits | None = None,
                      language: str = "python", id: str = "", files: Mapping[str, bytes] | None = None,
                      compile_limits: Limits | None = None) -> ExecutionResult:
        program = Program(source, stdin, limits, id, language, files, compile_limits)
        req = await self._request_for(program)
        try:
            return self._result(await self._stub.Execute(req, timeout=self.timeout))
        except grpc.RpcError as exc:
            if not self._not_held_refusal(req, exc):
                raise self._error(exc) from None
        _NOT_HOLDING.add(self.target)  # nothing ran: again, with the text itself
        try:
            return self._result(await self._stub.Execute(self._request(program), timeout=self.timeout))
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    async def execute_batch(self, programs: Iterable[Program] | AsyncIterable[Program]) -> AsyncIterator[ExecutionResult]:
        failed: list[InvalidInput] = []

        async def requests():
            # An item that is not a Program ends the stream here and is raised below: raised
            # inside it, gRPC would cancel the call and say only that.
            try:
                if isinstance(programs, AsyncIterable):
                    async for p in programs:
                        yield await self._request_for(p)
                else:
                    for p in programs:
                        yield await self._request_for(p)
            except InvalidInput as exc:
                failed.append(exc)

        try:
            async for resp in self._stub.ExecuteBatch(requests(), timeout=self.timeout):
                yield self._note_refusals([self._result(resp)])[0]
            if failed:
                raise failed[0]
        except grpc.RpcError as exc:
            if failed:
                raise failed[0] from None
            raise self._error(exc) from None

    async def info(self) -> dict[str, Any]:
        try:
            return self._info(await self._stub.GetInfo(pb.GetInfoRequest(), timeout=self.timeout))
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
