"""HumanEval-X and MultiPL-E without a server: loading, program assembly, verdicts, CLI input errors.

The programs are checked as text against what CodeGeeX's and MultiPL-E's
harnesses build; `test_multilang_e2e.py` runs them in the jail.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sandcheck_api.status import Status
from sandcheck_api.v1 import sandbox_pb2 as pb

from sandcheck import CompileResult, ExecutionResult
from sandcheck.judges.function import verdict
from sandcheck.client import Program, _BaseClient
from sandcheck.datasets import DATASETS, load_dataset, multipl_e
from sandcheck.generate import parse_choices
from sandcheck.judges.exit_status import exit_verdict

SANDCHECK = str(Path(sys.executable).parent / "sandcheck")

HUMANEVAL_X = [n for n in DATASETS if n.startswith("humaneval-x-")]
MULTIPL_E = [n for n in DATASETS if n.startswith("multipl-e-")]


@pytest.mark.parametrize("name, count, first, language", [
    ("humaneval-x-cpp", 164, "CPP/0", "cpp"), ("humaneval-x-go", 164, "Go/0", "go_test"),
    ("humaneval-x-java", 164, "Java/0", "java"), ("humaneval-x-js", 164, "JavaScript/0", "js"),
    ("humaneval-x-python", 164, "Python/0", "python"), ("humaneval-x-rust", 164, "Rust/0", "rust_test"),
    ("multipl-e-cpp", 161, "HumanEval_0_has_close_elements", "cpp"),
    ("multipl-e-go", 154, "HumanEval_0_has_close_elements", "go_test"),
    ("multipl-e-java", 158, "HumanEval_0_has_close_elements", "java"),
    ("multipl-e-js", 161, "HumanEval_0_has_close_elements", "js"),
    ("multipl-e-rs", 156, "HumanEval_0_has_close_elements", "rust"),
    ("multipl-e-sh", 158, "HumanEval_0_has_close_elements", "bash"),
    ("multipl-e-ts", 159, "HumanEval_0_has_close_elements", "ts"),
])
def test_datasets_load_with_their_server_language(name: str, count: int, first: str, language: str) -> None:
    ds = load_dataset(name)
    assert len(ds.problems) == count and next(iter(ds.problems)) == first
    problem = ds.problems[first]
    assert ds.build(problem, "", False).language == language
    code = problem.get("canonical_solution") or ""
    assert ds.build(problem, code, False).program.startswith(("#include", "package", "import", "/*", "//", "\n",
                                                               "#!", "use", "declare", "from", "function"))


def test_humaneval_x_cpp_adds_codegeex_includes_the_prompt_lacks() -> None:
    ds = load_dataset("humaneval-x-cpp")
    p = ds.problems["CPP/0"]
    program = ds.build(p, p["canonical_solution"]).program
    head = program[:program.index(p["prompt"])]
    # The prompt has stdio.h, vector and math.h; the other six come first, once each.
    assert [line for line in head.splitlines() if line] == [
        "#include<stdlib.h>", "#include<algorithm>", "#include<string>", "#include<climits>", "#include<cstring>",
        "#include<iostream>"]
    assert program.endswith(p["canonical_solution"] + "\n" + p["test"])


def test_humaneval_x_go_is_a_test_file_with_the_imports_the_completion_uses() -> None:
    ds = load_dataset("humaneval-x-go")
    p = ds.problems["Go/0"]  # the prompt imports math; the canonical solution calls math.Abs
    program = ds.build(p, p["canonical_solution"]).program
    assert program.startswith(p["test_setup"] + "\nimport (\n    \"math\"\n)\n")
    assert p["import"] not in program.split(p["test_setup"], 1)[1].split("import (\n    \"math\"\n)\n", 1)[1]
    assert program.rstrip().endswith(p["test"].rstrip())
    plain = ds.build(p, "    return false\n}\n").program  # uses no package: no import block added
    assert "\"math\"" not in plain


def test_humaneval_x_rust_is_codegeex_program_built_as_a_test() -> None:
    ds = load_dataset("humaneval-x-rust")
    p = ds.problems["Rust/0"]
    assert p["prompt"].startswith(p["declaration"])  # what a model continues: signature, then the doc comment
    source = ds.build(p, p["canonical_solution"])
    assert source.language == "rust_test"  # rustc --test runs the #[cfg(test)] module, as cargo test does
    assert source.program == "\nfn main(){ \n } \n" + p["declaration"] + p["prompt"][len(p["declaration"]):] \
        + p["canonical_solution"] + p["test"]


def test_humaneval_x_python_runs_in_the_nonce_harness_without_numpy() -> None:
    ds = load_dataset("humaneval-x-python")
    p = ds.problems["Python/0"]
    source = ds.build(p, p["canonical_solution"] + "\nprint('after the function')\n")
    assert source.nonce_harness and "numpy" not in source.program
    assert "after the function" not in source.program  # CodeGeeX cuts at the first unindented line
    assert "from typing import *" in source.program and source.program.rstrip().endswith("check(has_close_elements)")


def test_humaneval_x_js_must_print_nothing() -> None:
    ds = load_dataset("humaneval-x-js")
    p = ds.problems["JavaScript/0"]
    assert ds.build(p, p["canonical_solution"]).quiet
    ok = ExecutionResult(id="0", status=Status.OK, exit_code=0)
    assert exit_verdict(ok, quiet=True) == (True, "passed")
    printed = ExecutionResult(id="0", status=Status.OK, exit_code=0, stderr=b"Assertion failed\n")
    assert exit_verdict(printed, quiet=True) == (False, "failed: printed output: Assertion failed")


def test_multipl_e_completion_program_is_prompt_completion_tests() -> None:
    ds = load_dataset("multipl-e-cpp")
    p = ds.problems["HumanEval_0_has_close_elements"]
    assert ds.build(p, "    return true;\n").program == p["prompt"] + "    return true;\n" + "\n" + p["tests"]


def test_multipl_e_whole_program_keeps_its_functions_and_loses_its_main() -> None:
    ds = load_dataset("multipl-e-rs")
    p = ds.problems["HumanEval_0_has_close_elements"]
    code = multipl_e.solution_code(p["gpt_solution"])
    assert not code.startswith("```") and "```" not in code and "fn main()" in code
    program = ds.build(p, code, True).program
    # The answer's own main (example prints) is gone; the tests' main runs, without their leading `}`.
    assert program.count("fn main()") == 1 and "println!" not in program
    assert program == code[:code.index("fn main()")].rstrip() + "\n\n" + p["tests"].split("\n", 1)[1]


def test_whole_programs_keep_helpers_defined_before_the_function() -> None:
    from sandcheck.datasets.whole_programs import join

    cpp = ("bool is_prime(long n) {\n    for (long i = 2; i * i <= n; i++) { if (n % i == 0) return false; }\n"
           "    return n > 1;\n}\nlong f(long n) {\n    const char *s = \"}\"; char c = '}';  // }\n"
           "    return is_prime(n) ? 1 : 0;\n}\nint main() {\n    std::cout << f(3) << \"{\";\n}\n")
    tests = "}\nint main() {\n    auto candidate = f;\n    assert(candidate(3) == 1);\n}\n"
    program = join("cpp", "#include<assert.h>\n#include<bits/stdc++.h>\n// doc\nlong f(long n) {\n", cpp, tests, ["\n}"])
    assert program.startswith("#include<assert.h>\n#include<bits/stdc++.h>\nbool is_prime(long n) {")
    assert "std::cout" not in program and program.count("int main()") == 1
    assert program.endswith("    return is_prime(n) ? 1 : 0;\n}\n\nint main() {\n    auto candidate = f;\n"
                            "    assert(candidate(3) == 1);\n}\n")
    java = ("import java.util.*;\nclass Problem {\n    static boolean helper(long x) { return x > 0; }\n"
            "    public static boolean f(long x) {\n        return helper(x);\n    }\n"
            "    public static void main(String[] args) {\n        System.out.println(f(1));\n    }\n}\n"
            "class Other {}\n")
    jtests = "    }\n    public static void main(String[] args) {\n    assert(f(1l) == (true));\n    }\n\n}\n"
    program = join("java", "import java.math.*;\nclass Problem {\n", java, jtests, ["\n    }\n"])
    assert program == ("import java.math.*;\nimport java.util.*;\nclass Problem {\n"
                       "    static boolean helper(long x) { return x > 0; }\n    public static boolean f(long x) {\n"
                       "        return helper(x);\n    }\n    public static void main(String[] args) {\n"
                       "    assert(f(1l) == (true));\n    }\n\n}\n\nclass Other {}\n")
    # A Java answer without its class: cut at the first stop, as SandboxFusion does.
    assert join("java", "", "    public static boolean f(long x) {\n        return true;\n    }\n", jtests,
                ["\n    }\n"]) == "    public static boolean f(long x) {\n        return true;" + "\n" + jtests


def test_solution_code_takes_the_first_fenced_block_after_any_preamble() -> None:
    answer = "Sure, here it is:\n\n```go\npackage x\n\nfunc F() int {\n\treturn 1\n}\n```\n\nAnd a demo:\n```go\nx\n```"
    assert multipl_e.solution_code(answer) == "package x\n\nfunc F() int {\n\treturn 1\n}"
    assert multipl_e.solution_code("```sh\necho unterminated\n") == "echo unterminated\n"
    assert multipl_e.solution_code("no block at all") == "no block at all"


def test_multipl_e_go_solution_keeps_one_package_and_the_imports_in_use() -> None:
    ds = load_dataset("multipl-e-go")
    p = ds.problems["HumanEval_0_has_close_elements"]
    code = multipl_e.solution_code(p["gpt_solution"])
    assert "func TestHasCloseElements" in code and '"sort"' in code
    program = ds.build(p, code, True).program
    assert len(re.findall(r"^package ", program, re.MULTILINE)) == 1
    assert program.startswith("package has_close_elements_test\n")
    # The answer's own test is not the dataset's: go test does not run it (the name is no test's).
    assert "func TestHasCloseElements" not in program and "func ownTestHasCloseElements(" in program
    assert program.count("func TestHas_Close_Elements") == 1
    imports = re.search(r"import \((.*?)\)", program, re.DOTALL).group(1).split()
    assert sorted(imports) == ['"fmt"', '"sort"', '"testing"']


def test_multipl_e_java_runs_problem_with_asserts_that_run_without_ea() -> None:
    ds = load_dataset("multipl-e-java")
    p = ds.problems["HumanEval_0_has_close_elements"]
    for program in (ds.build(p, "        return true;\n").program,
                    ds.build(p, multipl_e.solution_code(p["gpt_solution"]), True).program):
        assert "class Problem {" in program and "class Main" not in program  # java -ea Problem, as there
        assert "assert(" not in program and "org.javatuples" not in program  # no tuple class used
        assert "    if (!(hasCloseElements((new ArrayList<Float>(Arrays.asList((float)1.0f, (float)2.0f, " \
               "(float)3.9f, (float)4.0f, (float)5.0f, (float)2.2f))), (0.3f)) == (true))) " \
               "throw new AssertionError();\n" in program
    uses_tuples = next(t for t, q in ds.problems.items() if "Pair<" in q["prompt"])
    assert "import org.javatuples.*;" in ds.build(ds.problems[uses_tuples], "").program
    assert sum("throw new AssertionError();" in line for p in ds.problems.values()
               for line in ds.build(p, "").program.splitlines()) == 1102  # every test line, none left as assert


def test_gpt_solutions_are_one_whole_program_per_task() -> None:
    for name in MULTIPL_E:
        ds = load_dataset(name)
        rows = multipl_e.gpt_solutions(ds.problems)
        assert [r["task_id"] for r in rows] == list(ds.problems)
        assert all(set(r) == {"task_id", "solution"} and "```" not in r["solution"] for r in rows)


def test_dataset_stops_for_generate() -> None:
    assert load_dataset("multipl-e-js").stops() == (("\nfunction ", "\n/*", "\n//", "\nconsole.log"), "")
    assert load_dataset("humaneval-x-cpp").stops() == (("\n}",), "\n}\n")
    assert load_dataset("humaneval-x-java").stops() == (("\n    }\n",), "\n    }\n}\n")
    # A completion a stop ended gets its closing brace back; one cut by max_tokens does not.
    body = {"choices": [{"index": 0, "text": "  return 1;\n}\nint main(){}", "finish_reason": "length"},
                        {"index": 1, "text": "  return 2;", "finish_reason": "stop"},
                        {"index": 2, "text": "  return 3;", "finish_reason": "length"}]}
    got = [c.completion for c in parse_choices(body, chat=False, stops=("\n}",), close="\n}\n")]
    assert got == ["  return 1;\n}\n", "  return 2;\n}\n", "  return 3;"]


def _compile_error(stderr: bytes, status: Status = Status.NONZERO_EXIT) -> ExecutionResult:
    return ExecutionResult(id="0", status=Status.COMPILE_ERROR,
                           compile=CompileResult(status=status, exit_code=1, stderr=stderr))


def test_compile_error_verdict_names_the_first_lines_of_the_compiler_message() -> None:
    message = b"a.cpp:3:5: error: 'x' was not declared\n" + b"".join(b"note %d\n" % i for i in range(20))
    passed, text = exit_verdict(_compile_error(message))
    assert not passed and text.startswith("failed: compile error: a.cpp:3:5: error: 'x' was not declared\nnote 0")
    assert text.count("\n") == 4  # the first five lines
    # Warnings before the first error are skipped (rustc lists unused imports first).
    rustc = b"warning: unused import: `x`\n --> main.rs:1:5\n\nerror[E0061]: wrong number of arguments\n --> main.rs:9:1\n"
    assert exit_verdict(_compile_error(rustc))[1] == (
        "failed: compile error: error[E0061]: wrong number of arguments\n --> main.rs:9:1")
    assert exit_verdict(_compile_error(b"", Status.TIMEOUT)) == (
        False, "failed: compile error: the compiler ended with TIMEOUT")
    # The nonce judge says the same for a compile error.
    assert verdict(_compile_error(message), "n0nce")[1].startswith("failed: compile error: a.cpp:3:5")


@pytest.mark.parametrize("result, expected", [
    (ExecutionResult(id="0", status=Status.OK, exit_code=0), (True, "passed")),
    (ExecutionResult(id="0", status=Status.NONZERO_EXIT, exit_code=1, stderr=b"Assertion `x' failed.\n"),
     (False, "failed: exit status 1: Assertion `x' failed.")),
    (ExecutionResult(id="0", status=Status.TIMEOUT, timeout_kind="CPU"), (False, "timed out")),
    (ExecutionResult(id="0", status=Status.SIGNALED, signal=6), (False, "failed: killed by signal 6")),
    (ExecutionResult(id="0", status=Status.SIGNALED, signal=6, stderr=b"main: main.cpp:9: int main(): Assertion "
                     b"`f(1) == 2' failed.\n"),
     (False, "failed: killed by signal 6: main: main.cpp:9: int main(): Assertion `f(1) == 2' failed.")),
    (ExecutionResult(id="0", status=Status.OUTPUT_LIMIT, exit_code=0), (False, "failed: output limit exceeded")),
    (ExecutionResult(id="0", status=Status.MEMORY_LIMIT), (False, "failed: memory limit exceeded")),
])
def test_exit_verdict_passes_only_a_clean_exit_0(result: ExecutionResult, expected: tuple[bool, str]) -> None:
    assert exit_verdict(result) == expected


def test_client_carries_language_files_compile_limits_and_the_compile_result() -> None:
    from sandcheck import Limits

    req = _BaseClient._request(Program("int main(){}", language="cpp", files={"data.txt": b"1 2"},
                                       compile_limits=Limits(cpu_time_ms=9000)))
    assert req.language == "cpp" and dict(req.files) == {"data.txt": b"1 2"}
    assert req.compile_limits.cpu_time_ms == 9000
    assert not _BaseClient._request(Program("print(1)")).HasField("compile_limits")
    resp = pb.ExecuteResponse(id="1", status=pb.COMPILE_ERROR, runtime=pb.Runtime(compiler="/usr/bin/g++",
                                                                                    version="12.2.0"),
                              compile=pb.CompileResult(status=pb.NONZERO_EXIT, exit_code=1, stderr=b"error: x",
                                                       cpu_time_ms=300, cached=True))
    result = _BaseClient._result(resp)
    assert result.status == Status.COMPILE_ERROR and result.runtime == "/usr/bin/g++ 12.2.0"
    assert result.compile.message == "error: x" and result.compile.cached
    assert result.to_json()["compile"]["stderr"] == "error: x"
    assert _BaseClient._result(pb.ExecuteResponse(id="2", status=pb.OK)).compile is None


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SANDCHECK, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["eval", "--canonical", "--dataset", "multipl-e-cpp"],
     "MultiPL-E has no canonical solutions; --gpt-solutions evaluates the GPT answers it ships"),
    (["eval", "--gpt-solutions", "--dataset", "humaneval-x-cpp"], "--gpt-solutions needs a MultiPL-E set (--dataset multipl-e-LANG)"),
    (["eval", "--gpt-solutions", "--canonical", "--dataset", "multipl-e-cpp"], "--gpt-solutions takes no samples file and no --canonical"),
])
def test_eval_input_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    p = _cli(*args)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip() == f"sandcheck eval: error: {message}"


def test_run_refuses_a_binary_file_as_other_language_source(tmp_path: Path) -> None:
    binary = tmp_path / "a.cpp"
    binary.write_bytes(b"\x7fELF\0\0")
    p = _cli("run", str(binary))
    assert p.returncode == 2
    assert p.stderr.strip() == f"sandcheck run: error: {binary}: not cpp source (a binary file: it holds NUL bytes)"
    latin1 = tmp_path / "b.rs"
    latin1.write_bytes(b"fn main() { let s = \"\xe9\"; }")
    p = _cli("run", str(latin1))
    assert p.returncode == 2 and p.stderr.strip() == f"sandcheck run: error: {latin1}: not rust source (not valid UTF-8)"


def test_generate_with_a_dataset_sends_its_stops_and_puts_back_the_closing_brace(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from sandcheck.cli import main

    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append(body)
            # The endpoint stopped at the function's end (the stop is not in the text).
            data = json.dumps({"choices": [{"index": 0, "text": "    return true;", "finish_reason": "stop"}]})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        for name, task, stop, completion in [
            ("multipl-e-cpp", "HumanEval_0_has_close_elements", ["\n}"], "    return true;"),
            ("humaneval-x-cpp", "CPP/0", ["\n}"], "    return true;\n}\n"),
            ("humaneval-x-java", "Java/0", ["\n    }\n"], "    return true;\n    }\n}\n"),
        ]:
            out = tmp_path / f"{name}.jsonl"
            code = main(["generate", "--endpoint", endpoint, "--model", "m", "--n", "1", "--dataset", name,
                         "--task-ids", task, "--no-logprobs", "--no-progress", "-o", str(out)])
            assert code == 0
            assert received[-1]["stop"] == stop and received[-1]["prompt"] == load_dataset(name).problems[task]["prompt"]
            row = json.loads(out.read_text())
            assert row["completion"] == completion and row["stop"] == stop
    finally:
        server.shutdown()
        server.server_close()
