"""The isolated judge's harness: its judge process. Its text runs in the jail.

The SDK only reads this file as text. It runs under the jail's Python:
stdlib only, 3.8+. After codec.py's text and isolated_candidate.py's (the
candidate's side) it travels as the check's judge (the server's
``.judge.py``), whose ``judge()`` the server runs in a judge process of its
own that never runs the candidate; a warm jail keeps that process across
checks, so a check forks only the candidate. Nothing secret is in the text.

1. The candidate process starts with /dev/null on fd 0 and, on fd 3, a
   socket to the judge process instead of the report channel. It runs the
   prompt and the completion, then answers calls: each request and reply is
   one codec value on a line of its own (the codec's JSON holds no raw
   newline).
2. The judge process is non-dumpable (no process of the same uid may ptrace
   it, read its memory or take its fds with pidfd_getfd) and blocks every
   signal it can; it alone reads fd 0: the nonce, the entry point, the prompt
   and the test, which the candidate never holds. It runs the prompt's
   complete statements (the problem's own helpers) and the test, binds the
   entry point, and the names the test looks up that only the candidate
   defines (never a builtin), to proxies, and calls ``check``.
3. A reply is a plain value, or a builtin exception type with its args, which
   the proxy raises as such (StopIteration as RuntimeError, as PEP 479 does
   in generators: a test's loop over ``map(candidate, ...)`` must not just
   stop). Anything else (a result that is not plain data, malformed or
   oversized bytes, a broken channel) ends the check at once: the failure is
   reported, and a test that catches what the proxy raised gets it again at
   every later call; the check is failed whatever the test does next. If the
   candidate process ended, the check ends as it did (exit status or
   signal), so the server's status says what the candidate did.
4. After ``check()`` returned, every other process in the jail is killed, and
   only then is ``<nonce> passed`` written to fd 3.

The judge process reads no file: the server gives it its code, and its
traceback lines, from memory, and the test compiles as ``<check>``.
"""

import os
import signal

_MAX_LINE = 64 << 20  # bytes in one reply


def judge():
    """The judge process's side of one check (fds: 0 stdin, 1 stdout, 2
    stderr, 3 report, 4 the channel to the program). The check's exit
    status, or None: the program ended first, so the check ends as it did."""
    import builtins

    chunks = []
    while True:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    spec = decode(b"".join(chunks))  # noqa: F821
    return _trusted(spec, 4, _Lines(4), vars(builtins))  # noqa: F821  (isolated_candidate.py's text)


class _Ended(BaseException):
    """The check is over (the candidate broke the protocol or ended): raised
    where the test called the candidate, and again at every later call."""


def _trusted(spec, requests, replies, builtins):
    nonce, entry_point = spec["nonce"], spec["entry_point"]
    ended = []  # [exit status or None] once the check is over, whatever the test then does

    def stop():
        """Kill the candidate and all it started: every process in the jail
        but this one and PID 1."""
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass

    def end(reason):
        """End the check now, failed; `reason` None: the candidate ended, so
        it ends as the candidate did. The test cannot undo it by catching."""
        if not ended:
            stop()
            if reason is not None:
                os.write(3, ("%s failed: %s" % (nonce, reason)).encode("utf-8", "replace")[:3000])
            ended.append(None if reason is None else 1)
        raise _Ended()

    def call(request):
        """Send `request` (None: just read the answer to loading). Return the
        reply's value or raise its exception; anything else, including any
        failure of the channel itself, ends the check."""
        if ended:
            raise _Ended()
        try:
            if request is not None:
                try:
                    data = encode(request)  # noqa: F821
                except CodecError as exc:  # noqa: F821
                    end("an argument cannot be sent to the candidate: %s" % exc)
                _write_all(requests, data + b"\n")  # noqa: F821
            line = replies.readline(_MAX_LINE + 1)
        except _Ended:
            raise
        except OSError:
            line = b""
        except BaseException as exc:
            end("the channel to the candidate failed: %r" % (exc,))
        if not line.endswith(b"\n"):
            end(None if len(line) <= _MAX_LINE else "a reply over %d bytes" % _MAX_LINE)
        try:
            reply = decode(line)  # noqa: F821
        except BaseException as exc:
            end("malformed reply from the candidate: %s" % (exc,))
        kind = reply[0] if type(reply) is tuple and reply else None
        size = len(reply) if kind else 0
        if kind == ("ok" if request else "ready") and size == 2:
            return reply[1]
        if kind == "raise" and size == 3 and type(reply[1]) is str and type(reply[2]) is tuple:
            cls = builtins.get(reply[1])
            if not (isinstance(cls, type) and issubclass(cls, BaseException)):
                cls = Exception
            if issubclass(cls, (StopIteration, StopAsyncIteration)):
                # As PEP 479 does for generators: raised through map() or
                # iter(f, sentinel), it would end the test's loop early.
                raise RuntimeError("the candidate raised %s" % reply[1])
            for cls in cls.__mro__:  # BaseException takes any args
                try:
                    exc = cls(*reply[2])
                except Exception:
                    continue
                raise exc
        end(reply[1] if kind == "bad" and size == 2 and type(reply[1]) is str else "malformed reply from the candidate")

    def proxy(name):
        def proxy(*args, **kwargs):
            return call((name, args, kwargs))

        proxy.__name__ = proxy.__qualname__ = name
        return proxy

    namespace, source = {}, None
    try:
        # The test's definitions first, while the candidate loads: by then
        # its answer to loading has most often arrived.
        code, globals_used, source = _compiled(spec["prompt"], spec["test"])
        exec(code, namespace)
        names = set(call(None))
        # The prompt's helpers and the builtins stay trusted.
        for name in {n for n in globals_used & names if n not in namespace and n not in builtins} | {entry_point}:
            namespace[name] = proxy(name)
        namespace["check"](namespace[entry_point])
    except BaseException as exc:
        if ended:
            return ended[0]
        stop()
        os.write(3, ("%s failed: %s" % (nonce, exc)).encode("utf-8", "replace")[:3000])
        if source is not None:  # the traceback then shows the test's lines, from memory
            import linecache

            linecache.cache["<check>"] = (len(source), None, source.splitlines(True), "<check>")
        raise
    finally:
        namespace.clear()
    if ended:
        return ended[0]
    stop()
    os.write(3, ("%s passed" % nonce).encode())
    return 0


# The judge process lives across checks: the same problem's prompt and test
# compile once. Bounded; a code object is immutable, each check runs it in
# a namespace of its own.
_COMPILED = {}
_COMPILED_MAX = 512


def _compiled(prompt, test):
    """(code, the global names it uses, its source) for the prompt and the test."""
    key = (prompt, test)
    entry = _COMPILED.get(key)
    if entry is None:
        code, source = _compile(prompt, test)
        entry = (code, frozenset(_global_names(code)), source)
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[key] = entry
    return entry


def _compile(prompt, test):
    """(code, source): the prompt and the test as one module, less a statement the prompt leaves
    open at its end (a ``def`` whose body is the completion)."""
    lines = prompt.splitlines(True)
    while True:
        source = "".join(lines) + "\n" + test
        try:
            return compile(source, "<check>", "exec"), source
        except SyntaxError:
            starts = [i for i, line in enumerate(lines) if line[:1] not in ("", " ", "\t", "\n", "\r", "#", ")")]
            if not starts:
                raise
            del lines[starts[-1]:]


def _global_names(code):
    names, todo = set(), [code]
    while todo:
        c = todo.pop()
        names.update(c.co_names)
        todo.extend(k for k in c.co_consts if type(k) is type(code))
    return names
