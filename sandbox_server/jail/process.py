"""The host side of a jail's processes: starting nsjail, finding, killing and reaping them.

Shared by cold runs (supervisor.py) and warm jails (warm.py).
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
from pathlib import Path

from .outcome import SandboxFault

# util-linux's setpriv sets PR_SET_PDEATHSIG and execs: nsjail dies with the
# server thread that started it, without a preexec_fn (unsafe with threads).
PDEATHSIG_PREFIX = ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--"] if os.path.exists("/usr/bin/setpriv") else []
_LDSO_NOISE = re.compile(rb"^[^\n]*: no version information available \(required by [^\n]*\n", re.M)


def jail_script(name: str) -> str:
    """The text of a script run in the jail with ``-c``: program.py, then `name`."""
    here = Path(__file__).parent
    return (here / "program.py").read_text() + "\n\n" + (here / name).read_text()


def child_of(pid: int) -> int:
    """The host pid of nsjail's only child: the jail's PID 1."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    if len(text) != 1:
        raise SandboxFault(f"expected one jail process under nsjail {pid}, found {text}")
    return int(text[0])


def kill(pid: int) -> None:
    """SIGKILL to the jail's PID 1 ends its whole pid namespace."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def reap(proc: subprocess.Popen) -> None:
    """Stop nsjail (SIGTERM lets it clean up; SIGKILL if it will not) and close its pipes."""
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            proc.kill()
            proc.wait()
    for f in (proc.stdin, proc.stdout, proc.stderr):
        if f is not None:
            try:
                f.close()
            except OSError:
                pass


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def read_with_timeout(fd: int, timeout: float) -> bytes | None:
    """Read what is there within `timeout` seconds: None if nothing came."""
    sel = selectors.DefaultSelector()
    sel.register(fd, selectors.EVENT_READ)
    try:
        if not sel.select(max(timeout, 0)):
            return None
        return os.read(fd, 4096)
    finally:
        sel.close()


def drain(f) -> bytes:
    fd = f if isinstance(f, int) else f.fileno()
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 65536)
    except OSError:
        return b""


def without_ldso_noise(data: bytes) -> bytes:
    """Drop the dynamic loader's warnings about the nsjail binary's libnl."""
    return _LDSO_NOISE.sub(b"", data)


# nsjail's line for a bind mount whose source is not there.
_MISSING_SOURCE = re.compile(rb"mount\('([^']*)' -> '[^']*'\): No such file or directory")


def start_failure(nsjail_log: bytes) -> str:
    """What a jail that did not start says, led by the host paths it binds that are gone.

    The server checks or makes those paths as it starts (toolchains, their caches
    under toolchain_cache_dir, the Python packages); one removed since (an
    operator's or a cleaner's doing) fails every jail that binds it until the
    server starts again, so the message says that and names the path."""
    text = without_ldso_noise(nsjail_log).decode(errors="replace")[-2000:]
    gone = sorted({m.group(1).decode(errors="replace") for m in _MISSING_SOURCE.finditer(nsjail_log)})
    if not gone:
        return text
    return (f"{', '.join(gone)} is gone from the host (the server found or made it as it started); restart the "
            f"server to find or make it again. nsjail: {text}")
