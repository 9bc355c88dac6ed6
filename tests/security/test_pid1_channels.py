"""PID 1's channels to the server, read directly: bounded, and anything
PID 1 never sends is the program's doing (no jail needed)."""

from __future__ import annotations

import json
import socket

import pytest

from sandbox_server.jail.seccomp_policy import ARG_RULES, DENIED_SYSCALLS
from sandbox_server.jail.outcome import STATUS_CAP, JailBroken, SandboxFault, parse_report
from sandbox_server.jail.warm import WarmJail

from ..conftest import REPO

GOOD = {"exit_code": 3, "signal": 0, "dirty": []}


class _Ctrl:
    """A WarmJail reduced to its control socket (what _answer reads)."""

    def __init__(self, sock: socket.socket) -> None:
        self.ctrl = sock


@pytest.fixture()
def channel():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    yield _Ctrl(ours), theirs
    ours.close()
    theirs.close()


def test_one_answer_is_read(channel) -> None:
    jail, zygote = channel
    zygote.send(json.dumps(GOOD).encode())
    msg, broken = WarmJail._answer(jail)
    assert broken == "" and parse_report(msg, "ctrl") == GOOD


@pytest.mark.parametrize("messages,why", [
    ([b"x" * (STATUS_CAP + 1)], "more than 4096 bytes"),
    ([json.dumps(GOOD).encode()] * 20, "more than one answer"),
])
def test_oversize_or_queued_answers_are_a_broken_jail(channel, messages, why) -> None:
    jail, zygote = channel
    for m in messages:
        zygote.send(m)
    msg, broken = WarmJail._answer(jail)
    assert msg == b"" and why in broken


@pytest.mark.parametrize("bad", [
    b"null", b"[]", b"\xff", b"[" * 3000 + b"]" * 3000, b'{"exit_code": 0}', b'{"exit_code": "0", "signal": 0}',
    b'{"exit_code": 0, "signal": 0, "dirty": [1]}', b'{"exit_code": 0, "signal": 0, "extra": 1}',
    b'{"exit_code": 4096, "signal": 0}', b'{"error": "from the program"}',
])
def test_anything_but_a_report_is_a_broken_jail(bad) -> None:
    with pytest.raises(JailBroken):
        parse_report(bad, "the init's status pipe")


def test_the_init_status_is_one_line() -> None:
    line = json.dumps({"exit_code": 0, "signal": 9}).encode()
    assert parse_report(line + b"\n", "status", newline=True)["signal"] == 9
    for bad in (line, line + b"\n" + line + b"\n"):
        with pytest.raises(JailBroken):
            parse_report(bad, "status", newline=True)


def test_the_zygotes_own_error_is_a_fault() -> None:
    with pytest.raises(SandboxFault):
        parse_report(b'{"error": "bad request on the control channel"}', "ctrl", error_is_fault=True)


def test_security_md_names_every_rule() -> None:
    """The policy table in SECURITY.md stays in step with the code."""
    text = (REPO / "SECURITY.md").read_text()
    for name in list(DENIED_SYSCALLS) + [r.syscall for r in ARG_RULES]:
        assert f"`{name}`" in text, name
    assert all(r.reason and "\n" not in r.reason for r in ARG_RULES)
    assert all(reason and "\n" not in reason for reason in DENIED_SYSCALLS.values())
