"""Auth against real servers: bearer tokens per tenant, quotas, TLS and mTLS, the bind rule."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
import pytest

from sandcheck import Client, Limits, Program
from sandcheck._exceptions import ServerError

from .conftest import REPO, free_port

TOKEN_A = "tok-alpha-" + "a" * 24
TOKEN_B = "tok-beta-" + "b" * 24
FAST = Limits(cpu_time_ms=1000, wall_time_ms=3000)


class Served:
    """`python -m sandbox_server` with flags; ready once `Client(**kw).info()` answers."""

    def __init__(self, *flags: str, client: dict | None = None, listen: str | None = None) -> None:
        self.target = listen or f"127.0.0.1:{free_port()}"
        self.client = client or {}
        # Its log goes to a file: a pipe nobody reads until stop() would fill up and stall the server.
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "sandbox_server", "--listen", self.target, *flags],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
        deadline = time.monotonic() + 60
        with Client(self.target.replace("0.0.0.0", "127.0.0.1"), **self.client) as c:
            while True:
                assert self.proc.poll() is None, self.output()
                try:
                    c.wait_ready(timeout=1)
                    c.info()
                    return
                except Exception:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self) -> str:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        return self.output()


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "tokens.txt"
    path.write_text(f"# token tenant quotas\n{TOKEN_A} alpha max_concurrent=1 max_queued=2\n{TOKEN_B} beta\n")
    s = Served("--token-file", str(path), client={"token": TOKEN_B})
    yield s
    s.stop()


def test_calls_without_a_known_token_are_refused(token_server) -> None:
    for token in (None, "", "not-a-token", TOKEN_A + "x", TOKEN_A[:-1]):
        with Client(token_server.target, token=token) as c:
            with pytest.raises(ServerError) as err:
                c.execute("print(1)")
            assert err.value.code == "UNAUTHENTICATED"
            assert "bearer token" in str(err.value)
            with pytest.raises(ServerError):
                list(c.execute_batch([Program("print(1)")]))
    # raw metadata in other shapes
    channel = grpc.insecure_channel(token_server.target)
    from sandcheck_api.v1 import sandbox_pb2 as pb, sandbox_pb2_grpc as pb_grpc

    stub = pb_grpc.SandboxStub(channel)
    for md in ([("authorization", TOKEN_A)], [("authorization", f"Basic {TOKEN_A}")], [("x-token", TOKEN_A)]):
        with pytest.raises(grpc.RpcError) as err:
            stub.GetInfo(pb.GetInfoRequest(), metadata=md)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert stub.GetInfo(pb.GetInfoRequest(), metadata=[("authorization", f"bearer {TOKEN_A}")]).concurrency >= 1
    channel.close()


def test_known_tokens_run_and_env_token_works(token_server, monkeypatch) -> None:
    with Client(token_server.target, token=TOKEN_A) as c:
        assert c.execute("print(6 * 7)").stdout == b"42\n"
    monkeypatch.setenv("SANDCHECK_TOKEN", TOKEN_B)
    with Client(token_server.target) as c:
        assert [r.status for r in c.execute_batch([Program("print(1)", id="x")])] == ["OK"]


def test_tenant_concurrency_quota(token_server) -> None:
    """alpha may have one call in progress: a second concurrent one is RESOURCE_EXHAUSTED."""
    started = threading.Event()
    holder: list = []

    def hold() -> None:
        with Client(token_server.target, token=TOKEN_A) as c:
            started.set()
            while not holder:  # the prober below may hold alpha's one call for a moment
                try:
                    holder.append(c.execute("import time\ntime.sleep(2.5)", limits=FAST))
                except ServerError as exc:
                    assert exc.code == "RESOURCE_EXHAUSTED"

    t = threading.Thread(target=hold)
    t.start()
    started.wait()
    with Client(token_server.target, token=TOKEN_A) as c:
        err = None
        while t.is_alive():  # until the holder's call is in progress
            try:
                c.execute("print(1)")
            except ServerError as exc:
                err = exc
                break
            time.sleep(0.01)  # pacing only, so that the holder gets in
        assert err is not None and err.code == "RESOURCE_EXHAUSTED" and "max_concurrent=1" in str(err)
    # another tenant is not affected
    with Client(token_server.target, token=TOKEN_B) as c:
        assert c.execute("print(2)").stdout == b"2\n"
    t.join()
    assert holder[0].status == "OK"


def test_tenant_queued_work_quota(token_server) -> None:
    """alpha may have two programs queued or running: the rest of a batch is refused, with a message."""
    programs = [Program(f"import time\ntime.sleep(0.5)\nprint({i})", id=str(i), limits=FAST) for i in range(6)]
    with Client(token_server.target, token=TOKEN_A) as c:
        results = list(c.execute_batch(programs))
    assert len(results) == 6
    refused = [r for r in results if r.status == "SANDBOX_ERROR"]
    assert refused and all("max_queued=2" in r.error for r in refused)
    assert any(r.status == "OK" for r in results)


def test_tenants_never_share_a_workdir(token_server) -> None:
    with Client(token_server.target, token=TOKEN_A) as a, Client(token_server.target, token=TOKEN_B) as b:
        for _ in range(3):
            assert a.execute("open('/tmp/alpha', 'w').write('secret')\nimport os\nprint(os.listdir('/tmp'))").ok
            r = b.execute("import os\nprint(os.listdir('/tmp'))")
            assert r.stdout == b"[]\n"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=sandcheck test CA", cwd=d)
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "2", "-extfile", "san.cnf", cwd=d)
    return d


def test_mtls(pki) -> None:
    tls = {"tls_ca": str(pki / "ca.pem"), "tls_cert": str(pki / "client.pem"), "tls_key": str(pki / "client.key")}
    s = Served("--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
               "--tls-client-ca", str(pki / "ca.pem"), client=tls)
    try:
        with Client(s.target, **tls) as c:
            assert c.execute("print('tls')").stdout == b"tls\n"
        for kw in ({}, {"tls_ca": str(pki / "ca.pem")}):  # plaintext; TLS without a client certificate
            with Client(s.target, timeout=10, **kw) as c:
                with pytest.raises(ServerError) as err:
                    c.execute("print(1)")
                assert err.value.code == "UNAVAILABLE"
    finally:
        s.stop()


def test_tls_server_without_client_certs(pki) -> None:
    s = Served("--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
               client={"tls_ca": str(pki / "ca.pem")})
    try:
        with Client(s.target, tls_ca=str(pki / "ca.pem")) as c:
            assert c.execute("print('tls')").ok
        with Client(s.target, timeout=10) as c:
            with pytest.raises(ServerError):
                c.execute("print(1)")
    finally:
        s.stop()


def _serve_exit(*flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sandbox_server", *flags], capture_output=True, text=True,
                          cwd=REPO, timeout=60)


def test_non_loopback_bind_needs_auth_or_insecure(tmp_path) -> None:
    r = _serve_exit("--listen", f"0.0.0.0:{free_port()}")
    assert r.returncode == 2 and "without auth" in r.stderr and "--insecure" in r.stderr
    for bad, msg in ((["--token-file", str(tmp_path / "missing")], "cannot read token file"),
                     (["--tls-cert", str(tmp_path / "c.pem")], "both --tls-cert and --tls-key")):
        r = _serve_exit("--listen", f"127.0.0.1:{free_port()}", *bad)
        assert r.returncode == 2 and msg in r.stderr, r.stderr
    (tmp_path / "t").write_text("short alpha\n")
    r = _serve_exit("--token-file", str(tmp_path / "t"))
    assert r.returncode == 2 and "shorter than 16" in r.stderr
    s = Served("--insecure", listen=f"0.0.0.0:{free_port()}")
    out = s.stop()
    assert "WITHOUT authentication" in out


def test_cli_token_flag_and_env(token_server, tmp_path) -> None:
    prog = tmp_path / "p.py"
    prog.write_text("print('cli')\n")
    cli = [str(Path(sys.executable).parent / "sandcheck"), "run", str(prog), "--server", token_server.target]
    env = {k: v for k, v in os.environ.items() if k != "SANDCHECK_TOKEN"}
    r = subprocess.run(cli + ["--token", TOKEN_B], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0 and '"OK"' in r.stdout, r.stderr
    r = subprocess.run(cli, capture_output=True, text=True, env={**env, "SANDCHECK_TOKEN": TOKEN_B}, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1 and "UNAUTHENTICATED" in r.stderr


def test_quotas_hold_across_a_fleets_processes() -> None:
    """Workers forked after the gate share its counters; a restarted worker clears only its own."""
    from sandbox_server.auth import Gate, QuotaExceeded, Tenant

    alpha = Tenant("alpha", max_concurrent=1, max_queued=2)
    gate = Gate(["alpha"], processes=2)
    gate.use_row(0)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # worker 1 takes alpha's one call and one queued program, then dies holding them
        gate.use_row(1)
        gate.enter_call(alpha)
        gate.reserve(alpha)
        os.write(w, b"x")
        os._exit(0)
    os.read(r, 1)
    os.waitpid(pid, 0)
    with pytest.raises(QuotaExceeded, match="max_concurrent=1"):
        gate.enter_call(alpha)  # worker 0 sees worker 1's call
    gate.reserve(alpha)
    with pytest.raises(QuotaExceeded, match="max_queued=2"):
        gate.reserve(alpha)
    gate.use_row(1)  # worker 1 restarted: what the dead one held is gone, worker 0's stays
    gate.enter_call(alpha)
    gate.reserve(alpha)
    with pytest.raises(QuotaExceeded, match="max_queued=2"):
        gate.reserve(alpha)
