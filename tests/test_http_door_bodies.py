"""What a `POST /run_code` body can do to the HTTP door: every malformed field a 422
that names it (never a 500), a fuzz of the request shapes, memory bounded by a small
multiple of the body, tenant admission before the body is read, chunked bodies,
and 64 files of 4 MiB each. Real servers, loopback only."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .conftest import RunningServer, free_port
from .test_auth import TOKEN_A, TOKEN_B, Served

FIELDS = {"code", "language", "stdin", "files", "fetch_files", "compile_timeout", "run_timeout", "memory_limit_MB"}
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def door() -> str:
    s = RunningServer(http=True)
    yield s.url
    assert s.stop() == 0


def post(url: str, body: bytes | dict, **kw) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{url}/run_code", content=content, timeout=120, **kw)


def assert_names(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", field], detail
    assert detail["msg"] and "\n" not in detail["msg"]


# JSON text, spelled by hand where json.dumps would not write it (numbers past float range).
MALFORMED = [
    (b'{"code": "print(1)", "language": "python", "run_timeout": 1e400}', "run_timeout"),
    (b'{"code": "print(1)", "language": "python", "compile_timeout": -1e400}', "compile_timeout"),
    (b'{"code": "print(1)", "language": "python", "memory_limit_MB": 1' + b"0" * 400 + b"}", "memory_limit_MB"),
    (b'{"code": "print(1)", "language": "python", "run_timeout": ' + b"9" * 5000 + b"}", "run_timeout"),
    (b'{"code": "print(1)", "language": "python", "run_timeout": true}', "run_timeout"),
    (b'{"code": "print(\\ud800)", "language": "python"}', "code"),
    (b'{"code": "print(1)", "language": "python", "stdin": "a\\udc00b"}', "stdin"),
    (b'{"code": "print(1)", "language": "python", "files": {"a\\ud800.txt": "eA=="}}', "files"),
    (b'{"code": "print(1)", "language": "python", "files": {"a.txt": "\\ud800"}}', "files"),
    (b'{"code": "print(1)", "language": "py\\udfff"}', "language"),
    (b'{"code": "print(1)", "language": "python", "files": {"a.txt": 5}}', "files"),
    (b'{"code": "print(1)", "language": "python", "files": []}', "files"),
    (b'{"code": ["print(1)"], "language": "python"}', "code"),
]


@pytest.mark.parametrize("body, field", MALFORMED)
def test_each_malformed_field_is_a_422_that_names_it(door, body, field) -> None:
    assert_names(post(door, body), field)


@pytest.mark.parametrize("field", ["run_timeout", "compile_timeout", "memory_limit_MB"])
def test_huge_limits_are_clamped_to_the_maxima_not_an_overflow(door, field) -> None:
    """1e308 was an OverflowError (500): it is a number, so it is clamped as gRPC clamps."""
    r = post(door, {"code": "print(1)", "language": "python", field: 1e308})
    assert r.status_code == 200, r.text
    assert r.json()["run_result"]["stdout"] == "1\n"


def test_a_surrogate_pair_and_an_escaped_backslash_are_text(door) -> None:
    """Only lone surrogates are refused: a pair is one character, and `\\\\ud800` is six."""
    body = b'{"code": "print(\'\\ud83d\\ude00\', r\'\\\\ud800\')", "language": "python"}'
    r = post(door, body)
    assert r.status_code == 200, r.text
    assert r.json()["run_result"]["stdout"] == "\U0001f600 \\ud800\n"


def test_a_lone_surrogate_in_a_field_the_server_does_not_read_is_ignored(door) -> None:
    r = post(door, b'{"code": "print(1)", "language": "python", "extra": "\\ud800"}')
    assert r.status_code == 200 and r.json()["run_result"]["stdout"] == "1\n"


# -- a fuzz of the request shapes ---------------------------------------------------------

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
texts = st.one_of(st.text(max_size=20), st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3),
                  st.sampled_from(["print(1)", "python", "nodejs", "bash", "eA==", "not base64", "", "..", "a/b"]))
numbers = st.one_of(st.integers(), st.integers(min_value=10**300, max_value=10**400), st.floats(allow_nan=False),
                    st.sampled_from([1e308, -1e308, 0, -1, 0.001, 2, 1.5]))
json_values = st.recursive(st.one_of(st.none(), st.booleans(), numbers, texts),
                           lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
                           max_leaves=8)
fields = st.fixed_dictionaries({}, optional={
    "code": st.one_of(st.sampled_from(["print(1)", "print(input())", "import sys; sys.exit(3)"]), texts, json_values),
    "language": st.one_of(st.sampled_from(["python", "py", "cobol", ""]), json_values),
    "stdin": st.one_of(texts, json_values),
    "files": st.one_of(st.dictionaries(texts, st.one_of(texts, st.none()), max_size=3), json_values),
    "fetch_files": json_values,
    "compile_timeout": st.one_of(numbers, json_values),
    "run_timeout": st.one_of(st.floats(0.05, 1), numbers, json_values),
    "memory_limit_MB": st.one_of(numbers, json_values),
    "unknown": json_values,
})


@FUZZ
@given(body=fields)
@example(body={"code": "print(1)", "language": "python", "run_timeout": 10**400})
@example(body={"code": "\ud800", "language": "python"})
@example(body={"code": "print(1)", "language": "python", "files": {"\udc00": "eA=="}})
def test_fuzzed_requests_are_answered_or_refused_by_field_never_500(door, body) -> None:
    # json.dumps spells lone surrogates as \\udXXX escapes, and numbers past float range as they are.
    r = post(door, json.dumps(body, allow_nan=True).encode())
    assert r.status_code in (200, 400, 422), r.text
    answer = r.json()
    if r.status_code == 200:
        assert answer["status"] in ("Success", "Failed", "SandboxError"), answer
    elif r.status_code == 422:
        loc = answer["detail"][0]["loc"]
        assert loc == ["body"] or (loc[0] == "body" and loc[1] in FIELDS), loc
    else:
        assert isinstance(answer["detail"], str) and answer["detail"]


# -- bodies: size, memory, chunks, many files --------------------------------------------

def _status(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in lines) if k in ("VmRSS", "VmHWM")}


def test_a_49_mib_body_costs_less_than_four_times_its_size() -> None:
    """49 MiB of `{},{},...` in an unknown field took a worker from 61 MiB to 1,341 MiB:
    now its peak grows by less than 4x the body, and the request is refused by field."""
    server = RunningServer(http=True)
    try:
        url = server.url
        assert post(url, {"code": "print(1)", "language": "python"}).status_code == 200  # warm: imports done
        pid = server.proc.pid
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        except OSError:
            pass
        before = _status(pid)["VmRSS"]
        body = b'{"language": "python", "x": [' + b"{}," * (16 * MiB) + b'{}]}'
        assert len(body) > 48 * MiB
        r = post(url, body)
        assert_names(r, "code")
        growth = _status(pid)["VmHWM"] - before
        assert growth < 4 * len(body), f"peak grew by {growth / MiB:.0f} MiB for a {len(body) / MiB:.0f} MiB body"
    finally:
        assert server.stop() == 0


def test_a_chunked_body_is_read_and_run(door) -> None:
    def chunks():
        yield b'{"code": "print(sum(range(10)))", '
        yield b'"language": "python"}'

    r = httpx.post(f"{door}/run_code", content=chunks(), timeout=120)
    assert r.status_code == 200 and r.json()["run_result"]["stdout"] == "45\n"


def test_64_files_of_4_mib_each_are_refused_before_they_are_read(door) -> None:
    """~358 MiB of base64: refused with 413 from the Content-Length alone, and, sent
    chunked (no length), at the body limit; the door serves on."""
    content = base64.b64encode(b"\0" * (4 * MiB)).decode()
    body = json.dumps({"code": "print(1)", "language": "python",
                       "files": {f"f{i}.bin": content for i in range(64)}}).encode()
    r = post(door, body)
    assert r.status_code == 413 and "limit" in r.json()["detail"]

    def chunks():
        for i in range(0, len(body), 4 * MiB):
            yield body[i:i + 4 * MiB]

    try:
        r = httpx.post(f"{door}/run_code", content=chunks(), timeout=120)
        assert r.status_code == 413
    except httpx.WriteError:
        pass  # the door answered 413 and closed while the client was still sending
    assert httpx.get(f"{door}/v1/ping", timeout=30).json() == "pong"


def test_64_files_within_the_source_limit_run(door) -> None:
    """64 files that fit max_source_bytes (4 MiB with the source) all reach the program."""
    content = base64.b64encode(b"x" * (60 * 1024)).decode()
    r = post(door, {"code": "import os\nprint(sum(os.path.getsize(f'f{i}.txt') for i in range(64)))",
                    "language": "python", "files": {f"f{i}.txt": content for i in range(64)}})
    assert r.status_code == 200, r.text
    assert r.json()["run_result"]["stdout"] == f"{64 * 60 * 1024}\n"


# -- tenant admission comes before the body ---------------------------------------------

@pytest.fixture(scope="module")
def quota_door(tmp_path_factory):
    path = tmp_path_factory.mktemp("http-quota") / "tokens.txt"
    path.write_text(f"{TOKEN_A} alpha max_concurrent=1\n{TOKEN_B} beta\n")
    port = free_port()
    s = Served("--token-file", str(path), "--http-listen", f"127.0.0.1:{port}", "--processes", "1",
               client={"token": TOKEN_B})
    yield f"http://127.0.0.1:{port}"
    s.stop()


def test_a_tenant_over_its_quota_gets_429_before_its_body_is_parsed(quota_door) -> None:
    """alpha (max_concurrent=1) holds one call; its next calls carry a body that is not
    JSON at all: they are refused 429 for the quota (a parse would have said 400).
    Three sleeping calls at once: one runs, the others are refused."""
    url, alpha = quota_door, {"Authorization": f"Bearer {TOKEN_A}"}
    answers: list[httpx.Response] = []

    def call() -> None:
        answers.append(post(url, {"code": "import time\ntime.sleep(2)\nprint(1)", "language": "python",
                                  "run_timeout": 1}, headers=alpha))

    holders = [threading.Thread(target=call) for _ in range(3)]
    for t in holders:
        t.start()
    refused = None
    while any(t.is_alive() for t in holders) and refused is None:
        r = post(url, b"this is not JSON", headers=alpha)
        if r.status_code == 429:
            refused = r
        time.sleep(0.01)  # pacing only
    for t in holders:
        t.join()
    assert refused is not None, "a body was parsed while alpha's quota was taken"
    assert "max_concurrent=1" in refused.json()["message"]
    codes = sorted(r.status_code for r in answers)
    assert codes.count(200) >= 1 and set(codes) <= {200, 429}
    assert post(url, b"this is not JSON", headers=alpha).status_code == 400  # free again: now it is parsed
