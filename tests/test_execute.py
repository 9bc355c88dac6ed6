"""Execute and ExecuteBatch against a real server: statuses, limits, bad input."""

from __future__ import annotations

import grpc
import pytest

from sandcheck import Client, InvalidRequest, Limits, Program
from sandcheck_api.v1 import sandbox_pb2 as pb
from sandcheck_api.v1 import sandbox_pb2_grpc as pb_grpc

from .conftest import JAIL_PYTHON, jail_processes

FAST = Limits(cpu_time_ms=1000, wall_time_ms=2000)


def test_ok_with_output_report_and_runtime(client: Client) -> None:
    r = client.execute("import os, sys\nprint('out')\nprint('err', file=sys.stderr)\nos.write(3, b'proof')")
    assert r.status == "OK" and r.exit_code == 0 and r.signal == 0
    assert r.stdout == b"out\n" and r.stderr == b"err\n" and r.report == b"proof"
    assert r.runtime.startswith(f"{JAIL_PYTHON} 3.")
    assert r.wall_time_ms > 0 and r.memory_bytes > 0
    assert r.limits == {"cpu_time_ms": 3000, "wall_time_ms": 6000, "memory_bytes": 1 << 30, "output_bytes": 1 << 20}


def test_nonzero_exit_and_traceback(client: Client) -> None:
    r = client.execute("def f():\n    raise ValueError('boom')\nf()")
    assert r.status == "NONZERO_EXIT" and r.exit_code == 1
    assert b"ValueError: boom" in r.stderr and b"    raise ValueError('boom')" in r.stderr
    assert b"_run_program" not in r.stderr  # the init's own frames are not the program's


def test_cpu_timeout_is_told_apart_from_wall_timeout(client: Client) -> None:
    cpu = client.execute("while True: pass", limits=FAST)
    assert (cpu.status, cpu.timeout_kind) == ("TIMEOUT", "CPU")
    assert cpu.cpu_time_ms >= 1000
    wall = client.execute("import time\ntime.sleep(60)", limits=FAST)
    assert (wall.status, wall.timeout_kind) == ("TIMEOUT", "WALL")
    assert wall.cpu_time_ms < 1000 and wall.wall_time_ms >= 2000


def test_cpu_limit_counts_every_process(client: Client) -> None:
    src = "import os\nfor _ in range(3):\n    if os.fork() == 0:\n        break\nwhile True: pass"
    r = client.execute(src, limits=FAST)
    assert (r.status, r.timeout_kind) == ("TIMEOUT", "CPU")
    assert r.cpu_time_ms >= 1000


def test_memory_limit_is_told_apart_from_timeout(client: Client) -> None:
    r = client.execute("x = bytearray(512 * 1024 * 1024)\nx[::4096] = b'x' * (len(x) // 4096)",
                       limits=Limits(memory_bytes=128 * 1024 * 1024))
    assert r.status == "MEMORY_LIMIT" and r.timeout_kind is None
    assert r.memory_bytes <= 128 * 1024 * 1024


def test_self_kill_is_signaled(client: Client) -> None:
    r = client.execute("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)")
    assert r.status == "SIGNALED" and r.signal == 15


def test_output_cap_flags_and_keeps_running(client: Client) -> None:
    r = client.execute("import os, sys\nsys.stdout.write('x' * 5_000_000)\nos.write(3, b'done')",
                       limits=Limits(output_bytes=1000))
    assert r.status == "OUTPUT_LIMIT" and r.stdout_truncated and not r.stderr_truncated
    assert r.stdout == b"x" * 1000 and r.report == b"done"


def test_stdin_is_delivered(client: Client) -> None:
    data = b"line\n" * 100_000  # larger than a pipe buffer
    r = client.execute("import sys\nd = sys.stdin.buffer.read()\nprint(len(d), d.count(b'\\n'))", stdin=data)
    assert r.stdout == b"500000 100000\n"


def test_large_source_does_not_use_argv(client: Client) -> None:
    # 2 MB, far above the 128 KiB limit of one argv string. One string
    # literal compiles in milliseconds, so no limit is near on a busy machine.
    src = "s = '" + "x" * 2_000_000 + "'\nprint(len(s))\n"
    r = client.execute(src, limits=Limits.for_timeout(20.0))
    assert (r.status, r.stdout) == ("OK", b"2000000\n"), r.stderr[-500:]


def test_jail_runs_unprivileged_without_network_or_host_files(client: Client) -> None:
    src = (
        "import os, socket\n"
        "print(os.getuid(), os.getgid(), os.getpid() != 1)\n"
        "print(sorted(os.listdir('/')))\n"
        "for fam in (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK):\n"
        "    try:\n        socket.socket(fam); print('open')\n"
        "    except OSError as e:\n        print(e.errno)\n"
        "try:\n    open('/usr/x', 'w')\nexcept OSError as e:\n    print(e.errno)\n"
    )
    r = client.execute(src)
    assert r.status == "OK", r.stderr
    lines = r.stdout.decode().splitlines()
    assert lines[0] == "1000 1000 True"
    # No etc, home, root, proc; var only for the packages scripts/setup installed (/var/cache/sandcheck).
    packages = [p["name"] for p in client.info().get("packages", []) if p["language"] == "python"]
    assert lines[1] == str(["dev", "lib", "lib64", "tmp", "usr", *(["var"] if packages else [])])
    assert lines[2:5] == ["97", "97", "97"]  # EAFNOSUPPORT
    assert lines[5] == "30"  # EROFS


def test_leftover_processes_are_killed(client: Client, server) -> None:
    src = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\nprint('parent done')"
    r = client.execute(src)
    assert r.status == "OK" and r.stdout == b"parent done\n"
    assert jail_processes(server.proc.pid) == []


@pytest.mark.parametrize(
    "request_kwargs, message",
    [
        ({"source": b""}, "source is empty"),
        ({"source": b"x" * (4 * 1024 * 1024 + 1)}, "maximum is"),
        ({"source": b"print('\xff')"}, "not valid UTF-8"),
        ({"source": b"print(1)", "language": "cobol"}, "unknown language"),
        ({"source": b"print(1)", "limits": pb.Limits(cpu_time_ms=-5)}, "negative"),
        ({"source": b"print(1)", "limits": pb.Limits(memory_bytes=1024)}, "at least 16 MiB"),
    ],
)
def test_bad_input_gets_invalid_argument_and_server_keeps_serving(server, client, request_kwargs, message) -> None:
    with grpc.insecure_channel(server.target, options=[("grpc.max_send_message_length", 64 << 20)]) as ch:
        stub = pb_grpc.SandboxStub(ch)
        with pytest.raises(grpc.RpcError) as info:
            stub.Execute(pb.ExecuteRequest(**request_kwargs), timeout=30)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in info.value.details()
    assert client.execute("print(2)").stdout == b"2\n"


def test_sdk_raises_invalid_request(client: Client) -> None:
    with pytest.raises(InvalidRequest, match="unknown language"):
        client.execute("print(1)", language="cobol")


def test_batch_streams_every_result_and_isolates_bad_items(client: Client) -> None:
    programs = [Program(f"print({i})", id=f"ok-{i}") for i in range(12)]
    programs.insert(5, Program(b"\xff\xfe", id="bad-utf8"))
    programs.insert(8, Program("print(1)", id="bad-lang", language="cobol"))
    programs.append(Program("while True: pass", id="slow", limits=FAST))
    results = {r.id: r for r in client.execute_batch(programs)}
    assert set(results) == {p.id for p in programs}
    assert results["bad-utf8"].status == "INVALID_REQUEST" and "UTF-8" in results["bad-utf8"].error
    assert results["bad-lang"].status == "INVALID_REQUEST"
    assert results["slow"].status == "TIMEOUT"
    for i in range(12):
        assert results[f"ok-{i}"].stdout == f"{i}\n".encode()


def test_info_describes_runtime_and_limits(client: Client) -> None:
    info = client.info()
    assert info["runtimes"][0]["interpreter"] == JAIL_PYTHON
    assert int(info["default_limits"]["cpu_time_ms"]) == 3000
    assert int(info["max_tasks"]) == 64
