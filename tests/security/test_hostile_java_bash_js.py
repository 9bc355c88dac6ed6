"""Hostile Java, Bash and JavaScript programs, as Python and C++ have theirs: killing
every process in reach, host files, the test's own loopback listener, daemons that
try to outlive the run, exec from /tmp and of shells, tmpfs and fd exhaustion,
signals ignored, floods on stderr, crashes of the runtime itself.

They run only inside the jail, through a real server, on warm and cold jails
(the `hostile` fixture: afterwards nothing is left behind and the server serves).
Each program prints what it managed to do; the expected stdout lists only
refusals. Java compiles for seconds per program, so its cases are marked slow
(as in test_languages_hostile.py).
"""

from __future__ import annotations

import socket

import pytest

from sandcheck import Limits

from ..conftest import REPO
from .conftest import FAST, SECRET

MiB = 1024 * 1024
SMALL = Limits(memory_bytes=128 * MiB, cpu_time_ms=5000, wall_time_ms=10_000)
BOMB = Limits(memory_bytes=256 * MiB, cpu_time_ms=2000, wall_time_ms=6000)
SHORT_WALL = Limits(cpu_time_ms=1000, wall_time_ms=1500)
JAVA = Limits(cpu_time_ms=5000, wall_time_ms=10_000, memory_bytes=512 * MiB)
BOMB_STATUSES = {"TIMEOUT", "MEMORY_LIMIT", "NONZERO_EXIT", "SIGNALED"}
# Paths a program must not read: the host's secrets, the server's code, other jails' views.
# (/var/cache/sandcheck holds server-built packages that jails bind read-only: not among them.)
HOST_FILES = ["/etc/shadow", "/etc/passwd", "/root", "/home", "/proc/1/environ", "/proc/self/mountinfo",
              "/sys/kernel", str(REPO / "sandbox_server" / "server.py")]
WRITES = ["/sandcheck-pwned", "/build/pwned", "/usr/pwned", "/dev/pwned", "/root/sandcheck-pwned"]


@pytest.fixture()
def listener():
    """A TCP listener on the host's loopback: after the program, nothing may have connected."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        s.setblocking(False)
        yield s.getsockname()[1]
        with pytest.raises(BlockingIOError):
            s.accept()


BASH = {
    "kill-everything": ("kill -9 -1 2>/dev/null; kill -9 1 2>/dev/null; kill -STOP 1 2>/dev/null; kill -9 0 2>/dev/null\n"
                        "echo alive\n", FAST, {"OK", "SIGNALED"}, None),
    "host-files": ("for f in " + " ".join(HOST_FILES) + "; do\n"
                   "  { cat \"$f\" || ls \"$f\"; } >/dev/null 2>&1 && echo \"read $f\"\ndone\n"
                   "ls / | grep -E '^(etc|root|home|proc|sys)$'\necho done\n", FAST, {"OK"}, b"done\n"),
    "write-outside-tmp": ("for p in " + " ".join(WRITES) + "; do (echo x > \"$p\") 2>/dev/null && echo \"wrote $p\"; done\n"
                          "mkdir /build/d 2>/dev/null && echo mkdir\necho done\n", FAST, {"OK"}, b"done\n"),
    "network": ("(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && echo connected\n"
                "(echo x > /dev/udp/127.0.0.1/{port}) 2>/dev/null && echo sent\necho done\n", FAST, {"OK"}, b"done\n"),
    "daemon": ("(sleep 1000 &) ; nohup sleep 1000 >/dev/null 2>&1 & disown\n"
               "(trap '' HUP TERM; exec sleep 1000) & disown\necho started\n", FAST, {"OK"}, b"started\n"),
    "exec-from-tmp": ("cp -p /usr/bin/bash /tmp/b && /tmp/b -c 'echo ran' 2>/dev/null\n"
                      "cp -p /usr/bin/bash /tmp/b2 && exec /tmp/b2 -c 'echo ran' 2>/dev/null\necho refused\n",
                      FAST, {"OK", "NONZERO_EXIT"}, None),
    "fill-tmp": ("yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx > /tmp/fill 2>/dev/null\necho \"yes ended $?\"\n"
                 "for i in $(seq 5000); do : > /tmp/f$i 2>/dev/null || break; done\necho inodes $i\n",
                 SMALL, {"OK", "MEMORY_LIMIT"}, None),
    "fd-exhaustion": ("n=0; for i in $(seq 10 2000); do eval \"exec $i</dev/null\" 2>/dev/null || break; n=$i; done\n"
                      "echo \"fds $n\"\n", FAST, {"OK"}, None),
    "ignores-term": ("trap '' TERM INT HUP\nwhile :; do sleep 1; done\n", SHORT_WALL, {"TIMEOUT"}, None),
    "stderr-flood": ("head -c 4000000 /dev/zero >&2\n", FAST, {"OUTPUT_LIMIT"}, None),
    "crash": ("kill -SEGV $$\n", FAST, {"SIGNALED"}, None),
}

JS = {
    "kill-everything": ("for (const [pid, sig] of [[-1, 'SIGKILL'], [1, 'SIGKILL'], [1, 'SIGSTOP'], [0, 'SIGTERM']]) {\n"
                        "  try { process.kill(pid, sig); } catch (e) {}\n}\nconsole.log('alive');\n",
                        FAST, {"OK", "SIGNALED"}, None),
    "host-files": ("const fs = require('fs');\nfor (const f of " + repr(HOST_FILES).replace("'", '"') + ") {\n"
                   "  try { fs.statSync(f).isDirectory() ? fs.readdirSync(f) : fs.readFileSync(f); console.log('read ' + f); }"
                   " catch (e) {}\n}\n"
                   "for (const d of fs.readdirSync('/')) if (['etc', 'root', 'home', 'proc', 'sys'].includes(d))"
                   " console.log(d);\nconsole.log('done');\n", FAST, {"OK"}, b"done\n"),
    "write-outside-tmp": ("const fs = require('fs');\nfor (const p of " + repr(WRITES).replace("'", '"') + ") {\n"
                          "  try { fs.writeFileSync(p, 'x'); console.log('wrote ' + p); } catch (e) {}\n}\n"
                          "try { fs.writeFileSync('/build/main.js', 'x'); console.log('rewrote main.js'); } catch (e) {}\n"
                          "console.log('done');\n", FAST, {"OK"}, b"done\n"),
    "network": ("const net = require('net'), dgram = require('dgram');\n"
                "const u = dgram.createSocket('udp4');\nu.on('error', () => {});\n"
                "try { u.send('x', {port}, '127.0.0.1', (e) => { if (!e) console.log('sent'); }); } catch (e) {}\n"
                "const s = net.connect({port}, '127.0.0.1');\n"
                "s.on('connect', () => { console.log('connected'); process.exit(0); });\n"
                "s.on('error', () => { console.log('done'); process.exit(0); });\n", FAST, {"OK"}, b"done\n"),
    "spawn-shell-and-daemon": ("const cp = require('child_process');\n"
                               "for (const sh of ['/bin/sh', '/usr/bin/bash', '/bin/bash']) {\n"
                               "  try { cp.execFileSync(sh, ['-c', 'echo ran']); console.log('shell ' + sh); } catch (e) {}\n}\n"
                               "cp.spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {detached: true, stdio: 'ignore'})"
                               ".unref();\nconsole.log('done');\n", FAST, {"OK"}, b"done\n"),
    "exec-from-tmp": ("const fs = require('fs'), cp = require('child_process');\n"
                      "fs.writeFileSync('/tmp/n', '#!' + process.execPath + '\\nconsole.log(1)\\n'); fs.chmodSync('/tmp/n', 0o755);\n"
                      "try { cp.execFileSync('/tmp/n', ['-e', 'console.log(1)']); console.log('ran'); } catch (e) {"
                      " console.log('refused'); }\n", SMALL, {"OK"}, b"refused\n"),
    "worker-bomb": ("const { Worker } = require('worker_threads');\n"
                    "for (;;) { try { new Worker('setInterval(() => {}, 1000)', { eval: true }); } catch (e) {} }\n",
                    BOMB, BOMB_STATUSES, None),
    "buffer-bomb": ("const k = [];\nfor (;;) k.push(Buffer.alloc(1 << 24, 1));\n", SMALL, {"MEMORY_LIMIT", "SIGNALED"}, None),
    "fill-tmp": ("const fs = require('fs');\nconst b = Buffer.alloc(1 << 20, 120);\nlet n = 0;\n"
                 "try { for (;;) { fs.appendFileSync('/tmp/fill', b); n++; } } catch (e) { console.log('stopped ' + e.code); }\n",
                 SMALL, {"OK", "MEMORY_LIMIT", "SIGNALED"}, None),
    "fd-exhaustion": ("const fs = require('fs');\nlet n = 0;\ntry { for (;;) { fs.openSync('/dev/null', 'r'); n++; } }"
                      " catch (e) { console.log(e.code); }\n", FAST, {"OK"}, b"EMFILE\n"),
    "ignores-term": ("for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => {});\nsetInterval(() => {}, 1000);\n",
                     SHORT_WALL, {"TIMEOUT"}, None),
    "stderr-flood": ("const b = Buffer.alloc(65536, 120);\nfor (let i = 0; i < 64; i++) require('fs').writeSync(2, b);\n",
                     FAST, {"OUTPUT_LIMIT"}, None),
}

JAVA_FILES = "new String[] {" + ", ".join(f'"{p}"' for p in HOST_FILES) + "}"
JAVA_WRITES = "new String[] {" + ", ".join(f'"{p}"' for p in (*WRITES, "/build/Main.class")) + "}"
JAVA_CASES = {
    "kill-everything": ("""
public class Main { public static void main(String[] a) {
  long me = ProcessHandle.current().pid();
  ProcessHandle.of(1).ifPresent(ProcessHandle::destroyForcibly);
  try { ProcessHandle.allProcesses().filter(p -> p.pid() != me).forEach(ProcessHandle::destroyForcibly); }
  catch (RuntimeException e) {}  // no /proc to list them from
  System.out.println("alive");
} }""", JAVA, {"OK", "SIGNALED"}, None),
    "host-files-and-writes": ("""
import java.io.*;
import java.nio.file.*;
public class Main { public static void main(String[] a) {
  for (String f : %s) {
    try { Path p = Paths.get(f); if (Files.isDirectory(p)) Files.list(p).count(); else Files.readAllBytes(p);
          System.out.println("read " + f); } catch (Throwable t) {}
  }
  for (String f : %s) {
    try (FileWriter w = new FileWriter(f)) { w.write("x"); System.out.println("wrote " + f); } catch (Throwable t) {}
  }
  String[] root = new File("/").list();
  for (String d : root == null ? new String[0] : root)
    if (java.util.Set.of("root", "home", "proc", "sys").contains(d)) System.out.println(d);  // /etc: the JDK's own
  System.out.println("done");
} }""" % (JAVA_FILES, JAVA_WRITES), JAVA, {"OK"}, b"done\n"),
    "network": ("""
import java.net.*;
public class Main { public static void main(String[] a) {
  try (Socket s = new Socket()) { s.connect(new InetSocketAddress("127.0.0.1", {port}), 2000); System.out.println("connected"); }
  catch (Throwable t) {}
  try (DatagramSocket d = new DatagramSocket()) {
    d.send(new DatagramPacket(new byte[] {1}, 1, InetAddress.getByName("127.0.0.1"), {port})); System.out.println("sent");
  } catch (Throwable t) {}
  System.out.println("done");
} }""", JAVA, {"OK"}, b"done\n"),
    "spawn-shells-and-fork-bomb": ("""
public class Main { public static void main(String[] a) {
  for (String sh : new String[] {"/bin/sh", "/usr/bin/bash"}) {
    try { Runtime.getRuntime().exec(new String[] {sh, "-c", "echo ran"}).waitFor(); System.out.println("shell " + sh); }
    catch (Throwable t) {}
  }
  String java = System.getProperty("java.home") + "/bin/java";
  for (;;) { try { new ProcessBuilder(java, "-cp", "/build", "Main").start(); } catch (Throwable t) {} }
} }""", BOMB, BOMB_STATUSES, None),
    "output-flood": ("""
public class Main { public static void main(String[] a) {
  byte[] b = new byte[65536];
  for (int i = 0; i < 64; i++) { System.out.write(b, 0, b.length); System.err.write(b, 0, b.length); }
  System.out.flush();
} }""", JAVA, {"OUTPUT_LIMIT"}, None),
    "crash-the-jvm": ("""
import java.lang.reflect.Field;
public class Main { public static void main(String[] a) throws Exception {
  Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
  f.setAccessible(true);
  ((sun.misc.Unsafe) f.get(null)).putAddress(0, 42);
} }""", JAVA, {"SIGNALED", "NONZERO_EXIT"}, None),
}


def cases():
    for language, table, slow in (("bash", BASH, False), ("js", JS, False), ("java", JAVA_CASES, True)):
        for name, (source, limits, statuses, stdout) in table.items():
            yield pytest.param(language, name, source, limits, statuses, stdout, id=f"{language}-{name}",
                               marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize("language, name, source, limits, statuses, stdout", list(cases()))
def test_contained(hostile, listener, language, name, source, limits, statuses, stdout) -> None:
    r = hostile.execute(source.replace("{port}", str(listener)), language=language, limits=limits)
    assert r.status in statuses, (r.status, r.stdout[-500:], r.stderr[-500:], r.error)
    assert r.status != "SANDBOX_ERROR"
    if stdout is not None:
        assert r.stdout == stdout, (r.stdout[-500:], r.stderr[-500:])
    for word in (b"read ", b"wrote ", b"ran\n", b"connected", b"sent\n", b"shell "):
        assert not r.stdout.startswith(word) and b"\n" + word not in r.stdout, r.stdout[-500:]
    assert SECRET.encode() not in r.stdout + r.stderr
    if name == "exec-from-tmp" and language == "bash":
        assert b"ran" not in r.stdout
    if name == "fd-exhaustion" and language == "bash":
        assert int(r.stdout.split()[-1]) < 300  # RLIMIT_NOFILE 256
    if name in ("stderr-flood", "output-flood"):
        assert r.stderr_truncated and len(r.stderr) <= r.limits["output_bytes"]
