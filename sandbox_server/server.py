"""Start, serve and stop: the process around the service."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import faulthandler
import fcntl
import json
import logging
import os
import signal
import socket
import stat
import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from sandcheck_api.v1 import sandbox_pb2 as pb
from sandcheck_api.v1 import sandbox_pb2_grpc as pb_grpc

from . import auth, fleet_metrics, logs, settings
from .config import ServerConfig
from .executor import Executor, Job, StartupError
from .fleet import Fleet
from .health import JailHealth
from .http_door import HttpDoor
from .http_guard import raise_fd_limit
from .jail.runtime import Runtime
from .metrics import Metrics
from .observer import Observers
from .service import SandboxService

log = logging.getLogger("sandcheck.server")

# Large enough for a maximum-size source plus stdin and framing.
_MESSAGE_OVERHEAD = 1024 * 1024


class Server:
    """A running sandcheck server: executor plus gRPC front end."""

    def __init__(self, config: ServerConfig, security: auth.Security | None = None, fleet: list[str] = (),
                 runtime: Runtime | None = None) -> None:
        self.config = config
        self.fleet = list(fleet)  # every fleet worker's address, when this is one of them (fleet.py)
        self.security = security or auth.Security()  # tokens, TLS (auth.py)
        self.executor = Executor(config, runtime)
        self.grpc_server: grpc.Server | None = None
        self.port: int | None = None
        # Metrics and health watch every execution.
        self.metrics = Metrics(self.executor.queue_depth, self.executor.concurrency,
                               warm_slots=lambda: self.executor.warm_slots)  # they tally their own jails
        self.health = JailHealth(threshold=config.health_error_threshold)
        self.executor.observer = Observers([self.metrics, self.health])
        self.metrics_port: int | None = None
        self.http: HttpDoor | None = None  # the SandboxFusion-compatible door, with --http-listen
        self.http_port: int | None = None

    def start(self) -> None:
        if not self.fleet:  # a fleet's workers share the port; the fleet checked it (serve_fleet)
            _check_bindable(self.config.listen)  # before the jails start: a taken port fails at once
        raise_fd_limit()  # the HTTP door's connection cap is then set below it (http_guard.py)
        self.executor.start()
        max_msg = 2 * self.config.max_source_bytes + _MESSAGE_OVERHEAD
        self.grpc_server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=256, thread_name_prefix="rpc"),
            options=[
                ("grpc.max_receive_message_length", max_msg),
                ("grpc.max_send_message_length", max_msg),
                # Only a fleet's workers share a port; a second server started
                # by mistake on a port in use must fail, not split its traffic.
                ("grpc.so_reuseport", 1 if self.fleet else 0),
                # Accept the SDK's 30 s keepalive pings (the default policy
                # would answer them with GOAWAY "too_many_pings").
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 20_000),
                ("grpc.keepalive_permit_without_calls", 1),
                # Never end a connection for its pings ("too_many_pings"): a
                # busy host delays timers, and our clients ping every 30 s.
                ("grpc.http2.max_ping_strikes", 0),
                # Clients re-resolve when a connection ends: see max_connection_age_ms.
                *([("grpc.max_connection_age_ms", self.config.max_connection_age_ms),
                   ("grpc.max_connection_age_grace_ms", self.config.max_connection_age_grace_ms)]
                  if self.config.max_connection_age_ms else []),
            ],
            maximum_concurrent_rpcs=1024,
            interceptors=[logs.RequestLogInterceptor(self.executor.observer), *self.security.interceptors()],
        )
        service = SandboxService(self.config, self.executor, self.fleet)
        pb_grpc.add_SandboxServicer_to_server(service, self.grpc_server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health.servicer, self.grpc_server)
        reflection.enable_server_reflection((pb.DESCRIPTOR.services_by_name["Sandbox"].full_name,
                                             health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                                             reflection.SERVICE_NAME), self.grpc_server)
        if self.config.listen.startswith("unix:") and not self.fleet:
            _check_bindable(self.config.listen)  # again, just before gRPC takes over whatever socket is there
        try:
            self.port = self.security.add_port(self.grpc_server, self.config.listen)
        except RuntimeError:  # grpc's "Failed to bind", with no reason
            self.port = 0
        if not self.port:  # a unix socket's "port" is 1
            raise StartupError(f"cannot listen on {self.config.listen}: gRPC could not bind it (pick another --listen)")
        if self.config.http_listen:
            self.http = HttpDoor(self.config, service.avoid, self.security, reuse_port=bool(self.fleet))
            self.http_port = self.http.start()
        self.grpc_server.start()
        if self.config.metrics_listen:
            try:
                self.metrics_port = self.metrics.serve(self.config.metrics_listen)
            except OSError as exc:
                raise StartupError(f"cannot serve metrics on {self.config.metrics_listen}: "
                                   f"{exc.strerror or exc}") from None
        # The self-test in executor.start() ran a real jail: SERVING. A probe re-tests after failures.
        self.health.mark_serving(probe=lambda: self.executor.submit(Job(b"pass\n", b"", self.config.default_limits)))

    def stop(self, grace: float = 10.0) -> None:
        """Drain: refuse new work, hand queued work back, let running work finish."""
        self.executor.drain()
        self.health.shutdown()  # NOT_SERVING first, so balancers stop sending work
        if self.grpc_server is not None:
            # Running programs finish within their own limits (at most the
            # maximum wall time); their results are sent before the stop.
            self.grpc_server.stop(max(grace, self.config.max_limits.wall_time_ms / 1000 + 5)).wait()
        if self.http is not None:
            self.http.stop()
        self.executor.stop()
        self.metrics.close()
        if not self.fleet:
            _unlock_unix(self.config.listen)


def _check_bindable(listen: str) -> None:
    """Bind HOST:PORT (or the unix socket's path) once to learn the OS's reason it
    cannot be used; gRPC only says "failed to bind" (and logs a line of its own)."""
    if listen.startswith("unix:"):
        _check_unix(listen)
        return
    host, _, port = listen.rpartition(":")
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host.strip("[]") or None, int(port),
                                                          type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gRPC binds
            s.bind(addr)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise StartupError(f"cannot listen on {listen}: {reason} (stop what uses it, or pick another --listen)") \
            from None


def _check_unix(listen: str) -> None:
    """gRPC deletes a socket file in its way before it binds, so a second server
    would take a running one's address (and delete it when it stops: the first is
    then unreachable for good). A socket that a server answers on refuses the start;
    one nobody answers on (a killed server's) is removed; a test bind then gives the
    OS's reason for any other failure, which gRPC only logs (a missing directory)."""
    path = _unix_path(listen)
    _lock_unix(listen, path)
    if _answers(path):
        raise StartupError(f"cannot listen on {listen}: another server is listening there "
                           "(stop it, or pick another --listen)")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(path)
        os.unlink(path)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT:
            reason += f": no directory {os.path.dirname(path) or '.'}"
        elif exc.errno == errno.EADDRINUSE:
            reason += f": {path} is there and is not a socket"
        raise StartupError(f"cannot listen on {listen}: {reason} (pick another --listen)") from None


# Socket path -> the fd of PATH.lock, flock()ed while this process serves (or starts to) there.
_UNIX_LOCKS: dict[str, int] = {}


def _lock_unix(listen: str, path: str) -> None:
    """Hold PATH.lock while this process serves on PATH: two servers that start at
    once both find nobody answering there before either binds (a fleet binds
    seconds after its check), and the later bind would take the socket. The
    kernel lets go of the lock when its holder dies; a stop removes the file."""
    if path in _UNIX_LOCKS:
        return
    lock = path + ".lock"
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return  # no directory, or none this user may write: the test bind says so
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StartupError(f"cannot listen on {listen}: another server is listening there or starting "
                               "(stop it, or pick another --listen)") from None
        try:
            mine = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            mine = False
        if mine:
            _UNIX_LOCKS[path] = fd
            return
        os.close(fd)  # its holder removed the file as it stopped: lock the one there now


def _unlock_unix(listen: str) -> None:
    """Remove PATH.lock, then let go of it (in that order: see `_lock_unix`)."""
    if not listen.startswith("unix:"):
        return
    path = _unix_path(listen)
    fd = _UNIX_LOCKS.pop(path, None)
    if fd is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + ".lock")
        os.close(fd)


def _unix_path(listen: str) -> str:
    """unix:PATH, or gRPC's other spelling unix:///ABSOLUTE, to the socket's path."""
    path = listen[len("unix:"):]
    return path[2:] if path.startswith("//") else path


def _answers(path: str) -> bool:
    """Whether a server accepts connections on socket `path`. A socket file nobody
    answers on (its server was killed) is removed, as gRPC would."""
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return False  # nothing there, or not a socket: the test bind says what
    except OSError:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(2.0)
        try:
            s.connect(path)
        except ConnectionRefusedError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return False
        except (TimeoutError, BlockingIOError):
            return True  # a listener with a full backlog: busy, not gone
        except OSError:
            return False
    return True


def _die_with_parent() -> None:
    """An embedded server must not outlive the CLI that started it."""
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _ready(ready_fd: int | None, endpoints: list[str], metrics_port: int | None = None) -> None:
    """Tell the process that started us where to connect: 'ready ADDR[,ADDR...] [metrics=PORT]'."""
    if ready_fd is not None:
        metrics = f" metrics={metrics_port}" if metrics_port else ""
        os.write(ready_fd, f"ready {','.join(endpoints)}{metrics}\n".encode())
        os.close(ready_fd)


def _wait_for_stop() -> str:
    """Block until SIGTERM or SIGINT; return its name.

    The wait wakes every half second: the kernel may deliver the signal to one
    of gRPC's threads, and Python then runs its handler only when the main
    thread next runs, which an untimed wait never lets it do (the server
    would ignore that SIGTERM for good)."""
    stop = threading.Event()
    got: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: (got.append(signal.Signals(signum).name), stop.set()))
    while not stop.wait(0.5):
        pass
    return got[0] if got else "a stop"


def _start(config: ServerConfig, security: auth.Security | None, fleet: list[str],
           runtime: Runtime | None, ready_fd: int | None) -> Server | None:
    """A started server; or None, after one line saying why not and with what the
    start made removed (slot cgroups, private dirs, the listening socket), whatever
    failed: cgroups left by failed starts add up until no server starts on the host.
    A fleet's worker tells its parent instead, which says it once for all (fleet.py)."""
    server: Server | None = None
    try:
        server = Server(config, security, fleet, runtime)
        server.start()
        return server
    except (Exception, KeyboardInterrupt) as exc:
        why = _reason(exc)
        if not fleet:
            _say(f"sandcheck serve: cannot start: {why}")
        if server is not None:
            _undo(server)
        if fleet and ready_fd is not None:  # after the undo: the fleet then stops its workers
            os.write(ready_fd, f"failed {why}\n".encode()[:4096])
        return None


def _say(line: str) -> None:
    """`line` on stderr in one write: a fleet's workers share it, and print()
    writes the newline apart, so lines of two at once ran into each other."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _reason(exc: BaseException) -> str:
    """One line for what stopped a start: a StartupError's own words, else the exception's."""
    if isinstance(exc, StartupError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _undo(server: Server) -> None:
    """Stop what a failed start began. If that fails too, one more line: the next
    start on this host sweeps what a dead server left."""
    try:
        server.stop(grace=0)
    except (Exception, KeyboardInterrupt) as exc:
        _say(f"sandcheck serve: could not remove everything the failed start made ({_reason(exc)}); "
             "the next start removes it")


def serve(config: ServerConfig, ready_fd: int | None = None, exit_with_parent: bool = False,
          security: auth.Security | None = None, fleet: list[str] = (), runtime: Runtime | None = None) -> int:
    parent = os.getppid()
    if exit_with_parent:
        _die_with_parent()
        if os.getppid() != parent:
            return 1
    server = _start(config, security, fleet, runtime, ready_fd)
    if server is None:
        return 1
    log.info("listening on %s", config.listen,
             extra={"fields": {"listen": config.listen, "slots": server.executor.concurrency}})
    if server.http:
        log.info("SandboxFusion HTTP on %s", config.http_listen, extra={"fields": {"http_listen": config.http_listen}})
    _ready(ready_fd, [config.listen], server.metrics_port)
    why = _wait_for_stop()
    log.info("stopping on %s: new work refused, running checks finish", why, extra={"fields": {"signal": why}})
    server.stop()
    log.info("stopped", extra={"fields": {"signal": why}})
    return 0


def serve_fleet(config: ServerConfig, ready_fd: int | None = None, exit_with_parent: bool = False,
                security: auth.Security | None = None) -> int:
    """`processes` worker servers (fleet.py) sharing the slots, each a `serve()` of its own."""
    if exit_with_parent:
        _die_with_parent()

    def run_worker(index: int, worker: ServerConfig, runtime: Runtime, addresses: list[str], ready_w: int) -> int:
        return serve(worker, ready_fd=ready_w, exit_with_parent=True, security=security.for_worker(index),
                     fleet=addresses, runtime=runtime)

    fleet = Fleet(config, run_worker)
    try:
        return _run_fleet(fleet, config, ready_fd)
    finally:
        for address in dict.fromkeys(fleet.addresses):
            _unlock_unix(address)  # the checks below lock each unix socket for the fleet's life


def _run_fleet(fleet: Fleet, config: ServerConfig, ready_fd: int | None) -> int:
    try:
        for address in dict.fromkeys(fleet.addresses):  # here, once: the workers share them and do not check
            _check_bindable(address)
    except StartupError as exc:
        print(f"sandcheck serve: cannot start: {exc}", file=sys.stderr)
        return 1
    if not fleet.start():
        return 1
    metrics_http = None
    if config.metrics_listen:
        try:
            metrics_http = fleet_metrics.serve(*settings.parse_host_port(config.metrics_listen), lambda: fleet.metrics_ports)
        except OSError as exc:
            print(f"sandcheck serve: cannot start: cannot serve metrics on {config.metrics_listen}: {exc.strerror}",
                  file=sys.stderr)
            fleet.stop()
            return 1
    log.info("listening on %s", config.listen,
             extra={"fields": {"listen": config.listen, "processes": len(fleet.slots), "slots": sum(fleet.slots)}})
    _ready(ready_fd, list(dict.fromkeys(fleet.addresses)))
    stop = threading.Event()
    got: list[str] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: (got.append(signal.Signals(signum).name), stop.set()))
    fleet.watch(stop)  # on the main thread, so that a restarted worker is forked from it
    why = got[0] if got else "a stop"
    log.info("stopping on %s: the workers finish their running checks", why, extra={"fields": {"signal": why}})
    fleet.stop()
    if metrics_http is not None:
        metrics_http.shutdown()
    log.info("stopped", extra={"fields": {"signal": why, "processes": len(fleet.slots)}})
    return 0


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    # Flags default to None so that only flags actually given override the TOML file and environment.
    p.add_argument("--config", metavar="PATH", help="TOML configuration file (SANDCHECK_* variables override it)")
    p.add_argument("--listen", help=f"HOST:PORT or unix:PATH (default {ServerConfig.listen})")
    p.add_argument("--concurrency", type=int, help="programs run at once (default: two per CPU warm, one cold)")
    p.add_argument("--processes", type=int,
                   help="server processes sharing the slots (default: one per 4 CPUs, at least 2)")
    p.add_argument("--max-queue", type=int, help=f"programs waiting for a slot before new ones are refused "
                   f"with RESOURCE_EXHAUSTED (default {ServerConfig.max_queue})")
    p.add_argument("--interpreter", help="the jail's Python (default: the host's own CPython >= 3.10, e.g. /usr/bin/python3.11)")
    p.add_argument("--python-packages", metavar="DIR|auto|none",
                   help="third-party packages jailed Python imports (default auto: the ones scripts/setup installed)")
    p.add_argument("--node-modules", metavar="DIR|auto|none",
                   help="node_modules jailed JavaScript/TypeScript require from (default auto: the one scripts/setup made)")
    p.add_argument("--preload", metavar="MODULE,...",
                   help="modules each warm jail imports before forking checks, e.g. numpy,pandas (default none)")
    p.add_argument("--metrics-listen", metavar="HOST:PORT", help="serve Prometheus /metrics here (default: off)")
    p.add_argument("--http-listen", metavar="HOST:PORT",
                   help="serve SandboxFusion's POST /run_code here, same jails, limits and tokens (default: off)")
    p.add_argument("--log-format", choices=("json", "text"), help="log lines on stderr (default json)")
    p.add_argument("--jail-mode", choices=("warm", "cold"),
                   help="warm: long-lived jails fork a child per check; cold: one jail per run (default warm)")
    p.add_argument("--warm-max-checks", type=int, help=f"recycle a warm jail after N checks (default {ServerConfig.warm_max_checks})")
    p.add_argument("--warm-runs", choices=("on", "off"),
                   help="warm mode: run a built program again in a warm jail kept for it, not a cold one (default on)")
    p.add_argument("--result-cache-mb", type=int,
                   help=f"per-tenant result cache size, 0 turns it off (default {ServerConfig.result_cache_mb})")
    auth.add_serve_arguments(p)
    p.add_argument("--print-config", action="store_true", help="print the effective configuration and exit")
    p.add_argument("--check", action="store_true",
                   help="print what this host offers a jail (cgroups, namespaces, seccomp, nsjail, runtime), "
                        "try a jail, and exit 0 only if the server can serve here")
    p.add_argument("--ready-fd", type=int, help=argparse.SUPPRESS)
    p.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)


def run_from_args(args: argparse.Namespace) -> int:
    overrides = {"listen": args.listen, "concurrency": args.concurrency, "processes": args.processes,
                 "max_queue": args.max_queue,
                 "interpreter": args.interpreter, "metrics_listen": args.metrics_listen, "log_format": args.log_format,
                 "http_listen": args.http_listen, "python_packages": args.python_packages,
                 "node_modules": args.node_modules,
                 "preload": [m.strip() for m in args.preload.split(",") if m.strip()] if args.preload is not None else None}
    overrides.update(jail_mode=args.jail_mode, warm_max_checks=args.warm_max_checks, result_cache_mb=args.result_cache_mb,
                     warm_runs=None if args.warm_runs is None else args.warm_runs == "on")
    try:
        config = settings.load(args.config, os.environ, overrides)
    except settings.ConfigError as exc:
        print(f"sandcheck serve: bad configuration: {exc}", file=sys.stderr)
        return 2
    logs.configure(config.log_format, config.log_level)
    if args.print_config:
        print(json.dumps(config.as_dict(), indent=2, default=str))
        return 0
    if args.check:
        from .doctor import check

        return check(config)
    try:
        security = auth.Security.from_args(args, processes=config.effective_processes())
        security.check_bind(config.listen)
        if config.http_listen:
            security.check_bind(config.http_listen)
    except auth.AuthError as exc:
        print(f"sandcheck serve: {exc}", file=sys.stderr)
        return 2
    # SIGUSR1 writes every thread's stack to stderr (a fleet's workers too): what a server
    # that will not stop, or stops answering, is doing, without stopping it.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    if config.effective_processes() > 1:
        return serve_fleet(config, ready_fd=args.ready_fd, exit_with_parent=args.exit_with_parent, security=security)
    return serve(config, ready_fd=args.ready_fd, exit_with_parent=args.exit_with_parent, security=security)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sandcheck serve", description="Run the sandbox server.")
    add_serve_arguments(p)
    return run_from_args(p.parse_args(argv))
