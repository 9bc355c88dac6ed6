"""Writes the format samples in this folder: rows written for sandcheck's tests, each in its
publisher's exact schema (field names, types and encodings), not rows taken from the data sets.

Every format holds the same stdin/stdout problem ("sum": n, then n integers; print their sum), so
one set of solutions (../stdio_solutions) runs against all of them, and LiveCodeBench, APPS and
TACO also hold a function-call problem ("add two numbers"). Run: python tests/data/formats/make_rows.py
"""

import base64
import json
import pickle
import zlib
from pathlib import Path

HERE = Path(__file__).parent
SUM = [("3\n1 2 3\n", "6\n"), ("2\n5 -5\n", "0\n"), ("4\n1 1 1 1\n", "4\n"), ("5\n1 2 3 4 5\n", "15\n")]
SUM_STATEMENT = "Given n and then n integers, print their sum."
ADD = [((2, 3), 5), ((-1, 1), 0), ((10, 20), 30)]
ADD_STATEMENT = "Return the sum of two integers a and b."


def write(name: str, rows: list[dict]) -> None:
    (HERE / name).write_text("".join(json.dumps(r) + "\n" for r in rows))


def lcb_tests(pairs: list[tuple[str, str]], testtype: str) -> str:
    return json.dumps([{"input": i, "output": o, "testtype": testtype} for i, o in pairs])


def lcb_private(text: str) -> str:
    """As the later LiveCodeBench releases ship private tests: base64 of zlib of a pickled str."""
    return base64.b64encode(zlib.compress(pickle.dumps(text))).decode()


def main() -> None:
    write("sandcheck_stdio.jsonl", [{"task_id": "sum", "tests": [{"input": i, "output": o} for i, o in SUM],
                                     "time_limit_s": 1.0, "memory_mb": 256}])
    lcb_common = {"platform": "atcoder", "contest_id": "abc999", "contest_date": "2024-05-04T00:00:00",
                  "difficulty": "easy"}
    add_calls = [(f"{a}\n{b}", json.dumps(r)) for (a, b), r in ADD]
    write("livecodebench.jsonl", [
        {"question_title": "Sum", "question_content": SUM_STATEMENT, **lcb_common, "question_id": "abc999_a",
         "starter_code": "", "public_test_cases": lcb_tests(SUM[:2], "stdin"),
         "private_test_cases": lcb_private(lcb_tests(SUM[2:], "stdin")), "metadata": "{}"},
        {"question_title": "Add Two", "question_content": ADD_STATEMENT, "platform": "leetcode",
         "question_id": "9001", "contest_id": "weekly-contest-999", "contest_date": "2024-05-05T00:00:00",
         "starter_code": "class Solution:\n    def addTwo(self, a: int, b: int) -> int:\n        ",
         "difficulty": "easy", "public_test_cases": lcb_tests(add_calls[:1], "functional"),
         "private_test_cases": lcb_private(lcb_tests(add_calls[1:], "functional")),
         "metadata": json.dumps({"func_name": "addTwo"})},
    ])
    sum_io = json.dumps({"inputs": [i for i, _ in SUM], "outputs": [o for _, o in SUM]})
    add_io = json.dumps({"inputs": [list(args) for args, _ in ADD], "outputs": [r for _, r in ADD],
                         "fn_name": "add_two"})
    write("apps.jsonl", [
        {"problem_id": 4001, "question": SUM_STATEMENT, "solutions": json.dumps(["print(sum(map(int, open(0).read().split()[1:])))"]),
         "input_output": sum_io, "difficulty": "introductory", "url": "https://example.invalid/sum", "starter_code": ""},
        {"problem_id": 4002, "question": ADD_STATEMENT, "solutions": json.dumps(["def add_two(a, b):\n    return a + b\n"]),
         "input_output": add_io, "difficulty": "introductory", "url": "https://example.invalid/add",
         "starter_code": "def add_two(a, b):\n\t"},
    ])
    taco_common = {"difficulty": "EASY", "raw_tags": "['Mathematics']", "source": "codeforces", "tags": "['Mathematics']",
                   "skill_types": "[]", "Expected Auxiliary Space": None, "date": "2024-05-04", "picture_num": "0",
                   "Expected Time Complexity": None}
    write("taco.jsonl", [
        {"question": SUM_STATEMENT, "solutions": json.dumps(["print(sum(map(int, open(0).read().split()[1:])))"]),
         "starter_code": "", "input_output": sum_io, "name": "Sum", "url": "https://example.invalid/sum",
         "time_limit": "1 seconds", "memory_limit": "256 megabytes", **taco_common},
        {"question": ADD_STATEMENT, "solutions": json.dumps(["def add_two(a, b):\n    return a + b\n"]),
         "starter_code": "def add_two(a, b):\n\t", "input_output": add_io, "name": "Add two",
         "url": "https://example.invalid/add", "time_limit": None, "memory_limit": None, **taco_common},
    ])

    def cc_tests(pairs: list[tuple[str, str]]) -> dict:
        return {"input": [i for i, _ in pairs], "output": [o for _, o in pairs]}

    write("code_contests_hf.jsonl", [{
        "name": "9999_A. Sum", "description": SUM_STATEMENT, "public_tests": cc_tests(SUM[:1]),
        "private_tests": cc_tests(SUM[1:3]), "generated_tests": cc_tests(SUM[3:]), "source": 2, "difficulty": 7,
        "solutions": {"language": [3], "solution": ["print(sum(map(int, open(0).read().split()[1:])))"]},
        "incorrect_solutions": {"language": [], "solution": []}, "cf_contest_id": 9999, "cf_index": "A",
        "cf_points": 500.0, "cf_rating": 800, "cf_tags": ["math"], "is_description_translated": False,
        "untranslated_description": "", "time_limit": {"seconds": 1, "nanos": 0}, "memory_limit_bytes": 256000000,
        "input_file": "", "output_file": "",
    }])
    write("code_contests_sandbox_fusion.jsonl", [{
        "content": SUM_STATEMENT, "id": 0,
        "labels": json.dumps({"difficulty": "A", "name": "9999_A. Sum", "source": "CODEFORCES"}),
        "test": json.dumps([{"input": {"stdin": i}, "output": {"stdout": o}} for i, o in SUM]),
    }])


def write_samples() -> None:
    """For the README's commands: the "sum" problem of each format, right in Python and C++, wrong in Java."""
    solutions = HERE.parent / "stdio_solutions"
    tasks = {"sandcheck_stdio": "sum", "livecodebench": "abc999_a", "apps": "4001", "taco": "0",
             "code_contests_hf": "9999_A. Sum", "code_contests_sandbox_fusion": "0"}
    for name, task in tasks.items():
        write(f"{name}_samples.jsonl", [
            {"task_id": task, "solution": (solutions / "right.py").read_text()},
            {"task_id": task, "solution": (solutions / "right.cpp").read_text(), "language": "cpp"},
            {"task_id": task, "solution": (solutions / "wrong.java").read_text(), "language": "java"},
        ])


if __name__ == "__main__":
    main()
    write_samples()
