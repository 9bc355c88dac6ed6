"""The HTTP door gives SandboxFusion's verdicts to SandboxFusion's own client and to verl's reward payloads.

SandboxFusion's verdicts are taken from its code (bytedance/SandboxFusion): TypeScript
runs with ``tsx`` (transpiled, never type-checked: ``runners/major.py``), Java with
``java -ea``, and ``sandbox_api.parse_run_status`` makes any non-zero return code
"Failed" and everything else "Success". verl's rules (volcengine/verl,
``utils/reward_score/sandbox_fusion``) score "Success" with stdout equal to the
answer True, other stdout False, and "Failed" -2 (runtime error), -3 (time limit) or
-4 (compile error); anything else is -1, an unknown failure.
"""

from __future__ import annotations

import os
import shutil

import httpx
import pytest
import sandbox_fusion
from sandbox_fusion import RunCodeRequest, RunStatus

from sandbox_server.http_door import CUT_NOTE
from sandcheck import Client

from .conftest import RunningServer
from .test_jail_packages import EXPECTED, PROGRAM, needs_packages

needs_node = pytest.mark.skipif(not os.path.exists("/usr/share/nodejs/typescript"), reason="no node-typescript")
needs_java = pytest.mark.skipif(shutil.which("javac") is None, reason="no JDK")

TS_STDIN = """import * as fs from 'fs';
import path from 'path';
const readline = require('readline');
const input: string = fs.readFileSync(0, 'utf8');
const nums: number[] = input.trim().split(/\\s+/).map(Number);
console.log(nums.reduce((a, b) => a + b, 0), path.basename('/x/y.txt'), typeof readline.createInterface);
process.stdout.write(typeof process.stdin.on + '\\n');
"""
TS_TYPE_ERROR = "const n: number = 'not a number';\nconsole.log(n);\n"
JAVA_ASSERT = """public class Main {
    public static void main(String[] args) {
        int x = Integer.parseInt(args.length > 0 ? args[0] : "1");
        assert x == %d : "x is " + x;
        System.out.println("after the assert");
    }
}
"""


@pytest.fixture(scope="module")
def door() -> str:
    s = RunningServer(http=True)
    yield s
    assert s.stop() == 0


def sdk_run(door: RunningServer, **fields) -> sandbox_fusion.RunCodeResponse:
    """SandboxFusion's client, unchanged: its request model, its POST, its response model."""
    return sandbox_fusion.run_code(RunCodeRequest(**fields), endpoint=door.url, max_attempts=1, client_timeout=120)


def verl_payload(code: str, stdin: str | None, language: str, timeout: int = 10) -> dict:
    """The body verl's `call_sandbox_api` posts (its fields and its defaults)."""
    return {"compile_timeout": timeout, "run_timeout": timeout, "code": code, "stdin": stdin,
            "memory_limit_MB": 1024, "language": language, "files": {}, "fetch_files": []}


def verl_score(resp: dict, expected: str | None) -> bool | int:
    """verl's verdict for one response, by its documented rules (module docstring)."""
    compiled, run = resp.get("compile_result"), resp.get("run_result")
    if resp["status"] == "Failed":
        if compiled and (compiled["status"] in ("Error", "TimeLimitExceeded") or compiled["return_code"] != 0):
            return -4
        if run and run["status"] == "TimeLimitExceeded":
            return -3
        if run and (run["status"] == "Error" or run["return_code"] != 0):
            return -2
        return -1
    if resp["status"] == "Success" and run and run["status"] == "Finished":
        return expected is None or (run["stdout"] or "").rstrip("\n") == expected.rstrip("\n")
    return -1


def verl(door: RunningServer, code: str, stdin: str | None, expected: str | None, language: str) -> tuple[bool | int, dict]:
    r = httpx.post(f"{door.url}/run_code", json=verl_payload(code, stdin, language), timeout=120,
                   headers={"Content-Type": "application/json", "Accept": "application/json"})
    assert r.status_code == 200, r.text
    return verl_score(r.json(), expected), r.json()


# -- SandboxFusion's SDK -----------------------------------------------------------

def test_sdk_python_example(door) -> None:
    resp = sdk_run(door, code='print("Hello, world!")', language="python")
    assert resp.status == RunStatus.Success and resp.run_result.stdout == "Hello, world!\n"
    assert resp.run_result.return_code == 0 and resp.compile_result is None


@needs_node
def test_sdk_typescript_reading_stdin_with_nodes_api(door) -> None:
    """import * as fs, a default import, require and process.stdin: SandboxFusion (tsx) runs it."""
    resp = sdk_run(door, code=TS_STDIN, stdin="1 2 3\n", language="typescript")
    assert resp.status == RunStatus.Success, resp
    assert resp.run_result.stdout == "6 y.txt function\nfunction\n"
    assert resp.compile_result is None  # tsx has no compile step


@needs_node
def test_sdk_typescript_type_errors_run_and_syntax_errors_fail(door) -> None:
    resp = sdk_run(door, code=TS_TYPE_ERROR, language="typescript")
    assert resp.status == RunStatus.Success and resp.run_result.stdout == "not a number\n"
    resp = sdk_run(door, code="let x = ;\n", language="typescript")
    assert resp.status == RunStatus.Failed and resp.compile_result is None
    assert resp.run_result.status == "Finished" and resp.run_result.return_code != 0
    assert "TS1109" in resp.run_result.stderr


@needs_java
def test_sdk_java_assert_that_fails(door) -> None:
    """java -ea: a failing assert ends the program with an AssertionError, as in SandboxFusion."""
    resp = sdk_run(door, code=JAVA_ASSERT % 2, language="java", compile_timeout=30)
    assert resp.status == RunStatus.Failed
    assert resp.compile_result.return_code == 0
    assert resp.run_result.return_code == 1 and "AssertionError: x is 1" in resp.run_result.stderr
    assert "after the assert" not in resp.run_result.stdout
    resp = sdk_run(door, code=JAVA_ASSERT % 1, language="java", compile_timeout=30)
    assert resp.status == RunStatus.Success and resp.run_result.stdout == "after the assert\n"


def test_sdk_nonzero_exit_and_timeout(door) -> None:
    resp = sdk_run(door, code="import sys\nsys.exit(4)", language="python")
    assert resp.status == RunStatus.Failed and resp.run_result.return_code == 4
    resp = sdk_run(door, code="while True:\n    pass", language="python", run_timeout=1)
    assert resp.status == RunStatus.Failed and resp.run_result.status == "TimeLimitExceeded"
    assert resp.run_result.return_code is None


@needs_node
def test_sdk_nodejs_reads_stdin(door) -> None:
    code = "const s = require('fs').readFileSync(0, 'utf8'); console.log(s.trim().toUpperCase());"
    resp = sdk_run(door, code=code, stdin="abc\n", language="nodejs")
    assert resp.status == RunStatus.Success and resp.run_result.stdout == "ABC\n"


@needs_packages
def test_sdk_python_with_the_scientific_stack(door) -> None:
    resp = sdk_run(door, code=PROGRAM, language="python", run_timeout=20)
    assert resp.status == RunStatus.Success and resp.run_result.stdout == EXPECTED


# -- verl's reward payloads ----------------------------------------------------------

@pytest.mark.parametrize("code, stdin, expected, language, score", [
    ("a, b = map(int, input().split())\nprint(a + b)", "2 3\n", "5", "python", True),
    ("a, b = map(int, input().split())\nprint(a - b)", "2 3\n", "5", "python", False),
    ("raise SystemExit(1)", "", "5", "python", -2),
    ("while True:\n    pass", "", "5", "python", -3),
    ("int main() { return nope; }", "", "5", "cpp", -4),
    pytest.param(TS_STDIN, "2 3\n", "5 y.txt function\nfunction", "typescript", True, marks=needs_node),
    pytest.param(TS_TYPE_ERROR, None, "not a number", "typescript", True, marks=needs_node),
    pytest.param(JAVA_ASSERT % 2, "", "after the assert", "java", -2, marks=needs_java),
    pytest.param(JAVA_ASSERT % 1, "", "after the assert", "java", True, marks=needs_java),
])
def test_verl_scores_as_against_sandboxfusion(door, code, stdin, expected, language, score) -> None:
    got, resp = verl(door, code, stdin, expected, language)
    assert got is score or got == score and type(got) is type(score), resp


def test_output_over_the_cap_is_a_wrong_answer_for_verl_not_an_unknown_failure(door) -> None:
    """Exit 0 with more output than the cap: answered at once, cut at the cap with a note
    after it, so verl scores it False; the note keeps even an answer equal to the kept
    bytes from matching."""
    with Client(door.target) as c:
        cap = int(c.info()["default_limits"]["output_bytes"])
    code = f"import sys\nsys.stdout.write('x' * {cap})\nsys.stdout.write('garbage' * 1000)\n"
    got, resp = verl(door, code, "", "x" * cap, "python")
    assert got is False, resp["status"]
    run = resp["run_result"]
    assert resp["status"] == "Success" and run["status"] == "Finished" and run["return_code"] == 0
    assert run["stdout"] == "x" * cap + CUT_NOTE.format(cap=cap)
    assert "OUTPUT_LIMIT" in resp["message"]
    # Over the cap and failing: still "Failed", as any non-zero return code is.
    got, resp = verl(door, f"print('y' * {2 * cap})\nraise SystemExit(3)", "", "y", "python")
    assert got == -2 and resp["run_result"]["return_code"] == 3


@needs_node
def test_grpc_ts_keeps_multipl_es_rule(door) -> None:
    """On gRPC, `ts` is MultiPL-E's: a type error is a compile error; `ts_transpile` is the door's."""
    with Client(door.target, timeout=120) as c:
        checked = c.execute(TS_TYPE_ERROR, language="ts")
        transpiled = c.execute(TS_TYPE_ERROR, language="ts_transpile")
    assert checked.status == "COMPILE_ERROR" and b"TS2322" in checked.compile.stdout + checked.compile.stderr
    assert transpiled.status == "OK" and transpiled.stdout == b"not a number\n"
