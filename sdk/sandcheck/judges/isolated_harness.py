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
        """Send `request` (None: just read the answer to loading), unless it
        is the next one sent ahead (`sent_ahead`). Return the reply's value
        or raise its exception; anything else, including any failure of the
        channel itself, ends the check."""
        if ended:
            raise _Ended()
        try:
            skip = 0  # replies to requests sent ahead that the test did not make
            if request is not None:
                try:
                    data = encode(request) + b"\n"  # noqa: F821
                except CodecError as exc:  # noqa: F821
                    end("an argument cannot be sent to the candidate: %s" % exc)
                if sent_ahead and sent_ahead[-1] == data:
                    sent_ahead.pop()
                else:
                    skip, sent_ahead[:] = len(sent_ahead), ()
                    _write_all(requests, data)  # noqa: F821
            for _ in range(skip + 1):
                line = replies.readline(_MAX_LINE + 1)
                if not line.endswith(b"\n"):
                    break
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

    namespace, source, sent_ahead = {}, None, []
    try:
        # The test's definitions first, while the candidate loads: by then
        # its answer to loading has most often arrived.
        code, globals_used, source, ahead, encoded = _compiled(spec["prompt"], spec["test"])
        exec(code, namespace)
        if ahead is not None and _ahead_holds(ahead, namespace):
            sent_ahead[:] = _send_ahead(ahead[0], entry_point, requests, encoded)
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
    """(code, the global names it uses, its source, the calls `_ahead` found or
    None, their requests as `_send_ahead` encodes them, by entry point) for the
    prompt and the test."""
    key = (prompt, test)
    entry = _COMPILED.get(key)
    if entry is None:
        code, source, tree = _compile(prompt, test)
        entry = (code, frozenset(_global_names(code)), source, _ahead(tree), {})
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.clear()
        _COMPILED[key] = entry
    return entry


def _compile(prompt, test):
    """(code, source, its syntax tree): the prompt and the test as one module, less a statement
    the prompt leaves open at its end (a ``def`` whose body is the completion)."""
    import ast

    lines = prompt.splitlines(True)
    while True:
        source = "".join(lines) + "\n" + test
        try:
            tree = compile(source, "<check>", "exec", ast.PyCF_ONLY_AST)
            return compile(tree, "<check>", "exec"), source, tree
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


# -- calls sent ahead --------------------------------------------------------
# Each call the test makes is a round trip: two sleeps and two wake-ups, most
# of an isolated check's cost. The calls a test will surely make first, in
# that order, are sent before the test runs: the leading ``assert``
# statements of its ``check(candidate)`` whose only calls are to `candidate`
# with literal arguments, and to a few builtins. The candidate answers them
# one by one, as it would have; the test still makes each call, and a call
# takes the next answer only if its request is byte for byte the one sent
# ahead. A call that is not (a test that stopped early: it already failed)
# is sent after them, and their answers are read and dropped.
_AHEAD_MAX_BYTES = 32 << 10  # stays under a socket's buffer: the one write never blocks
_AHEAD_MAX_CALLS = 256
_AHEAD_BUILTINS = frozenset(("abs", "all", "any", "bool", "dict", "float", "frozenset", "int", "isinstance", "len",
                             "list", "max", "min", "repr", "round", "set", "sorted", "str", "sum", "tuple", "type"))


def _ahead(tree):
    """([(args, kwargs), ...], the first line of ``check``'s code, its
    parameter, the builtins its asserts call) for the calls the test surely
    makes first, or None. `tree`: the prompt and the test, as `_compile` made it."""
    import ast

    defs = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
            and n.name == "check"]
    fn = defs[-1] if defs else None
    a = fn.args if isinstance(fn, ast.FunctionDef) else None
    if a is None or fn.decorator_list or len(a.args) != 1 or a.posonlyargs or a.vararg or a.kwonlyargs or a.kwarg:
        return None
    param, calls, used = fn.args.args[0].arg, [], set()
    for statement in fn.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # a docstring
        found = _literal_calls(statement, param, used) if isinstance(statement, ast.Assert) else None
        if found is None:
            break
        calls += found
    if not calls or len(calls) > _AHEAD_MAX_CALLS:
        return None
    return calls, fn.lineno, param, frozenset(used)


def _literal_calls(statement, param, used):
    """The (args, kwargs) of each call to `param` in an assert's test, in
    the order Python makes them, or None if the order is not certain."""
    import ast

    refused = _refused(ast)
    calls, todo, called = [], [statement.test], set()
    while todo:  # every node once, but a literal argument's (literal_eval reads those)
        node = todo.pop()
        kind = type(node)
        if kind in refused:
            return None  # short-circuits, new scopes, or a method that might call the candidate
        if kind is ast.Compare and len(node.ops) > 1:
            return None  # a chain short-circuits
        if kind is ast.Name:
            if node.id == param:
                return None  # the candidate passed on, not called (a call's own name is not walked)
            continue
        if kind is ast.Call:
            if type(node.func) is not ast.Name:
                return None
            if node.func.id != param:
                if node.func.id not in _AHEAD_BUILTINS:
                    return None
                called.add(node.func.id)
                todo += node.args
                todo += [k.value for k in node.keywords]
                continue
            try:
                args = tuple(ast.literal_eval(a) for a in node.args)
                kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg is not None}
            except Exception:
                return None
            if len(kwargs) != len(node.keywords) or any(type(v) in (set, frozenset) for v in (*args, *kwargs.values())):
                return None  # **mapping; sets: their order is not certain
            calls.append((node, args, kwargs))
            continue
        for field in node._fields:
            value = getattr(node, field, None)
            if isinstance(value, ast.AST):
                todo.append(value)
            elif type(value) is list:
                todo += [v for v in value if isinstance(v, ast.AST)]
    # Python evaluates a call's operands left to right, depth first: the
    # source positions give that order (no call to the candidate holds
    # another one: its arguments are literals).
    calls.sort(key=lambda c: (c[0].lineno, c[0].col_offset))
    used |= called
    return [(args, kwargs) for _node, args, kwargs in calls]


def _refused(ast):
    """The node types after which the calls' order is not certain (made once)."""
    if not _REFUSED:
        _REFUSED.update((ast.BoolOp, ast.IfExp, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
                         ast.GeneratorExp, ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom, ast.Starred,
                         ast.Attribute))
    return _REFUSED


_REFUSED = set()


def _ahead_holds(ahead, namespace):
    """Whether the ``check`` that will run is the one `_ahead` read, and the
    module defines none of the builtins its asserts call."""
    _calls, line, param, used = ahead
    code = getattr(namespace.get("check"), "__code__", None)
    return (code is not None and code.co_firstlineno == line and code.co_filename == "<check>"
            and code.co_argcount == 1 and code.co_varnames[:1] == (param,)
            and not any(name in namespace for name in used))


def _send_ahead(calls, entry_point, requests, encoded):
    """Send the calls' requests in one write; the list of what was sent, last
    call first. `encoded`: {entry point: (that list, its bytes)}, kept with
    the compiled test, since the same calls make the same bytes every check."""
    known = encoded.get(entry_point)
    if known is None:
        sent, size = [], 0
        for args, kwargs in calls:
            try:
                data = encode((entry_point, args, kwargs)) + b"\n"  # noqa: F821
            except Exception:
                break
            size += len(data)
            if size > _AHEAD_MAX_BYTES:
                break
            sent.append(data)
        if len(encoded) >= 8:  # a test is called under one entry point, most often
            encoded.clear()
        known = encoded[entry_point] = (sent[::-1], b"".join(sent))
    if known[1]:
        _write_all(requests, known[1])  # noqa: F821
    return list(known[0])
