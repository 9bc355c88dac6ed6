"""Host data, the filesystem, native code and exec, and one request reading another."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from sandcheck import Program

from ..conftest import REPO
from .conftest import FAST, SECRET

HOST_FILES = ["/etc/shadow", "/etc/passwd", "/etc/sudoers", "/root/.bashrc", "/root/.ssh/id_rsa",
              str(REPO / "sandbox_server" / "server.py"), str(REPO / "pyproject.toml"), str(REPO / ".git" / "config"),
              "/proc/1/environ", "/proc/self/environ", "/proc/kallsyms", "/sys/kernel/notes",
              "/var/log/syslog", "/home", "/work", "/dev/mem", "/dev/kmsg", "/dev/sda", "/dev/tty"]


def _read_attempts(paths: list[str]) -> str:
    return (
        "import os\nfor p in %r:\n" % paths
        + "    try:\n        if os.path.isdir(p):\n            print('ESCAPE listed', p, os.listdir(p)[:3])\n"
        "        else:\n            print('ESCAPE read', p, open(p, 'rb').read(64))\n"
        "    except OSError:\n        pass\nprint('SAFE')"
    )


def test_host_files_are_not_there(hostile, server) -> None:
    workdirs = [str(p) for p in Path("/tmp").glob("sandcheck.server-*")]
    paths = HOST_FILES + workdirs + [f"/proc/{server.proc.pid}/cmdline", "/root"]
    r = hostile.execute(_read_attempts(paths), limits=FAST)
    assert (r.status, r.stdout) == ("OK", b"SAFE\n"), r.stdout


def test_environment_holds_no_host_secret(hostile) -> None:
    r = hostile.execute("import os, json\nprint(json.dumps(dict(os.environ)))", limits=FAST)
    assert r.status == "OK"
    assert SECRET.encode() not in r.stdout and b"SANDCHECK_TEST_SECRET" not in r.stdout
    import json

    env = json.loads(r.stdout)
    assert set(env) <= {"PATH", "HOME", "TMPDIR", "LANG", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE",
                        "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "LC_CTYPE"}


def test_host_processes_are_invisible(hostile) -> None:
    src = ("import os\nprint(os.path.exists('/proc/1'), os.path.exists('/proc/self'))\n"
           "found = []\nfor pid in range(1, 4194304, 997):\n    try:\n        os.kill(pid, 0); found.append(pid)\n"
           "    except ProcessLookupError:\n        pass\n    except PermissionError:\n        found.append(pid)\n"
           "print(found)\nprint(os.getpid(), os.getppid(), os.getuid(), os.geteuid(), os.getgid())")
    r = hostile.execute(src, limits=FAST)
    assert r.status == "OK"
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "False False"
    assert lines[1] in ("[1]", f"[1, {lines[2].split()[0]}]")  # the jail's own init (and itself)
    pid, ppid, ids = lines[2].split(" ", 2)
    assert pid != "1" and ppid == "1" and ids == "1000 1000 1000"


WRITE_OUTSIDE = r'''
import os, sys
for p in ["/sandcheck-pwned", "/etc/sandcheck-pwned", "/usr/sandcheck-pwned", sys.executable,
          os.__file__, "/dev/sandcheck-pwned", "/dev/null/x", "/proc/sandcheck-pwned",
          "/root/sandcheck-pwned", "/tmp/../sandcheck-pwned", "/tmp/../etc/passwd"]:
    try:
        open(p, "ab").write(b"pwned")
        print("ESCAPE wrote", p)
    except OSError:
        pass
for fn, args in ((os.mkdir, ("/sandcheck-pwned",)), (os.chmod, ("/usr", 0o777)), (os.chown, ("/tmp", 0, 0)),
                 (os.setuid, (0,)), (os.setgid, (0,)), (os.chroot, ("/tmp",)), (os.utime, (sys.executable,)),
                 (os.rename, (sys.executable, "/tmp/p"))):
    try:
        fn(*args)
        print("ESCAPE", fn.__name__, args)
    except OSError:
        pass
print("SAFE")
'''

LINK_TRICKS = r'''
import os, shutil, sys
ops = [
    lambda: os.symlink("/etc/shadow", "/tmp/shadow") or open("/tmp/shadow").read(),
    lambda: os.symlink("/root", "/tmp/root") or os.listdir("/tmp/root"),
    lambda: os.symlink("/tmp/sandcheck-pwned", "/tmp/out") or open("/tmp/out", "w").write("x") and
            (os.path.exists("/tmp/sandcheck-pwned") and 1 / 0),
    lambda: os.link(sys.executable, "/tmp/py"),
    lambda: os.link("/etc/passwd", "/tmp/passwd"),
    lambda: open("/tmp/main.py", "w").write("import os; os.system('id')") and os.symlink("/tmp/main.py", "/tmp/x"),
    # an executable copied into the workdir: noexec
    lambda: shutil.copy(sys.executable, "/tmp/py2") and os.chmod("/tmp/py2", 0o755) or
            os.execv("/tmp/py2", ["py2", "-c", "print('ESCAPE exec from tmp')"]),
]
for i, op in enumerate(ops):
    try:
        op()
        if i < 2 or i in (3, 4, 6):
            print("ESCAPE link trick", i)
    except (OSError, ZeroDivisionError):
        pass
print("SAFE")
'''

NATIVE = r'''
import ctypes, os, subprocess, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.system(b"id > /tmp/id.txt") == 0 and os.path.exists("/tmp/id.txt"):
    print("ESCAPE system()")
assert libc.getuid() == 1000 and libc.geteuid() == 1000
if libc.setuid(0) == 0 or libc.setresuid(0, 0, 0) == 0:
    print("ESCAPE setuid")
# capabilities: capget on itself reports none
hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)
data = (ctypes.c_uint32 * 6)()
libc.capget(ctypes.byref(hdr), ctypes.byref(data))
if any(data):
    print("ESCAPE caps", list(data))
for argv in (["/bin/sh", "-c", "id"], ["/bin/bash"], ["sh"], ["/usr/bin/sudo", "id"], ["/bin/su"], ["/usr/bin/passwd"],
             ["/bin/mount", "-t", "proc", "p", "/tmp"], ["/usr/bin/newuidmap"], ["/usr/bin/env"], ["/usr/bin/perl"]):
    try:
        subprocess.run(argv, capture_output=True)
        print("ESCAPE exec", argv)
    except OSError:
        pass
# exec of the runtime itself works, and stays unprivileged under the same filter
r = subprocess.run([sys.executable, "-c", "import os; print(os.getuid()); os.unshare(0)"], capture_output=True)
if r.stdout != b"1000\n":
    print("ESCAPE child python", r.stdout)
print("SAFE")
'''

SEGFAULT = "import ctypes\nctypes.string_at(0)"


@pytest.mark.parametrize("source", [WRITE_OUTSIDE, LINK_TRICKS, NATIVE], ids=["write-outside-workdir", "links", "native"])
def test_filesystem_and_native(hostile, source) -> None:
    shadow = hashlib.sha256(Path("/etc/shadow").read_bytes()).hexdigest()
    r = hostile.execute(source, limits=FAST)
    assert (r.status, r.stdout) == ("OK", b"SAFE\n"), (r.stdout, r.stderr[-1500:])
    assert hashlib.sha256(Path("/etc/shadow").read_bytes()).hexdigest() == shadow


def test_workdir_changes_do_not_persist(hostile) -> None:
    """A program that locks or floods its workdir does not affect the next one."""
    spoil = ("import os\nos.makedirs('/tmp/a/b')\nopen('/tmp/a/b/f', 'w').write('x')\nos.chmod('/tmp/a/b', 0)\n"
             "os.chmod('/tmp/a', 0)\nos.chmod('/tmp', 0o500)\nos.symlink('/tmp', '/tmp/loop') if False else None")
    assert hostile.execute(spoil, limits=FAST).status == "OK"
    for _ in range(4):  # whichever slot or jail the next checks land in
        after = hostile.execute("import os\nopen('/tmp/w', 'w').write('ok')\nprint(sorted(os.listdir('/tmp')), "
                                "oct(os.stat('/tmp').st_mode & 0o7777))", limits=FAST)
        assert (after.status, after.stdout) == ("OK", b"['w'] 0o1777\n"), after.stderr


def test_native_crash_is_a_signal(hostile) -> None:
    r = hostile.execute(SEGFAULT, limits=FAST)
    assert (r.status, r.signal) == ("SIGNALED", 11)


def test_requests_cannot_read_each_other(hostile, server) -> None:
    """Two programs at once: neither sees the other's files, source, output, memory or processes."""
    secret = os.urandom(12).hex()
    holder = (f"import os, time\nSECRET = {secret!r}\nopen('/tmp/secret', 'w').write(SECRET)\n"
              "os.write(3, SECRET.encode())\nprint(SECRET, flush=True)\nbuf = bytearray(SECRET.encode() * 100000)\n"
              "time.sleep(1.5)")
    snoop = ("import os, time\ntime.sleep(0.3)\nseen = [os.listdir('/tmp'), os.path.exists('/proc/2/mem')]\n"
             "for pid in range(1, 64):\n    try:\n        os.kill(pid, 0); seen.append(pid)\n    except OSError:\n        pass\n"
             "print(seen, os.getpid())")
    concurrency = hostile.info()["concurrency"]
    assert concurrency >= 2
    results = {r.id: r for r in hostile.execute_batch([Program(holder, id="h", limits=FAST),
                                                       Program(snoop, id="s", limits=FAST)])}
    assert results["h"].stdout == secret.encode() + b"\n"
    s = results["s"]
    seen, own = s.stdout.decode().rsplit(" ", 1)
    assert s.status == "OK" and seen == f"[[], False, 1, {own.strip()}]", s.stdout  # its own init and itself
    assert secret.encode() not in s.stdout + s.stderr + s.report
    # and afterwards: a fresh jail, empty workdir
    after = hostile.execute("import os\nprint(os.listdir('/tmp'))", limits=FAST)
    assert after.stdout == b"[]\n"
