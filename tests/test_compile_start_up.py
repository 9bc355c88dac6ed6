"""Start-up work compiles share: C++'s precompiled headers, javac's class archive, tsc's snapshot.

Each is made once on the host from the toolchain's own files, bound
read-only into compile jails, and must leave every verdict and message what
the plain toolchain gives: a precompiled header only for a program that
itself begins with its headers, tsc's diagnostics and exit status its own.
A toolchain whose saved work cannot be made is still served, as it comes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from sandcheck import Client
from sandbox_server.jail import cpp_pch, toolchains, tsc_snapshot

INSTALLED, _ = toolchains.detect()
MULTIPL_E_START = "#include<assert.h>\n#include<bits/stdc++.h>\n"

needs = {name: pytest.mark.skipif(name not in INSTALLED, reason=f"{name} is not installed")
         for name in ("cpp", "java", "ts")}


@pytest.mark.parametrize("source, expected", [
    (MULTIPL_E_START + "int main() {}\n", ("assert.h", "bits/stdc++.h")),
    ("\n  #include <vector>\r\n#include<map>\nusing namespace std;\n#include <set>\n", ("vector", "map")),
    ("// a comment first\n#include<assert.h>\n", ()),
    ('#include "local.h"\n#include <vector>\n', ()),
    ("#define NDEBUG\n#include<assert.h>\n", ()),
])
def test_leading_includes_are_the_system_headers_before_anything_else(source: str, expected: tuple) -> None:
    assert cpp_pch.leading_includes(source.encode()) == expected


def test_a_precompiled_prefix_is_used_only_by_programs_that_begin_with_all_of_it() -> None:
    headers = {("assert.h", "bits/stdc++.h"): "/c/prefix0.h"}
    assert cpp_pch.flags_for((MULTIPL_E_START + "#include <vector>\n").encode(), headers) == ("-include", "/c/prefix0.h")
    for other in ("#include<assert.h>\nint main() {}\n", "#include<bits/stdc++.h>\n#include<assert.h>\n",
                  "#define private public\n" + MULTIPL_E_START, "int x;\n" + MULTIPL_E_START):
        assert cpp_pch.flags_for(other.encode(), headers) == ()


@needs["cpp"]
def test_cpp_compile_argv_forces_the_precompiled_header_only_for_its_prefix() -> None:
    cpp = INSTALLED["cpp"]
    with_pch = cpp.compile_argv("main.cpp", (MULTIPL_E_START + "int main() {}\n").encode())
    plain = cpp.compile_argv("main.cpp", b"#include <iostream>\nint main() {}\n")
    assert plain == ["/usr/bin/g++", "-std=c++17", "-O2", "-o", "main", "main.cpp", "-lcrypto", "-lssl"]
    header = with_pch[with_pch.index("-include") + 1]
    assert with_pch[:1] + with_pch[3:] == plain
    assert Path(header).read_text() == "#include <assert.h>\n#include <bits/stdc++.h>\n"
    assert Path(header + ".gch").stat().st_size > 1_000_000
    assert os.path.dirname(header) in cpp.compile_binds


@needs["cpp"]
@pytest.mark.parametrize("program, status, exit_code, stdout", [
    # MultiPL-E's own start: compiled with the precompiled header, the same program.
    (MULTIPL_E_START + "int main() { std::vector<long> v{3, 1, 2}; std::sort(v.begin(), v.end());\n"
     "  assert(v[0] == 1); std::cout << v[2] << std::endl; }\n", "OK", 0, b"3\n"),
    # The program's own later lines still count: its NDEBUG turns its own assert off.
    (MULTIPL_E_START + "#define NDEBUG\n#include <assert.h>\nint main() { assert(false); return 4; }\n", "NONZERO_EXIT",
     4, b""),
    # A program that did not include <vector> gets no header it did not ask for.
    ("#include<assert.h>\nint main() { std::vector<int> v; return v.size(); }\n", "COMPILE_ERROR", None, b""),
])
def test_cpp_verdicts_with_and_without_the_precompiled_header(client: Client, program: str, status: str,
                                                              exit_code: int | None, stdout: bytes) -> None:
    r = client.execute(program, language="cpp")
    assert r.status == status, r
    if exit_code is not None:
        assert (r.exit_code, r.stdout) == (exit_code, stdout)


@needs["cpp"]
def test_cpp_compile_error_under_the_precompiled_header_names_the_program_line(client: Client) -> None:
    r = client.execute(MULTIPL_E_START + "int main() {\n  return undefined_name;\n}\n", language="cpp")
    assert r.status == "COMPILE_ERROR"
    assert b"main.cpp:4:10: error: 'undefined_name' was not declared in this scope" in r.compile.stderr


@needs["ts"]
def test_ts_compiles_from_its_snapshot_with_tsc_messages(client: Client) -> None:
    ts = INSTALLED["ts"]
    argv = ts.compile_argv("main.ts")
    assert argv[1] == "--snapshot-blob" and argv[3] == "main.ts" and os.path.dirname(argv[2]) in ts.compile_binds
    bad = client.execute('let x: number = "a";\nconsole.log(x);\n', language="ts")
    assert bad.status == "COMPILE_ERROR"
    assert bad.compile.stdout == b"main.ts(1,5): error TS2322: Type 'string' is not assignable to type 'number'.\n"
    good = client.execute("const xs: number[] = [3, 1, 2];\nconsole.log(xs.sort().join(','));\n", language="ts")
    assert (good.status, good.stdout) == ("OK", b"1,2,3\n")


@needs["ts"]
@pytest.mark.parametrize("program", [
    "function f(a: number): string { return a.toFixed(2); }\nconsole.log(f(1.005));\n",
    "let x: number = ;\n",
    "const m = new Map<string, number>();\nm.set('a', '1');\n",
    "interface P { a: number }\nconst p: P = { a: 1, b: 2 };\nexport {};\n",
    "async function* g() { yield 1; }\nfor await (const v of g()) console.log(v?.toString() ?? '');\nexport {};\n",
])
def test_ts_snapshot_gives_what_tsc_gives(tmp_path: Path, program: str) -> None:
    """The same stdout, exit status and emitted JavaScript as tsc's command line (trusted programs, on the host)."""
    ts = INSTALLED["ts"]
    outcomes = []
    for name, argv in (("tsc", ["/usr/bin/node", *ts.toolchain.compile[1:]]), ("snapshot", ts.compile_argv("main.ts"))):
        d = tmp_path / name
        d.mkdir()
        (d / "main.ts").write_text(program)
        p = subprocess.run([a.format(src="main.ts") for a in argv], cwd=d, capture_output=True, timeout=120,
                           env={"PATH": "/usr/bin:/bin", "HOME": str(d)})
        js = d / "main.js"
        outcomes.append((p.returncode, p.stdout, p.stderr, js.read_bytes() if js.exists() else None))
    assert outcomes[0] == outcomes[1]


@needs["java"]
def test_java_compiles_with_its_class_archive_and_still_reports_errors(client: Client) -> None:
    java = INSTALLED["java"]
    archive = next(a for a in java.compile_argv("Main.java") if a.startswith("-J-XX:SharedArchiveFile="))
    assert os.path.isfile(archive.split("=", 1)[1])
    good = client.execute("public class Main { public static void main(String[] a) { System.out.println(6 * 7); } }\n",
                          language="java")
    assert (good.status, good.stdout, good.compile.stdout + good.compile.stderr) == ("OK", b"42\n", b"")
    bad = client.execute("public class Main { public static void main(String[] a) { int x = \"s\"; } }\n",
                         language="java")
    assert bad.status == "COMPILE_ERROR"
    assert b"Main.java:1: error: incompatible types: String cannot be converted to int" in bad.compile.stderr


@pytest.mark.skipif(not all(n in INSTALLED for n in ("cpp", "ts")), reason="needs g++ and tsc")
def test_saved_start_up_is_built_into_the_cache_and_remembered(tmp_path: Path) -> None:
    root = str(tmp_path / "cache")
    first, absent = toolchains.detect(("cpp", "ts"), cache_root=root)
    assert not absent
    assert [h for _, h in first["cpp"].precompiled][0].startswith(root)
    assert first["ts"].compile_template[2].startswith(root)
    assert toolchains.detect(("cpp", "ts"), cache_root=root) == (first, absent)


def test_a_toolchain_whose_start_up_cannot_be_saved_is_served_as_it_comes(tmp_path: Path, monkeypatch) -> None:
    if not shutil.which("node") or "ts" not in INSTALLED:
        pytest.skip("needs tsc")

    def fail(*_args, **_kwargs):
        raise tsc_snapshot.SnapshotError("no snapshot here")

    monkeypatch.setattr(tsc_snapshot, "ensure", fail)
    languages, absent = toolchains.detect(("ts",), cache_root=str(tmp_path / "cache"))
    assert not absent
    assert languages["ts"].compile_template == ()
    assert languages["ts"].compile_argv("main.ts")[:2] == ["/usr/bin/node", "/usr/share/nodejs/typescript/bin/tsc"]


@pytest.mark.skipif("rust" not in INSTALLED, reason="rust is not installed")
def test_rust_without_debug_info_still_says_where_it_panicked(client: Client) -> None:
    assert "strip=debuginfo" in INSTALLED["rust"].compile_argv("main.rs")
    r = client.execute('fn main() {\n    let v: Vec<i32> = vec![];\n    println!("{}", v[3]);\n}\n', language="rust")
    assert (r.status, r.exit_code) == ("NONZERO_EXIT", 101)
    assert b"panicked at main.rs:3:21:\nindex out of bounds: the len is 0 but the index is 3\n" in r.stderr, r.stderr
    assert b"gold" not in r.compile.stderr  # no linker warning in every compile's output
