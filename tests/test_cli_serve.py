"""`sandcheck serve`'s log, as an operator reads it: a line per request on either door, a reason on
every early stream end, and a line when it stops."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

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


def test_every_request_and_the_stop_are_logged(tmp_path: Path) -> None:
    http = f"127.0.0.1:{free_port()}"
    server = RunningServer("--http-listen", http)
    try:
        assert _post(f"http://{http}/run_code", b'{"code": "print(1)", "language": "python"}', "door-1") == 200
        assert _post(f"http://{http}/run_code", b"{not json", "door-2") == 400
        with Client(server.target) as client:
            results = list(client.execute_batch([Program(f"print({i})", id=str(i)) for i in range(3)]))
        assert len(results) == 3
        # eval's dispatcher closes its batch's call once every result is in: the stream "ends early".
        ran = subprocess.run([SANDCHECK, "eval", str(REPO / "examples" / "samples.jsonl"), "--server", server.target,
                              "-o", str(tmp_path / "r.jsonl"), "--no-progress"], capture_output=True, text=True)
        assert ran.returncode == 0, ran.stderr
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(timeout=120) == 0
        lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    finally:
        server.stop()
    by_id = {line.get("request_id"): line for line in lines if line.get("logger") == "sandcheck.http"}
    assert by_id["door-1"]["status"] == 200 and by_id["door-1"]["path"] == "/run_code"
    assert by_id["door-2"]["status"] == 400 and by_id["door-2"]["method"] == "POST"
    assert "code" not in by_id["door-1"] and "print(1)" not in json.dumps(by_id["door-1"])  # never the program
    ended = [line["msg"] for line in lines if "request stream ended" in line["msg"]]
    assert ended
    assert all(not msg.rstrip().endswith(":") for msg in ended), ended  # each with its reason
    assert all(" requests: " in msg for msg in ended), ended
    messages = [line["msg"] for line in lines if line.get("logger") == "sandcheck.server"]
    assert "stopping on SIGTERM: new work refused, running checks finish" in messages
    assert messages[-1] == "stopped"
