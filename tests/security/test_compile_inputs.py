"""What a compile takes from a request: source and plain files, nothing a compiler saved,
and no view of the host.

- A precompiled header sent in `files` was loaded by g++ in place of the header
  (h.h says V 1, the sent h.h.gch said V 2, the program printed V=2). Compiler
  state of every compiled language is now refused before anything runs.
- Rust's compile jail mounted /proc, so `include_str!("/proc/self/mountinfo")`
  put the host path of the program's directory (the server's pid, its random
  names) into the program. No jail mounts /proc now: rustc gets a /proc holding
  only `self/exe`.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from sandbox_server.jail.files import COMPILER_STATE
from sandcheck import Limits
from sandcheck._exceptions import ServerError

COMPILE = Limits(cpu_time_ms=10_000, wall_time_ms=20_000)
HEADER_V1, HEADER_V2 = b"#define V 1\n", b"#define V 2\n"
USES_HEADER = '#include <cstdio>\n#include "h.h"\nint main() { std::printf("V=%d\\n", V); }\n'


@pytest.fixture(scope="module")
def gch(tmp_path_factory) -> bytes:
    """A real precompiled h.h (V 2), built on the host with the server's own C++ flags
    from a header that is test data, not a request."""
    if shutil.which("g++") is None:
        pytest.skip("no g++")
    d = tmp_path_factory.mktemp("pch")
    (d / "h.h").write_bytes(HEADER_V2)
    subprocess.run(["g++", "-std=c++17", "-O2", "-x", "c++-header", "h.h", "-o", "h.h.gch"], cwd=d, check=True,
                   timeout=120)
    return (d / "h.h.gch").read_bytes()


def test_a_precompiled_header_in_files_is_refused_before_anything_runs(hostile, gch) -> None:
    """Before: V=2, the compiler ran the header image the request sent."""
    with pytest.raises(ServerError) as refused:
        hostile.execute(USES_HEADER, language="cpp", files={"h.h": HEADER_V1, "h.h.gch": gch}, limits=COMPILE)
    assert refused.value.code == "INVALID_ARGUMENT"
    assert "h.h.gch" in str(refused.value) and "compiler state" in str(refused.value)
    r = hostile.execute(USES_HEADER, language="cpp", files={"h.h": HEADER_V1}, limits=COMPILE)
    assert (r.status, r.stdout) == ("OK", b"V=1\n")


@pytest.mark.parametrize("language, name", [(lang, f"x{suffix}") for lang, suffixes in COMPILER_STATE.items()
                                            for suffix in suffixes] + [("cpp", "H.H.GCH")])
def test_compiler_state_of_each_language_is_refused(hostile, language, name) -> None:
    with pytest.raises(ServerError) as refused:
        hostile.execute("x", language=language, files={name: b"\0state"}, limits=COMPILE)
    assert refused.value.code == "INVALID_ARGUMENT" and "compiler state" in str(refused.value)


def test_the_same_names_are_plain_data_where_nothing_compiles_them(hostile) -> None:
    """A Python program reads x.gch as bytes: refusing it there would refuse data for nothing."""
    r = hostile.execute("print(open('x.gch', 'rb').read())", files={"x.gch": b"\0state"})
    assert (r.status, r.stdout) == ("OK", b"b'\\x00state'\n")


MOUNTINFO = {
    "rust": 'fn main() { print!("{}", include_str!("/proc/self/mountinfo")); }\n',
    "cpp": '#include <cstdio>\nconst char *m = R"(\n#include "/proc/self/mountinfo"\n)";\n'
           '#include "/proc/self/mountinfo"\nint main() {}\n',
}


@pytest.mark.parametrize("language", sorted(MOUNTINFO))
def test_no_compile_jail_shows_the_host_paths_of_its_mounts(hostile, language) -> None:
    """Before: Rust's compile read the jail's mountinfo, which names the host directory
    of /build (`/tmp/sandcheck.server-<time>-<pid>.<random>/scratch/<random>`)."""
    r = hostile.execute(MOUNTINFO[language], language=language, limits=COMPILE)
    assert r.status == "COMPILE_ERROR", (r.status, r.stdout[-300:])
    everything = r.stdout + r.stderr + r.compile.stdout + r.compile.stderr
    assert b"sandcheck.server-" not in everything and b"/scratch/" not in everything
    assert b"/proc/self/mountinfo" in r.compile.stderr  # the compiler could not read it


def test_rustc_still_finds_its_sysroot(hostile) -> None:
    r = hostile.execute('fn main() { println!("{}", std::env::current_exe().is_ok()); }', language="rust",
                        limits=COMPILE)
    assert (r.status, r.stdout) == ("OK", b"false\n")  # and the program itself sees no /proc
