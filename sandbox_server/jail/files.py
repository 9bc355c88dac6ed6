"""A request's files (plain name -> content): what a compile may take from them,
and how the jail scripts read them.

The jail side (`unpack_files` in program.py) puts them in /tmp before the
program runs. Packed: u32 little-endian count, then per file u32 name length,
the name in UTF-8, u32 size, the content.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

Files = tuple[tuple[str, bytes], ...]

# The file that makes a Python check a judged check: its text runs in a
# judge process of its own beside the program (program.py, judged checks).
JUDGE_FILE = ".judge.py"

# What a compiler or its run would load from the program's directory in place of
# compiling source: compiler state and prebuilt code, per language (name suffixes,
# compared lower-case). A request brings source and plain data, nothing a compiler
# saved (SECURITY.md, "The program's directory").
COMPILER_STATE: dict[str, tuple[str, ...]] = {
    # g++ takes `h.h.gch` (a file, or a directory of them) in place of `h.h`: a memory
    # image of the compiler, never meant for untrusted input. .pch/.pcm/.gcm: clang's
    # and GCC's other header and module images; .ccache: a compiler cache's entries.
    "cpp": (".gch", ".pch", ".pcm", ".gcm", ".ccache"),
    # javac reads classes from the classpath, which holds /build ('.'), and the run loads
    # them from there: a .class would be bytecode no compile of this request made.
    "java": (".class", ".jar"),
    # rustc's compiled crates and plugins (found only through -L paths today; refused
    # so that no search-path change can make them load).
    "rust": (".rlib", ".rmeta", ".so"),
    "rust_test": (".rlib", ".rmeta", ".so"),
    # Go's compiled packages and the object files `go build` links from a package directory.
    "go": (".a", ".syso"),
    "go_test": (".a", ".syso"),
}


def compiler_state(language: str, names: Iterable[str]) -> str | None:
    """Why `language`'s compile must not take the files `names`, or None if it may."""
    suffixes = COMPILER_STATE.get(language, ())
    for name in names:
        suffix = next((s for s in suffixes if name.lower().endswith(s)), None)
        if suffix:
            return (f"file {name[:100]!r} is compiler state ({suffix}), which a {language} compile would load in "
                    f"place of source; send source and plain data only (refused: {', '.join(suffixes)})")
    return None


def pack_files(files: Iterable[tuple[str, bytes]]) -> bytes:
    files = list(files)
    parts = [len(files).to_bytes(4, "little")]
    for name, content in files:
        encoded = name.encode()
        parts += [len(encoded).to_bytes(4, "little"), encoded, len(content).to_bytes(4, "little"), content]
    return b"".join(parts)


def put_program(directory: str, files: Files, src: str, source: bytes) -> None:
    """A compile's directory: the request's files and the source (named `src`), root's and read-only.

    Each file is new (O_EXCL), made relative to the directory's descriptor and never
    through a link: the directory may be one a compiler can write (a warm javac's)."""
    top = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for name, data in (*files, (src, source)):
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=top)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                os.fchmod(fd, 0o644)
    finally:
        os.close(top)
