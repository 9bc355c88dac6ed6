"""The SDK's public API as an eval script uses it: async client, embedded server, evaluate()."""

from __future__ import annotations

import asyncio

from sandcheck import AsyncClient, Client, EmbeddedServer, Limits, Program, evaluate, read_problems


def test_async_client_execute_batch_and_info(server) -> None:
    async def main() -> tuple:
        async with AsyncClient(server.target, timeout=120) as client:
            one = await client.execute("print('async')", limits=Limits.for_timeout(2.0))
            programs = [Program(f"print({i} ** 2)", id=str(i)) for i in range(8)]
            batch = [r async for r in client.execute_batch(programs)]
            info = await client.info()
            return one, batch, info

    one, batch, info = asyncio.run(main())
    assert (one.status, one.stdout) == ("OK", b"async\n")
    assert sorted(int(r.id) for r in batch) == list(range(8))
    assert all(r.stdout == f"{int(r.id) ** 2}\n".encode() for r in batch)
    assert info["runtimes"][0]["language"] == "python"


def test_async_client_names_a_held_text_by_digest(server) -> None:
    import hashlib

    from sandcheck.judges import isolated

    harness = isolated.FILES[isolated.JUDGE_FILE]
    src = "import hashlib\nprint(hashlib.sha256(open('/tmp/h.txt', 'rb').read()).hexdigest())"

    async def main() -> tuple:
        async with AsyncClient(server.target, timeout=120) as client:
            req = await client._request_for(Program(src, files={"h.txt": harness}))
            return req, [r async for r in client.execute_batch([Program(src, files={"h.txt": harness})])]

    req, (result,) = asyncio.run(main())
    digest = hashlib.sha256(harness).hexdigest()
    assert dict(req.held_files) == {"h.txt": digest} and not req.files
    assert result.status == "OK" and result.stdout == f"{digest}\n".encode(), result


def test_embedded_server_and_evaluate() -> None:
    problems = read_problems()
    chosen = {t: problems[t] for t in ("HumanEval/0", "HumanEval/1")}
    samples = [
        {"task_id": "HumanEval/0", "completion": chosen["HumanEval/0"]["canonical_solution"]},
        {"task_id": "HumanEval/0", "completion": "    return True\n"},
        {"task_id": "HumanEval/1", "completion": chosen["HumanEval/1"]["canonical_solution"]},
        {"task_id": "HumanEval/1", "completion": "    raise SystemExit(0)\n"},
    ]
    with EmbeddedServer() as target:
        assert target.startswith("unix:")
        with Client(target) as client:
            report = evaluate(samples, chosen, client=client, k=[1, 2])
    assert [r["passed"] for r in report.rows] == [True, False, True, False]
    assert report.pass_at_k == {"pass@1": 0.5, "pass@2": 1.0}
    assert report.rows[3]["result"] == "failed: 0"
