"""A request's files (plain name -> content) as the jail scripts read them.

The jail side (`unpack_files` in program.py) puts them in /tmp before the
program runs. Packed: u32 little-endian count, then per file u32 name length,
the name in UTF-8, u32 size, the content.
"""

from __future__ import annotations

from collections.abc import Iterable

Files = tuple[tuple[str, bytes], ...]

# The file that makes a Python check a judged check: its text runs in a
# judge process of its own beside the program (program.py, judged checks).
JUDGE_FILE = ".judge.py"


def pack_files(files: Iterable[tuple[str, bytes]]) -> bytes:
    files = list(files)
    parts = [len(files).to_bytes(4, "little")]
    for name, content in files:
        encoded = name.encode()
        parts += [len(encoded).to_bytes(4, "little"), encoded, len(content).to_bytes(4, "little"), content]
    return b"".join(parts)
