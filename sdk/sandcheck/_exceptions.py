"""Errors the SDK raises.

    SandcheckError
    ├── InvalidInput        bad samples/problems/arguments; nothing ran
    ├── ServerError         the server refused or failed a request
    │   ├── InvalidRequest  INVALID_ARGUMENT: the request is malformed
    │   └── Unavailable     UNAVAILABLE / RESOURCE_EXHAUSTED: retry later
    └── EmbeddedServerError the embedded server could not start
"""

from __future__ import annotations


class SandcheckError(Exception):
    """Base of every sandcheck error."""


class InvalidInput(SandcheckError):
    """The caller's input is malformed; nothing was run."""


class ServerError(SandcheckError):
    """The server refused or failed a request."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class InvalidRequest(ServerError):
    """The server rejected the request as malformed (INVALID_ARGUMENT)."""


class Unavailable(ServerError):
    """The server is unreachable or overloaded; the request may be retried."""


class EmbeddedServerError(SandcheckError):
    """The embedded local server could not be started."""
