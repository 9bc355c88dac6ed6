"""A Go build cache with testify and common standard packages compiled, made once per Go version.

A Go test file of HumanEval-X imports testify's assert; compiling it and its
dependencies (go-spew, go-difflib, objx, yaml.v3) from an empty cache takes
about 8 s of CPU per program, where the program itself takes 0.3 s. So the
server compiles a fixed warm-up test once, on the host, from Debian's
sources (never from a request), into a cache directory that compile jails
bind read-only as GOCACHE: go reads what is there, and what it cannot write
it keeps in its temporary directory for that one build.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from .readable_tree import make_readable

# The packages HumanEval-X's and MultiPL-E's Go programs import, testify first.
_WARM_UP = '''package main

import (
    "bufio"
    "bytes"
    "container/heap"
    "crypto/md5"
    "encoding/hex"
    "errors"
    "fmt"
    "math"
    "math/big"
    "math/rand"
    "os"
    "reflect"
    "regexp"
    "sort"
    "strconv"
    "strings"
    "testing"
    "time"
    "unicode"

    "github.com/stretchr/testify/assert"
)

var _ = []interface{}{bufio.NewReader, bytes.Compare, heap.Init, md5.Sum, hex.EncodeToString, errors.New,
    fmt.Sprint, math.Abs, big.NewInt, rand.Intn, os.Exit, reflect.DeepEqual, regexp.MustCompile, sort.Ints,
    strconv.Itoa, strings.Split, time.Now, unicode.IsUpper}

func TestWarmUp(t *testing.T) {
    assert.Equal(t, 1, 1)
}
'''


class GoCacheError(Exception):
    """The cache cannot be made here; the message says why."""


def ensure(cache_root: str, go_version: str, go: str, env: dict[str, str]) -> str:
    """The cache directory for `go_version`, made if missing (a file lock lets
    several server processes share one build). `env`: the compile jail's Go settings."""
    root = Path(cache_root) / f"go-cache-{go_version}"
    done = root / ".sandcheck-done"
    if done.exists():
        return str(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(root.parent, 0o755)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return str(root)
        shutil.rmtree(root, ignore_errors=True)
        with tempfile.TemporaryDirectory() as work:
            Path(work, "main_test.go").write_text(_WARM_UP)
            # Go's config (telemetry's mode: off) in the work directory, not where the jail's is.
            Path(work, "go", "telemetry").mkdir(parents=True)
            Path(work, "go", "telemetry", "mode").write_text("off\n")
            build = subprocess.run([go, "test", "-c", "-o", os.devnull, "main_test.go"], cwd=work,
                                   env={**env, "GOCACHE": str(root), "HOME": work, "XDG_CONFIG_HOME": work,
                                        "PATH": "/usr/bin:/bin"},
                                   capture_output=True, text=True, timeout=900)
        if build.returncode != 0:
            raise GoCacheError(f"go test -c of the warm-up failed: {build.stderr.strip()[-1000:]}")
        make_readable(root)
        done.write_text("")
    return str(root)
