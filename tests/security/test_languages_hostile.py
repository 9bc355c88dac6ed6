"""The hostile programs in the other languages: each attack a language can express, contained.

Every program runs on a warm and on a cold server (the `server` fixture),
and `hostile` proves afterwards that nothing was left behind and that the
server still serves. C++, bash and JavaScript run in every suite; Go, Java
and Rust compile for seconds each, so theirs are marked slow. TypeScript
runs as JavaScript under Node and adds no attack of its own.
"""

from __future__ import annotations

import pytest

from sandcheck import Limits

from .conftest import FAST, SECRET

MiB = 1024 * 1024
SMALL = Limits(memory_bytes=128 * MiB, cpu_time_ms=5000, wall_time_ms=10_000)
BOMB = Limits(memory_bytes=256 * MiB, cpu_time_ms=2000, wall_time_ms=6000)
# A bomb ends at a limit (or, in a runtime that gives up first, on its own), never OK.
BOMB_STATUSES = {"TIMEOUT", "MEMORY_LIMIT", "NONZERO_EXIT", "SIGNALED"}
MEMORY_STATUSES = {"MEMORY_LIMIT"}
# Each "probe" prints what it could not do; anything else in stdout is a failure.
CONTAINED = b"blocked\nno-file\nno-secret\nno-write\n"

CPP_PROBE = r"""
#include <arpa/inet.h>
#include <cstdio>
#include <cstdlib>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
int main() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{}; a.sin_family = AF_INET; a.sin_port = htons(53); inet_pton(AF_INET, "1.1.1.1", &a.sin_addr);
  std::puts(s < 0 || connect(s, (sockaddr *)&a, sizeof a) < 0 ? "blocked" : "connected");
  std::puts(std::fopen("/etc/passwd", "r") ? "read" : "no-file");
  std::puts(std::getenv("SANDCHECK_TEST_SECRET") ? "secret" : "no-secret");
  const char *paths[] = {"/sandcheck-pwned", "/build/pwned", "/usr/pwned", "/root/sandcheck-pwned"};
  int wrote = 0;
  for (const char *p : paths) wrote += std::fopen(p, "w") != nullptr;
  std::puts(wrote ? "wrote" : "no-write");
}
"""
BASH_PROBE = r"""
(exec 3<>/dev/tcp/1.1.1.1/53) 2>/dev/null && echo connected || echo blocked
cat /etc/passwd 2>/dev/null && echo read || echo no-file
echo "${SANDCHECK_TEST_SECRET:-no-secret}"
wrote=no-write
for p in /sandcheck-pwned /build/pwned /usr/pwned /root/sandcheck-pwned; do (echo x > "$p") 2>/dev/null && wrote=wrote; done
echo "$wrote"
"""
JS_PROBE = r"""
const fs = require("fs");
const tryIt = (f) => { try { f(); return true; } catch (e) { return false; } };
const sock = require("net").connect(53, "1.1.1.1");
sock.on("connect", () => { console.log("connected"); process.exit(1); });
sock.on("error", () => {
  console.log("blocked");
  console.log(tryIt(() => fs.readFileSync("/etc/passwd")) ? "read" : "no-file");
  console.log(process.env.SANDCHECK_TEST_SECRET ? "secret" : "no-secret");
  const wrote = ["/sandcheck-pwned", "/build/pwned", "/usr/pwned"].some((p) => tryIt(() => fs.writeFileSync(p, "x")));
  console.log(wrote ? "wrote" : "no-write");
});
"""
JAVA_PROBE = r"""
import java.io.*;
import java.net.*;
public class Main {
  static boolean tryIt(Runnable r) { try { r.run(); return true; } catch (Throwable t) { return false; } }
  public static void main(String[] a) {
    System.out.println(tryIt(() -> { try (Socket s = new Socket()) { s.connect(new InetSocketAddress("1.1.1.1", 53), 2000); }
                                     catch (IOException e) { throw new UncheckedIOException(e); } }) ? "connected" : "blocked");
    System.out.println(new File("/etc/passwd").canRead() ? "read" : "no-file");
    System.out.println(System.getenv("SANDCHECK_TEST_SECRET") != null ? "secret" : "no-secret");
    boolean wrote = false;
    for (String p : new String[] {"/sandcheck-pwned", "/build/pwned", "/usr/pwned"})
      wrote |= tryIt(() -> { try (FileWriter w = new FileWriter(p)) { w.write("x"); }
                             catch (IOException e) { throw new UncheckedIOException(e); } });
    System.out.println(wrote ? "wrote" : "no-write");
  }
}
"""
GO_PROBE = r"""
package main
import (
    "fmt"
    "net"
    "os"
    "time"
)
func main() {
    if c, err := net.DialTimeout("tcp", "1.1.1.1:53", 2*time.Second); err == nil { c.Close(); fmt.Println("connected") } else { fmt.Println("blocked") }
    if _, err := os.ReadFile("/etc/passwd"); err == nil { fmt.Println("read") } else { fmt.Println("no-file") }
    if os.Getenv("SANDCHECK_TEST_SECRET") != "" { fmt.Println("secret") } else { fmt.Println("no-secret") }
    wrote := "no-write"
    for _, p := range []string{"/sandcheck-pwned", "/build/pwned", "/usr/pwned"} {
        if os.WriteFile(p, []byte("x"), 0o644) == nil { wrote = "wrote" }
    }
    fmt.Println(wrote)
}
"""
RUST_PROBE = r"""
use std::time::Duration;
fn main() {
    let addr = "1.1.1.1:53".parse().unwrap();
    println!("{}", if std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok() { "connected" } else { "blocked" });
    println!("{}", if std::fs::read("/etc/passwd").is_ok() { "read" } else { "no-file" });
    println!("{}", if std::env::var("SANDCHECK_TEST_SECRET").is_ok() { "secret" } else { "no-secret" });
    let wrote = ["/sandcheck-pwned", "/build/pwned", "/usr/pwned"].iter().any(|p| std::fs::write(p, "x").is_ok());
    println!("{}", if wrote { "wrote" } else { "no-write" });
}
"""



def case(language, name, source, limits, statuses, stdout=None, slow=False):
    return pytest.param(language, name, source, limits, statuses, stdout, id=f"{language}-{name}",
                        marks=[pytest.mark.slow] if slow else [])


CASES = [
    # language, name, source, limits, statuses, expected stdout (None: any)
    case("cpp", "probe", CPP_PROBE, FAST, {"OK"}, CONTAINED),
    case("cpp", "fork-bomb", "#include <unistd.h>\nint main() { for (;;) fork(); }\n", BOMB, BOMB_STATUSES - {"SIGNALED"}, None),
    case("cpp", "memory-bomb", "#include <cstdlib>\n#include <cstring>\nint main() { for (;;) { char *p = (char *)std::malloc(1 << 24);"
     " if (!p) return 2; std::memset(p, 1, 1 << 24); } }\n", SMALL, MEMORY_STATUSES, None),
    case("cpp", "output-flood", "#include <cstdio>\nint main() { static char b[65536]; for (int i = 0; i < 64; i++)"
     " std::fwrite(b, 1, sizeof b, stdout); }\n", FAST, {"OUTPUT_LIMIT"}, None),
    case("bash", "probe", BASH_PROBE, FAST, {"OK"}, CONTAINED),
    case("bash", "fork-bomb", "f() { f | f & }\nf\nwhile true; do f; done\n", BOMB, BOMB_STATUSES, None),
    case("bash", "memory-bomb", "x=aaaaaaaa\nwhile true; do x=\"$x$x\"; done\n", SMALL, {"MEMORY_LIMIT", "NONZERO_EXIT"}, None),
    case("bash", "output-flood", "yes | head -c 4000000\n", FAST, {"OUTPUT_LIMIT"}, None),
    case("js", "probe", JS_PROBE, FAST, {"OK"}, CONTAINED),
    case("js", "fork-bomb", 'const cp = require("child_process");\nfor (;;) { try { cp.spawn(process.execPath, [__filename]); }'
     " catch (e) {} }\n", BOMB, BOMB_STATUSES, None),
    case("js", "memory-bomb", "const a = [];\nfor (;;) a.push(new Array(1e6).fill(1.5));\n", SMALL,
     {"MEMORY_LIMIT", "SIGNALED"}, None),
    case("js", "output-flood", 'const b = Buffer.alloc(65536, 120);\nfor (let i = 0; i < 64; i++) require("fs").writeSync(1, b);\n',
     FAST, {"OUTPUT_LIMIT"}, None),
    case("java", "probe", JAVA_PROBE, Limits(cpu_time_ms=5000), {"OK"}, CONTAINED, slow=True),
    case("java", "thread-bomb", "public class Main { public static void main(String[] a) { for (;;) new Thread(() -> {"
                 " try { Thread.sleep(100000); } catch (InterruptedException e) {} }).start(); } }\n", BOMB,
                 BOMB_STATUSES, None, slow=True),
    case("java", "memory-bomb", "import java.util.*;\npublic class Main { public static void main(String[] a) {"
                 " List<long[]> l = new ArrayList<>(); for (;;) l.add(new long[1 << 20]); } }\n", SMALL,
                 {"MEMORY_LIMIT", "NONZERO_EXIT"}, None, slow=True),
    case("go", "probe", GO_PROBE, FAST, {"OK"}, CONTAINED, slow=True),
    case("go", "fork-bomb", 'package main\nimport "os/exec"\nfunc main() { for { exec.Command("/build/main").Start() } }\n',
                 BOMB, BOMB_STATUSES, None, slow=True),
    case("go", "memory-bomb", "package main\nfunc main() { var k [][]byte; for { b := make([]byte, 1<<24);"
                 " for i := range b { b[i] = 1 }; k = append(k, b) } }\n", SMALL, MEMORY_STATUSES, None, slow=True),
    case("rust", "probe", RUST_PROBE, FAST, {"OK"}, CONTAINED, slow=True),
    case("rust", "fork-bomb", "fn main() { loop { let _ = std::process::Command::new(\"/build/main\").spawn(); } }\n",
                 BOMB, BOMB_STATUSES, None, slow=True),
    case("rust", "memory-bomb", "fn main() { let mut k = Vec::new(); loop { k.push(vec![1u8; 1 << 24]); } }\n",
                 SMALL, {"MEMORY_LIMIT", "SIGNALED"}, None, slow=True),
]


@pytest.mark.parametrize("language, name, source, limits, statuses, stdout", CASES)
def test_contained(hostile, language, name, source, limits, statuses, stdout):
    r = hostile.execute(source, language=language, limits=limits)
    assert r.status in statuses, (r.status, r.stdout[-500:], r.stderr[-500:], r.error)
    if stdout is not None:
        assert r.stdout == stdout, r.stderr[-500:]
    assert SECRET.encode() not in r.stdout + r.stderr
    if name == "output-flood":
        assert r.stdout_truncated and len(r.stdout) <= r.limits["output_bytes"]


COMPILED = [c for c in CASES if c.values[0] in ("cpp", "go", "java", "rust")]


@pytest.mark.parametrize("language, name, source, limits, statuses, stdout", COMPILED)
def test_contained_as_a_further_run(hostile, language, name, source, limits, statuses, stdout):
    """The same attack run again from its kept build, with other stdin (so no result is
    replayed): on the default server that run forks in a warm run jail kept for the build."""
    for stdin in (b"", b"again\n", b"and again\n"):
        r = hostile.execute(source, language=language, limits=limits, stdin=stdin)
        assert r.status in statuses, (stdin, r.status, r.stdout[-500:], r.stderr[-500:], r.error)
        if stdout is not None:
            assert r.stdout == stdout, r.stderr[-500:]
        assert SECRET.encode() not in r.stdout + r.stderr
    assert r.compile.cached
