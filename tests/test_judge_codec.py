"""The strict value codec: plain values round-trip exactly; nothing else gets through."""

from __future__ import annotations

import collections
import math
import struct

import pytest

from sandcheck.judge.codec import MAX_DEPTH, CodecError, decode, encode

PLAIN = [
    None, True, False, 0, -1, 2**63 - 1, -(2**63), 2**63, -(2**200) + 7, 10**5000,
    0.0, -0.0, 1.5, 1e308, float("inf"), float("-inf"),
    "", "héllo", "\ud800 lone surrogate", b"", b"\x00\xff",
    [], (), {}, set(), frozenset(),
    [1, [2, (3, {4: {5, 6}})]], {"a": [1, 2.5], (1, "x"): frozenset({b"y", None}), None: {}},
    {True: 1, 2: False}, (("nested", ()),),
]


@pytest.mark.parametrize("value", PLAIN, ids=lambda v: type(v).__name__)
def test_plain_values_round_trip_with_their_exact_types(value) -> None:
    back = decode(encode(value))
    assert back == value
    assert _types(back) == _types(value)


def _types(v):
    if isinstance(v, dict):
        return (type(v), sorted((repr(_types(k)), repr(_types(x))) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return (type(v), [_types(x) for x in v])
    if isinstance(v, (set, frozenset)):
        return (type(v), sorted(repr(_types(x)) for x in v))
    return type(v)


def test_nan_and_signed_zero_keep_their_bits() -> None:
    nan = struct.unpack("<d", b"\x01\x00\x00\x00\x00\x00\xf8\x7f")[0]
    back = decode(encode(nan))
    assert math.isnan(back) and struct.pack("<d", back) == struct.pack("<d", nan)
    assert math.copysign(1.0, decode(encode(-0.0))) == -1.0
    assert decode(encode(None)) is None and decode(encode(True)) is True


class SneakyInt(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class Anything:
    def __eq__(self, other):
        return True


def _gen():
    yield 1


@pytest.mark.parametrize(
    "value",
    [SneakyInt(3), type("S", (str,), {})("x"), type("F", (float,), {})(1.0), Anything(), _gen(), object(),
     collections.OrderedDict(a=1), collections.defaultdict(int), collections.Counter("ab"),
     collections.namedtuple("P", "x y")(1, 2), [1, Anything()], {"k": (SneakyInt(1),)}, {SneakyInt(1): 2},
     1j, bytearray(b"x"), range(3), len, type, Exception("x")],
    ids=lambda v: type(v).__name__,
)
def test_anything_else_is_refused(value) -> None:
    with pytest.raises(CodecError, match="not plain data"):
        encode(value)


def test_self_reference_and_deep_nesting_are_refused() -> None:
    loop: list = []
    loop.append(loop)
    with pytest.raises(CodecError, match="deep"):
        encode(loop)
    ok: list = []
    for _ in range(MAX_DEPTH - 1):
        ok = [ok]
    assert decode(encode(ok)) == ok
    too_deep = b"l\x01\x00\x00\x00" * (MAX_DEPTH + 1) + b"N"
    with pytest.raises(CodecError, match="deep"):
        decode(too_deep)
    with pytest.raises(CodecError):
        decode(b"l\x01\x00\x00\x00" * 100_000 + b"N")


@pytest.mark.parametrize(
    "data",
    [b"", b"N N", b"NN", b"x", b"i\x00", b"f\x00\x00", b"s\xff\xff\xff\xff", b"s\x02\x00\x00\x00\xff\xfe",
     b"l\xff\xff\xff\x7fN", b"d\x01\x00\x00\x00l\x00\x00\x00\x00N",  # an unhashable key
     b"S\x01\x00\x00\x00d\x00\x00\x00\x00", b"b\x05\x00\x00\x00ab"],
)
def test_malformed_bytes_are_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode(data)
