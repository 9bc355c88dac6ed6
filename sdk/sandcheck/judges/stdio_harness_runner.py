"""A Python stdin/stdout program run the way its dataset's own harness runs it. Its text runs in the jail.

The SDK only reads this file as text (`sandcheck.judges.stdio_harness`): it
travels with each check as ``sandcheck_stdio_harness.py``, and the program
calls ``_sandcheck_harness(HARNESS, CODE, PRELUDE)``, where PRELUDE is the
harness's imports. Stdlib only, Python 3.9+ (ast.unparse).

- ``livecodebench`` (lcb_runner's grade_stdio): a last ``if __name__ ==
  '__main__':`` block is replaced by its body; the top-level imports stay at
  module level after the harness's imports, every other statement becomes
  the body of ``wrapped_function()`` (so a ``global`` name the program set at
  top level is not there), which is called once with stdin mocked (the
  whole input read up front; ``sys.stdin`` an object with read, readline,
  readlines and ``buffer.read`` only), ``open`` returning the input, stdout
  captured in a StringIO (no ``sys.stdout.buffer``), SystemExit caught, the
  harness's guard applied (``quit``, ``os.kill``, ``os.getcwd``... are None;
  shutil's and subprocess's only if loaded) and big integers printable up
  to 50,000 digits.
- ``apps`` (APPS's testing_util): the harness's imports, then the program's
  lines, each not starting with ``from ``/``import `` indented into ``def
  code():`` after ``stdin = sys.stdin``; called as above with ``sys.stdin``
  a StringIO of the input, SystemExit caught, and the same guard, ``exit``
  too (so ``exit()`` fails there, where LiveCodeBench and TACO let it end
  the program).
- ``taco`` (TACO's synthesize_std_code): the harness's imports and ``stdin =
  sys.stdin`` put before the program's first line that is not an import; it
  runs as a program of its own (its exit status counts, as in TACO).

Whatever the program raises ends it as it would end the harness's test (a
traceback, exit status 1); the output it printed before is written out.
"""

import builtins
import io
import sys
import types

_GUARDED = {
    "os": ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork", "forkpty",
           "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown",
           "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir"),
    "shutil": ("rmtree", "move", "chown"),
    "subprocess": ("Popen",),
}


def _sandcheck_harness(harness, code, prelude):
    if harness == "taco":
        program = compile(_taco_source(code, prelude), "<string>", "exec")
        exec(program, {"__name__": "__main__", "__builtins__": builtins})
        return
    inputs = sys.stdin.read()  # the real stdin is then at its end, as a harness's own is
    _guard()
    if harness == "livecodebench":
        if hasattr(sys, "set_int_max_str_digits"):
            sys.set_int_max_str_digits(50000)  # compute_code_generation_metrics sets it for all
        source, entry = _lcb_source(code, prelude), "wrapped_function"
    else:
        builtins.exit = None  # APPS's guard has it; LiveCodeBench's leaves it out
        source, entry = _apps_source(code, prelude), "code"
    module = types.ModuleType("tmp_sol")
    exec(compile(source, "<string>", "exec"), module.__dict__)
    method = getattr(module, entry)
    real_stdin, real_stdout = sys.stdin, sys.stdout
    lines = iter(inputs.split("\n"))
    # mock.patch("sys.stdin.readline", ...) and its kin are entered before sys.stdin is
    # replaced, so they land on the real stdin: a name bound to it earlier reads these.
    real_stdin.readline = lambda *args: next(lines)
    real_stdin.readlines = lambda *args: inputs.split("\n")
    real_stdin.read = lambda *args: inputs
    sys.stdin = _LcbStdin(inputs) if harness == "livecodebench" else io.StringIO(inputs)
    builtins.open = lambda *args, **kwargs: io.StringIO(inputs)
    captured = io.StringIO()
    sys.stdout = captured
    try:
        method()
    except SystemExit:
        pass
    finally:
        sys.stdout = real_stdout
        real_stdout.write(captured.getvalue())
        real_stdout.flush()


class _LcbStdin:
    """LiveCodeBench's stdin: read, readline, readlines and buffer.read; anything
    else looked up on a StringIO (but special methods: it is not iterable)."""

    def __init__(self, inputs):
        self.inputs = inputs
        self._stringio = io.StringIO(inputs)
        self.buffer = _LcbBuffer(inputs)

    def read(self, *args):
        return self.inputs

    def readline(self, *args):
        return self._stringio.readline(*args)

    def readlines(self, *args):
        return self.inputs.split("\n")

    def __getattr__(self, name):
        return getattr(self._stringio, name)


class _LcbBuffer:
    def __init__(self, inputs):
        self.inputs = inputs.encode("utf-8")

    def read(self, *args):
        return self.inputs


def _guard():
    """The reliability_guard both harnesses call before the program runs (but exit)."""
    # The harness's process has shutil and subprocess loaded; a jail's has not, and importing
    # them costs ~4 ms a test: a module the program would have to import itself is left whole.
    for name, attrs in _GUARDED.items():
        module = sys.modules.get(name)
        for attr in attrs if module is not None else ():
            setattr(module, attr, None)
    builtins.quit = None
    builtins.help = None
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None


def _lcb_source(code, prelude):
    import ast

    try:
        tree = ast.parse(code)
        last = tree.body[-1]
        if isinstance(last, ast.If) and ast.unparse(last.test).strip() == "__name__ == '__main__'":
            code = ast.unparse(tree.body[:-1]) + "\n" + ast.unparse(last.body)
    except Exception:
        pass
    try:
        tree = ast.parse(code)
        imports = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))]
        rest = [s for s in tree.body if not isinstance(s, (ast.Import, ast.ImportFrom))]
        extra = {"type_params": []} if "type_params" in ast.FunctionDef._fields else {}
        function = ast.FunctionDef(name="wrapped_function", body=rest, decorator_list=[], lineno=-1, returns=None,
                                   args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[], kw_defaults=[],
                                                      defaults=[]), **extra)
        return prelude + "\n" + ast.unparse(imports) + "\n" + ast.unparse(function)
    except Exception:
        return code


def _is_import(line):
    return line.startswith("from ") or line.startswith("import ")


def _apps_source(code, prelude):
    out, started = [prelude], False
    for line in code.split("\n"):
        text = line + "\n" if _is_import(line) else "\t" + line + "\n"
        if text.startswith("\t") and not started:
            out.append("stdin = sys.stdin\nstdout = sys.stdout\ndef code():\n" + text)
            started = True
        elif started and _is_import(text):
            out.append("\t" + text)
        else:
            out.append(text)
    return "".join(out)


def _taco_source(code, prelude):
    out, started = [], False
    for line in code.split("\n"):
        if not started and "import *" not in line and not _is_import(line):
            out.append(prelude + "\nstdin = sys.stdin\nstdout = sys.stdout\n")
            started = True
        out.append(line + "\n")
    return "".join(out)
