"""The isolated judge's harness. Its text runs in the jail, after codec.py's text.

The SDK only reads this file as text. It runs under the jail's Python:
stdlib only, 3.8+. Both texts travel together as the check's file
``sandcheck_judge.py``; the check program imports it and calls
``_sandcheck_isolated(CANDIDATE_SOURCE, ENTRY_POINT)``, where the candidate
source is the prompt and the completion. Nothing secret is in either.

1. The harness makes its process non-dumpable (so no process of the same
   uid may ptrace it, read its memory or take its fds with pidfd_getfd),
   then forks the candidate process before anything secret exists. The
   candidate puts /dev/null on fd 0 and closes fd 3 (the report channel)
   before it runs the prompt and the completion, then answers calls over two
   pipes: each request and reply is one codec value on a line of its own
   (the codec's JSON holds no raw newline).
2. Only then does the trusted process (the one the jail waits for) read fd 0:
   the nonce, the prompt and the test, which the candidate never holds. It
   ignores SIGINT (a KeyboardInterrupt sent by the candidate could skip an
   assert inside a test's bare ``except``), runs the prompt's complete
   statements (the problem's own helpers) and the test, binds the entry
   point, and the names the test looks up that only the candidate defines
   (never a builtin), to proxies, and calls ``check``.
3. A reply is a plain value, or a builtin exception type with its args, which
   the proxy raises as such (StopIteration as RuntimeError, as PEP 479 does
   in generators: a test's loop over ``map(candidate, ...)`` must not just
   stop). Anything else (a result that is not plain data,
   malformed or oversized bytes, a broken channel) ends the check at once: it
   is never an exception a test could catch. If the candidate process ended,
   the trusted process ends the same way (exit status or signal), so the
   server's status says what the candidate did.
4. After ``check()`` returned, every other process in the jail is killed, and
   only then is ``<nonce> passed`` written to fd 3.
"""

import os
import signal

_MAX_LINE = 64 << 20  # bytes in one reply
_NOT_PLAIN = ("the isolated judge passes only None, bool, int, float, str, bytes, list, tuple, dict, set and "
              "frozenset (exact types)")


def _sandcheck_isolated(candidate_source, entry_point):
    import builtins
    import ctypes

    # PR_SET_DUMPABLE 0; the fork inherits it. pythonapi is the handle ctypes already
    # opened on the process (libc included): no dlopen per check.
    if ctypes.pythonapi.prctl(4, 0, 0, 0, 0):
        raise OSError("PR_SET_DUMPABLE failed")
    # Compiled here, once, for the candidate to run (compiling runs nothing).
    try:
        code = compile(candidate_source, "<check>", "exec")
    except BaseException as exc:
        code = exc
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0)
            for fd in (null, 3, req_w, rep_r):
                os.close(fd)
            _candidate(code, entry_point, os.fdopen(req_r, "rb"), os.fdopen(rep_w, "wb"))
        finally:
            os._exit(70)
    os.close(req_r)
    os.close(rep_w)
    _trusted(pid, os.fdopen(req_w, "wb"), os.fdopen(rep_r, "rb"), entry_point, vars(builtins))


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
            data = encode(("bad", "the candidate's result is not plain data (%s); %s" % (exc, _NOT_PLAIN)))  # noqa: F821
        replies.write(data + b"\n")
        replies.flush()
        request = requests.readline()
        if not request or functions is None:
            os._exit(0)
        name, args, kwargs = decode(request)  # noqa: F821
        try:
            reply = ("ok", functions[name](*args, **kwargs))
        except BaseException as exc:
            reply = _raised(exc)


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


def _trusted(pid, requests, replies, entry_point, builtins):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with open(0, "rb") as stdin:
        spec = decode(stdin.read())  # noqa: F821
    nonce = spec["nonce"]

    def stop():
        """Kill the candidate and all it started (every process in the jail but
        this one and PID 1), close the pipes, reap the candidate."""
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        for f in (requests, replies):
            try:
                f.close()
            except OSError:
                pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    def end(reason):
        """End the check now, failed; `reason` None: the candidate ended, so end as it did."""
        if reason is not None:
            stop()
            os.write(3, ("%s failed: %s" % (nonce, reason)).encode("utf-8", "replace")[:3000])
            os._exit(1)
        status = os.waitpid(pid, 0)[1]
        stop()
        if os.WIFSIGNALED(status):
            try:
                signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
            except (OSError, ValueError):
                pass  # SIGKILL and SIGSTOP have no handler to reset
            os.kill(os.getpid(), os.WTERMSIG(status))
        os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)

    def call(request):
        """Send `request` (None: just read the answer to loading). Return the
        reply's value or raise its exception; anything else, including any
        failure of the channel itself, ends the check (it is never raised
        where the test could catch it)."""
        try:
            if request is not None:
                try:
                    data = encode(request)  # noqa: F821
                except CodecError as exc:  # noqa: F821
                    end("an argument cannot be sent to the candidate: %s" % exc)
                requests.write(data + b"\n")
                requests.flush()
            line = replies.readline(_MAX_LINE + 1)
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

    try:
        names = set(call(None))
        code = _compile(spec["prompt"], spec["test"])
        namespace = {}
        exec(code, namespace)
        # The prompt's helpers and the builtins stay trusted.
        for name in {n for n in _global_names(code) & names if n not in namespace and n not in builtins} | {entry_point}:
            namespace[name] = proxy(name)
        namespace["check"](namespace[entry_point])
    except BaseException as exc:
        stop()
        os.write(3, ("%s failed: %s" % (nonce, exc)).encode("utf-8", "replace")[:3000])
        raise
    stop()
    os.write(3, ("%s passed" % nonce).encode())


def _compile(prompt, test):
    """The prompt and the test as one module, less a statement the prompt leaves
    open at its end (a ``def`` whose body is the completion)."""
    lines = prompt.splitlines(True)
    while True:
        try:
            return compile("".join(lines) + "\n" + test, "<check>", "exec")
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
