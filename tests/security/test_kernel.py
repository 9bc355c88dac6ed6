"""Kernel attack surface, network and socket families, foreign syscall ABIs."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

from . import _programs as P
from .conftest import FAST

SIGSYS = 31


def test_kernel_surface_is_denied(hostile) -> None:
    r = hostile.execute(P.kernel_surface(), limits=FAST)
    assert (r.status, r.stdout) == ("OK", b"SAFE\n"), (r.stdout[-2000:], r.stderr[-2000:])


def test_every_socket_family_but_unix_is_refused(hostile) -> None:
    r = hostile.execute(P.SOCKET_FAMILIES, limits=FAST)
    assert (r.status, r.stdout) == ("OK", b"SAFE\n"), (r.stdout[-2000:], r.stderr[-2000:])


@pytest.mark.parametrize("source", [P.INT80, P.X32], ids=["int-0x80", "x32-abi"])
def test_foreign_syscall_abis_kill_the_program(hostile, source) -> None:
    r = hostile.execute(source, limits=FAST)
    assert (r.status, r.signal) == ("SIGNALED", SIGSYS), (r.stdout, r.stderr[-1000:])
    assert r.stdout == b"calling\n"


def test_hand_written_syscall_instruction_hits_the_same_filter(hostile) -> None:
    r = hostile.execute(P.RAW_SYSCALL, limits=FAST)
    assert (r.status, r.stdout) == ("OK", b"SAFE\n"), (r.stdout, r.stderr[-1000:])


def test_loopback_listeners_receive_nothing(hostile) -> None:
    """TCP (v4, v6), UDP, abstract and path unix sockets on the host: nothing arrives."""
    tcp4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    udp4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    abstract_name = "sandcheck-sec-" + os.urandom(6).hex()
    uabs = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = tempfile.mkdtemp(prefix="sandcheck-sec-")
    upath = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    socks = [tcp4, tcp6, udp4, uabs, upath]
    try:
        tcp4.bind(("127.0.0.1", 0)); tcp4.listen()
        tcp6.bind(("::1", 0)); tcp6.listen()
        udp4.bind(("127.0.0.1", 0))
        uabs.bind("\0" + abstract_name); uabs.listen()
        os.chmod(tmp, 0o755)
        upath.bind(f"{tmp}/s"); upath.listen(); os.chmod(f"{tmp}/s", 0o777)
        src = P.network(tcp4.getsockname()[1], tcp6.getsockname()[1], udp4.getsockname()[1], abstract_name, f"{tmp}/s")
        r = hostile.execute(src, limits=FAST)
        assert r.status == "OK" and b"ESCAPE" not in r.stdout and r.stdout.endswith(b"SAFE\n"), (r.stdout, r.stderr)
        for s in socks:
            s.setblocking(False)
        for s in (tcp4, tcp6, uabs, upath):
            with pytest.raises(BlockingIOError):
                s.accept()
        with pytest.raises(BlockingIOError):
            udp4.recv(100)
    finally:
        for s in socks:
            s.close()
        for p in Path(tmp).iterdir():
            p.unlink()
        os.rmdir(tmp)
