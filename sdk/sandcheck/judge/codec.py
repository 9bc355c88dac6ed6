"""A strict codec for plain values: what may cross between a judge and the code it judges.

    data = encode({"a": [1, 2.5, float("nan")], "b": (None, b"x", frozenset({1}))})
    decode(data) == ...   # plain builtins again, never anything else

Allowed: None, bool, int, float (nan, inf and -0.0 kept bit for bit), str,
bytes, list, tuple, dict, set, frozenset, nested up to `MAX_DEPTH`. Types
must be exact: a subclass (an ``int`` with its own ``__eq__``, a
``defaultdict``), a custom object or a generator is a `CodecError`, never
coerced. `decode` builds only those builtins, whatever bytes it is given,
and raises `CodecError` on anything malformed, so a judge can decode what
an untrusted process sends.

This file is stdlib-only and Python 3.8+ compatible, and defines no other
module-level names than its API (and `_`-prefixed helpers): the isolated
judge puts its text into programs that run in the jail.
"""

import struct

MAX_DEPTH = 100

_I64 = struct.Struct("<q")
_F64 = struct.Struct("<d")
_U32 = struct.Struct("<I")


class CodecError(ValueError):
    """A value that is not plain data, or bytes that do not decode to one."""


def encode(value, max_depth=MAX_DEPTH):
    """The bytes for `value`; `CodecError` if it is, or holds, anything not allowed."""
    out = []
    try:
        _encode(value, out, max_depth)
    except RecursionError:
        raise CodecError("value nested too deeply") from None
    return b"".join(out)


def decode(data, max_depth=MAX_DEPTH):
    """The plain value `data` encodes; `CodecError` if `data` is not exactly one encoded value."""
    if type(data) is not bytes:
        data = bytes(data)
    try:
        value, pos = _decode(data, 0, max_depth)
    except CodecError:
        raise
    except (struct.error, IndexError, TypeError, ValueError, RecursionError, MemoryError) as exc:
        raise CodecError("malformed data: %s" % type(exc).__name__) from None
    if pos != len(data):
        raise CodecError("malformed data: %d trailing bytes" % (len(data) - pos))
    return value


def _encode(v, out, depth):
    t = type(v)
    if v is None:
        out.append(b"N")
    elif t is bool:
        out.append(b"T" if v else b"F")
    elif t is int:
        if -(1 << 63) <= v < (1 << 63):
            out.append(b"i" + _I64.pack(v))
        else:
            raw = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
            out.append(b"I" + _U32.pack(len(raw)) + raw)
    elif t is float:
        out.append(b"f" + _F64.pack(v))
    elif t is str:
        raw = v.encode("utf-8", "surrogatepass")
        out.append(b"s" + _U32.pack(len(raw)) + raw)
    elif t is bytes:
        out.append(b"b" + _U32.pack(len(v)) + v)
    elif t in _CONTAINER_TAGS:
        if depth <= 0:
            raise CodecError("value nested too deeply")
        if t is dict:
            out.append(b"d" + _U32.pack(len(v)))
            for k, x in dict.items(v):
                _encode(k, out, depth - 1)
                _encode(x, out, depth - 1)
        else:
            items = list(v)
            out.append(_CONTAINER_TAGS[t] + _U32.pack(len(items)))
            for x in items:
                _encode(x, out, depth - 1)
    else:
        raise CodecError("a value of type %s is not plain data" % _type_name(t))


_CONTAINER_TAGS = {list: b"l", tuple: b"t", set: b"S", frozenset: b"z", dict: b"d"}
_BUILD = {0x6C: list, 0x74: tuple, 0x53: set, 0x7A: frozenset}  # l t S z


def _decode(data, pos, depth):
    tag = data[pos]
    pos += 1
    if tag == 0x4E:  # N
        return None, pos
    if tag == 0x54:  # T
        return True, pos
    if tag == 0x46:  # F
        return False, pos
    if tag == 0x69:  # i
        return _I64.unpack_from(data, pos)[0], pos + 8
    if tag == 0x66:  # f
        return _F64.unpack_from(data, pos)[0], pos + 8
    if tag in (0x49, 0x73, 0x62):  # I s b: a length, then raw bytes
        n = _U32.unpack_from(data, pos)[0]
        pos += 4
        if n > len(data) - pos:
            raise CodecError("malformed data: length past the end")
        raw = data[pos:pos + n]
        pos += n
        if tag == 0x62:
            return raw, pos
        if tag == 0x73:
            return raw.decode("utf-8", "surrogatepass"), pos
        return int.from_bytes(raw, "little", signed=True), pos
    if tag == 0x64 or tag in _BUILD:  # d, or l t S z
        if depth <= 0:
            raise CodecError("value nested too deeply")
        n = _U32.unpack_from(data, pos)[0]
        pos += 4
        if n > len(data) - pos:  # every item takes at least one byte
            raise CodecError("malformed data: count past the end")
        if tag == 0x64:
            d = {}
            for _ in range(n):
                k, pos = _decode(data, pos, depth - 1)
                d[k], pos = _decode(data, pos, depth - 1)
            return d, pos
        items = []
        for _ in range(n):
            x, pos = _decode(data, pos, depth - 1)
            items.append(x)
        return _BUILD[tag](items), pos
    raise CodecError("malformed data: unknown tag %d" % tag)


def _type_name(t):
    try:
        return "%s.%s" % (t.__module__, t.__qualname__) if t.__module__ != "builtins" else t.__qualname__
    except Exception:
        return "<unnamed type>"
