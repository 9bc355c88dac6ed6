"""The strict value codec: plain values round-trip exactly; nothing else gets through."""

from __future__ import annotations

import collections
import math

import pytest

from sandcheck.judges.codec import MAX_DEPTH, CodecError, decode, encode

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


def test_nan_inf_and_signed_zero_survive() -> None:
    assert math.isnan(decode(encode(float("nan"))))
    assert decode(encode([float("inf"), float("-inf")])) == [float("inf"), float("-inf")]
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
    too_deep = b'["l",' * (MAX_DEPTH + 1) + b"null" + b"]" * (MAX_DEPTH + 1)
    with pytest.raises(CodecError, match="deep"):
        decode(too_deep)
    with pytest.raises(CodecError):
        decode(b"[" * 100_000 + b"]" * 100_000)


@pytest.mark.parametrize(
    "data",
    [b"", b"1 2", b"nul", b"[]", b'["x", 1]', b'{"a": 1}', b'["l", {"a": 1}]', b'["d", 1]',
     b'["d", ["l"], 1]',  # an unhashable key
     b'["s", ["d"]]', b'["b", "zz"]', b'["i", 12]', b'["i", "1", "2"]', b"\xff\xfe", b"1" * 5000],
)
def test_malformed_bytes_are_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode(data)
