"""Start, serve and stop: the process around the service."""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import signal
import sys
import threading
from concurrent import futures

import grpc

from sandcheck.v1 import sandbox_pb2_grpc as pb_grpc

from .config import ServerConfig
from .executor import Executor, StartupError
from .service import SandboxService

log = logging.getLogger("sandcheck.server")

# Large enough for a maximum-size source plus stdin and framing.
_MESSAGE_OVERHEAD = 1024 * 1024


class Server:
    """A running sandcheck server: executor plus gRPC front end."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.executor = Executor(config)
        self.grpc_server: grpc.Server | None = None
        self.port: int | None = None

    def start(self) -> None:
        self.executor.start()
        max_msg = 2 * self.config.max_source_bytes + _MESSAGE_OVERHEAD
        self.grpc_server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=256, thread_name_prefix="rpc"),
            options=[
                ("grpc.max_receive_message_length", max_msg),
                ("grpc.max_send_message_length", max_msg),
                ("grpc.so_reuseport", 0),
            ],
            maximum_concurrent_rpcs=1024,
        )
        pb_grpc.add_SandboxServicer_to_server(SandboxService(self.config, self.executor), self.grpc_server)
        self.port = self.grpc_server.add_insecure_port(self.config.listen)
        if not self.port and not self.config.listen.startswith("unix:"):
            raise StartupError(f"cannot listen on {self.config.listen}")
        self.grpc_server.start()

    def stop(self, grace: float = 10.0) -> None:
        if self.grpc_server is not None:
            self.grpc_server.stop(grace).wait()
        self.executor.stop()


def _die_with_parent() -> None:
    """An embedded server must not outlive the CLI that started it."""
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def serve(config: ServerConfig, ready_fd: int | None = None, exit_with_parent: bool = False) -> int:
    parent = os.getppid()
    if exit_with_parent:
        _die_with_parent()
        if os.getppid() != parent:
            return 1
    server = Server(config)
    try:
        server.start()
    except StartupError as exc:
        print(f"sandcheck serve: cannot start: {exc}", file=sys.stderr)
        server.executor.cgroups.remove() if server.executor.cgroups.base else None
        return 1
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("listening on %s", config.listen)
    print(f"sandcheck serve: listening on {config.listen} ({server.executor.concurrency} slots)", file=sys.stderr)
    if ready_fd is not None:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)
    stop.wait()
    server.stop()
    return 0


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", default=ServerConfig.listen, help="HOST:PORT or unix:PATH (default %(default)s)")
    p.add_argument("--concurrency", type=int, default=0, help="programs run at once (default: one per CPU)")
    p.add_argument("--max-queue", type=int, default=ServerConfig.max_queue)
    p.add_argument("--interpreter", default=ServerConfig.interpreter, help="the runtime's Python (default %(default)s)")
    p.add_argument("--print-config", action="store_true", help="print the effective configuration and exit")
    p.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    p.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)


def run_from_args(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = ServerConfig(
        listen=args.listen, concurrency=args.concurrency, max_queue=args.max_queue, interpreter=args.interpreter
    )
    if args.print_config:
        print(json.dumps(config.as_dict(), indent=2, default=str))
        return 0
    return serve(config, ready_fd=args.ready_fd, exit_with_parent=args.exit_with_parent)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sandbox_server")
    add_serve_arguments(p)
    return run_from_args(p.parse_args(argv))
