"""A strict codec for plain values: what may cross between a judge and the code it judges.

    data = encode({"a": [1, 2.5, float("nan")], "b": (None, b"x", frozenset({1}))})
    decode(data)   # equal plain builtins again, never anything else

Allowed: None, bool, int, float (nan, inf and -0.0 too), str, bytes, list,
tuple, dict, set, frozenset, nested at most `MAX_DEPTH` deep. Types must be
exact: a subclass (an ``int`` with its own ``__eq__``, a ``defaultdict``),
a custom object or a generator is a `CodecError`, never coerced. `decode`
builds only those builtins, whatever bytes it is given, and raises
`CodecError` on anything malformed, so a judge can decode what an untrusted
process sends.

The bytes are JSON (parsed by the C decoder), with every container, bytes
and large int as a tagged array: ``["t", 1, 2]`` is ``(1, 2)``, ``["d",
k1, v1, ...]`` a dict, ``["b", "00ff"]`` bytes. Floats round-trip exactly
(NaN's sign and payload excepted).

Stdlib only, Python 3.8+: the isolated judge puts this file's text into
programs that run in the jail.
"""

import json

MAX_DEPTH = 100

_TAGS = {list: "l", tuple: "t", set: "s", frozenset: "z", dict: "d"}
_BUILD = {"l": list, "t": tuple, "s": set, "z": frozenset}
# Types that are JSON as they are; an int only within 64 bits.
_AS_IS = frozenset((str, float, bool, type(None)))
_INT64 = 1 << 63
# Built once: json.dumps and json.loads build an encoder (or take the slow
# path for bytes) on every call, most of the cost of a small value. No cycle
# can reach the encoder (_to_json stops at MAX_DEPTH), so it skips that check.
_dumps = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
_raw_decode = json.JSONDecoder().raw_decode
_space = json.decoder.WHITESPACE.match


class CodecError(ValueError):
    """A value that is not plain data, or bytes that do not decode to one."""


def encode(value, max_depth=MAX_DEPTH):
    """The bytes for `value`; `CodecError` if it is, or holds, anything not allowed."""
    try:
        return _dumps(_to_json(value, max_depth)).encode()
    except RecursionError:
        raise CodecError("value nested too deeply") from None


def decode(data, max_depth=MAX_DEPTH):
    """The plain value `data` encodes; `CodecError` if it is not exactly one encoded value."""
    try:
        text = data if type(data) is str else bytes(data).decode("utf-8")
        value, end = _raw_decode(text, _space(text, 0).end())
        if _space(text, end).end() != len(text):
            raise ValueError("extra data")
        return _from_json(value, max_depth)
    except CodecError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, RecursionError, MemoryError) as exc:
        raise CodecError("malformed data: %s" % type(exc).__name__) from None


def _to_json(v, depth):
    t = type(v)
    if t in _AS_IS:
        return v
    if t is int:
        return v if -_INT64 <= v < _INT64 else ["i", "%x" % v]
    if t is bytes:
        return ["b", v.hex()]
    tag = _TAGS.get(t)
    if tag is None:
        raise CodecError("a value of type %s is not plain data" % _type_name(t))
    if depth <= 0:
        raise CodecError("value nested too deeply")
    depth -= 1
    out = [tag]
    if t is dict:
        for k, x in dict.items(v):
            out.append(k if type(k) in _AS_IS else _to_json(k, depth))
            out.append(x if type(x) in _AS_IS else _to_json(x, depth))
    else:  # the common leaves inline: a call per item costs more than the item
        out += [x if type(x) in _AS_IS or (type(x) is int and -_INT64 <= x < _INT64) else _to_json(x, depth)
                for x in v]
    return out


def _from_json(v, depth):
    t = type(v)
    if t is not list:
        if t is dict:
            raise CodecError("malformed data: a JSON object")
        return v  # json makes only None, bool, int, float, str besides
    tag = v[0]
    if tag in ("i", "b") and len(v) == 2 and type(v[1]) is str:
        return int(v[1], 16) if tag == "i" else bytes.fromhex(v[1])
    if depth <= 0:
        raise CodecError("value nested too deeply")
    depth -= 1
    items = [_from_json(x, depth) if type(x) is list or type(x) is dict else x for x in v[1:]]
    if tag == "d" and len(items) % 2 == 0:
        return dict(zip(items[::2], items[1::2]))
    return _BUILD[tag](items)


def _type_name(t):
    try:
        return t.__qualname__ if t.__module__ == "builtins" else "%s.%s" % (t.__module__, t.__qualname__)
    except Exception:
        return "<unnamed type>"
