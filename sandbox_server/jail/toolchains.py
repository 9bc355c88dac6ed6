"""The languages other than Python: one declarative entry per toolchain.

Each entry says where the program's source goes, how it is compiled (if at
all) and run, which environment it gets, what of the host the compile and
the run jails must see (read-only), how to ask the toolchain its version,
and which Debian packages provide it. `detect()` turns the entries whose
toolchain is installed into `Language`s: the same entry, its version, and
the exact host paths to bind (the binaries, the libraries ``ldd`` finds for
them, and the toolchain's own directories). A language whose toolchain is
missing is not served; nothing falls back to another toolchain.

In the jail the program's directory is ``/build``: the source and the
request's files are written there, a compiler writes its artifact there
(bound read-write, the compile's working directory), and the run sees it
read-only but executable, while ``/tmp`` stays ``noexec``.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import subprocess
from collections.abc import Callable
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from . import cpp_pch, detect_cache, go_cache, javac_cds, rust_crates, tsc_snapshot
from .nsjail_config import BUILD_DIR
from .runtime import _canonical, _require_world_readable, _shared_libraries

log = logging.getLogger("sandcheck.server")

_LIBDIR = "/usr/lib/x86_64-linux-gnu"
_GCC = "/usr/lib/gcc/x86_64-linux-gnu"

# What gcc's driver runs and what its linker reads (`g++ -Wl,--trace`):
# the C runtime objects, glibc's link scripts and the libraries the default
# link and `-lcrypto -lssl` name. g++ and rustc (which links with cc) share it.
_C_LINK = (
    "/usr/bin/as", "/usr/bin/ld", "/usr/bin/ld.bfd", "/usr/bin/ld.gold", "/usr/include", f"{_GCC}/*",
    *(f"{_LIBDIR}/{n}" for n in (
        "Scrt1.o", "crt1.o", "crti.o", "crtn.o", "libc.so", "libc_nonshared.a", "libm.so", "libm.a", "libm.so.6",
        "libmvec.so*", "libmvec.a", "libpthread.a", "libdl.a", "librt.a", "libutil.a", "libpthread.so*", "libdl.so*",
        "librt.so*", "libutil.so*", "libcrypto.so", "libssl.so", "libcrypto.so.*", "libssl.so.*", "libgcc_s.so.1",
        "libz.so*")),
)
# Tools a bash program may call, as SandboxFusion's and MultiPL-E's shell
# programs do (coreutils, text tools); each bound with its libraries.
_SHELL_TOOLS = (
    "awk", "mawk", "gawk", "basename", "bc", "cat", "cut", "date", "dirname", "echo", "env", "expr", "factor", "false",
    "fold", "grep", "head", "ls", "mkdir", "mktemp", "nl", "od", "paste", "printf", "rev", "rm", "sed", "seq", "sh",
    "dash", "sleep", "sort", "tac", "tail", "tee", "test", "tr", "true", "uniq", "wc", "xargs", "yes", "md5sum",
    "sha256sum", "shuf", "comm", "join", "touch", "cp", "mv", "stat", "numfmt", "bash",
)


# SandboxFusion runs TypeScript with tsx: transpiled, never type-checked, ES imports
# turned into CommonJS requires. The same with TypeScript's own transpileModule: only
# a syntax error fails the compile; Node's API (require, process.stdin, fs) is there.
_TS_TRANSPILE = """
const ts = require("/usr/share/nodejs/typescript"), fs = require("fs"), src = process.argv[1];
const out = ts.transpileModule(fs.readFileSync(src, "utf8"), {fileName: src, reportDiagnostics: true,
  compilerOptions: {target: ts.ScriptTarget.ESNext, module: ts.ModuleKind.CommonJS, esModuleInterop: true}});
const errors = out.diagnostics.filter(d => d.category === ts.DiagnosticCategory.Error);
if (errors.length) {
  process.stderr.write(ts.formatDiagnostics(errors, {getCanonicalFileName: f => f, getCurrentDirectory: () => "",
                                                     getNewLine: () => "\\n"}));
  process.exit(1);
}
fs.writeFileSync(src.replace(/\\.ts$/, "") + ".js", out.outputText);
"""


# Node's runs load this first: "/dev/stdin" and "/dev/stdout" (links into /proc, which no jail
# mounts) reach fds 0 and 1 through fs (node_std_paths.js). The run jail holds it as a file.
_NODE_STD_PATHS = "/usr/lib/sandcheck/node_std_paths.js"
_NODE_RUN = ("/usr/bin/node", "--require", _NODE_STD_PATHS, f"{BUILD_DIR}/main.js")
_NODE_RUN_FILES = ((_NODE_STD_PATHS, (Path(__file__).with_name("node_std_paths.js")).read_text()),)


def _java_home() -> str:
    found = sorted(glob.glob("/usr/lib/jvm/java-17-openjdk-*"))
    return found[0] if found else "/usr/lib/jvm/java-17-openjdk-amd64"


_JAVATUPLES = "/usr/share/java/javatuples.jar"


def _java_source(source: bytes) -> str:
    """javac wants a public top-level class in a file of its name (HumanEval-X's is
    Main); without one, the top-level class that declares ``static void main`` names
    the file and the run, as ``java Problem`` runs MultiPL-E's (``Main`` if several
    do). Comments and string literals name no class (a comment about "the String
    class methods" once made the run look for a class ``methods``), nor do classes
    nested in another."""
    text = _JAVA_NOISE.sub(b" ", source)
    public, mains, depth, top = None, [], 0, None
    for m in _JAVA_TOKENS.finditer(text):
        token = m.group(0)
        if token == b"{":
            depth += 1
        elif token == b"}":
            depth = max(depth - 1, 0)
        elif m.group("type"):
            if depth == 0:
                top = m.group("type")
                if b"public" in m.group("type_modifiers").split() and public is None:
                    public = top
        elif depth == 1 and top is not None and b"static" in m.group("modifiers").split():
            mains.append(top)
    # Of several, Main (what SandboxFusion and HumanEval-X run), else the first.
    name = public or (b"Main" if b"Main" in mains else mains[0] if mains else None)
    return (name.decode() if name else "Main") + ".java"


# Comments, text blocks, strings and char literals: blanked before classes are looked for.
_JAVA_NOISE = re.compile(rb'//[^\n]*|/\*.*?\*/|"""(?:\\.|[^\\])*?"""|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'',
                         re.DOTALL)
_JAVA_TOKENS = re.compile(
    rb"[{}]"
    rb"|(?P<type_modifiers>(?:\b(?:public|protected|private|abstract|final|static|strictfp|sealed|non-sealed)\s+)*)"
    rb"\b(?:class|interface|enum|record)\s+(?P<type>[A-Za-z_$][\w$]*)"
    rb"|(?P<modifiers>(?:\b(?:public|static|final|synchronized|strictfp)\s+)+)void\s+main\s*\(")


@dataclass(frozen=True)
class Toolchain:
    """How one language is built and run, and what the jails must show it."""

    name: str
    aliases: tuple[str, ...]
    # The source's file name in /build (a function of the source for Java).
    source_file: str | Callable[[bytes], str]
    # argv of the compile (None: interpreted), and of the run; "{src}" is
    # the source's file name, "{main}" its name without the suffix, and
    # "{memory_bytes}" the run's memory limit.
    compile: tuple[str, ...] | None
    run: tuple[str, ...]
    # The binaries that must exist for the language to be served; their
    # libraries (ldd) are bound too.
    binaries: tuple[str, ...]
    # Host paths (globs) the compile jail and the run jail bind read-only,
    # beyond the binaries and the jail's Python.
    compile_binds: tuple[str, ...] = ()
    run_binds: tuple[str, ...] = ()
    # Files the compile and the run jail hold, made from text: (path in the jail, its content).
    compile_files: tuple[tuple[str, str], ...] = ()
    run_files: tuple[tuple[str, str], ...] = ()
    # Binaries whose libraries the run needs (the interpreter, or an artifact's usual ones).
    run_binaries: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    compile_env: tuple[str, ...] = ()
    version: tuple[str, ...] = ()
    version_pattern: str = r"(\d+\.\d+(?:\.\d+)?)"
    # What GetInfo names: the compiler, and what runs the artifact ("" when it runs on its own).
    compiler: str = ""
    interpreter: str = ""
    packages: str = ""
    why: str = ""
    # The compile jail mounts a read-only /proc (its own pid namespace's): only
    # for a compiler that will not start without /proc/self/exe.
    compile_proc: bool = False

    def file_name(self, source: bytes) -> str:
        return self.source_file(source) if callable(self.source_file) else self.source_file


def go_root() -> str:
    """The newest Go that Debian installs side by side (golang-1.N-go under /usr/lib/go-1.N):
    1.23 from bookworm-backports, which scripts/setup installs, else the release's 1.19.
    Programs want Go 1.21's min and max, 1.22's range over an int and its loop variable per
    iteration (a pointer to it taken in a loop was one variable before: a wrong answer), the
    slices and maps packages: SandboxFusion runs Go 1.23, Codeforces 1.22."""
    minors = [int(m.group(1)) for m in (re.fullmatch(r"/usr/lib/go-1\.(\d+)/bin/go", p)
                                        for p in glob.glob("/usr/lib/go-1.*/bin/go")) if m]
    return f"/usr/lib/go-1.{max(minors) if minors else 23}"


_GO_ROOT = go_root()
_GO_MINOR = _GO_ROOT.rsplit("-", 1)[-1]
# Go programs and Go test files share the toolchain; go_test differs in how it builds and runs.
_GO = Toolchain(
    name="go", aliases=("golang",),
    source_file="main.go",
    compile=(f"{_GO_ROOT}/bin/go", "build", "-o", "main", "{src}"),
    run=(f"{BUILD_DIR}/main",),
    binaries=(f"{_GO_ROOT}/bin/go",),
    compile_binds=(_GO_ROOT, f"/usr/share/go-{_GO_MINOR}", "/usr/share/gocode"),
    # GOPATH mode: the vendored-by-Debian testify resolves from /usr/share/gocode. No go.mod, so the
    # language version is the toolchain's own (1.23's loop variables, min and max). Telemetry off
    # (its mode file, in the config directory named here): in its default mode every go command
    # writes counter files and starts a sidecar, which fails without /proc and says so on stderr,
    # in every compile error's message.
    compile_env=(f"GOROOT={_GO_ROOT}", "GOPATH=/usr/share/gocode", "GO111MODULE=off", "CGO_ENABLED=0",
                 "GOTOOLCHAIN=local", "XDG_CONFIG_HOME=/usr/lib/sandcheck/go-config"),
    compile_files=(("/usr/lib/sandcheck/go-config/go/telemetry/mode", "off\n"),),
    version=(f"{_GO_ROOT}/bin/go", "version"), compiler=f"{_GO_ROOT}/bin/go",
    version_pattern=r"go(\d+\.\d+(?:\.\d+)?)",
    packages="golang-1.23-go (bookworm-backports) golang-github-stretchr-testify-dev",
    why="Go programs with a main package; a static binary",
)

# Rust programs with a main and HumanEval-X's test modules share the toolchain.
_RUST = Toolchain(
    name="rust", aliases=("rs",),
    source_file="main.rs",
    # The crates (rand, regex, md5) are added by rust_crates.py as --extern flags. Without the
    # standard library's debug info (a panic's message and location are the same; no backtrace is
    # printed). rustc-web (Debian 12's security updates: 1.96, where the release's rustc is 1.63,
    # before let-else, div_ceil, BTreeSet::first, is_some_and...), linked by its own default
    # (1.63 was given gold, 0.27 s against ld.bfd's 0.44; 1.96 warns that gold is deprecated).
    # Integer overflow panics, as in the debug builds of MultiPL-E (rustc), HumanEval-X (cargo
    # test) and SandboxFusion: with -O alone it wrapped, and a wrong program passed.
    compile=("/usr/bin/rustc", "--edition", "2021", "-O", "-C", "overflow-checks=on", "-C", "strip=debuginfo",
             "-o", "main", "{src}"),
    # rustc panics without /proc/self/exe (its sysroot search), even given --sysroot.
    compile_proc=True,
    run=(f"{BUILD_DIR}/main",),
    binaries=("/usr/bin/rustc", "/usr/bin/cc"),
    compile_binds=(*_C_LINK, "/usr/lib/rustlib", f"{_LIBDIR}/librustc_driver-*.so", f"{_LIBDIR}/libstd-*.so"),
    run_binds=(f"{_LIBDIR}/libgcc_s.so.1",),
    version=("/usr/bin/rustc", "--version"), compiler="/usr/bin/rustc",
    packages="rustc-web cargo-web librust-rand-dev librust-regex-dev librust-md5-dev",
    why="MultiPL-E Rust and Rust programs with a main (Debian's rustc-web), the rand, regex and md5 crates linkable",
)

TOOLCHAINS: tuple[Toolchain, ...] = (
    Toolchain(
        name="cpp", aliases=("c++", "cxx", "g++"),
        source_file="main.cpp",
        # HumanEval-X's C++ harness links OpenSSL's MD5 (-lcrypto -lssl); Boost is header-only.
        compile=("/usr/bin/g++", "-std=c++17", "-O2", "-o", "main", "{src}", "-lcrypto", "-lssl"),
        run=(f"{BUILD_DIR}/main",),
        binaries=("/usr/bin/g++",),
        # testlib.h for checkers (scripts/setup installs it), where g++ looks first.
        compile_binds=(*_C_LINK, "/usr/local/include/testlib.h"),
        run_binds=(f"{_LIBDIR}/libcrypto.so.*", f"{_LIBDIR}/libssl.so.*", f"{_LIBDIR}/libgcc_s.so.1",
                   f"{_LIBDIR}/libstdc++.so.6*"),
        version=("/usr/bin/g++", "-dumpfullversion"), compiler="/usr/bin/g++",
        packages="g++ libboost-dev libssl-dev",
        why="HumanEval-X and MultiPL-E C++; g++ with C++17, Boost headers and OpenSSL",
    ),
    _GO,
    dataclasses.replace(
        _GO, name="go_test", aliases=("gotest",),
        source_file="main_test.go",
        # `go test`, split: the test binary is built in the compile jail and run in a fresh one,
        # with the flag `go test` gives it: os.Exit(0) in a test panics (the run fails), as there.
        compile=(f"{_GO_ROOT}/bin/go", "test", "-c", "-o", "main.test", "{src}"),
        run=(f"{BUILD_DIR}/main.test", "-test.v", "-test.paniconexit0"),
        why="HumanEval-X and MultiPL-E Go: a file of func TestX(t *testing.T), testify's assert available",
    ),
    Toolchain(
        name="java", aliases=("java17",),
        source_file=_java_source,
        # Measured here: javac's own JVM with C1 only and the serial GC takes 0.43 s of CPU for a
        # hello world instead of 0.71 s. The program's JVM keeps the defaults: with those flags a
        # hello world took 44 ms instead of 31, and a hot loop twice the CPU.
        # -proc:none: no annotation processors (code a request's files could bring) run at compile time.
        compile=(f"{_java_home()}/bin/javac", "-encoding", "UTF-8", "-proc:none", "-J-XX:+UseSerialGC",
                 "-J-XX:TieredStopAtLevel=1", "-J-Xshare:auto", "-cp", f".:{_JAVATUPLES}", "-d", ".", "{src}"),
        # Without /proc the JVM cannot see its cgroup: MaxRAM sizes its heap from the check's memory limit,
        # three quarters of it (the JVM's own default is a half at 256 MB, a quarter from 1 GB), the rest
        # for the JVM itself: a program's 160 MB array under a 256 MB limit ran out of heap, where judges
        # that give Java the whole limit (Codeforces: -Xmx) or none (SandboxFusion) accept it.
        # -ea: a failing `assert` fails the program, as SandboxFusion and MultiPL-E run Java.
        run=(f"{_java_home()}/bin/java", "-ea", "-XX:MaxRAM={memory_bytes}", "-XX:MaxRAMPercentage=75",
             "-XX:MinRAMPercentage=75", "-cp", f"{BUILD_DIR}:{_JAVATUPLES}", "{main}"),
        binaries=(f"{_java_home()}/bin/javac", f"{_java_home()}/bin/java"),
        # javatuples: MultiPL-E's Java programs import its Pair, Triplet... (a missing jar is skipped).
        compile_binds=(_java_home(), "/etc/java-17-openjdk", "/usr/share/java/javatuples*.jar"),
        run_binds=(_java_home(), "/etc/java-17-openjdk", "/usr/share/java/javatuples*.jar"),
        # The launchers find libjli through $ORIGIN, which needs /proc (not mounted): name the directory.
        env=(f"LD_LIBRARY_PATH={_java_home()}/lib",),
        # The JVM's own libraries (not AWT's, which would pull in X11).
        run_binaries=(f"{_java_home()}/bin/java", f"{_java_home()}/lib/server/libjvm.so",
                      *(f"{_java_home()}/lib/lib{n}.so" for n in ("java", "jli", "jimage", "zip", "nio", "net",
                                                                  "verify", "extnet", "syslookup", "management"))),
        version=(f"{_java_home()}/bin/javac", "-version"), compiler=f"{_java_home()}/bin/javac",
        interpreter=f"{_java_home()}/bin/java",
        packages="openjdk-17-jdk-headless libjavatuples-java",
        why="HumanEval-X and MultiPL-E Java (OpenJDK 17); the public class names the file",
    ),
    Toolchain(
        name="js", aliases=("javascript", "nodejs", "node"),
        source_file="main.js",
        compile=None,
        run=_NODE_RUN,
        run_files=_NODE_RUN_FILES,
        binaries=("/usr/bin/node",),
        run_binaries=("/usr/bin/node",),
        version=("/usr/bin/node", "--version"), interpreter="/usr/bin/node",
        packages="nodejs",
        why="HumanEval-X and MultiPL-E JavaScript, run by Node.js",
    ),
    Toolchain(
        name="ts", aliases=("typescript",),
        source_file="main.ts",
        # As MultiPL-E compiles it (--target esnext); a type error fails the compile.
        # --skipLibCheck: the bundled .d.ts files are not re-checked (2.4 -> 1.0 s of CPU here).
        compile=("/usr/bin/node", "/usr/share/nodejs/typescript/bin/tsc", "--target", "esnext", "--skipLibCheck",
                 "--outDir", ".", "{src}"),
        run=_NODE_RUN,
        run_files=_NODE_RUN_FILES,
        binaries=("/usr/bin/node", "/usr/share/nodejs/typescript/bin/tsc"),
        compile_binds=("/usr/share/nodejs/typescript",),
        run_binaries=("/usr/bin/node",),
        version=("/usr/bin/node", "/usr/share/nodejs/typescript/bin/tsc", "--version"),
        compiler="/usr/share/nodejs/typescript/bin/tsc", interpreter="/usr/bin/node",
        packages="nodejs node-typescript",
        why="MultiPL-E TypeScript: tsc (Debian's node-typescript) type-checks and emits JavaScript, Node runs it",
    ),
    Toolchain(
        name="ts_transpile", aliases=("tsx",),
        source_file="main.ts",
        # Braces doubled: compile arguments are format strings ("{src}").
        compile=("/usr/bin/node", "-e", _TS_TRANSPILE.replace("{", "{{").replace("}", "}}"), "{src}"),
        run=_NODE_RUN,
        run_files=_NODE_RUN_FILES,
        binaries=("/usr/bin/node", "/usr/share/nodejs/typescript/bin/tsc"),
        compile_binds=("/usr/share/nodejs/typescript",),
        run_binaries=("/usr/bin/node",),
        version=("/usr/bin/node", "/usr/share/nodejs/typescript/bin/tsc", "--version"),
        compiler="/usr/share/nodejs/typescript/lib/typescript.js", interpreter="/usr/bin/node",
        packages="nodejs node-typescript",
        why="TypeScript as SandboxFusion runs it (tsx): transpiled without type checks; Node's API and ES imports work",
    ),
    _RUST,
    dataclasses.replace(
        _RUST, name="rust_test", aliases=("rs_test", "rusttest"),
        compile=("/usr/bin/rustc", "--test", "--edition", "2021", "-O", "-C", "overflow-checks=on", "-C",
                 "strip=debuginfo", "-o", "main", "{src}"),
        why="HumanEval-X Rust: a #[cfg(test)] module, built with rustc --test and run as its test harness",
    ),
    Toolchain(
        name="bash", aliases=("sh", "shell"),
        source_file="main.sh",
        compile=None,
        run=("/usr/bin/bash", f"{BUILD_DIR}/main.sh"),
        binaries=("/usr/bin/bash",),
        run_binaries=tuple(f"/usr/bin/{t}" for t in _SHELL_TOOLS),
        run_binds=tuple(f"/usr/bin/{t}" for t in _SHELL_TOOLS),
        version=("/usr/bin/bash", "--version"), interpreter="/usr/bin/bash",
        packages="bash coreutils bc",
        why="MultiPL-E shell programs: bash with coreutils, sed, grep and awk",
    ),
)


def find(name: str) -> Toolchain | None:
    """The toolchain a request's language names (canonical name or alias), or None."""
    name = name.strip().lower()
    for tc in TOOLCHAINS:
        if name == tc.name or name in tc.aliases:
            return tc
    return None


@dataclass(frozen=True)
class Language:
    """An installed toolchain: its entry, version and the host paths its jails bind."""

    toolchain: Toolchain
    version: str
    compile_binds: tuple[str, ...] = field(default_factory=tuple)
    run_binds: tuple[str, ...] = field(default_factory=tuple)
    # Extra compile flags and environment found at start (rustc's --extern crates, Go's GOCACHE).
    compile_extra: tuple[str, ...] = ()
    compile_extra_env: tuple[str, ...] = ()
    # The compile's argv when start-up work was saved for it (javac with its class archive, tsc from
    # its snapshot); empty: the toolchain's own.
    compile_template: tuple[str, ...] = ()
    # C++: (header sequence, precompiled header to -include) for programs that begin with the sequence.
    precompiled: tuple[tuple[tuple[str, ...], str], ...] = ()

    @property
    def name(self) -> str:
        return self.toolchain.name

    @property
    def compiled(self) -> bool:
        return self.toolchain.compile is not None

    def compile_argv(self, src: str, source: bytes = b"") -> list[str]:
        """The compile of `source` (its file name `src`)."""
        main = src.rsplit(".", 1)[0]
        argv = [a.format(src=src, main=main) for a in self.compile_template or self.toolchain.compile or ()]
        if self.precompiled:
            argv[1:1] = cpp_pch.flags_for(source, dict(self.precompiled))
        return argv + list(self.compile_extra)

    def run_argv(self, src: str, memory_bytes: int) -> list[str]:
        main = src.rsplit(".", 1)[0]
        return [a.format(src=src, main=main, memory_bytes=memory_bytes) for a in self.toolchain.run]


def _expand(patterns: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    for pattern in patterns:
        out += sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else (
            [pattern] if os.path.exists(pattern) else [])
    return out


def _without_nested(paths: set[str]) -> tuple[str, ...]:
    """Drop paths under a bound directory: the directory's bind shows them."""
    dirs = sorted(p for p in paths if os.path.isdir(p))
    kept = [p for p in sorted(paths) if not any(p != d and p.startswith(d + "/") for d in dirs)]
    return tuple(kept)


def _executables(paths: set[str]) -> list[str]:
    """Regular executable files among `paths` and directly inside those that are
    directories (gcc's cc1plus, collect2): each needs its libraries."""
    found = []
    for p in sorted(paths):
        names = [os.path.join(p, n) for n in sorted(os.listdir(p))] if os.path.isdir(p) else [p]
        found += [n for n in names if os.path.isfile(n) and os.access(n, os.X_OK)]
    return found


def _binds(binaries: list[str], patterns: tuple[str, ...]) -> tuple[str, ...]:
    paths = {_canonical(p) if not os.path.isdir(p) else p for p in _expand(patterns)}
    paths |= set(binaries)
    paths |= _shared_libraries(_executables(paths) + [b for b in binaries if os.path.isfile(b) and b.endswith(".so")])
    for p in paths:
        _require_world_readable(p)
    return _without_nested(paths)


def _probe_versions(toolchains: list[Toolchain]) -> dict[str, str]:
    procs = {tc.name: subprocess.Popen(list(tc.version), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})
             for tc in toolchains}
    versions = {}
    for name, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            continue
        tc = next(t for t in toolchains if t.name == name)
        m = re.search(tc.version_pattern, out)
        if proc.returncode == 0 and m:
            versions[name] = m.group(1)
    return versions


def missing(tc: Toolchain) -> list[str]:
    """The binaries of `tc` this host lacks."""
    return [b for b in tc.binaries if not (os.path.isfile(b) and os.access(b, os.X_OK))]


def detect(only: tuple[str, ...] | None = None, cache_root: str = "/var/cache/sandcheck",
           ) -> tuple[dict[str, Language], dict[str, str]]:
    """The installed languages by name, and for the others why not (an install hint).

    Rust's crates are built into `cache_root` the first time (rust_crates.py).
    The answer is remembered there until the host's packages or toolchains
    change (detect_cache.py), so a server's start does not wait for it."""
    wanted = [tc for tc in TOOLCHAINS if only is None or tc.name in only]
    digest = detect_cache.key([b for tc in wanted for b in (*tc.binaries, *_expand(tc.run_binaries))], only, cache_root)
    remembered = detect_cache.load(cache_root, digest)
    if remembered is not None:
        by_name = {tc.name: tc for tc in wanted}
        languages = {name: Language(by_name[name], lang["version"], tuple(lang["compile_binds"]),
                                    tuple(lang["run_binds"]), tuple(lang["compile_extra"]),
                                    tuple(lang["compile_extra_env"]), tuple(lang.get("compile_template", ())),
                                    tuple((tuple(h), p) for h, p in lang.get("precompiled", ())))
                     for name, lang in remembered["languages"].items() if name in by_name}
        return languages, dict(remembered["absent"])
    languages, absent = _detect_now(wanted, cache_root)
    detect_cache.save(cache_root, digest, {
        "languages": {name: {"version": lang.version, "compile_binds": lang.compile_binds, "run_binds": lang.run_binds,
                             "compile_extra": lang.compile_extra, "compile_extra_env": lang.compile_extra_env,
                             "compile_template": lang.compile_template, "precompiled": lang.precompiled}
                      for name, lang in languages.items()},
        "absent": absent})
    return languages, absent


def _detect_now(wanted: list[Toolchain], cache_root: str) -> tuple[dict[str, Language], dict[str, str]]:
    present = [tc for tc in wanted if not missing(tc)]
    absent = {tc.name: f"missing {', '.join(missing(tc))} (apt-get install {tc.packages})"
              for tc in wanted if missing(tc)}
    versions = _probe_versions(present)
    languages: dict[str, Language] = {}
    for tc in present:
        if tc.name not in versions:
            absent[tc.name] = f"{tc.version[0]} did not report a version"
            continue
        run_bins = _expand(tc.run_binaries)
        compile_bins = [os.path.realpath(b) for b in tc.binaries] + list(tc.binaries) + run_bins
        compile_binds = _binds(compile_bins, tc.compile_binds) if tc.compile else ()
        run_binds = _binds([_canonical(b) for b in run_bins], tc.run_binds)
        extra: tuple[str, ...] = ()
        extra_env: tuple[str, ...] = ()
        if tc.name in ("go", "go_test"):
            go_env = dict(e.split("=", 1) for e in tc.compile_env)
            try:
                cache = go_cache.ensure(cache_root, versions[tc.name], tc.binaries[0], go_env)
            except (go_cache.GoCacheError, OSError, subprocess.TimeoutExpired) as exc:
                absent[tc.name] = str(exc)
                continue
            compile_binds = _without_nested({*compile_binds, cache})
            extra_env = (f"GOCACHE={cache}",)
        if tc.name in ("rust", "rust_test"):
            try:
                deps, externs = rust_crates.ensure(cache_root, versions[tc.name])
            except (rust_crates.CratesError, OSError) as exc:
                absent[tc.name] = str(exc)
                continue
            compile_binds = _without_nested({*compile_binds, deps})
            extra = rust_crates.compile_flags(deps, externs)
        try:
            template, precompiled, saved = _start_up_saved(tc, versions[tc.name], cache_root)
        except (cpp_pch.PchError, javac_cds.CdsError, tsc_snapshot.SnapshotError, OSError,
                subprocess.TimeoutExpired) as exc:
            # The toolchain still works as it comes, only slower: say so, serve it.
            log.warning("%s compiles without its saved start-up work: %s", tc.name, exc)
            template, precompiled, saved = (), (), ()
        compile_binds = _without_nested({*compile_binds, *saved}) if saved else compile_binds
        languages[tc.name] = Language(tc, versions[tc.name], compile_binds, run_binds, extra, extra_env, template,
                                      precompiled)
    return languages, absent


def _start_up_saved(tc: Toolchain, version: str, cache_root: str,
                    ) -> tuple[tuple[str, ...], tuple[tuple[tuple[str, ...], str], ...], tuple[str, ...]]:
    """What `tc`'s compiles can skip, made once into `cache_root`: (the compile's argv, or () for the
    toolchain's own; C++'s precompiled headers; the paths its compile jail must bind for them)."""
    if tc.name == "cpp":
        flags = tuple(a for a in tc.compile[1:] if a.startswith("-") and not a.startswith(("-l", "-o")))
        headers = cpp_pch.ensure(cache_root, tc.compile[0], version, flags)
        return (), tuple(headers.items()), tuple(sorted({os.path.dirname(h) for h in headers.values()}))
    if tc.name == "java":
        archive = javac_cds.ensure(cache_root, tc.compile, version)
        return javac_cds.compile_argv(tc.compile, archive), (), (os.path.dirname(archive),)
    if tc.name == "ts":
        node, tsc, *args = tc.compile
        blob = tsc_snapshot.ensure(cache_root, node, os.path.join(os.path.dirname(os.path.dirname(tsc)), "lib",
                                                                   "typescript.js"),
                                   tuple(a for a in args if a != "{src}"))
        # The source first: node reads the options before it as its own.
        return (node, "--snapshot-blob", blob, "{src}", *(a for a in args if a != "{src}")), (), (os.path.dirname(blob),)
    return (), (), ()


def main() -> None:
    """``python -m sandbox_server.jail.toolchains``: find the toolchains, build what
    they need once (scripts/setup runs it), and say which languages are served."""
    import sys

    cache_root = sys.argv[1] if len(sys.argv) > 1 else "/var/cache/sandcheck"
    languages, absent = detect(cache_root=cache_root)
    for name, lang in languages.items():
        print(f"{name}: {lang.version}")
    for name, why in absent.items():
        print(f"{name}: not served: {why}")


if __name__ == "__main__":
    main()
