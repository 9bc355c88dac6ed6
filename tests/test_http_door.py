"""The SandboxFusion-compatible HTTP door against real servers: SandboxFusion's documented
request examples replayed with httpx, refusals in its shapes, tokens and quotas shared with gRPC."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import threading
import time

import httpx
import pytest

from sandbox_server.http_door import to_fusion
from sandbox_server.jail.outcome import Outcome
from sandcheck import Client, Limits
from sandcheck_api.status import Status
from sandcheck._exceptions import ServerError

from .conftest import RunningServer, free_port
from .test_auth import TOKEN_A, TOKEN_B, Served

RESPONSE_KEYS = {"status", "message", "compile_result", "run_result", "executor_pod_name", "files"}
RUN_RESULT_KEYS = {"status", "execution_time", "return_code", "stdout", "stderr"}


@pytest.fixture(scope="module")
def door() -> str:
    s = RunningServer(http=True)
    yield s.url
    assert s.stop() == 0


def run_code(url: str, body: dict, **kw) -> httpx.Response:
    return httpx.post(f"{url}/run_code", json=body, timeout=120, **kw)


def fusion(url: str, body: dict) -> tuple[dict, dict]:
    """A 200 answer in SandboxFusion's RunCodeResponse shape: (response, run_result)."""
    r = run_code(url, body)
    assert r.status_code == 200, r.text
    resp = r.json()
    assert set(resp) == RESPONSE_KEYS and resp["compile_result"] is None and resp["files"] == {}
    assert set(resp["run_result"]) == RUN_RESULT_KEYS
    return resp, resp["run_result"]


def test_get_started_example(door) -> None:
    """SandboxFusion's get-started request and its sample output, field for field."""
    resp, run = fusion(door, {"code": 'print("Hello, world!")', "language": "python"})
    assert resp["status"] == "Success" and resp["message"] == ""
    assert run["status"] == "Finished" and run["return_code"] == 0
    assert run["stdout"] == "Hello, world!\n" and run["stderr"] == ""
    assert isinstance(run["execution_time"], float) and run["execution_time"] >= 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="no curl")
def test_readme_curl_command(door) -> None:
    r = subprocess.run(["curl", "-s", "-d", '{"code": "print(1)", "language": "python"}', f"{door}/run_code"],
                       capture_output=True, text=True, timeout=120)
    assert json.loads(r.stdout)["run_result"]["stdout"] == "1\n"


def test_verl_style_request_with_every_field(door) -> None:
    """The fields a SandboxFusion client sends, empty files and fetch_files included."""
    resp, run = fusion(door, {"code": "print(input()[::-1])", "stdin": "abc\n", "language": "python",
                              "compile_timeout": 10, "run_timeout": 10, "memory_limit_MB": 512,
                              "files": {}, "fetch_files": []})
    assert resp["status"] == "Success" and run["stdout"] == "cba\n"


def test_timeout(door) -> None:
    resp, run = fusion(door, {"code": "while True:\n    pass\n", "language": "python", "run_timeout": 1})
    assert resp["status"] == "Failed" and "TIMEOUT" in resp["message"]
    assert run["status"] == "TimeLimitExceeded" and run["return_code"] is None


def test_nonzero_exit_and_exception(door) -> None:
    resp, run = fusion(door, {"code": "import sys\nprint('x')\nsys.exit(3)", "language": "python"})
    assert resp["status"] == "Failed" and run["status"] == "Finished"
    assert run["return_code"] == 3 and run["stdout"] == "x\n"
    resp, run = fusion(door, {"code": "1 / 0", "language": "python"})
    assert resp["status"] == "Failed" and run["return_code"] == 1 and "ZeroDivisionError" in run["stderr"]


def test_signal_is_a_negative_return_code(door) -> None:
    resp, run = fusion(door, {"code": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "language": "python"})
    assert resp["status"] == "Failed" and run["status"] == "Finished" and run["return_code"] == -9


def test_memory_limit(door) -> None:
    code = "x = bytearray(1024 * 1024 * 1024)\nprint('allocated')"
    resp, run = fusion(door, {"code": code, "language": "python", "memory_limit_MB": 128})
    assert resp["status"] == "Failed" and "MEMORY_LIMIT" in resp["message"]
    assert run["status"] == "Finished" and run["return_code"] != 0 and "allocated" not in run["stdout"]
    # Far over the server's maximum: clamped to it, not refused.
    resp, _ = fusion(door, {"code": "print(1)", "language": "python", "memory_limit_MB": 10**9, "run_timeout": 10**9})
    assert resp["status"] == "Success"
    # None asked (SandboxFusion's -1 sets no limit): the server's maximum, 4 GiB, not its 1 GiB default.
    big = "x = bytearray(1200 * 1024 * 1024)\nprint('allocated')"
    for body in ({"code": big, "language": "python"}, {"code": big, "language": "python", "memory_limit_MB": -1}):
        resp, run = fusion(door, body)
        assert (resp["status"], run["stdout"]) == ("Success", "allocated\n"), resp


def test_output_limit_is_cut_with_a_note(door) -> None:
    """Exit 0 over the cap: SandboxFusion's "Success" with its output cut, here with a note after
    the kept bytes, so no comparison with an answer passes (tests/test_door_parity.py)."""
    resp, run = fusion(door, {"code": "print('x' * (64 * 1024 * 1024))", "language": "python"})
    assert resp["status"] == "Success" and "OUTPUT_LIMIT" in resp["message"] and run["status"] == "Finished"
    assert run["stdout"].endswith("-byte cap; the rest was dropped]\n")


def test_sandbox_error_mapping() -> None:
    """SANDBOX_ERROR (no verdict) is SandboxFusion's SandboxError, its reason in run_result.stderr and message."""
    resp = to_fusion(Outcome(status=Status.SANDBOX_ERROR, error="jail failed: x"))
    assert resp["status"] == "SandboxError" and resp["message"] == "jail failed: x"
    assert resp["run_result"] == {"status": "Error", "execution_time": None, "return_code": None, "stdout": None,
                                  "stderr": "jail failed: x"}


def test_a_language_this_server_does_not_run(door) -> None:
    """422 in FastAPI's shape, as SandboxFusion answers a language it does not run."""
    r = run_code(door, {"code": "int main() {}", "language": "klingon"})
    assert r.status_code == 422
    (detail,) = r.json()["detail"]
    assert detail["msg"].startswith("unknown language 'klingon'; this server runs python, cpp")


def test_compiled_languages_answer_as_sandboxfusion_does(door) -> None:
    """SandboxFusion's C++ example: compile_result and run_result both filled; a failed compile has no run."""
    code = '#include <iostream>\nint main() { std::string s; std::cin >> s; std::cout << "Hello, " << s << std::endl; }\n'
    r = run_code(door, {"code": code, "language": "cpp", "stdin": "world", "compile_timeout": 20})
    resp = r.json()
    assert r.status_code == 200 and resp["status"] == "Success", resp
    assert set(resp["compile_result"]) == RUN_RESULT_KEYS
    assert resp["compile_result"]["status"] == "Finished" and resp["compile_result"]["return_code"] == 0
    assert resp["run_result"]["stdout"] == "Hello, world\n"
    r = run_code(door, {"code": "int main() { return nope; }", "language": "cpp"})
    resp = r.json()
    assert resp["status"] == "Failed" and resp["run_result"] is None
    assert resp["compile_result"]["status"] == "Finished" and resp["compile_result"]["return_code"] != 0
    assert "nope" in resp["compile_result"]["stderr"]


def test_go_test_is_one_command_as_in_sandboxfusion(door) -> None:
    # SandboxFusion runs `go test f_test.go`: a build error is a run that failed, never a
    # compile_result (verl scores a compile error apart from a runtime error).
    test = 'package main\nimport "testing"\nfunc TestAdd(t *testing.T) {\n\tif 1+1 != 2 {\n\t\tt.Fatal("no")\n\t}\n}\n'
    resp, run = fusion(door, {"code": test, "language": "go_test", "compile_timeout": 60})
    assert resp["status"] == "Success" and resp["compile_result"] is None and run["return_code"] == 0, resp
    r = run_code(door, {"code": test.replace("1+1", "undefined_name"), "language": "go_test", "compile_timeout": 60})
    resp = r.json()
    assert resp["status"] == "Failed" and resp["compile_result"] is None, resp
    assert resp["run_result"]["return_code"] != 0 and "undefined_name" in resp["run_result"]["stderr"]


def test_empty_code_and_base64_with_newlines_as_sandboxfusion_reads_them(door) -> None:
    # Both were 422 here; SandboxFusion runs an empty program, and its b64decode skips the
    # newlines base64.encodebytes writes.
    resp, run = fusion(door, {"code": "", "language": "python"})
    assert (resp["status"], run["return_code"], run["stdout"]) == ("Success", 0, "")
    resp = run_code(door, {"code": "", "language": "cpp"}).json()
    assert resp["status"] == "Failed" and resp["compile_result"]["return_code"] != 0  # no main: the build fails
    data = base64.encodebytes(b"x" * 100).decode()
    assert "\n" in data
    resp, run = fusion(door, {"code": "print(len(open('d').read()))", "language": "python", "files": {"d": data}})
    assert (resp["status"], run["stdout"]) == ("Success", "100\n")
    r = run_code(door, {"code": "print(1)", "language": "python", "files": {"d": "eA="}})  # bad padding: still 422
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "files"]


def test_numbers_sent_as_strings_are_read_as_fastapi_reads_them(door) -> None:
    # pydantic's lax mode (SandboxFusion's FastAPI) reads "5" as 5.0; this door answered 422.
    resp, run = fusion(door, {"code": "print(1)", "language": "python", "run_timeout": "5", "memory_limit_MB": "256"})
    assert (resp["status"], run["stdout"]) == ("Success", "1\n")
    r = run_code(door, {"code": "print(1)", "language": "python", "run_timeout": "soon"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "run_timeout"]
    r = run_code(door, {"code": 5, "language": "python"})  # a string field takes no number
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "code"]


def test_interpreted_languages_and_files(door) -> None:
    """SandboxFusion's names (nodejs, bash) map onto sandcheck's; files are plain names, base64."""
    resp, run = fusion(door, {"code": "console.log([1, 2, 3].map(x => x * 2).join(' '))", "language": "nodejs"})
    assert (resp["status"], run["stdout"]) == ("Success", "2 4 6\n")
    data = base64.b64encode(b"from a file\n").decode()
    resp, run = fusion(door, {"code": "cat data.txt", "language": "bash", "files": {"data.txt": data}})
    assert (resp["status"], run["stdout"]) == ("Success", "from a file\n")
    r = run_code(door, {"code": "cat x", "language": "bash", "files": {"../x": data}})
    assert r.status_code == 422 and "not a plain file name" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize("body, field", [({"language": "python"}, "code"), ({"code": "print(1)"}, "language"),
                                         ({"code": "print(1)", "language": "python", "run_timeout": "x"}, "run_timeout"),
                                         ({"code": "print(1)", "language": "python", "run_timeout": 0}, "run_timeout"),
                                         ({"code": "print(1)", "language": "python", "stdin": 5}, "stdin")])
def test_malformed_fields(door, body, field) -> None:
    r = run_code(door, body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", field]


def test_files_go_in_and_nothing_comes_out(door) -> None:
    """SandboxFusion's upload example runs with its file; fetch_files is refused with a reason."""
    flag = base64.b64encode(b"secret flag").decode()
    resp, run = fusion(door, {"code": 'print(open("flag.txt").read())', "language": "python", "files": {"flag.txt": flag}})
    assert (resp["status"], run["stdout"]) == ("Success", "secret flag\n")
    r = run_code(door, {"code": 'open("f", "w").write("x")', "language": "python", "fetch_files": ["f"]})
    assert r.status_code == 422 and "fetch_files is not supported" in r.json()["detail"][0]["msg"]


@pytest.mark.parametrize("body", [b'{"code": ', b"not json", b"[1, 2]", b"\xff\xfe"])
def test_bad_json_is_400_with_one_line(door, body) -> None:
    r = httpx.post(f"{door}/run_code", content=body, timeout=60)
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail


def test_ping(door) -> None:
    assert httpx.get(f"{door}/v1/ping", timeout=60).json() == "pong"


# -- tokens, quotas and a fleet ---------------------------------------------------

@pytest.fixture(scope="module")
def token_door(tmp_path_factory):
    """Two worker processes sharing the HTTP port, with tokens: alpha may make one call at a time."""
    path = tmp_path_factory.mktemp("http-auth") / "tokens.txt"
    path.write_text(f"{TOKEN_A} alpha max_concurrent=1\n{TOKEN_B} beta\n")
    port = free_port()
    s = Served("--token-file", str(path), "--processes", "2", "--http-listen", f"127.0.0.1:{port}",
               client={"token": TOKEN_B})
    yield s, f"http://127.0.0.1:{port}", port
    s.stop()


def _listeners(port: int) -> int:
    """TCP sockets listening on `port` (state 0A in /proc/net/tcp)."""
    n = 0
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        n += state == "0A" and int(local.split(":")[1], 16) == port
    return n


def test_every_fleet_worker_serves_the_http_port(token_door) -> None:
    _, url, port = token_door
    assert _listeners(port) == 2
    for i in range(4):
        resp, run = fusion_with_token(url, TOKEN_B, f"print({i})")
        assert resp["status"] == "Success" and run["stdout"] == f"{i}\n"


def fusion_with_token(url: str, token: str, code: str) -> tuple[dict, dict]:
    r = run_code(url, {"code": code, "language": "python"}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json(), r.json()["run_result"]


def test_unknown_tokens_are_refused(token_door) -> None:
    _, url, _ = token_door
    for headers in ({}, {"Authorization": f"Bearer {TOKEN_A}x"}, {"Authorization": f"Basic {TOKEN_A}"},
                    {"Authorization": TOKEN_A}):
        r = run_code(url, {"code": "print(1)", "language": "python"}, headers=headers)
        assert r.status_code == 401 and "bearer token" in r.json()["detail"]
        assert r.headers["www-authenticate"] == "Bearer"


def test_a_tenant_quota_spans_grpc_and_http(token_door) -> None:
    """alpha's one call in progress over gRPC: its HTTP call is refused (429), beta's is not."""
    served, url, _ = token_door
    holding = threading.Event()
    held: list = []

    def hold() -> None:
        with Client(served.target, token=TOKEN_A) as c:
            holding.set()
            while not held:  # the prober below may hold alpha's one call for a moment
                try:
                    held.append(c.execute("import time\ntime.sleep(3)", limits=Limits(cpu_time_ms=1000, wall_time_ms=6000)))
                except ServerError as exc:
                    assert exc.code == "RESOURCE_EXHAUSTED"

    t = threading.Thread(target=hold)
    t.start()
    holding.wait()
    refused = None
    while t.is_alive() and refused is None:  # until the held call is in progress
        r = run_code(url, {"code": "print(1)", "language": "python"}, headers={"Authorization": f"Bearer {TOKEN_A}"})
        if r.status_code == 429:
            refused = r
        time.sleep(0.01)  # pacing only
    t.join()
    assert refused is not None, "alpha's HTTP call was never refused while its gRPC call was running"
    body = refused.json()
    assert body["status"] == "SandboxError" and "max_concurrent=1" in body["message"]
    assert held[0].status == "OK"
    resp, _ = fusion_with_token(url, TOKEN_B, "print(2)")
    assert resp["status"] == "Success"


def test_refusals_are_counted_as_grpc_counts_them(tmp_path) -> None:
    """A bad body, an unknown token: each one in sandcheck_rejected_requests, by reason."""
    from prometheus_client.parser import text_string_to_metric_families

    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"{TOKEN_B} beta\n")
    port, metrics_port = free_port(), free_port()
    s = Served("--http-listen", f"127.0.0.1:{port}", "--metrics-listen", f"127.0.0.1:{metrics_port}",
               "--token-file", str(tokens), client={"token": TOKEN_B})
    try:
        def rejected(reason: str) -> float:
            text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
            return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
                       if sample.name == "sandcheck_rejected_requests_total" and sample.labels.get("reason") == reason)

        url, auth_header = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {TOKEN_B}"}
        invalid, unauthenticated = rejected("invalid_request"), rejected("unauthenticated")
        assert run_code(url, {"code": "print(1)", "language": "cobol"}, headers=auth_header).status_code == 422
        assert run_code(url, {"code": 3, "language": "python"}, headers=auth_header).status_code == 422
        assert run_code(url, {"code": "print(1)", "language": "python"}).status_code == 401
        assert rejected("invalid_request") == invalid + 2
        assert rejected("unauthenticated") == unauthenticated + 1
        assert fusion_with_token(url, TOKEN_B, "print(2)")[1]["stdout"] == "2\n"
        assert rejected("invalid_request") == invalid + 2
    finally:
        s.stop()
