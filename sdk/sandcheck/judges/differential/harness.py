"""The program that runs a solution on a task's inputs inside the jail.

It executes the solution with fresh globals (so ``__name__`` is not
``"__main__"``), then calls the entry point on each input in order, as
EvalPlus does, under a per-input CPU-time limit (``ITIMER_PROF``). The
solution's prints are swallowed. After each call it writes one record to
stdout: the input's index, how the call ended, the return value in the
judge's strict codec (`sandcheck.judges.codec`), and the call's CPU time.
The judge compares the values outside the jail, so nothing the solution
does in its own process can change what the expected outputs are or how
the comparison is made; it can only give its own answers. It stops at the
first input that raises or runs out of time (the verdict is then a failure),
unless asked to keep going.

Records are lines ``<nonce> <index> <kind> <base64 value> <cpu seconds>``;
kind is ``value``, ``retyped`` (a value whose own type was not the builtin it
travels as: a subclass, or numpy's scalar), ``digest`` (the value is large: only the sha256 of its
encoding travels), ``opaque`` (the return value is not plain data: only its
type name travels), ``error``, ``timeout``, or ``load`` (the solution itself
failed to run or lacks the entry point, index -1).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from .. import codec

_CODEC_SOURCE = files(codec.__package__).joinpath("codec.py").read_text(encoding="utf-8")

# Values travel whole up to VALUE_MAX bytes each and BUDGET in all (the
# output cap is 16 MiB, base64 adds a third); past that only their sha256.
# Lists and tuples longer than LONG are hashed item by item.
VALUE_MAX = 1 << 20
BUDGET = 10 << 20
LONG = 100_000

_RUNNER = r'''
inf = float("inf")
nan = float("nan")


_EXACT = (type(None), bool, int, float, complex, str, bytes, list, tuple, set, frozenset, dict)


def plain(v, complex_mark, depth=0):
    """`v` as exact builtins: subclasses (Counter, OrderedDict, namedtuple, IntEnum) as their base
    type, numpy's scalars as the Python number they hold (np.int64(3) == 3 there too), complex
    numbers as (complex_mark, real, imag); anything else stays and fails to encode."""
    t = type(v)
    if v is None or t is bool or t is int or t is float or t is str or t is bytes:
        return v
    if t is complex:
        return (complex_mark, v.real, v.imag)
    if depth > MAX_DEPTH:
        raise CodecError("value nested too deeply")
    depth += 1
    if isinstance(v, dict):
        return {plain(k, complex_mark, depth): plain(x, complex_mark, depth) for k, x in dict.items(v)}
    for base in (list, tuple, set, frozenset):
        if isinstance(v, base):
            return base(plain(x, complex_mark, depth) for x in base.__iter__(v))
    if isinstance(v, bool):
        return bool(v)
    for base in (int, float, complex, str, bytes):
        if isinstance(v, base):
            return plain(base(v), complex_mark, depth)
    if getattr(t, "__module__", None) == "numpy" and getattr(v, "ndim", None) == 0 and hasattr(v, "item"):
        return plain(v.item(), complex_mark, depth)
    return v


def long_digest(value, complex_mark):
    """sha256 over a long list's items one by one, never its whole encoding at once (memory)."""
    import hashlib

    h = hashlib.sha256(b"l" if isinstance(value, list) else b"t")
    for x in value:
        item = encode(plain(x, complex_mark))
        h.update(len(item).to_bytes(8, "little"))
        h.update(item)
    return h.digest()


def _sandcheck_run(code, entry_point, inputs, limits, nonce, keep_going, as_set=False):
    import base64
    import hashlib
    import os
    import signal
    import sys
    import time

    out = os.dup(1)
    budget = BUDGET

    def emit(index, kind, payload=b"", seconds=0.0):
        line = "\n%s %d %s %s %.6f\n" % (nonce, index, kind, base64.b64encode(payload).decode(), seconds)
        os.write(out, line.encode())

    class Sink:
        def write(self, text):
            return len(text)

        def flush(self):
            pass

    class OutOfTime(BaseException):
        pass

    def expire(signum, frame):
        raise OutOfTime()

    complex_mark = nonce + ":complex"
    sys.stdout = sys.stderr = Sink()
    namespace = {}
    try:
        exec(compile(code, "<solution>", "exec"), namespace)
        fn = namespace[entry_point]
    except BaseException as exc:
        emit(-1, "load", ("%s: %s" % (type(exc).__name__, exc)).encode("utf-8", "replace")[:500])
        return
    signal.signal(signal.SIGPROF, expire)
    for index, args in enumerate(inputs):
        start = time.process_time()
        try:
            signal.setitimer(signal.ITIMER_PROF, limits[index])
            try:
                value = fn(*args)
                if as_set and type(value) not in _EXACT:
                    # EvalPlus compares set(out): a generator or a view is as good as a list
                    # there (read within the input's time limit; one that cannot be read stays).
                    try:
                        value = list(value)
                    except Exception:
                        pass
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
        except OutOfTime:
            emit(index, "timeout", b"", time.process_time() - start)
            if keep_going:
                continue
            return
        except BaseException as exc:
            emit(index, "error", ("%s: %s" % (type(exc).__name__, exc)).encode("utf-8", "replace")[:500],
                 time.process_time() - start)
            if keep_going:
                continue
            return
        seconds = time.process_time() - start
        try:
            if isinstance(value, (list, tuple)) and len(value) > LONG:
                emit(index, "digest", long_digest(value, complex_mark), seconds)
                continue
            payload = encode(plain(value, complex_mark))
            # EvalPlus checks type(out) == type(exp) where they are not equal: a numpy float
            # or a namedtuple that came back as a builtin must still fail that check.
            kind = "value" if type(value) in _EXACT else "retyped"
        except CodecError:
            emit(index, "opaque", type(value).__name__.encode("utf-8", "replace")[:200], seconds)
            continue
        except BaseException as exc:  # encoding a pathological value failed (memory...)
            emit(index, "error", ("%s while encoding the result" % type(exc).__name__).encode(), seconds)
            return
        if len(payload) <= min(VALUE_MAX, budget):
            budget -= len(payload)
            emit(index, kind, payload, seconds)
        else:
            emit(index, "digest", hashlib.sha256(payload).digest(), seconds)
'''


def build_program(code: str, entry_point: str, inputs: str, limits: list[float], nonce: str,
                  keep_going: bool = False, as_set: bool = False) -> str:
    """`inputs` is `inputs_literal`'s text; outputs come back as codec bytes.

    `keep_going`: an input that raises or runs out of time does not end the
    run (EvalPlus's ``--test-details``: every input gets a verdict).
    `as_set`: the task compares outputs as sets, so an iterable result that is
    not plain data (a generator) travels as the list of what it yields.
    """
    call = (f"_sandcheck_run({code!r}, {entry_point!r}, {inputs}, {limits!r}, {nonce!r}, {keep_going!r}, "
            f"{as_set!r})\n")
    limits_text = f"VALUE_MAX = {VALUE_MAX}\nBUDGET = {BUDGET}\nLONG = {LONG}\n"
    return _CODEC_SOURCE + "\n" + limits_text + _RUNNER + "\n" + call


def inputs_literal(inputs: list[list[Any]]) -> str:
    """Inputs travel as Python literals: the dataset's own values (tuples, sets, complex, inf) exactly."""
    return "[" + ", ".join("(" + "".join(repr(a) + ", " for a in args) + ")" for args in inputs) + "]"


def digest(record: "Record") -> bytes | None:
    """The sha256 of a value's encoding, whether it travelled whole or as a digest."""
    if record.kind == "digest":
        return record.value
    if record.kind == "value":
        try:
            v = record.value
            if type(v) in (list, tuple) and len(v) > LONG:  # the harness's long_digest
                h = hashlib.sha256(b"l" if type(v) is list else b"t")
                for x in v:
                    item = codec.encode(x)
                    h.update(len(item).to_bytes(8, "little"))
                    h.update(item)
                return h.digest()
            return hashlib.sha256(codec.encode(v)).digest()
        except codec.CodecError:  # holds complex numbers: never sent as a digest by the jail anyway
            return None
    return None


@dataclass(frozen=True)
class Record:
    """What the program said about one input."""

    kind: str
    value: Any = None
    detail: str = ""
    seconds: float = 0.0
    exact_type: bool = True  # False: the value's own type was not the builtin it came back as


def complex_marked(value: Any, mark: str) -> Any:
    """Complex numbers as (mark, real, imag) tuples, for the codec (which has no complex)."""
    t = type(value)
    if t is complex:
        return (mark, value.real, value.imag)
    if t is dict:
        return {complex_marked(k, mark): complex_marked(x, mark) for k, x in value.items()}
    if t in (list, tuple, set, frozenset):
        return t(complex_marked(x, mark) for x in value)
    return value


def complex_back(value: Any, mark: str) -> Any:
    """Undo the harness's complex marking: (mark, real, imag) tuples are complex numbers again."""
    t = type(value)
    if t is tuple and len(value) == 3 and value[0] == mark and all(type(x) is float for x in value[1:]):
        return complex(value[1], value[2])
    if t is dict:
        return {complex_back(k, mark): complex_back(x, mark) for k, x in value.items()}
    if t in (list, tuple, set, frozenset):
        return t(complex_back(x, mark) for x in value)
    return value


def parse_records(stdout: bytes, nonce: str) -> dict[int, Record]:
    """Records by input index; the first record for an index counts; malformed lines are ignored."""
    mark = nonce + ":complex"
    records: dict[int, Record] = {}
    prefix = nonce.encode() + b" "
    for line in stdout.split(b"\n"):
        if not line.startswith(prefix):
            continue
        parts = line[len(prefix):].split(b" ")
        if len(parts) != 4:
            continue
        try:
            index, kind, payload, seconds = int(parts[0]), parts[1].decode(), base64.b64decode(parts[2]), float(parts[3])
        except (ValueError, UnicodeDecodeError):
            continue
        if index in records:
            continue
        if kind in ("value", "retyped"):
            try:
                value = codec.decode(payload)
                records[index] = Record("value", complex_back(value, mark) if mark.encode() in payload else value,
                                        seconds=seconds, exact_type=kind == "value")
            except codec.CodecError:
                records[index] = Record("error", detail="malformed value", seconds=seconds)
        elif kind == "digest":
            records[index] = Record(kind, payload, seconds=seconds)
        else:
            records[index] = Record(kind, detail=payload.decode("utf-8", "replace"), seconds=seconds)
    return records
