"""Bad input, fuzzed: requests through real gRPC, and samples/problems files for the CLI.

A request is answered with INVALID_ARGUMENT and a message, or with a result;
never another code, never a dead server. A bad file makes the CLI exit 2 with
a message, before anything runs.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import tempfile
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sandcheck.cli import main as cli_main
from sandcheck_api.v1 import sandbox_pb2 as pb
from sandcheck_api.v1 import sandbox_pb2_grpc as pb_grpc

from .conftest import RunningServer

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
STATUSES = set(pb.Status.keys()) - {"STATUS_UNSPECIFIED"}

# Sources that end fast whatever they are: random bytes and text are, at worst, syntax errors.
sources = st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode),
                    st.sampled_from([b"", b"\x00", b"print(1)\x00", b"\xff\xfe", b"\xed\xa0\x80", b"x" * 5000,
                                     b"print(1)", "print('\u00e9\U0001f600')".encode()]))
limits = st.builds(pb.Limits, cpu_time_ms=st.one_of(INT64, st.integers(0, 1500)),
                   wall_time_ms=st.one_of(INT64, st.integers(0, 3000)),
                   memory_bytes=st.one_of(INT64, st.integers(0, 1 << 31)), output_bytes=INT64)
requests = st.builds(pb.ExecuteRequest, id=st.text(max_size=40), language=st.one_of(st.just("python"), st.text(max_size=12)),
                     source=sources, stdin=st.binary(max_size=200), limits=limits)


@pytest.fixture(scope="module")
def stub(server: RunningServer):
    channel = grpc.insecure_channel(server.target, options=[("grpc.max_send_message_length", 64 << 20)])
    yield pb_grpc.SandboxStub(channel)
    channel.close()


def _answered(call) -> pb.ExecuteResponse | None:
    """The response, or None for INVALID_ARGUMENT with a message; anything else fails."""
    try:
        return call()
    except grpc.RpcError as exc:
        assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, (exc.code(), exc.details())
        assert exc.details()
        return None


@FUZZ
@given(req=requests)
def test_execute_answers_every_request(stub, server, req) -> None:
    resp = _answered(lambda: stub.Execute(req, timeout=120))
    if resp is not None:
        assert pb.Status.Name(resp.status) in STATUSES
    assert server.proc.poll() is None


@FUZZ
@given(reqs=st.lists(requests, min_size=1, max_size=5))
def test_batch_answers_every_item(stub, server, reqs) -> None:
    for i, r in enumerate(reqs):
        r.id = f"item-{i}"
    got = list(stub.ExecuteBatch(iter(reqs), timeout=120))
    assert sorted(r.id for r in got) == sorted(r.id for r in reqs)
    for r in got:
        assert pb.Status.Name(r.status) in STATUSES
        if r.status == pb.INVALID_REQUEST:
            assert r.error
    assert server.proc.poll() is None


@FUZZ
@given(raw=st.binary(max_size=400))
@example(raw=b"\x0a\xff\xff\xff\xff\x0f")  # a length prefix far past the end
@example(raw=b"\xff" * 20)
def test_undecodable_messages(server, raw) -> None:
    """Bytes that may not be an ExecuteRequest at all: an error status, and the server lives."""
    with grpc.insecure_channel(server.target) as channel:
        call = channel.unary_unary("/sandcheck.v1.Sandbox/Execute", request_serializer=None,
                                   response_deserializer=pb.ExecuteResponse.FromString)
        try:
            resp = call(raw, timeout=120)
            assert pb.Status.Name(resp.status) in STATUSES
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT, exc.code()
            assert exc.details()
    assert server.proc.poll() is None


def test_oversized_message_is_refused_before_parsing(stub, server, client) -> None:
    info = client.info()
    big = int(info["max_source_bytes"]) * 2 + (2 << 20)  # past grpc.max_receive_message_length
    with pytest.raises(grpc.RpcError) as err:
        stub.Execute(pb.ExecuteRequest(source=b"#" * big), timeout=120)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # just under the message limit but over the source limit: INVALID_ARGUMENT, with the sizes
    with pytest.raises(grpc.RpcError) as err:
        stub.Execute(pb.ExecuteRequest(source=b"#" * (int(info["max_source_bytes"]) + 1)), timeout=120)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "maximum" in err.value.details()
    assert server.proc.poll() is None
    assert client.execute("print('alive')").stdout == b"alive\n"


# -- files for the CLI -------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                           max_leaves=12)
FIELDS = ("task_id", "prompt", "canonical_solution", "test", "entry_point")
# Objects that look like rows but lack a field or have one of the wrong type.
near_rows = st.fixed_dictionaries({}, optional={f: st.one_of(st.text(max_size=10), json_values) for f in FIELDS + ("completion",)})
lines = st.one_of(json_values.map(json.dumps), near_rows.map(json.dumps), st.text(max_size=60))
files = st.one_of(st.binary(max_size=300), st.lists(lines, max_size=6).map(lambda ls: "\n".join(ls).encode()))

GOOD_PROBLEM = {"task_id": "T/0", "prompt": "def f():\n", "canonical_solution": "    return 1\n",
                "test": "def check(c):\n    assert c() == 1\n", "entry_point": "f"}


def _valid(data: bytes, fields: tuple[str, ...]) -> bool:
    try:
        rows = [json.loads(l) for l in data.decode("utf-8").splitlines() if l.strip()]
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return bool(rows) and all(isinstance(r, dict) and all(isinstance(r.get(f), str) for f in fields) for r in rows)


def _eval(samples: bytes, problems: bytes, gz: bool = False) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as d:
        sp, pp = Path(d) / "s.jsonl", Path(d) / ("p.jsonl.gz" if gz else "p.jsonl")
        sp.write_bytes(samples)
        pp.write_bytes(gzip.compress(problems) if gz else problems)
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            # an unreachable server: if a file were valid, nothing could run anyway
            code = cli_main(["eval", str(sp), "--problems", str(pp), "--server", "127.0.0.1:1",
                             "-o", str(Path(d) / "out.jsonl"), "--no-progress"])
        return code, err.getvalue()


@FUZZ
@given(problems=files, gz=st.booleans())
@example(problems=b"[" * 100_000, gz=False)
@example(problems=b'{"task_id": ' * 50_000, gz=False)
@example(problems=b"\x1f\x8b\x08\x00garbage", gz=False)
def test_bad_problem_files_exit_2(problems, gz) -> None:
    if _valid(problems, FIELDS):
        return
    code, err = _eval(json.dumps({"task_id": "T/0", "completion": "x"}).encode(), problems, gz)
    assert code == 2 and "error:" in err, err


@FUZZ
@given(samples=files)
@example(samples=b"[" * 100_000)
@example(samples=json.dumps({"task_id": "T/404", "completion": "x"}).encode())
@example(samples=b"")
def test_bad_sample_files_exit_2(samples) -> None:
    if _valid(samples, ("task_id", "completion")) and all(
            json.loads(l)["task_id"] == "T/0" for l in samples.decode().splitlines() if l.strip()):
        return
    code, err = _eval(samples, json.dumps(GOOD_PROBLEM).encode())
    assert code == 2 and "error:" in err, err
