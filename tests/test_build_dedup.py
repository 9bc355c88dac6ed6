"""Identical compiles that arrive at once are done once in a server process:
the others wait for it and use its build (or its compile error)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandcheck import Client, Program

from .conftest import serving

ECHO_CPP = '#include <iostream>\n#include <string>\nint main() { std::string s; std::cin >> s; std::cout << "dedup " << s << "\\n"; }\n'
BROKEN_CPP = "int main() { return undefined_in_dedup_test; }\n"
COPIES = 8


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with serving("--concurrency", "4", timeout=600) as c:
        yield c


def batch(client: Client, source: str) -> list:
    # Distinct stdin: each is its own request (no result cache or request dedup), one build.
    programs = [Program(source, stdin=f"n{i}\n".encode(), id=str(i), language="cpp") for i in range(COPIES)]
    return sorted(client.execute_batch(programs), key=lambda r: int(r.id))


def test_identical_compiles_at_once_compile_once(client: Client) -> None:
    results = batch(client, ECHO_CPP)
    assert [r.status for r in results] == ["OK"] * COPIES
    assert [r.stdout for r in results] == [f"dedup n{i}\n".encode() for i in range(COPIES)]
    assert [r.compile.cached for r in results].count(False) == 1


def test_a_compile_error_is_shared_with_those_who_waited(client: Client) -> None:
    results = batch(client, BROKEN_CPP)
    assert [r.status for r in results] == ["COMPILE_ERROR"] * COPIES
    assert all(b"undefined_in_dedup_test" in r.compile.stderr for r in results)
    # A failed compile is not kept: those that waited share it, a request that
    # starts after it ended compiles again (4 slots: two rounds, not eight compiles).
    assert 1 <= [r.compile.cached for r in results].count(False) <= 3
