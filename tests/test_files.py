"""Request files (ExecuteRequest.files): put in /tmp, importable, validated;
the warm zygote's code cache for the Python ones (jail/zygote.py).

Executor tests run an in-process executor on a cgroup root of their own, as
test_warm.py does. No timing assertions.
"""

from __future__ import annotations

import pytest

from sandbox_server.executor import Executor, Job
from sandbox_server.jail.outcome import Outcome
from sandbox_server.limits import Limits

from sandcheck import Client, InvalidRequest, Program

from .test_warm import make_executor, stop

FAST = Limits(cpu_time_ms=3000, wall_time_ms=6000)

SHOW = """\
import os, sys
import helper
print(sorted(os.listdir('/tmp')), helper.VALUE, helper.__loader__.from_cache)
print(open('/tmp/data.bin', 'rb').read())
"""
FILES = (("data.bin", b"\x00\xffraw"), ("helper.py", b"VALUE = 41 + 1\n"))


@pytest.fixture(scope="module")
def warm() -> Executor:
    ex = make_executor(warm_max_checks=50)
    yield ex
    stop(ex)


def run(ex: Executor, src: str, files=(), limits: Limits = FAST) -> Outcome:
    return ex.submit(Job(src.encode(), b"", limits, files=tuple(sorted(files)))).result(timeout=120)


def test_files_arrive_in_tmp_and_python_ones_import_warm_and_cold(warm: Executor) -> None:
    cold = make_executor(jail_mode="cold")
    try:
        c = run(cold, SHOW, FILES)
    finally:
        stop(cold)
    w = run(warm, SHOW, FILES)
    assert c.status == "OK", c.stderr
    assert c.stdout == b"['data.bin', 'helper.py'] 42 False\nb'\\x00\\xffraw'\n"  # no cache on the cold path
    assert w.status == "OK", w.stderr
    assert w.stdout == b"['data.bin', 'helper.py'] 42 True\nb'\\x00\\xffraw'\n"
    # The next check in the same jail starts without them.
    after = run(warm, "import os\nprint(os.listdir('/tmp'))\ntry:\n    import helper\nexcept ImportError:\n    print('gone')")
    assert after.stdout == b"[]\ngone\n"


def test_cache_is_keyed_by_content_and_checked_at_import(warm: Executor) -> None:
    slot = warm._warm[0]
    run(warm, "pass")
    started = slot.started
    for value in (1, 2, 1):
        out = run(warm, "import m\nprint(m.X, m.__loader__.from_cache)", [("m.py", b"X = %d\n" % value)])
        assert out.stdout == b"%d True\n" % value, out.stderr
    # Changed in /tmp after it arrived: the file's text runs, not the cached code.
    edit = "open('/tmp/m.py', 'w').write('X = 99\\n')\nimport m\nprint(m.X, m.__loader__.from_cache)"
    assert run(warm, edit, [("m.py", b"X = 1\n")]).stdout == b"99 False\n"
    # Same length, one byte apart: still not the cached code.
    edit = "open('/tmp/m.py', 'w').write('X = 7\\n')\nimport m\nprint(m.X, m.__loader__.from_cache)"
    assert run(warm, edit, [("m.py", b"X = 1\n")]).stdout == b"7 False\n"
    # A program's changes to what it imported never reach the next check.
    poison = "import m\nm.X = 'poisoned'\nimport sys\nsys.modules['m'].__dict__.clear()"
    assert run(warm, poison, [("m.py", b"X = 1\n")]).status == "OK"
    assert run(warm, "import m\nprint(m.X)", [("m.py", b"X = 1\n")]).stdout == b"1\n"
    assert slot.started == started  # all in one jail


def test_a_file_that_does_not_compile_fails_only_its_check(warm: Executor) -> None:
    slot = warm._warm[0]
    run(warm, "pass")
    started = slot.started
    bad = run(warm, "import broken", [("broken.py", b"def f(:\n")])
    assert bad.status == "NONZERO_EXIT" and b"SyntaxError" in bad.stderr
    # A warning at compile time: the child compiles it and shows it, as python would.
    warns = run(warm, "import w\nprint(w.__loader__.from_cache)", [("w.py", b"x = 1 is 1\n")])
    assert warns.stdout == b"False\n" and b"SyntaxWarning" in warns.stderr
    assert run(warm, "print('next')").stdout == b"next\n"
    assert slot.started == started


@pytest.mark.parametrize("text, expect", [
    (b"x = " + b"1+" * 30000 + b"1\n", b"RecursionError"),  # nested too deep for the compiler
    (b"x = " + b"not " * 15000 + b"a\n", b"MemoryError"),  # too deep for the parser
    (b"a = 1\nx = a" + b"<a" * 30000 + b"\n", b"True"),  # large, flat: compiled in the zygote
    (b"x = 1\n" * 200_000, b"False"),  # over the cache's file size: compiled by the child alone
])
def test_a_hostile_file_costs_only_its_own_check(warm: Executor, text: bytes, expect: bytes) -> None:
    slot = warm._warm[0]
    run(warm, "pass")
    started = slot.started
    out = run(warm, "import h\nprint(h.__loader__.from_cache)", [("h.py", text)], Limits(cpu_time_ms=10_000))
    assert out.status == ("OK" if expect in (b"True", b"False") else "NONZERO_EXIT")
    assert expect in out.stdout + out.stderr
    assert run(warm, "print('next')").stdout == b"next\n"
    assert slot.started == started  # the zygote survived: same jail


def test_the_zygote_compiles_a_bounded_amount_per_check(warm: Executor) -> None:
    # 60 KB each: four fit in the zygote's per-check budget (256 KiB), the fifth is the child's.
    text = b"x = 1\n" * 10_000
    files = [(f"m{i}.py", text + b"# %d\n" % i) for i in range(5)]
    src = "import m0, m1, m2, m3, m4\nprint([m.__loader__.from_cache for m in (m0, m1, m2, m3, m4)])"
    assert run(warm, src, files).stdout == b"[True, True, True, True, False]\n"


@pytest.mark.parametrize("files, message", [
    ({"a/b": b""}, "not a plain file name"),
    ({"..": b""}, "not a plain file name"),
    ({".": b""}, "not a plain file name"),
    ({"": b""}, "not a plain file name"),
    ({"a\0b": b""}, "not a plain file name"),
    ({"x" * 256: b""}, "not a plain file name"),
    ({f"f{i}": b"" for i in range(65)}, "65 files; the maximum is 64"),
    ({"big": b"x" * (4 * 1024 * 1024)}, "source and files are"),
])
def test_bad_files_are_one_clear_invalid_request(client: Client, files: dict, message: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        client.execute("print(1)", files=files)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_files_over_grpc(client: Client) -> None:
    r = client.execute("import helper\nprint(helper.VALUE)", files={"helper.py": b"VALUE = 5\n"})
    assert r.status == "OK" and r.stdout == b"5\n", r.stderr


# -- held files (ExecuteRequest.held_files): a text the server holds, named by its sha256 --------

def test_a_text_the_server_holds_is_named_by_digest_and_arrives_as_sent(client: Client) -> None:
    import hashlib

    from sandcheck_api.v1 import sandbox_pb2 as pb

    from sandcheck.judges import isolated

    harness = isolated.FILES[isolated.JUDGE_FILE]
    digest = hashlib.sha256(harness).hexdigest()
    assert digest in client.info()["held_files"]
    # The SDK names it so to a server that lists it, and sends any other text whole.
    req = client._request_for(Program("print(1)", files={"h.txt": harness, "d.txt": b"d"}))
    assert dict(req.held_files) == {"h.txt": digest} and dict(req.files) == {"d.txt": b"d"}
    req = client._request_for(Program("print(1)", files={"h.txt": harness + b"\n"}))
    assert not req.held_files and dict(req.files) == {"h.txt": harness + b"\n"}
    # The program finds the server's copy under the name given, beside the files sent.
    src = "import hashlib\nprint(hashlib.sha256(open('/tmp/h.txt', 'rb').read()).hexdigest(), open('/tmp/d.txt').read())"
    r = client.execute(src, files={"h.txt": harness, "d.txt": b"d"})
    assert r.status == "OK" and r.stdout.decode() == f"{digest} d\n", r.stderr
    # Over the wire as such, and the same bytes again when sent whole.
    stub = client._stub
    held = stub.Execute(pb.ExecuteRequest(source=src.encode(), files={"d.txt": b"d"}, held_files={"h.txt": digest}))
    sent = stub.Execute(pb.ExecuteRequest(source=src.encode(), files={"d.txt": b"d", "h.txt": harness}))
    assert held.stdout == sent.stdout == f"{digest} d\n".encode()


@pytest.mark.parametrize("held, files, message", [
    ({"h.txt": "HELD"}, {"h.txt": b"x"}, "is in both files and held_files"),
    ({"a/b": "HELD"}, {}, "not a plain file name"),
    ({"h.txt": "HELD"}, {f"f{i}": b"" for i in range(64)}, "65 files; the maximum is 64"),
])
def test_bad_held_files_are_one_clear_invalid_request(client: Client, held: dict, files: dict, message: str) -> None:
    import hashlib

    import grpc
    from sandcheck_api.v1 import sandbox_pb2 as pb

    from sandcheck.judges import isolated

    digest = hashlib.sha256(isolated.FILES[isolated.JUDGE_FILE]).hexdigest()
    held = {name: digest if d == "HELD" else d for name, d in held.items()}
    with pytest.raises(grpc.RpcError) as err:
        client._stub.Execute(pb.ExecuteRequest(source=b"print(1)", files=files, held_files=held))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in err.value.details()
    assert "\n" not in err.value.details()


def test_a_text_the_server_does_not_hold_after_all_is_sent_whole(client: Client, monkeypatch) -> None:
    # A fleet of several versions behind one address: GetInfo met a server that holds a text, the
    # request one that does not. Nothing runs; the SDK sends the text itself, once and from then on.
    import hashlib

    import grpc
    from sandcheck_api.v1 import sandbox_pb2 as pb

    from sandcheck import client as client_module
    from sandcheck.dispatch import Dispatcher

    text = b"a text no server holds\n" * 400
    digest = hashlib.sha256(text).hexdigest()
    monkeypatch.setitem(client_module._HELD_TEXTS, text, digest)
    monkeypatch.setattr(client_module, "_HELD_SIZES", client_module._HELD_SIZES | {len(text)})
    src = "import hashlib\nprint(hashlib.sha256(open('/tmp/d.txt', 'rb').read()).hexdigest())"
    with pytest.raises(grpc.RpcError) as err:  # what the server says to such a request
        client._stub.Execute(pb.ExecuteRequest(source=src.encode(), held_files={"d.txt": digest}))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"this server holds no text with sha256 '{digest}'" in err.value.details()

    def believing(target: str, **kw) -> Client:  # as if its GetInfo had met a server holding it
        c = Client(target, **kw)
        c._held = frozenset({digest})
        return c

    async def async_execute() -> list:
        async with client_module.AsyncClient(client.target, timeout=120) as c:
            c._held = frozenset({digest})
            return [await c.execute(src, files={"d.txt": text})]

    for run in ("execute", "async execute", "dispatched"):
        monkeypatch.setattr(client_module, "_NOT_HOLDING", set())
        if run == "execute":
            with believing(client.target, timeout=120) as c:
                assert c._request_for(Program(src, files={"d.txt": text})).held_files
                results = [c.execute(src, files={"d.txt": text})]
        elif run == "async execute":
            import asyncio

            results = asyncio.run(async_execute())
        else:
            programs = [Program(src, files={"d.txt": text}, id=f"p{i}") for i in range(12)]
            results = list(Dispatcher([client.target], client_factory=believing).execute_batch(programs))
            assert sorted(r.id for r in results) == sorted(p.id for p in programs)
        assert all(r.status == "OK" and r.stdout == f"{digest}\n".encode() for r in results), results
        assert client_module._NOT_HOLDING == {client.target}
