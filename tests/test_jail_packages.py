"""Third-party packages in the jail (scripts/setup's python3.X-packages), warm, cold,
preloaded and through the HTTP door; GetInfo lists them; bad configurations refuse to start."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from sandbox_server import settings
from sandbox_server.jail.packages import MANIFEST, PackageSet, PackagesError, default_dir
from sandbox_server.jail.runtime import Runtime
from sandcheck import Client, Limits

from .conftest import JAIL_PYTHON, REPO, RunningServer, free_port

PACKAGES_DIR = default_dir("/var/cache/sandcheck", Runtime.python(JAIL_PYTHON).version) if JAIL_PYTHON else ""
needs_packages = pytest.mark.skipif(not PACKAGES_DIR or not os.path.isdir(PACKAGES_DIR),
                                    reason="the jail's packages are not installed (scripts/setup without "
                                           "SANDCHECK_SETUP_JAIL_PACKAGES=none)")

# What generated code imports, each used for real, one line of output.
PROGRAM = """
import numpy as np, pandas as pd, scipy.optimize, scipy.stats, sympy, networkx as nx, regex
from sortedcontainers import SortedList
x = sympy.symbols("x")
root = scipy.optimize.brentq(lambda v: v * v - 2, 0, 2)
g = nx.path_graph(4)
print(int(np.arange(10).sum()), int(pd.DataFrame({"a": [1, 2, 3]})["a"].sum()), round(root, 6),
      sympy.factor(x**2 - 1), nx.shortest_path_length(g, 0, 3), list(SortedList([3, 1, 2])),
      regex.findall(r"\\p{Lu}", "aBcD"), round(float(np.linalg.inv(np.array([[2.0, 0], [0, 4]]))[1, 1]), 2))
"""
EXPECTED = "45 6 1.414214 (x - 1)*(x + 1) 3 [1, 2, 3] ['B', 'D'] 0.25\n"


def pinned() -> dict[str, str]:
    """name -> version of every pin in the shipped requirements file."""
    pins = {}
    for line in (REPO / "deploy" / "jail-requirements.txt").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s#]+)", line)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


@pytest.fixture(scope="module")
def warm_door() -> RunningServer:
    s = RunningServer(http=True)
    yield s
    assert s.stop() == 0


@needs_packages
def test_the_scientific_stack_runs_warm(warm_door: RunningServer) -> None:
    with Client(warm_door.target, timeout=120) as c:
        r = c.execute(PROGRAM, limits=Limits(cpu_time_ms=20_000, memory_bytes=512 * 2**20))
    assert r.status == "OK", r.stderr
    assert r.stdout.decode() == EXPECTED


@needs_packages
def test_the_scientific_stack_runs_through_the_http_door(warm_door: RunningServer) -> None:
    r = httpx.post(f"{warm_door.url}/run_code", json={"code": PROGRAM, "language": "python", "run_timeout": 20,
                                                        "memory_limit_MB": 512}, timeout=120)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "Success", body
    assert body["run_result"]["stdout"] == EXPECTED


@needs_packages
def test_the_scientific_stack_runs_cold() -> None:
    s = RunningServer("--jail-mode", "cold")
    try:
        with Client(s.target, timeout=120) as c:
            r = c.execute(PROGRAM, limits=Limits(cpu_time_ms=20_000, memory_bytes=512 * 2**20))
        assert r.status == "OK", r.stderr
        assert r.stdout.decode() == EXPECTED
    finally:
        assert s.stop() == 0


@needs_packages
def test_numpy_threads_pass_the_filter_in_little_memory(warm_door: RunningServer) -> None:
    """One BLAS thread by default; a program asking OpenBLAS for four gets them past seccomp, in 64 MiB."""
    src = ("import os\nprint(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])\n"
           "os.environ['OPENBLAS_NUM_THREADS'] = '4'\nimport numpy as np\n"
           "a = np.ones((400, 400))\nprint(float((a @ a)[0, 0]))\n")
    with Client(warm_door.target, timeout=120) as c:
        r = c.execute(src, limits=Limits(memory_bytes=64 * 2**20))
    assert (r.status, r.stdout) == ("OK", b"1 1\n400.0\n"), r.stderr


@needs_packages
def test_getinfo_lists_the_pinned_packages(warm_door: RunningServer) -> None:
    with Client(warm_door.target) as c:
        info = c.info()
    listed = {p["name"].lower(): p["version"] for p in info["packages"] if p["language"] == "python"}
    pins = pinned()
    for name in ("numpy", "pandas", "scipy", "sympy", "networkx", "sortedcontainers", "regex", "requests"):
        assert listed[name] == pins[name]
    assert not info.get("preloaded")


@needs_packages
def test_the_run_record_lists_the_packages(warm_door: RunningServer, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from sandcheck.run_record import server_facts, write_meta

    evaluation = SimpleNamespace(rows=[{"task_id": "t/0"}], judge="function", pass_at_k={"pass@1": 1.0},
                                 statuses={"OK": 1})
    path = write_meta(tmp_path / "x_results.jsonl", argv=["sandcheck", "eval"], problems_path=None,
                      evaluation=evaluation, server=server_facts([warm_door.target], Limits()), limits=Limits(), k=[1])
    listed = {p["name"]: p["version"] for p in json.loads(path.read_text())["server"]["packages"]}
    assert listed["numpy"] == pinned()["numpy"] and listed["pandas"] == pinned()["pandas"]


@needs_packages
def test_packages_come_last_on_sys_path_and_are_read_only(warm_door: RunningServer) -> None:
    """As site-packages: nothing installed shadows the standard library, and no check can change them."""
    src = ("import sys, os, numpy\nprint(sys.path[-1])\nprint(numpy.__file__.startswith(sys.path[-1]))\n"
           "try:\n    open(os.path.join(sys.path[-1], 'x.py'), 'w')\nexcept OSError as e:\n    print(e.errno)\n")
    with Client(warm_door.target, timeout=120) as c:
        r = c.execute(src)
    assert r.stdout.decode().split() == [PACKAGES_DIR, "True", "30"]  # EROFS


@needs_packages
def test_preloaded_modules_are_loaded_yet_private_to_each_check() -> None:
    """--preload numpy: a check finds numpy imported already; what one check does to it
    does not reach the next; numpy's global random stream differs from check to check."""
    s = RunningServer("--preload", "numpy", "--concurrency", "1")  # one warm jail: every check forks from it
    src = ("import sys\nloaded = 'numpy' in sys.modules\nimport numpy as np\n"
           "print(loaded, getattr(np, 'marker', None), np.random.randint(1 << 30))\nnp.marker = 'left behind'\n")
    try:
        with Client(s.target, timeout=120) as c:
            assert c.info()["preloaded"] == ["numpy"]
            runs = [c.execute(f"{src}# check {i}\n") for i in range(3)]  # distinct: none from the result cache
    finally:
        assert s.stop() == 0
    lines = [r.stdout.decode().split() for r in runs]
    assert all(r.status == "OK" for r in runs), [r.stderr for r in runs]
    assert [line[:2] for line in lines] == [["True", "None"]] * 3
    assert len({line[2] for line in lines}) == 3


@needs_packages
def test_without_packages_the_jail_has_the_standard_library_only() -> None:
    s = RunningServer("--python-packages", "none")
    try:
        with Client(s.target, timeout=120) as c:
            r = c.execute("import numpy")
            assert not [p for p in c.info().get("packages", []) if p["language"] == "python"]
    finally:
        assert s.stop() == 0
    assert r.status == "NONZERO_EXIT" and b"ModuleNotFoundError: No module named 'numpy'" in r.stderr


def test_a_preload_that_fails_refuses_to_start() -> None:
    r = subprocess.run([sys.executable, "-m", "sandbox_server", "--listen", f"127.0.0.1:{free_port()}",
                        "--processes", "1", "--preload", "no_such_module_here"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert "preload: ModuleNotFoundError" in r.stderr and "no_such_module_here" in r.stderr


def test_a_missing_packages_dir_refuses_to_start() -> None:
    r = subprocess.run([sys.executable, "-m", "sandbox_server", "--listen", f"127.0.0.1:{free_port()}",
                        "--processes", "1", "--python-packages", "/var/tmp/sandcheck-no-such-packages-dir"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "is not a directory" in r.stderr and "scripts/setup" in r.stderr


@pytest.mark.parametrize("overrides, message", [
    ({"preload": ["numpy; import os"]}, "not a module name"),
    ({"python_packages": "relative/dir"}, "absolute path"),
    ({"node_modules": "/tmp/node_modules"}, "outside /tmp"),
])
def test_bad_package_settings_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(settings.ConfigError, match=message):
        settings.load(overrides=overrides)


def test_a_packages_dir_for_another_python_is_refused(tmp_path: Path) -> None:
    (tmp_path / "demo-1.0.dist-info").mkdir()
    (tmp_path / "demo-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    (tmp_path / MANIFEST).write_text(json.dumps({"python": "3.9", "packages": [["demo", "1.0"]], "libraries": []}))
    with pytest.raises(PackagesError, match="installed for Python 3.9"):
        PackageSet.load(str(tmp_path), "3.11.2")
    # A manifest that no longer describes the directory is not trusted: it is looked at again.
    (tmp_path / MANIFEST).write_text(json.dumps({"python": "3.11", "packages": [], "libraries": []}))
    assert PackageSet.load(str(tmp_path), "3.11.2").packages == (("demo", "1.0"),)


@pytest.fixture()
def node_modules() -> str:
    """An operator's node_modules with one small package, where a jail can bind it (not under /tmp)."""
    root = tempfile.mkdtemp(prefix="sandcheck-test-node-", dir="/var/tmp")
    os.chmod(root, 0o755)
    pkg = Path(root) / "node_modules" / "pad-demo"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text('{"name": "pad-demo", "version": "1.2.3", "main": "index.js"}')
    (pkg / "index.js").write_text("module.exports = (s, n) => String(s).padStart(n, '*');\n")
    for p in (pkg.parent, pkg, *pkg.iterdir()):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    yield str(pkg.parent)
    shutil.rmtree(root)


@pytest.mark.skipif(not os.path.exists("/usr/share/nodejs/typescript"), reason="no node-typescript")
def test_node_modules_an_operator_installed(node_modules: str) -> None:
    """--node-modules: JavaScript requires from it, transpiled TypeScript imports from it; GetInfo lists it."""
    s = RunningServer("--node-modules", node_modules)
    try:
        with Client(s.target, timeout=120) as c:
            js = c.execute("console.log(require('pad-demo')(7, 3));", language="js")
            ts = c.execute("import pad from 'pad-demo';\nconsole.log(pad('ab', 4));\n", language="ts_transpile")
            info = c.info()
    finally:
        assert s.stop() == 0
    assert (js.status, js.stdout) == ("OK", b"**7\n"), js.stderr
    assert (ts.status, ts.stdout) == ("OK", b"**ab\n"), ts.stderr
    assert {"language": "js", "name": "pad-demo", "version": "1.2.3"} in info["packages"]
