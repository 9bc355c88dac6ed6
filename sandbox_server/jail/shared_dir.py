"""A directory the server shares with a running jail (the warm javac's /build).

The jail's processes can write there at any moment, also while the server
works in it: so the server empties it, and copies out of it, by descriptor,
never through a link the jail made, within fixed bounds.
"""

from __future__ import annotations

import os
import shutil
import stat


class TooMuchLeft(OSError):
    """A compile left more in its directory than a build may hold (OUTPUT_LIMIT, as a cold compile's)."""


def empty(directory: str) -> None:
    """Empty `directory` (never following a link out of it)."""
    for entry in os.scandir(directory):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


# How deep and how many entries a compile's directory may hold (Java's packages are a few levels).
_MAX_DEPTH, _MAX_ENTRIES = 32, 10_000
_NOFOLLOW = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


def _read_at_most(fd: int, limit: int) -> bytes:
    parts, size = [], 0
    while size < limit:
        chunk = os.read(fd, min(limit - size, 1 << 20))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    return b"".join(parts)


def copy_tree(src: str, dst: str, max_bytes: int) -> None:
    """Copy the directories and regular files under `src` into `dst` (other kinds are left out).

    The service can write under `src` meanwhile: every name is opened relative to its
    directory's descriptor, never through a link, so nothing outside `src` is read.
    TooMuchLeft past `max_bytes`, `_MAX_DEPTH` or `_MAX_ENTRIES`."""
    budget = {"bytes": max_bytes, "entries": _MAX_ENTRIES}

    def copy_dir(dir_fd: int, into: str, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise TooMuchLeft(f"the compile left directories more than {_MAX_DEPTH} deep")
        for name in os.listdir(dir_fd):
            budget["entries"] -= 1
            if budget["entries"] < 0:
                raise TooMuchLeft(f"the compile left more than {_MAX_ENTRIES} files")
            try:
                fd = os.open(name, _NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            except OSError:
                continue  # a link, or gone
            try:
                st = os.fstat(fd)
                if stat.S_ISDIR(st.st_mode):
                    os.mkdir(os.path.join(into, name), 0o755)
                    copy_dir(fd, os.path.join(into, name), depth + 1)
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                data = _read_at_most(fd, budget["bytes"] + 1)
            finally:
                os.close(fd)
            budget["bytes"] -= len(data)
            if budget["bytes"] < 0:
                raise TooMuchLeft(f"the compile left more than {max_bytes // (1024 * 1024)} MiB")
            with open(os.path.join(into, name), "xb") as out:
                out.write(data)
            os.chmod(os.path.join(into, name), 0o755 if st.st_mode & 0o100 else 0o644)

    top = os.open(src, _NOFOLLOW | os.O_DIRECTORY)
    try:
        copy_dir(top, dst, 0)
    finally:
        os.close(top)
