"""Judged checks, as the server runs them: a Python check whose files hold
``.judge.py`` runs that text in a judge process beside the program.

The judge gets the check's stdin and report channel (fds 0 and 3) and a
socket to the program (fd 4); the program gets /dev/null and the socket's
other end on fd 3, and finds the judge's module run as ``__judge__``. The
judge's return value is the check's exit status; None: the program's.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandcheck import Client, InvalidRequest, Limits, Status

from .conftest import serving

JUDGE = b"""\
import os

def judge():
    stdin = os.read(0, 100)
    with os.fdopen(os.dup(4), "rb") as channel:
        said = channel.readline().strip()
        rest = channel.read()  # to the end: the program has exited
    os.write(3, b"judge read " + stdin + b"; the program said " + said)
    return None if stdin == b"mirror" else int(stdin)
"""

PROGRAM = """\
import os, sys
seen = "tmp=%s stdin=%r judge=%s" % (sorted(os.listdir("/tmp")), sys.stdin.read(), "__judge__" in sys.modules)
os.write(3, seen.encode() + b"\\n")
sys.exit(3)
"""


@pytest.fixture(scope="module")
def cold_client() -> Iterator[Client]:
    with serving("--jail-mode", "cold") as c:
        yield c


@pytest.fixture(params=["warm", "cold"])
def any_client(request) -> Client:
    return request.getfixturevalue("client" if request.param == "warm" else "cold_client")


def run(client: Client, stdin: bytes, judge: bytes = JUDGE, **files: bytes):
    return client.execute(PROGRAM, stdin=stdin, files={".judge.py": judge, **files}, limits=Limits.for_timeout(3.0))


def test_the_judge_reads_stdin_and_reports_the_program_sees_neither(any_client: Client) -> None:
    result = run(any_client, b"7", **{"data.txt": b"x"})
    assert result.report == b"judge read 7; the program said tmp=['data.txt'] stdin='' judge=True", result
    assert (result.status, result.exit_code) == (Status.NONZERO_EXIT, 7)


def test_a_judge_that_returns_none_ends_the_check_as_the_program_ended(any_client: Client) -> None:
    result = run(any_client, b"mirror")
    assert result.report.startswith(b"judge read mirror;"), result
    assert (result.status, result.exit_code) == (Status.NONZERO_EXIT, 3)
    assert run(any_client, b"0").status == Status.OK


def test_a_judge_that_raises_fails_the_check_with_its_traceback_from_memory(any_client: Client) -> None:
    result = run(any_client, b"not a number")
    assert (result.status, result.exit_code) == (Status.NONZERO_EXIT, 1)
    assert b'File "<judge>", line 9, in judge' in result.stderr, result.stderr
    assert b"return None if stdin" in result.stderr and b"ValueError" in result.stderr


def test_a_judge_that_does_not_compile_fails_every_check_it_judges(any_client: Client) -> None:
    for _ in range(2):
        result = run(any_client, b"0", judge=b"def judge(:\n")
        assert result.status == Status.NONZERO_EXIT and b"SyntaxError" in result.stderr, result


def test_the_program_ends_with_the_judges_answer_even_if_the_judge_leaves_it_running(any_client: Client) -> None:
    # The judge answers at once and kills nothing; the program (and a child of
    # it) would sleep past the wall limit. The check ends with the judge's
    # answer, not with a timeout, and the next check runs as usual.
    sleeper = "import os, time\nos.fork()\ntime.sleep(60)\n"
    result = any_client.execute(sleeper, files={".judge.py": b"def judge():\n    return 5\n"},
                                limits=Limits.for_timeout(3.0))
    assert (result.status, result.exit_code) == (Status.NONZERO_EXIT, 5), result
    assert run(any_client, b"0").status == Status.OK


def test_only_python_checks_take_a_judge(client: Client) -> None:
    with pytest.raises(InvalidRequest, match="'.judge.py' names a judge, which only Python checks take"):
        client.execute("echo hi", language="bash", files={".judge.py": JUDGE})
