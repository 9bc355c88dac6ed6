"""Every shell command and Python snippet in README.md, run as pasted, after the set-up line.

The README is parsed, not copied: every ```sh/```bash block and every ```python block is a test, in
README order, whoever added it. Commands run with bash from a directory that looks like a fresh
clone (the repository's files linked in, `examples/` copied, `.venv` beside them), so what they
write lands there, and a last test checks that git ignores all of it.

Only three things are adapted, the same way for every block:
- the loopback ports the README names (50051, 8080, ...) become free ports, consistently across
  blocks, so the test runs beside other servers on the machine;
- `sandcheck serve` commands (and lines ending in `&`) run in the background until the module ends,
  and a snippet that needs a server on a port gets the README command that starts it;
- a model endpoint (`--endpoint http://...`) is a local stand-in that speaks the OpenAI API.

A command passes when it exits 0, or with the code a trailing `# exits N` comment names. The skip
lists (`SKIPPED`, `SKIPPED_SNIPPETS`) are short and say why; blocks that cost minutes (`SLOW`) are marked slow:
`.venv/bin/python -m pytest -q -m slow tests/test_readme.py` runs them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from .conftest import REPO, free_port

README = REPO / "README.md"
FAST_TIMEOUT_S = 300
SLOW_TIMEOUT_S = 3600

# Commands not run here, each with its reason.
SKIPPED = {
    r"(^|\s)scripts/setup(\s|$)": "the set-up line: the test runs after it",
    r"-m pytest": "the test suite itself",
    r"\bbench/\S+\.py": "a benchmark: minutes to hours; bench/results/ keeps what it measured",
    r"^(sudo\s+)?apt(-get)?\s": "installs system packages",
}
# Python snippets not run here, each with its reason.
SKIPPED_SNIPPETS = {
    r"#\s*pip install\s": "needs a package the set-up line does not install (the snippet says which)",
}
# Blocks that cost minutes: marked slow (the set-up line's own `&&` prefix is dropped, not skipped).
SLOW = {
    r"--dataset[ =](?!humaneval(\s|$))(?!.*--(limit|task-ids))":
        "a whole built-in set other than HumanEval: compiles, or EvalPlus's inputs",
    r"--endpoint": "samples a whole problem set from the stand-in model, and the block evaluates it all",
}
SETUP_PREFIX = re.compile(r"^scripts/setup\s*&&\s*")
LOOPBACK_PORT = re.compile(r"\b(127\.0\.0\.1|localhost|0\.0\.0\.0):(\d{2,5})\b")
EXPECTED_EXIT = re.compile(r"#.*\bexits?\s+(\d+)\b")
SERVE = re.compile(r"\bsandcheck\s+serve\b(?!.*--(check|print-config|help)\b)")
DEFAULT_LISTEN = "127.0.0.1:50051"


@dataclass
class Command:
    line: int
    text: str
    skip: str = ""  # the reason, when skipped

    @property
    def background(self) -> bool:
        return self.text.rstrip().endswith("&") or bool(SERVE.search(self.text))

    @property
    def expected_exit(self) -> int:
        m = EXPECTED_EXIT.search(self.text)
        return int(m.group(1)) if m else 0


@dataclass
class Block:
    lang: str
    line: int  # of the opening fence
    text: str
    commands: list[Command] = field(default_factory=list)

    @property
    def slow(self) -> str:
        for pattern, why in SLOW.items():
            if any(re.search(pattern, c.text) for c in self.commands if not c.skip):
                return why
        return ""


def parse(markdown: str) -> list[Block]:
    """The README's sh/bash/shell and python blocks, each shell block split into commands."""
    blocks, lines, i = [], markdown.splitlines(), 0
    while i < len(lines):
        m = re.match(r"^```\s*(\w+)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1
        lang = m.group(1).lower()
        if lang in ("sh", "bash", "shell"):
            blocks.append(Block("sh", start, "\n".join(body), _commands(body, start + 1)))
        elif lang == "python":
            blocks.append(Block("python", start, "\n".join(body)))
    return blocks


def _commands(body: list[str], first_line: int) -> list[Command]:
    """One command per line; `\\` continues a line, a heredoc runs to its terminator."""
    out: list[Command] = []
    pending, pending_line, heredoc = "", 0, ""
    for n, raw in enumerate(body, first_line):
        if not pending and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if not pending:
            pending_line = n
        if heredoc:
            pending += raw + "\n"
            if raw.strip() == heredoc:
                heredoc = ""
                out.append(_command(pending_line, pending))
                pending = ""
            continue
        m = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", _strip_comment(raw))
        if m:
            heredoc, pending = m.group(1), pending + raw + "\n"
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        out.append(_command(pending_line, pending + raw))
        pending = ""
    return out


def _command(line: int, text: str) -> Command:
    text = SETUP_PREFIX.sub("", text.strip())
    return Command(line, text, next((why for pattern, why in SKIPPED.items() if re.search(pattern, text)), ""))


def _strip_comment(command: str) -> str:
    """The command without its trailing `# ...` comment, as bash reads it (a # in quotes is no comment)."""
    quote = ""
    for i, ch in enumerate(command):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or command[i - 1].isspace()):
            return command[:i].rstrip()
    return command


BLOCKS = parse(README.read_text(encoding="utf-8"))


# -- the stand-in model endpoint -----------------------------------------------

class StandInModel(ThreadingHTTPServer):
    """An OpenAI-compatible completions and chat endpoint that answers every prompt the same way."""

    COMPLETION = "    return None\n"

    def __init__(self, port: int) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._send(200, {"object": "list", "data": [{"id": "MODEL", "object": "model"}]})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                n = int(body.get("n", 1))
                if self.path.endswith("/chat/completions"):
                    reply = f"```python\n{outer.COMPLETION}```"
                    choices = [{"index": i, "message": {"role": "assistant", "content": reply}} for i in range(n)]
                else:
                    logprobs = {"tokens": [outer.COMPLETION], "token_logprobs": [-0.5]}
                    choices = [{"index": i, "text": outer.COMPLETION, "finish_reason": "stop", "logprobs": logprobs}
                               for i in range(n)]
                self._send(200, {"choices": choices})

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", port), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


# -- the fresh clone, its ports and its background servers ------------------------

class Clone:
    """A directory that looks like a fresh clone after the set-up line, and what runs beside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True,
                                 check=True).stdout.split()
        for top in sorted({p.split("/")[0] for p in tracked} | {".venv"}):
            if top == "examples":
                shutil.copytree(REPO / top, root / top)
            elif (REPO / top).exists():
                (root / top).symlink_to(REPO / top)
        venv_bin = str(REPO / ".venv" / "bin")
        path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin
                and not p.startswith(str(REPO))]
        self.env = {**os.environ, "PATH": os.pathsep.join(path), "SANDCHECK_CACHE_DIR": str(root / ".cache")}
        self.env.pop("VIRTUAL_ENV", None)
        (root / ".tmp").mkdir()
        readme_ports = {int(m.group(2)) for b in BLOCKS for m in LOOPBACK_PORT.finditer(b.text)}
        self.ports = {p: free_port() for p in sorted(readme_ports | {int(DEFAULT_LISTEN.split(":")[1])})}
        self.daemons: list[tuple[Command, subprocess.Popen, Path]] = []
        self.models: list[StandInModel] = []

    def adapt(self, text: str) -> str:
        """`text` with the README's loopback ports mapped to this run's free ones."""
        return LOOPBACK_PORT.sub(lambda m: f"{m.group(1)}:{self.ports[int(m.group(2))]}", text)

    def ports_of(self, command: str) -> list[int]:
        """This run's ports a command names (before any comment)."""
        return [int(m.group(2)) for m in LOOPBACK_PORT.finditer(self.adapt(_strip_comment(command)))]

    def run(self, command: Command, timeout: float, prelude: str = "") -> None:
        text = self.adapt(command.text)
        for m in re.finditer(r"--endpoint[ =]\S*?:(\d+)", text):
            self._model(int(m.group(1)))
        if command.background:
            self._daemon(command, self.adapt(prelude) + text)
            return
        try:
            p = subprocess.run(["bash", "-c", self.adapt(prelude) + text], cwd=self.root, env=self.env, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"README.md:{command.line}: `{command.text}` ran past {timeout:.0f} s")
        assert p.returncode == command.expected_exit, (
            f"README.md:{command.line}: `{command.text}` exited {p.returncode}, not {command.expected_exit}\n"
            f"stdout: {p.stdout[-3000:]}\nstderr: {p.stderr[-3000:]}")

    def _model(self, port: int) -> None:
        if not any(m.server_address[1] == port for m in self.models):
            self.models.append(StandInModel(port))

    def _daemon(self, command: Command, text: str) -> None:
        log = self.root / ".tmp" / f"daemon-{command.line}.log"
        *before, last = text.rstrip("\n").split("\n")
        script = "\n".join([*before, "exec " + _strip_comment(last).rstrip().rstrip("&")])
        proc = subprocess.Popen(["bash", "-c", script],
                                cwd=self.root, env=self.env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.daemons.append((command, proc, log))
        ports = [self.ports[p] for p in _readme_ports(command)]  # what it serves; none: nothing to wait for
        deadline = time.monotonic() + 120
        for port in ports:
            while not _listening(port):
                assert proc.poll() is None, f"README.md:{command.line}: `{command.text}` exited:\n{log.read_text()}"
                assert time.monotonic() < deadline, f"README.md:{command.line}: nothing listens on {port}"
                time.sleep(0.2)

    def serve(self, readme_port: int) -> None:
        """Have something listen on the README's `readme_port`: the README command that serves it."""
        port = self.ports[readme_port]
        if _listening(port):
            return
        for block in BLOCKS:
            for command in block.commands:
                if command.background and not command.skip and readme_port in _readme_ports(command):
                    self._daemon(command, self.adapt(command.text))
                    return
        pytest.fail(f"a snippet needs a server on {readme_port}, and no README command starts one")

    def stop(self) -> list[str]:
        """Stop the background servers as Ctrl-C does; the ones that did not exit 0."""
        failed = []
        for command, proc, log in self.daemons:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
            try:
                code = proc.wait(timeout=200)  # the fleet gives a worker 150 s to finish its checks
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                code = proc.wait()
            if code not in (0, -signal.SIGINT):
                failed.append(f"README.md:{command.line}: `{command.text}` exited {code}:\n{log.read_text()[-2000:]}")
        for model in self.models:
            model.shutdown()
            model.server_close()
        return failed


def _readme_ports(command: Command) -> set[int]:
    ports = {int(m.group(2)) for m in LOOPBACK_PORT.finditer(_strip_comment(command.text))}
    if SERVE.search(command.text) and "--listen" not in command.text:
        ports.add(int(DEFAULT_LISTEN.split(":")[1]))
    return ports


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clone]:
    c = Clone(tmp_path_factory.mktemp("clone"))
    yield c
    failed = c.stop()
    assert not failed, "\n".join(failed)


# -- the tests -------------------------------------------------------------------

def _param(block: Block) -> object:
    # A slow block's commands each get SLOW_TIMEOUT_S (pytest's own 900 s is for one test of the suite).
    marks = [pytest.mark.slow, pytest.mark.timeout(SLOW_TIMEOUT_S * max(1, len(block.commands)))] if block.slow else []
    if block.lang == "sh" and all(c.skip for c in block.commands):
        marks.append(pytest.mark.skip(reason="; ".join(sorted({c.skip for c in block.commands}))))
    skip = next((why for pattern, why in SKIPPED_SNIPPETS.items() if re.search(pattern, block.text)), "")
    if block.lang == "python" and skip:
        marks.append(pytest.mark.skip(reason=skip))
    return pytest.param(block, id=f"README.md:{block.line}", marks=marks)


@pytest.mark.parametrize("block", [_param(b) for b in BLOCKS])
def test_readme_block_runs_as_pasted(block: Block, clone: Clone) -> None:
    timeout = SLOW_TIMEOUT_S if block.slow else FAST_TIMEOUT_S
    if block.lang == "python":
        for port in {int(m.group(2)) for m in LOOPBACK_PORT.finditer(block.text)}:
            clone.serve(port)
        p = subprocess.run([str(clone.root / ".venv" / "bin" / "python"), "-c", clone.adapt(block.text)],
                           cwd=clone.root, env=clone.env, capture_output=True, text=True, timeout=timeout)
        assert p.returncode == 0, f"README.md:{block.line}: the snippet failed:\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
        return
    prelude = ""  # the block's `export`, `cd` and `NAME=value` lines so far, as one shell would keep them
    for command in block.commands:
        if command.skip:
            continue
        if re.match(r"^(export\s|cd\s|[A-Za-z_][A-Za-z0-9_]*=\S*$)", command.text):
            prelude += command.text + "\n"
        clone.run(command, timeout, prelude)


def test_the_parser_reads_blocks_as_a_shell_would() -> None:
    fence = "`" * 3
    blocks = parse(f"""text
{fence}sh
# a comment
scripts/setup && .venv/bin/sandcheck eval --canonical   # the main job
.venv/bin/sandcheck generate --endpoint http://127.0.0.1:8000/v1 \\
    --n 2 -o s.jsonl
cat > x.txt <<'END'
# not a comment
END
.venv/bin/sandcheck run bad.py   # exits 2
.venv/bin/python -m pytest -q
{fence}
{fence}python
print(1)
{fence}
""")
    assert [b.lang for b in blocks] == ["sh", "python"]
    commands = blocks[0].commands
    assert [c.text for c in commands] == [
        ".venv/bin/sandcheck eval --canonical   # the main job",
        ".venv/bin/sandcheck generate --endpoint http://127.0.0.1:8000/v1      --n 2 -o s.jsonl",
        "cat > x.txt <<'END'\n# not a comment\nEND",
        ".venv/bin/sandcheck run bad.py   # exits 2",
        ".venv/bin/python -m pytest -q"]
    assert [c.expected_exit for c in commands] == [0, 0, 0, 2, 0]
    assert [bool(c.skip) for c in commands] == [False, False, False, False, True]
    assert blocks[0].slow  # --endpoint
    assert _strip_comment(".venv/bin/sandcheck serve --listen 127.0.0.1:50052 &   # the CLI section's") == \
        ".venv/bin/sandcheck serve --listen 127.0.0.1:50052 &"


def test_readme_servers_can_run_side_by_side() -> None:
    # The CLI section's server and the HTTP example's both run while you read: no port twice.
    seen: dict[int, str] = {}
    for block in BLOCKS:
        for command in block.commands:
            if not (command.background and SERVE.search(command.text)):
                continue
            for port in _readme_ports(command):
                assert port not in seen, f"port {port}: README.md:{command.line} and {seen[port]} both listen there"
                seen[port] = f"README.md:{command.line}"


def test_readme_uses_the_venv() -> None:
    # Pasted into a shell without the venv activated: a bare `sandcheck` or `python` is not there.
    for block in BLOCKS:
        for command in block.commands:
            segments = re.split(r"&&|\|\||[;&|`(]|\$\(", _strip_comment(command.text))
            programs = {seg.split()[0].strip("'\"") for seg in segments if seg.split()}
            assert not programs & {"sandcheck", "python", "pip"}, \
                f"README.md:{command.line}: `{command.text}` needs .venv/bin/"


def test_readme_outputs_are_ignored_by_git(clone: Clone) -> None:
    # Run last (module order): what the blocks above wrote into the clone must not show in `git status`.
    written = []
    for folder, dirs, files in os.walk(clone.root):  # not into the linked repository folders
        rel = Path(folder).relative_to(clone.root)
        dirs[:] = [d for d in dirs if not (rel == Path(".") and d in (".cache", ".tmp"))]
        written += [str(rel / f) for f in files if not (Path(folder) / f).is_symlink()
                    and not (REPO / rel / f).exists()]
    if not written:
        pytest.skip("no README command ran that writes a file")
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "--stdin"], input="\n".join(written),
                             capture_output=True, text=True).stdout.split()
    assert sorted(set(written) - set(ignored)) == [], "README outputs git would show as untracked"


def test_readme_output_names_are_ignored_by_git() -> None:
    # Every file a README command names with -o (and the run record and journal beside an eval's
    # results), slow blocks included: none of it may show as untracked after following the README.
    from sandcheck.run_record import meta_path

    names: set[str] = set()
    for block in BLOCKS:
        for command in block.commands:
            text = _strip_comment(command.text)
            for m in re.finditer(r"(?:\s-o|--output)[ =](\S+)", text):
                names.add(m.group(1))
                if re.search(r"\bsandcheck eval\b", text):
                    names |= {str(meta_path(m.group(1))), m.group(1) + ".journal"}
    relative = sorted(n for n in names if not n.startswith("/"))
    assert relative, "the README names no output file"
    ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "--stdin"], input="\n".join(relative),
                             capture_output=True, text=True).stdout.split()
    assert [n for n in relative if n not in ignored] == []
