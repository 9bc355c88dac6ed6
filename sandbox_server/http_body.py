"""A `POST /run_code` body as SandboxFusion's RunCodeRequest, decoded with memory bounded.

msgspec decodes the JSON straight into the fields below and skips every other
field without building it: a 49 MiB body of `{},{},...` in an unknown field
costs no more than its bytes (the standard library's json built 1.3 GB of
dicts from one). Types are checked as the body is read; a field of the wrong
type is a 422 that names it.

JSON may spell a lone UTF-16 surrogate (`"\\ud800"`), which is no text and
which msgspec refuses for the whole body. To name the field, such escapes are
replaced by U+10FFFF (a noncharacter, first checked absent from the body) and
the body decoded again: a field that then holds U+10FFFF had one.
"""

from __future__ import annotations

import re

import msgspec


class BadRequest(Exception):
    """The request cannot be run; `status` is the HTTP status, `loc` the field at fault."""

    def __init__(self, status: int, message: str, loc: str | None = None) -> None:
        super().__init__(message)
        self.status, self.loc = status, loc


class RunCodeRequest(msgspec.Struct, frozen=True):
    """SandboxFusion's request fields; any other field is skipped unread."""

    code: str | None = None
    language: str | None = None
    stdin: str | None = None
    files: dict[str, str | None] | None = None
    fetch_files: list[str] | None = None
    compile_timeout: float | None = None
    run_timeout: float | None = None
    memory_limit_MB: float | None = None


_TEXT_FIELDS = ("code", "language", "stdin")
_LONE = "\U0010ffff"
_LONE_ESCAPE = rb"\udbff\udfff"
# Escaped backslashes (kept, so that `\\ud800` stays text), surrogate pairs (kept), lone surrogates.
_SURROGATES = re.compile(rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?|\\u[dD][c-fC-F][0-9a-fA-F]{2}")
# strict=False: a number sent as a string ("run_timeout": "5") is read as pydantic's lax
# mode reads it, which SandboxFusion's FastAPI uses; strings stay strings.
_DECODER = msgspec.json.Decoder(RunCodeRequest, strict=False)


def decode(body: bytes | bytearray) -> RunCodeRequest:
    """The request in `body`; BadRequest 400 for a body that is not a JSON object,
    422 naming the field for a field that is malformed."""
    try:
        return _DECODER.decode(body)
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc)) from None
    except msgspec.DecodeError as exc:
        if b"\\u" in body and re.search(rb"\\u[dD][89a-fA-F]", body):
            return _with_lone_surrogates(body)
        raise BadRequest(400, f"request body is not valid JSON: {exc}") from None


def _invalid(message: str) -> BadRequest:
    """msgspec's "Expected `str | null`, got `int` - at `$.code`" as a 422 on `code`."""
    what, at, path = message.rpartition(" - at `$.")
    if not at:
        return BadRequest(400, f"the request body must be a JSON object ({message})")
    field = re.match(r"[A-Za-z_]+", path)
    name = field.group(0) if field else "body"
    return BadRequest(422, f"{name}: {what or message}", name)


def _with_lone_surrogates(body: bytes | bytearray) -> RunCodeRequest:
    if _LONE.encode() in body or re.search(rb"\\u[dD][bB][fF][fF]\\u[dD][fF][fF][fF]", body):
        raise BadRequest(422, "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff): code, stdin "
                              "and file names must be text")

    def neutral(m: re.Match) -> bytes:
        token = m.group(0)
        return token if token == rb"\\" or len(token) == 12 else _LONE_ESCAPE

    try:
        req = _DECODER.decode(_SURROGATES.sub(neutral, body))
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(400, f"request body is not valid JSON: {exc}") from None
    for name in _TEXT_FIELDS:
        if _LONE in (getattr(req, name) or ""):
            raise _lone(name)
    if any(_LONE in path or _LONE in (content or "") for path, content in (req.files or {}).items()):
        raise _lone("files")
    if any(_LONE in path for path in req.fetch_files or ()):
        raise _lone("fetch_files")
    return req  # the lone surrogate was in a field this server does not read


def _lone(name: str) -> BadRequest:
    return BadRequest(422, f"{name} holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text", name)
