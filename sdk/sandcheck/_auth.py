"""Client-side auth: a bearer token on every call, TLS or mTLS channels."""

from __future__ import annotations

import os
from pathlib import Path

import grpc
import grpc.aio


def resolve_token(token: str | None) -> str | None:
    """The explicit token, else $SANDCHECK_TOKEN, else none."""
    return token or os.environ.get("SANDCHECK_TOKEN") or None


def channel_credentials(tls_ca: str | None, tls_cert: str | None, tls_key: str | None) -> grpc.ChannelCredentials | None:
    """TLS credentials when any TLS file is given (mTLS with a cert and key), else None."""
    if not (tls_ca or tls_cert or tls_key):
        return None
    if bool(tls_cert) != bool(tls_key):
        raise ValueError("a client certificate needs both tls_cert and tls_key")

    def read(path: str | None) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return grpc.ssl_channel_credentials(root_certificates=read(tls_ca), private_key=read(tls_key),
                                        certificate_chain=read(tls_cert))


def _with_token(details, token: str, factory):
    metadata = list(details.metadata or []) + [("authorization", f"Bearer {token}")]
    return factory(details, metadata)


class _SyncDetails(grpc.ClientCallDetails):
    def __init__(self, base, metadata) -> None:
        self.method = base.method
        self.timeout = base.timeout
        self.metadata = metadata
        self.credentials = base.credentials
        self.wait_for_ready = getattr(base, "wait_for_ready", None)
        self.compression = getattr(base, "compression", None)


class _SyncToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                 grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    def __init__(self, token: str) -> None:
        self.token = token

    def _go(self, continuation, details, request):
        return continuation(_with_token(details, self.token, _SyncDetails), request)

    intercept_unary_unary = intercept_unary_stream = _go
    intercept_stream_unary = intercept_stream_stream = _go


def _aio_details(base, metadata):
    return grpc.aio.ClientCallDetails(base.method, base.timeout, grpc.aio.Metadata(*metadata),
                                      base.credentials, base.wait_for_ready)


class _AioToken(grpc.aio.UnaryUnaryClientInterceptor, grpc.aio.UnaryStreamClientInterceptor,
                grpc.aio.StreamUnaryClientInterceptor, grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, token: str) -> None:
        self.token = token

    async def _go(self, continuation, details, request):
        return await continuation(_with_token(details, self.token, _aio_details), request)

    async def intercept_unary_unary(self, continuation, details, request):
        return await self._go(continuation, details, request)

    async def intercept_unary_stream(self, continuation, details, request):
        return await self._go(continuation, details, request)

    async def intercept_stream_unary(self, continuation, details, request_iterator):
        return await self._go(continuation, details, request_iterator)

    async def intercept_stream_stream(self, continuation, details, request_iterator):
        return await self._go(continuation, details, request_iterator)


def sync_channel(target: str, options, token: str | None, creds: grpc.ChannelCredentials | None) -> grpc.Channel:
    channel = grpc.secure_channel(target, creds, options=options) if creds else grpc.insecure_channel(target, options=options)
    return grpc.intercept_channel(channel, _SyncToken(token)) if token else channel


def aio_channel(target: str, options, token: str | None, creds: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    interceptors = [_AioToken(token)] if token else None
    if creds:
        return grpc.aio.secure_channel(target, creds, options=options, interceptors=interceptors)
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
