"""A class-data-sharing archive of javac's own classes, dumped once per JDK.

javac is a Java program: before it reads a line of the request's source its
JVM loads, verifies and links some 2,000 classes of the compiler. HotSpot
can dump the classes a run loaded into an archive
(``-XX:ArchiveClassesAtExit``) that later JVMs map instead
(``-XX:SharedArchiveFile``): here a MultiPL-E compile went from 0.65 to
0.5 s of CPU. The server dumps it on the host, compiling a fixed warm-up
program (never a request), into a directory compile jails bind read-only.
A JVM that finds the archive stale (another JDK) ignores it and loads the
classes itself: slower, same result.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from .built_once import build_once

# What MultiPL-E's and HumanEval-X's Java programs use: collections, streams, lambdas, javatuples.
_WARM_UP = """import java.util.*;
import java.util.function.*;
import java.util.stream.*;
import java.math.BigInteger;
import java.security.MessageDigest;
import org.javatuples.Pair;

class Main {
    static Optional<Pair<Long, String>> f(ArrayList<Long> xs, HashMap<String, Long> m) {
        List<String> s = xs.stream().map(x -> String.format("%d", x)).sorted(Comparator.reverseOrder())
            .collect(Collectors.toList());
        Function<Long, Long> sq = x -> x * x;
        long total = xs.stream().mapToLong(Long::longValue).sum() + Math.abs(sq.apply(3L));
        StringBuilder b = new StringBuilder(String.join(",", s));
        for (Map.Entry<String, Long> e : new TreeMap<>(m).entrySet()) b.append(e.getKey().toUpperCase());
        return Optional.of(Pair.with(total + new BigInteger("7").longValue(), b.reverse().toString()));
    }
    public static void main(String[] args) throws Exception {
        MessageDigest.getInstance("MD5");
        if (!(f(new ArrayList<Long>(Arrays.asList((long)1L, (long)2L)), new HashMap<String, Long>(Map.of("a", 1L)))
              .isPresent())) throw new AssertionError();
    }
}
"""


class CdsError(Exception):
    """The archive cannot be dumped here; the message says why."""


def ensure(cache_root: str, javac_argv: tuple[str, ...], jdk_version: str) -> str:
    """The archive for `javac_argv` (the compile's argv, ``{src}`` for the source), dumped if missing.

    A file lock lets several server processes share one dump."""
    h = hashlib.sha256(repr(javac_argv).encode() + _WARM_UP.encode())
    for path in (javac_argv[0], os.path.realpath(javac_argv[0])):
        st = os.stat(path)
        h.update(f"{path} {st.st_size} {st.st_mtime_ns}\n".encode())
    root = Path(cache_root) / f"javac-cds-{jdk_version}-{h.hexdigest()[:12]}"
    archive = root / "javac.jsa"

    def dump(work: Path) -> None:
        with tempfile.TemporaryDirectory() as src:
            Path(src, "Main.java").write_text(_WARM_UP)
            argv = [javac_argv[0], f"-J-XX:ArchiveClassesAtExit={work / archive.name}",
                    *(a.format(src="Main.java") for a in javac_argv[1:])]
            done = subprocess.run(argv, cwd=src, env={"PATH": "/usr/bin:/bin", "HOME": src},
                                  capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not (work / archive.name).is_file():
            raise CdsError(f"javac's archive dump failed: {(done.stdout + done.stderr).strip()[-1000:]}")

    build_once(root, dump)
    return str(archive)


def compile_argv(javac_argv: tuple[str, ...], archive: str) -> tuple[str, ...]:
    """The compile's argv with its JVM mapping `archive`."""
    return (javac_argv[0], f"-J-XX:SharedArchiveFile={archive}", *javac_argv[1:])
