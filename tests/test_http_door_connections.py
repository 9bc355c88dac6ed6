"""The HTTP door's connections under hostile clients: half-open headers, trickled
bodies, idle keep-alives, more connections than the cap, pipelining and chunked
bodies. Loopback only, bounded loops, no timing asserts (only generous bounds
on how long an answer may take to come at all).

The guard's own deadlines are tested on an in-process door with short limits;
the whole server (gRPC beside HTTP, the fd budget) on a real `sandcheck serve`.
"""

from __future__ import annotations

import contextlib
import gc
import re
import resource
import socket
import ssl
import time
from types import SimpleNamespace

import httpx
import pytest

from sandbox_server import auth
from sandbox_server.config import ServerConfig
from sandbox_server.http_door import HttpDoor
from sandbox_server.http_guard import CappedListener, DoorLimits
from sandcheck import Client

from .conftest import RunningServer, free_port
from .test_auth import pki  # noqa: F401  (a fixture: a CA and a server certificate for 127.0.0.1)

HALF_HEADER = b"POST /run_code HTTP/1.1\r\nHost: x\r\nContent-Le"


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """True if the server closes `sock` within `within_s` (whatever it wrote first)."""
    sock.settimeout(within_s)
    deadline = time.monotonic() + within_s
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except (TimeoutError, socket.timeout):
        return False
    return False


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


# -- the guard, on an in-process door with short limits ------------------------------

SHORT = DoorLimits(head_s=0.5, body_s=1.0, idle_s=0.5, max_connections=8)


@pytest.fixture()
def short_door():
    """A door on its own thread with short deadlines and a cap of 8; no executor behind it."""
    door, port = _door(auth.Security())
    yield door, port
    door.stop()


def _door(security: auth.Security) -> tuple[HttpDoor, int]:
    config = ServerConfig(http_listen=f"127.0.0.1:{free_port()}")
    avoid = SimpleNamespace(executor=SimpleNamespace(observer=SimpleNamespace(rejected=lambda _r: None), languages={}))
    door = HttpDoor(config, avoid, security, limits=SHORT)
    return door, door.start()


def test_an_unfinished_header_is_dropped(short_door) -> None:
    _, port = short_door
    with connect(port) as s:
        s.sendall(HALF_HEADER)
        assert closed_by_server(s, 30)


def test_a_silent_connection_is_dropped(short_door) -> None:
    _, port = short_door
    with connect(port) as s:
        assert closed_by_server(s, 30)


def test_a_trickled_body_is_dropped(short_door) -> None:
    """The header is in, the body never ends: dropped at the body deadline, not held."""
    _, port = short_door
    with connect(port) as s:
        s.sendall(b"POST /run_code HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"code\": ")
        for _ in range(40):  # one byte every 0.1 s: each byte is progress, the deadline still holds
            try:
                s.sendall(b" ")
            except OSError:
                break
            time.sleep(0.1)
        assert closed_by_server(s, 30)


def test_an_idle_keep_alive_is_dropped_and_a_half_second_request_too(short_door) -> None:
    _, port = short_door
    with connect(port) as s:
        s.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(30)
        seen = b""
        while b"pong" not in seen:
            chunk = s.recv(65536)
            assert chunk, seen
            seen += chunk
        s.sendall(b"GET /v1/ping HTTP/1.1\r\nHo")  # uvicorn's keep-alive timer stops at this byte
        assert closed_by_server(s, 30)


def test_pipelined_requests_are_answered_in_order(short_door) -> None:
    _, port = short_door
    with connect(port) as s:
        s.sendall(b"GET /v1/ping HTTP/1.1\r\nHost: x\r\n\r\n" * 3 + b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(30)
        seen = b""
        while seen.count(b"HTTP/1.1 ") < 4:
            chunk = s.recv(65536)
            assert chunk, seen
            seen += chunk
        statuses = re.findall(rb"HTTP/1.1 (\d{3})", seen)
        assert statuses == [b"200", b"200", b"200", b"404"]


def test_at_the_cap_a_new_connection_takes_the_oldest_owing_ones_place(short_door) -> None:
    """Twenty half-open connections against a cap of 8: the oldest are dropped, and a
    ping on a new connection is answered; the door never holds more than its cap."""
    door, port = short_door
    held = []
    try:
        for _ in range(20):
            s = connect(port)
            s.sendall(HALF_HEADER)
            held.append(s)
        r = httpx.get(f"http://127.0.0.1:{port}/v1/ping", timeout=30)
        assert r.json() == "pong"
        assert door.guard.open <= door.guard.cap == 8
        assert closed_by_server(held[0], 30)  # the first one lost its place
    finally:
        for s in held:
            s.close()


def test_a_request_over_the_body_limit_is_refused_before_its_body(short_door) -> None:
    """Content-Length past the limit: 413 at once, and the connection closes (the body stays unread)."""
    door, port = short_door
    with connect(port) as s:
        s.sendall(b"POST /run_code HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (door.body_limit + 1))
        s.settimeout(30)
        answer = s.recv(65536)
        assert answer.startswith(b"HTTP/1.1 413") and b"connection: close" in answer.lower()
        assert closed_by_server(s, 30)


def test_stalled_tls_handshakes_are_capped_and_timed_too(pki) -> None:  # noqa: F811
    """A TLS handshake reaches no HTTP protocol until it ends: the listening socket
    counts it, closes new ones past twice the cap, and shuts each down at the header
    deadline (asyncio alone would hold it 60 s); then a real client gets in."""
    door, port = _door(auth.Security(tls_cert=str(pki / "server.pem"), tls_key=str(pki / "server.key")))
    held = []
    try:
        for _ in range(40):
            held.append(connect(port))  # and never say hello
        assert all(closed_by_server(s, 30) for s in held)
        listener, deadline = door.guard.listener, time.monotonic() + 30
        while listener.open >= listener.limit and time.monotonic() < deadline:  # the shut ones are being closed
            time.sleep(0.05)
        r = httpx.get(f"https://127.0.0.1:{port}/v1/ping", verify=ssl.create_default_context(cafile=str(pki / "ca.pem")),
                      timeout=30)
        assert r.json() == "pong"
        assert door.guard.listener.refused >= 40 - 2 * door.guard.cap
    finally:
        for s in held:
            s.close()
        door.stop()


def test_the_listener_counts_each_connection_once() -> None:
    """Closed twice, or dropped unclosed and collected: counted down once either way."""
    listener = CappedListener(socket.AF_INET, socket.SOCK_STREAM, 0, limit=2, head_s=10)
    with listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        clients = [socket.create_connection(listener.getsockname(), timeout=10) for _ in range(4)]
        a, _ = listener.accept()
        b, _ = listener.accept()
        with pytest.raises(ConnectionAbortedError):
            listener.accept()  # over the limit: closed as it is accepted
        assert (listener.open, listener.refused) == (2, 1)
        a.close()
        a.close()
        assert listener.open == 1
        c, _ = listener.accept()
        assert listener.open == 2
        del b
        gc.collect()
        assert listener.open == 1
        c.close()
        for client in clients:
            client.close()


# -- the whole server: gRPC keeps serving whatever HTTP receives -----------------

@contextlib.contextmanager
def soft_fd_limit(n: int):
    """Processes started inside inherit a soft fd limit of `n` (the common default); the test's own comes back."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


HALF_OPEN = 1500


def test_half_open_connections_past_the_fd_limit_leave_grpc_and_ping_serving() -> None:
    """1,500 connections that each sent half a header against a server started with a
    soft fd limit of 1,024 (before the guard, they took every fd: gRPC and HTTP both
    stopped answering): a gRPC Execute and GET /v1/ping are answered while they are
    held, nothing logs "Too many open files", and once the header deadline passes the
    server has dropped them all and serves on."""
    port = free_port()
    with soft_fd_limit(1024):
        server = RunningServer("--http-listen", f"127.0.0.1:{port}")
    held: list[socket.socket] = []
    try:
        for _ in range(HALF_OPEN):
            s = connect(port)
            s.sendall(HALF_HEADER)
            held.append(s)
        with Client(server.target, timeout=60) as c:
            assert c.execute("print(6 * 7)").stdout == b"42\n"
        assert httpx.get(f"http://127.0.0.1:{port}/v1/ping", timeout=30).json() == "pong"
        assert httpx.post(f"http://127.0.0.1:{port}/run_code", json={"code": "print(1)", "language": "python"},
                          timeout=60).json()["run_result"]["stdout"] == "1\n"
        # Recovery: every half-open connection is closed by the server, by eviction or deadline.
        assert all(closed_by_server(s, 60) for s in held)
        with Client(server.target, timeout=60) as c:
            assert c.execute("print(1)").stdout == b"1\n"
        assert httpx.get(f"http://127.0.0.1:{port}/v1/ping", timeout=30).json() == "pong"
        assert "Too many open files" not in server.output()
    finally:
        for s in held:
            s.close()
        assert server.stop() == 0
