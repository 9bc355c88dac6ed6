"""The isolated judge's harness. Its text runs in the jail, after codec.py's text.

The SDK only reads this file as text. It runs under the jail's Python:
stdlib only, 3.8+, and kept small (every check compiles it). The check
program is this text plus ``_sandcheck_isolated(CANDIDATE_SOURCE,
ENTRY_POINT)``, where the candidate source is the prompt and the
completion. Nothing secret is in the program.

1. The harness makes its process non-dumpable (no ptrace, no
   process_vm_*, no pidfd_getfd from a process of the same uid), then
   forks the candidate process before anything secret exists. The candidate
   puts /dev/null on fd 0 and closes fd 3 (the report channel) before it
   runs the prompt and the completion, then answers calls over two pipes:
   each request and reply is one codec value on a line of its own (the
   codec's JSON has no raw newline).
2. Only then does the trusted process (the one the jail waits for) read fd 0:
   the nonce, the prompt and the test, which the candidate never holds. It
   ignores SIGINT (a KeyboardInterrupt sent by the candidate could skip an
   assert inside a test's bare ``except``), runs the prompt's complete
   statements (the problem's own helpers), binds the entry point, and the
   test's global names that only the candidate defines, to proxies, and runs
   the test.
3. A reply is a plain value, or a builtin exception type with its args, which
   the proxy raises as such. Anything else (a result that is not plain data,
   malformed or oversized bytes, a broken channel) ends the check at once: it
   is never an exception a test could catch. If the candidate process ended,
   the trusted process ends the same way (exit status or signal), so the
   server's status says what the candidate did.
4. After ``check()`` returned, every other process in the jail is killed, and
   only then is ``<nonce> passed`` written to fd 3.
"""

import os
import signal

_MAX_LINE = 64 << 20  # bytes in one request or reply
_NOT_PLAIN = ("the isolated judge passes only None, bool, int, float, str, bytes, list, tuple, dict, set and "
              "frozenset (exact types)")


def _sandcheck_isolated(candidate_source, entry_point):
    import builtins
    import ctypes

    if ctypes.CDLL(None).prctl(4, 0, 0, 0, 0):  # PR_SET_DUMPABLE 0, inherited by the fork
        raise OSError("PR_SET_DUMPABLE failed")
    errors = {k: v for k, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}
    req_r, req_w = os.pipe()
    rep_r, rep_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            _candidate(candidate_source, entry_point, req_r, rep_w, req_w, rep_r)
        finally:
            os._exit(70)
    os.close(req_r)
    os.close(rep_w)
    _trusted(_Channel(pid, os.fdopen(req_w, "wb"), os.fdopen(rep_r, "rb"), errors), entry_point)


def _candidate(source, entry_point, req_r, rep_w, *trusted_ends):
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    for fd in (null, 3) + trusted_ends:
        os.close(fd)
    requests, replies = os.fdopen(req_r, "rb"), os.fdopen(rep_w, "wb")
    namespace = {}
    try:
        exec(compile(source, "<check>", "exec"), namespace)
        if entry_point not in namespace:
            raise NameError("name %r is not defined" % entry_point)
        functions = {k: v for k, v in namespace.items() if type(k) is str and callable(v)}
        reply = ("ready", sorted(functions))
    except BaseException as exc:
        reply = _raised(exc)
        functions = None
    while True:
        replies.write(_reply(reply) + b"\n")
        replies.flush()
        request = requests.readline()
        if not request or functions is None:
            os._exit(0)
        name, args, kwargs = decode(request)  # noqa: F821  (codec.py's text)
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


def _reply(message):
    try:
        return encode(message)  # noqa: F821
    except BaseException as exc:
        return encode(("bad", "the candidate's result is not plain data (%s); %s" % (exc, _NOT_PLAIN)))  # noqa: F821


def _trusted(channel, entry_point):
    import builtins

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with open(0, "rb") as stdin:
        spec = decode(stdin.read())  # noqa: F821
    channel.nonce = spec["nonce"]
    try:
        names = channel.call(None)
        namespace = {}
        exec(_complete_statements(spec["prompt"]), namespace)
        test = compile(spec["test"] + "\ncheck(%s)\n" % entry_point, "<check>", "exec")
        # The prompt's helpers and the builtins stay trusted; names the test
        # looks up that only the candidate defines become proxies, as does
        # the entry point.
        for name in (_global_names(test) & (set(names) - set(namespace) - set(vars(builtins)))) | {entry_point}:
            namespace[name] = channel.proxy(name)
        exec(test, namespace)
    except BaseException as exc:
        channel.close()
        channel.report("failed: %s" % (exc,))
        raise
    channel.close()
    channel.report("passed")


def _complete_statements(prompt):
    """The prompt's code, less a trailing statement it leaves open (a ``def``
    whose body is the completion)."""
    lines = prompt.splitlines(True)
    while True:
        try:
            return compile("".join(lines), "<check>", "exec")
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


class _Channel:
    """The trusted end of the pipes to the candidate process."""

    def __init__(self, pid, requests, replies, errors):
        self.pid, self.requests, self.replies, self.errors = pid, requests, replies, errors
        self.allowed = set(errors.values())
        self.nonce = ""

    def proxy(self, name):
        def proxy(*args, **kwargs):
            return self.call((name, args, kwargs))

        proxy.__name__ = proxy.__qualname__ = name
        return proxy

    def call(self, request):
        """Send `request` (None: only read the reply to loading); the reply's
        value, or its exception raised. Anything else ends the check."""
        if request is not None:
            try:
                data = encode(request)  # noqa: F821
            except Exception as exc:
                self.abort("an argument cannot be sent to the candidate: %s" % exc)
            try:
                self.requests.write(data + b"\n")
                self.requests.flush()
            except OSError:
                self.abort(None)
        try:
            data = self.replies.readline(_MAX_LINE + 1)
        except OSError:
            data = b""
        if not data.endswith(b"\n"):
            self.abort(None if len(data) <= _MAX_LINE else "a reply over %d bytes" % _MAX_LINE)
        try:
            reply = decode(data)  # noqa: F821
        except Exception as exc:
            self.abort("malformed reply from the candidate: %s" % exc)
        kind = reply[0] if type(reply) is tuple and reply else None
        if kind == ("ok" if request else "ready") and len(reply) == 2:
            if request or type(reply[1]) is list and all(type(n) is str for n in reply[1]):
                return reply[1]
        if kind == "raise" and len(reply) == 3 and type(reply[1]) is str and type(reply[2]) is tuple:
            raise self._exception(reply[1], reply[2])
        if kind == "bad" and len(reply) == 2 and type(reply[1]) is str:
            self.abort(reply[1])
        self.abort("malformed reply from the candidate")

    def _exception(self, name, args):
        for cls in self.errors.get(name, Exception).__mro__:
            if cls in self.allowed:
                try:
                    exc = cls(*args)
                except Exception:
                    continue
                if type(exc) in self.allowed:
                    return exc
        return Exception(*args)

    def report(self, text):
        os.write(3, ("%s %s" % (self.nonce, text)).encode("utf-8", "replace")[:3000])

    def close(self):
        """Kill the candidate and whatever it started; return its wait status."""
        try:
            os.kill(-1, signal.SIGKILL)  # every process in the jail but this one and PID 1
        except OSError:
            pass
        for f in (self.requests, self.replies):
            try:
                f.close()
            except OSError:
                pass
        return _wait(self.pid)

    def abort(self, reason):
        """End the check now, failed; `reason` None: the candidate ended, so end as it did."""
        if reason is not None:
            self.close()
            self.report("failed: %s" % reason)
            os._exit(1)
        status = _wait(self.pid)
        self.close()
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            try:
                signal.signal(sig, signal.SIG_DFL)
            except (OSError, ValueError):
                pass  # SIGKILL and SIGSTOP have no handler to reset
            os.kill(os.getpid(), sig)
        os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _wait(pid):
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0
