"""`sandcheck serve`'s log, as an operator reads it: a line per request on either door, a reason on
every early stream end, and a line when it stops."""

from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from sandcheck import Client, Program

from .conftest import REPO, RunningServer, free_port

SANDCHECK = str(Path(sys.executable).parent / "sandcheck")


def _post(url: str, body: bytes, request_id: str) -> int:
    req = urllib.request.Request(url, data=body, headers={"x-request-id": request_id})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _cancel_a_batch_mid_stream(target: str) -> None:
    """An ExecuteBatch whose client cancels the call while the server waits for more requests."""
    import threading

    import grpc
    from sandcheck_api.v1 import sandbox_pb2 as pb
    from sandcheck_api.v1 import sandbox_pb2_grpc as pb_grpc

    more = threading.Event()

    def requests():
        yield pb.ExecuteRequest(id="0", source=b"print(0)\n")
        more.wait(60)  # the stream stays open until the call is cancelled

    with grpc.insecure_channel(target) as channel:
        call = pb_grpc.SandboxStub(channel).ExecuteBatch(requests())
        assert next(call).id == "0"
        call.cancel()
        more.set()


def test_every_request_and_the_stop_are_logged() -> None:
    http = f"127.0.0.1:{free_port()}"
    server = RunningServer("--http-listen", http)
    try:
        assert _post(f"http://{http}/run_code", b'{"code": "print(1)", "language": "python"}', "door-1") == 200
        assert _post(f"http://{http}/run_code", b"{not json", "door-2") == 400
        with Client(server.target) as client:
            results = list(client.execute_batch([Program(f"print({i})", id=str(i)) for i in range(3)]))
        assert len(results) == 3
        _cancel_a_batch_mid_stream(server.target)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=120) == 0
        lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    finally:
        server.stop()
    by_id = {line.get("request_id"): line for line in lines if line.get("logger") == "sandcheck.http"}
    assert by_id["door-1"]["status"] == 200 and by_id["door-1"]["path"] == "/run_code"
    assert by_id["door-2"]["status"] == 400 and by_id["door-2"]["method"] == "POST"
    assert "code" not in by_id["door-1"] and "print(1)" not in json.dumps(by_id["door-1"])  # never the program
    # A cancelled batch is logged when the server is reading its requests at the time (most runs).
    ended = [line["msg"] for line in lines if "request stream ended" in line["msg"]]
    assert all(not msg.rstrip().endswith(":") for msg in ended), ended  # each with its reason
    assert all(" requests: " in msg for msg in ended), ended
    messages = [line["msg"] for line in lines if line.get("logger") == "sandcheck.server"]
    assert "stopping on SIGTERM: new work refused, running checks finish" in messages
    assert messages[-1] == "stopped"


def _tgkill(pid: int, tid: int, sig: int) -> None:
    """Send `sig` to one thread of another process (Python's pthread_kill reaches only its own)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(ctypes.c_long(234), pid, tid, sig) != 0:  # SYS_tgkill on x86-64
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the tgkill system call number is x86-64's")
def test_a_sigterm_that_lands_on_a_grpc_thread_still_stops_the_server() -> None:
    # The kernel may give a process's signal to any thread that does not block it;
    # Python runs the handler on the main thread, which an untimed wait kept asleep
    # for good: the server ignored that SIGTERM (a fleet's stop then waited 150 s).
    server = RunningServer()
    try:
        pid = server.proc.pid
        others = [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
        assert others, "a serving server has gRPC's threads besides its main one"
        _tgkill(pid, others[-1], signal.SIGTERM)
        assert server.proc.wait(timeout=60) == 0
        assert "stopping on SIGTERM" in server.output()
    finally:
        server.stop()
