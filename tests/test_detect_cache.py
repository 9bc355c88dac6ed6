"""Toolchain detection remembered on disk: reused while the host is the same, never believed when others could write it."""

from __future__ import annotations

import json
import os

from sandbox_server.jail import detect_cache, toolchains


def test_second_detect_is_remembered_and_equal(tmp_path) -> None:
    root = str(tmp_path / "cache")
    # js and bash: no Go or Rust cache to build in a fresh cache directory
    first = toolchains.detect(("js", "bash"), cache_root=root)
    files = list((tmp_path / "cache").glob("toolchains-*.json"))
    assert len(files) == 1
    again = toolchains.detect(("js", "bash"), cache_root=root)
    assert again == first


def test_changed_binary_or_selection_is_a_new_key(tmp_path) -> None:
    fake = tmp_path / "g++"
    fake.write_text("x")
    before = detect_cache.key([str(fake)], None, "/c")
    assert detect_cache.key([str(fake)], ("cpp",), "/c") != before
    os.utime(fake, ns=(1, 1))
    assert detect_cache.key([str(fake)], None, "/c") != before


def _saved(tmp_path, answer: dict) -> str:
    root = tmp_path / "cache"
    detect_cache.save(str(root), "k", answer)
    return str(root)


def test_a_vanished_bind_is_a_miss(tmp_path) -> None:
    there = tmp_path / "lib"
    there.mkdir()
    lang = {"version": "1", "compile_binds": [str(there)], "run_binds": [], "compile_extra": [], "compile_extra_env": []}
    root = _saved(tmp_path, {"languages": {"cpp": lang}, "absent": {}})
    assert detect_cache.load(root, "k")["languages"]["cpp"]["version"] == "1"
    there.rmdir()
    assert detect_cache.load(root, "k") is None


def test_a_file_others_can_write_is_not_believed(tmp_path) -> None:
    root = _saved(tmp_path, {"languages": {}, "absent": {}})
    path = tmp_path / "cache" / "toolchains-k.json"
    assert detect_cache.load(root, "k") == {"languages": {}, "absent": {}}
    os.chmod(path, 0o666)
    assert detect_cache.load(root, "k") is None
    os.chmod(path, 0o644)
    os.chmod(tmp_path / "cache", 0o777)
    assert detect_cache.load(root, "k") is None
    assert json.loads(path.read_text()) == {"languages": {}, "absent": {}}
