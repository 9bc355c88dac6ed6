"""Resource exhaustion and process escapes: contained, reported, cleaned up."""

from __future__ import annotations

import os

import pytest

from sandcheck import Limits

from .conftest import FAST

MiB = 1024 * 1024

# (id, source, limits, allowed statuses, check(result) -> bool)
CASES = [
    # A fork bomb spins until its CPU budget is spent, unless its processes'
    # memory (cgroup v2 also charges their kernel memory) reaches the cap first.
    ("fork-bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
     FAST, {"TIMEOUT", "MEMORY_LIMIT"}, None),
    ("fork-bomb-bash-style", "import os\ndef f():\n    while True:\n        try:\n            os.fork() or f()\n"
     "        except OSError:\n            pass\nf()", FAST, {"TIMEOUT", "MEMORY_LIMIT"}, None),
    ("thread-bomb", "import threading, time\nn = 0\ntry:\n    while True:\n"
     "        threading.Thread(target=time.sleep, args=(60,), daemon=True).start(); n += 1\n"
     "except RuntimeError:\n    pass\nprint(n, flush=True)\nimport os\nos._exit(0)",
     FAST, {"OK"}, lambda r: 0 < int(r.stdout) <= 72),
    ("memory-bomb", "x = []\nwhile True:\n    x.append(bytearray(16 * 1024 * 1024))",
     Limits(memory_bytes=128 * MiB, cpu_time_ms=5000, wall_time_ms=10000), {"MEMORY_LIMIT"},
     lambda r: r.memory_bytes <= 128 * MiB),
    ("memory-bomb-many-processes", "import os, time\nfor _ in range(8):\n    if os.fork() == 0:\n"
     "        b = bytearray(48 * 1024 * 1024); b[::4096] = b'x' * (len(b) // 4096)\n        time.sleep(30)\n"
     "while True:\n    try:\n        os.wait()\n    except ChildProcessError:\n        break",
     # the OOM killer takes some children; the rest sleep on until the wall limit
     Limits(memory_bytes=128 * MiB, cpu_time_ms=5000, wall_time_ms=4000), {"MEMORY_LIMIT", "TIMEOUT"},
     lambda r: r.memory_bytes <= 128 * MiB),
    ("tmpfs-fill-bytes", "n = 0\ntry:\n    with open('/tmp/fill', 'wb') as f:\n        while True:\n"
     "            f.write(b'x' * (1 << 20)); f.flush(); n += 1\nexcept OSError as e:\n    print(n, e.errno)",
     FAST, {"OK", "SIGNALED"}, lambda r: r.signal in (0, 25) and (r.signal or int(r.stdout.split()[0]) <= 64)),
    ("tmpfs-fill-inodes", "n = 0\ntry:\n    while True:\n        open('/tmp/f%d' % n, 'w').close(); n += 1\n"
     "except OSError as e:\n    print(n, e.errno)", FAST, {"OK"}, lambda r: int(r.stdout.split()[0]) <= 4096),
    ("tmpfs-fill-dirs", "import os\nn = 0\ntry:\n    while True:\n        os.mkdir('/tmp/d%d' % n); n += 1\n"
     "except OSError as e:\n    print(n, e.errno)", FAST, {"OK"}, lambda r: int(r.stdout.split()[0]) <= 4096),
    # An endless flood runs to its time limit; what the server keeps is capped.
    ("stdout-flood", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)", FAST, {"TIMEOUT"},
     lambda r: r.stdout_truncated and len(r.stdout) <= 1 << 20),
    ("stderr-flood", "import os\nwhile True:\n    os.write(2, b'e' * 65536)", FAST, {"TIMEOUT"},
     lambda r: r.stderr_truncated and len(r.stderr) <= 1 << 20),
    ("report-flood", "import os\nwhile True:\n    os.write(3, b'r' * 65536)", FAST,
     {"OK", "OUTPUT_LIMIT", "TIMEOUT", "SIGNALED"}, lambda r: len(r.report) <= 4096),
    ("flood-from-children", "import os\nfor _ in range(5):\n    os.fork()\nwhile True:\n    os.write(1, b'y' * 65536)",
     FAST, {"TIMEOUT"}, lambda r: r.stdout_truncated and len(r.stdout) <= 1 << 20),
    ("flood-then-exit", "import os\nfor _ in range(64):\n    os.write(1, b'z' * 65536)", FAST, {"OUTPUT_LIMIT"},
     lambda r: r.stdout_truncated and len(r.stdout) == 1 << 20),
    ("infinite-loop", "while True:\n    pass", FAST, {"TIMEOUT"}, lambda r: r.timeout_kind == "CPU"),
    ("sleep-forever", "import time\ntime.sleep(10 ** 6)", FAST, {"TIMEOUT"}, lambda r: r.timeout_kind == "WALL"),
    ("block-on-stdin", "import sys\nsys.stdin.read()\nimport time\ntime.sleep(10 ** 6)", FAST, {"TIMEOUT"}, None),
    ("ignore-sigterm", "import signal, time\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
     "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    time.sleep(1)", FAST, {"TIMEOUT"}, None),
    ("fd-exhaustion", "fs = []\ntry:\n    while True:\n        fs.append(open('/dev/null'))\n"
     "except OSError as e:\n    print(len(fs), e.errno)", FAST, {"OK"}, lambda r: int(r.stdout.split()[0]) <= 256),
    ("deep-recursion", "import sys\nsys.setrecursionlimit(10 ** 8)\ndef f(n):\n    return f(n + 1) + 1\nf(0)",
     FAST, {"SIGNALED", "NONZERO_EXIT", "MEMORY_LIMIT"}, None),
    ("huge-int", "x = 10 ** (10 ** 10)", FAST, {"TIMEOUT", "MEMORY_LIMIT", "NONZERO_EXIT"}, None),
    # A TB allocation fails (MemoryError), or, where the host's overcommit
    # lets it succeed (a host with much RAM), its first pages meet the cap.
    ("huge-str", "s = 'x' * (10 ** 12)", FAST, {"NONZERO_EXIT", "MEMORY_LIMIT"},
     lambda r: r.status == "MEMORY_LIMIT" or b"MemoryError" in r.stderr),
    # Near its memory limit a process can spend seconds in reclaim before the
    # OOM kill (the kernel evicts and refaults the interpreter's own pages):
    # a wide time margin keeps that from reading as a TIMEOUT.
    ("huge-str-grow", "s = 'x'\nwhile True:\n    s = s + s",
     Limits(memory_bytes=128 * MiB, cpu_time_ms=10_000, wall_time_ms=30_000), {"NONZERO_EXIT", "MEMORY_LIMIT"}, None),
    ("sigstop-self", "import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)", FAST, {"TIMEOUT"},
     lambda r: r.timeout_kind == "WALL"),
    ("sigstop-group", "import os, signal\nos.fork()\nos.killpg(0, signal.SIGSTOP)", FAST, {"TIMEOUT"}, None),
    ("sigstop-children-then-exit", "import os, signal, time\nkids = []\nfor _ in range(4):\n    k = os.fork()\n"
     "    if k == 0:\n        time.sleep(60)\n    kids.append(k)\nfor k in kids:\n    os.kill(k, signal.SIGSTOP)\n"
     "print('stopped', len(kids))", FAST, {"OK"}, lambda r: r.stdout == b"stopped 4\n"),
    ("child-stops-itself", "import os, signal\nif os.fork() == 0:\n    os.kill(os.getpid(), signal.SIGSTOP)\n"
     "print('parent done')", FAST, {"OK"}, None),
    ("double-fork-daemon", "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
     "        for i in range(600):\n            open('/tmp/daemon-alive', 'w').write(str(i)); time.sleep(0.1)\n"
     "    os._exit(0)\nprint('parent exits')", FAST, {"OK"}, lambda r: r.stdout == b"parent exits\n"),
    ("daemon-ignoring-signals", "import os, signal, time\nif os.fork() == 0:\n    os.setsid()\n"
     "    for s in range(1, 32):\n        try:\n            signal.signal(s, signal.SIG_IGN)\n        except (OSError, ValueError):\n"
     "            pass\n    while True:\n        pass\nprint('bye')", FAST, {"OK"}, None),
    # kill(-1) spares the caller and the jail's init: nothing else is visible to it
    ("kill-minus-one", "import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('survived')", FAST, {"NONZERO_EXIT"},
     lambda r: b"ProcessLookupError" in r.stderr),
    ("kill-minus-one-term-from-child", "import os, signal, time\nif os.fork() == 0:\n    os.kill(-1, signal.SIGTERM)\n"
     "    os._exit(0)\ntime.sleep(1)", FAST, {"SIGNALED"}, lambda r: r.signal == 15),
    # The kernel's per-process CPU backstop says SIGXCPU (a CPU timeout) a
    # second before its SIGKILL: soft 2 s, hard 3 s for a 1 s budget.
    ("cpu-rlimit-soft-below-hard", "import resource\nprint(*resource.getrlimit(resource.RLIMIT_CPU))", FAST, {"OK"},
     lambda r: r.stdout.split() == [b"2", b"3"]),
    ("kill-init", "import os, signal\nfor s in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP):\n"
     "    try:\n        os.kill(1, s)\n    except OSError as e:\n        print('err', e.errno)\nprint('done')",
     FAST, {"OK", "SIGNALED"}, None),
]


@pytest.mark.parametrize("source,limits,statuses,check", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_exhaustion_and_escapes(hostile, source, limits, statuses, check) -> None:
    r = hostile.execute(source, limits=limits)
    assert r.status in statuses, (r.status, r.stdout[-300:], r.stderr[-500:], r.error)
    assert b"ESCAPE" not in r.stdout
    if check is not None:
        assert check(r), (r.status, r.signal, r.stdout[-300:], r.stderr[-300:], r.memory_bytes)


def test_signals_at_the_server(hostile, server) -> None:
    """The server's pid and its process group are out of reach from the jail."""
    pid = server.proc.pid
    src = (f"import os, signal\nfor target in ({pid}, {os.getpid()}, -{pid}, {os.getppid()}):\n"
           "    for s in (signal.SIGKILL, signal.SIGTERM, signal.SIGSTOP):\n"
           "        try:\n            os.kill(target, s)\n            print('ESCAPE', target, s)\n"
           "        except ProcessLookupError:\n            pass\nprint('SAFE')")
    r = hostile.execute(src, limits=FAST)
    assert (r.status, r.stdout) == ("OK", b"SAFE\n"), r.stderr
    assert server.proc.poll() is None


def test_leftovers_do_not_persist(hostile) -> None:
    """A daemon and files left by one run are gone in the next."""
    plant = ("import os, time\nopen('/tmp/planted', 'w').write('x')\nif os.fork() == 0:\n    os.setsid()\n"
             "    while True:\n        open('/tmp/planted2', 'w').write('y'); time.sleep(0.05)\nprint('planted')")
    assert hostile.execute(plant, limits=FAST).stdout == b"planted\n"
    look = "import os\nprint(sorted(os.listdir('/tmp')), os.path.exists('/proc/1'))"
    r = hostile.execute(look, limits=FAST)
    assert (r.status, r.stdout) == ("OK", b"[] False\n")
