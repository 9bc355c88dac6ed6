"""The warm javac per slot (jail/javac_service.py, JavacService.java), against the cold compile.

In-process executors on cgroup roots of their own, real nsjail, one slot
each: one with the compile service (the default), one without, so each
program is compiled both ways and the results compared. No timing asserts.
"""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from sandbox_server.executor import IDLE_RELEASE_S, Executor, Job
from sandbox_server.jail import javac_service, shared_dir, toolchains
from sandbox_server.jail.builds import build_key
from sandbox_server.jail.files import put_program
from sandbox_server.jail.outcome import Outcome
from sandbox_server.limits import DEFAULT_COMPILE_LIMITS, Limits

from .test_warm import make_executor, stop

pytestmark = pytest.mark.skipif(toolchains.missing(toolchains.find("java")) != [], reason="no JDK here")

RUN = Limits(cpu_time_ms=10_000, wall_time_ms=20_000)
HELLO = "public class Main { public static void main(String[] a) { System.out.println(6 * 7); } }\n"


@pytest.fixture(scope="module")
def warm() -> Executor:
    ex = make_executor(languages=["java"], javac_service_max_compiles=50)
    yield ex
    stop(ex)


@pytest.fixture(scope="module")
def cold() -> Executor:
    ex = make_executor(languages=["java"], javac_service=False)
    yield ex
    stop(ex)


def compile_and_run(ex: Executor, source: str, tenant: str = "", compile_limits: Limits = DEFAULT_COMPILE_LIMITS,
                    files: tuple[tuple[str, bytes], ...] = ()) -> Outcome:
    job = Job(source.encode(), b"", RUN, tenant, files=files, language="java", compile_limits=compile_limits)
    return ex.submit(job).result(timeout=300)


def kept_classes(ex: Executor, source: str, files: tuple[tuple[str, bytes], ...] = ()) -> dict[str, bytes]:
    """What the compile of `source` left in its (cached) directory, by relative path."""
    directory, *_ = ex.builds.cache._entries[build_key(ex.languages["java"], source.encode(), files)]
    found = {}
    for dirpath, _dirs, names in os.walk(directory):
        for name in names:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, directory)] = Path(path).read_bytes()
    return found


def service(ex: Executor) -> javac_service.CompileSlot:
    return ex._compilers[0]


GENERIC = ("import java.util.*;\nclass Helper<T> { List<T> xs = new ArrayList(); }\n"  # an unchecked note
           "public class Main { public static void main(String[] a) { Helper<String> h = new Helper<>();\n"
           "  h.xs.add(\"x\"); System.out.println(h.xs); } }\n")
PACKAGED = "package p.q;\npublic class Main { public static void main(String[] a) { System.out.println(1); } }\n"


@pytest.mark.parametrize("source", [
    HELLO,
    GENERIC,
    PACKAGED,  # its classes go to p/q/
    "public class Main { public static void main(String[] a) { int x = \"s\"; undefined(); } }\n",
    "class Broken {",
])
def test_warm_compiles_give_what_cold_compiles_give(warm: Executor, cold: Executor, source: str) -> None:
    w, c = compile_and_run(warm, source), compile_and_run(cold, source)
    assert w.compile is not None and c.compile is not None
    assert (w.status, w.stdout, w.exit_code) == (c.status, c.stdout, c.exit_code)
    assert (w.compile.status, w.compile.exit_code, w.compile.stdout, w.compile.stderr) == \
        (c.compile.status, c.compile.exit_code, c.compile.stdout, c.compile.stderr)
    if c.compile.status == "OK":
        assert kept_classes(warm, source) == kept_classes(cold, source) != {}
    else:
        assert c.status == "COMPILE_ERROR" and b"error" in c.compile.stderr
    assert service(warm).started >= 1 and cold._compilers == []


def test_compile_cpu_and_memory_are_per_compile(warm: Executor) -> None:
    big = "public class Main {\n" + "".join(f"  static int f{i}(int x) {{ return x * {i} + f{i}(x - 1); }}\n"
                                             for i in range(400)) + "  public static void main(String[] a) {}\n}\n"
    heavy, light = compile_and_run(warm, big), compile_and_run(warm, HELLO + "// light\n")
    assert heavy.compile.status == light.compile.status == "OK"
    assert 0 < light.compile.cpu_time_ms < heavy.compile.cpu_time_ms
    assert light.compile.memory_bytes > 0


def test_a_compile_over_its_limit_times_out_and_the_service_restarts(warm: Executor) -> None:
    slot = service(warm)
    compile_and_run(warm, HELLO + "// before\n")
    started, timeouts = slot.started, slot.recycled.get("timeout", 0)
    huge = "public class Main {\n" + "".join(f"  static long f{i}(long x) {{ return x * {i} + {i} - x / 3; }}\n"
                                              for i in range(20_000)) + "  public static void main(String[] a) {}\n}\n"
    r = compile_and_run(warm, huge, compile_limits=dataclasses.replace(DEFAULT_COMPILE_LIMITS, cpu_time_ms=50))
    assert r.status == "COMPILE_ERROR" and r.compile.status == "TIMEOUT" and r.compile.timeout_kind == "CPU"
    assert slot.recycled.get("timeout", 0) == timeouts + 1 and slot.service is None
    after = compile_and_run(warm, HELLO + "// after\n")
    assert (after.status, after.stdout) == ("OK", b"42\n")
    assert slot.started == started + 1


def test_a_compile_over_its_memory_is_memory_limit_and_the_service_restarts(warm: Executor) -> None:
    slot = service(warm)
    # 20 classes of 3,000 methods (4.6 MB): more than javac's heap under 200 MiB holds.
    method = "  static long f{i}(long x) {{ return x * {i} + C{c}.f{j}(x); }}\n"
    big = "".join(f"class C{c} {{\n" + "".join(method.format(i=i, c=c, j=(i + 1) % 3000) for i in range(3000)) + "}\n"
                  for c in range(20))
    limits = dataclasses.replace(DEFAULT_COMPILE_LIMITS, memory_bytes=200 << 20)
    r = compile_and_run(warm, big + HELLO, compile_limits=limits)
    assert r.status == "COMPILE_ERROR" and r.compile.status == "MEMORY_LIMIT"
    assert slot.service is None and slot.recycled.get("died", 0) >= 1
    assert compile_and_run(warm, HELLO + "// after memory\n").stdout == b"42\n"


def test_tenants_never_share_a_service(warm: Executor) -> None:
    slot = service(warm)
    assert compile_and_run(warm, HELLO + "// alice\n", tenant="alice").status == "OK"
    alice = slot.service
    assert alice is not None and alice.tenant == "alice"
    before = slot.recycled.get("other tenant", 0)
    assert compile_and_run(warm, HELLO + "// bob\n", tenant="bob").status == "OK"
    assert slot.recycled.get("other tenant", 0) == before + 1
    assert slot.service is not alice and slot.service.tenant == "bob" and alice.proc is not None
    assert alice.proc.poll() is not None  # alice's JVM is gone, not parked


def test_an_idle_slot_gives_back_its_jvm_and_its_run_jail(warm: Executor) -> None:
    slot, runs = service(warm), warm._warm_runs[0]
    source = HELLO + "// idle\n"
    for _ in range(2):  # compiled by the service, then run again in the slot's run jail
        assert compile_and_run(warm, source).stdout == b"42\n"
    jvm, key = slot.service, build_key(warm.languages["java"], source.encode(), ())
    assert jvm is not None and runs.jail is not None and warm.builds.cache._pins.get(key, 0) >= 1
    idle = slot.recycled.get("idle", 0)
    warm.idle_release_s = 0.2
    try:
        assert compile_and_run(warm, source).stdout == b"42\n"  # wakes the slot: its next wait is the short one
        deadline = time.monotonic() + 60
        while (slot.service is not None or runs.jail is not None) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        warm.idle_release_s = IDLE_RELEASE_S
    assert slot.service is None and jvm.proc.poll() is not None and slot.recycled.get("idle", 0) == idle + 1
    assert runs.jail is None and warm.builds.cache._pins.get(key, 0) == 0  # the build is no longer pinned
    assert compile_and_run(warm, HELLO + "// after idle\n").stdout == b"42\n"  # a new service
    assert slot.service is not None and slot.service is not jvm


def test_the_service_is_recycled_after_its_compiles(tmp_path: Path) -> None:
    ex = make_executor(languages=["java"], javac_service_max_compiles=2)
    try:
        for i in range(5):
            assert compile_and_run(ex, HELLO + f"// {i}\n").stdout == b"42\n"
        assert service(ex).started == 3 and service(ex).recycled.get("max compiles") == 2
    finally:
        stop(ex)


_PROCESSOR = """import java.util.Set;
import javax.annotation.processing.*;
import javax.lang.model.SourceVersion;
import javax.lang.model.element.TypeElement;
import javax.tools.Diagnostic;

@SupportedAnnotationTypes("*")
public class Spy extends AbstractProcessor {
    @Override public SourceVersion getSupportedSourceVersion() { return SourceVersion.latestSupported(); }
    @Override public boolean process(Set<? extends TypeElement> types, RoundEnvironment env) {
        processingEnv.getMessager().printMessage(Diagnostic.Kind.ERROR, "the annotation processor ran");
        return false;
    }
}
"""


def _processor_jar(tmp_path: Path) -> bytes:
    """A jar that makes javac run the `Spy` processor on any compile that lets processors run."""
    (tmp_path / "Spy.java").write_text(_PROCESSOR)
    java = toolchains.find("java")
    subprocess.run([java.compile[0], "-proc:none", "-d", str(tmp_path), str(tmp_path / "Spy.java")], check=True,
                   capture_output=True)
    blob = io.BytesIO()
    with zipfile.ZipFile(blob, "w") as jar:
        jar.write(tmp_path / "Spy.class", "Spy.class")
        jar.writestr("META-INF/services/javax.annotation.processing.Processor", "Spy\n")
    return blob.getvalue()


def _with_jar(lang: toolchains.Language, processors: bool) -> toolchains.Language:
    """`lang` with spy.jar (in /build) on javac's classpath, and without -proc:none when `processors`."""
    argv = list(lang.compile_template or lang.toolchain.compile)
    argv[argv.index("-cp") + 1] = "spy.jar:" + argv[argv.index("-cp") + 1]
    if processors:
        argv.remove("-proc:none")
    return dataclasses.replace(lang, compile_template=tuple(argv))


def test_annotation_processors_never_run_in_the_service(warm: Executor, cold: Executor, tmp_path: Path) -> None:
    # A request cannot send a .jar (service.py refuses compiler state): this goes below that, to the executor,
    # to show that even a processor on javac's classpath does not run.
    files = (("spy.jar", _processor_jar(tmp_path)),)
    source = "@Deprecated public class Main { public static void main(String[] a) { System.out.println(1); } }\n"
    java_warm, java_cold = warm.languages["java"], cold.languages["java"]
    try:
        # Without -proc:none (the cold compile, in its jail), the jar's processor runs: the probe works.
        cold.languages["java"] = _with_jar(java_cold, processors=True)
        probe = compile_and_run(cold, source, files=files)
        assert probe.status == "COMPILE_ERROR" and b"the annotation processor ran" in probe.compile.stderr
        # The service, with the same jar on the classpath: the processor does not run.
        warm.languages["java"] = _with_jar(java_warm, processors=False)
        r = compile_and_run(warm, source, files=files)
        assert (r.status, r.stdout) == ("OK", b"1\n") and b"processor" not in r.compile.stderr
        # And it never compiles with processors allowed.
        warm.languages["java"] = _with_jar(java_warm, processors=True)
        refused = compile_and_run(warm, source + "// allowed\n", files=files)
        assert refused.status == "SANDBOX_ERROR" and "-proc:none" in refused.error
    finally:
        warm.languages["java"], cold.languages["java"] = java_warm, java_cold


def test_a_service_that_cannot_start_fails_its_compile_and_never_compiles_cold(warm: Executor) -> None:
    slot = service(warm)
    real = slot.command
    slot._recycle("test")
    slot.command = javac_service.ServiceCommand(("/nonexistent/java",), real.classes)
    try:
        r = compile_and_run(warm, HELLO + "// no service\n")
        assert r.status == "SANDBOX_ERROR" and "javac compile service did not start" in r.error
        assert r.compile is None
    finally:
        slot.command = real
    assert compile_and_run(warm, HELLO + "// service again\n").stdout == b"42\n"


class _ProcessorsAllowed(javac_service.ServiceCommand):
    """The real service, started as if its compiles let annotation processors run."""

    def argv(self, javac_args: list[str], memory_bytes: int) -> list[str]:
        return [a for a in super().argv(javac_args, memory_bytes) if a != javac_service.NO_PROCESSORS]


def test_the_service_itself_refuses_to_compile_with_processors(warm: Executor) -> None:
    slot = service(warm)
    real = slot.command
    slot._recycle("test")
    slot.command = _ProcessorsAllowed(real.jvm, real.classes)
    try:
        r = compile_and_run(warm, HELLO + "// processors allowed\n")
        assert r.status == "SANDBOX_ERROR" and "refused: a compile without -proc:none" in r.error
    finally:
        slot.command = real


@pytest.mark.parametrize("answer", [
    "print('not json')",
    "print('{\"exit\": 0}')",  # JSON, but not the service's answer
    "print('{\"exit\":0,\"stdout\":\"\",\"stderr\":\"\",\"stdout_dropped\":0,\"stderr_dropped\":0}' * 2)",
])
def test_an_answer_off_the_protocol_replaces_the_service(warm: Executor, answer: str) -> None:
    # A stand-in service in the same jail (the jail's Python, bound there for the init): ready, then a bad answer.
    slot = service(warm)
    real = slot.command
    slot._recycle("test")
    stand_in = f"import sys\nprint('ready')\nsys.stdin.readline()\n{answer}\nsys.stdin.readline()"
    slot.command = javac_service.ServiceCommand(
        (warm.supervisor.runtime.interpreter, "-u", "-I", "-S", "-c", stand_in), real.classes)
    try:
        r = compile_and_run(warm, HELLO + f"// {answer}\n")
        assert r.status == "COMPILE_ERROR" and r.compile.status == "SIGNALED"
        assert b"javac compile service" in r.compile.stderr
        assert slot.service is None and slot.recycled.get("broken answer", 0) >= 1
    finally:
        slot.command = real
    assert compile_and_run(warm, HELLO + "// a real service again\n").stdout == b"42\n"


def test_a_service_that_cannot_be_built_leaves_java_unserved(monkeypatch) -> None:
    def fail(*_args) -> str:
        raise javac_service.ServiceError("the javac compile service did not build: no")

    monkeypatch.setattr(javac_service, "ensure", fail)
    ex = make_executor(languages=["java"])
    try:
        assert "java" not in ex.languages and "javac_service = false" in ex.unavailable["java"]
    finally:
        stop(ex)


def test_copying_out_never_follows_a_link_the_compiler_made(tmp_path: Path) -> None:
    # The service can write in its directory while the server copies out of it: what it links is left out.
    secret = tmp_path / "host-secret"
    secret.write_text("root only")
    (tmp_path / "host-dir").mkdir()
    (tmp_path / "host-dir" / "inner").write_text("root only")
    work, out = tmp_path / "work", tmp_path / "out"
    (work / "p" / "q").mkdir(parents=True)
    out.mkdir()
    (work / "p" / "q" / "Main.class").write_bytes(b"\xca\xfe")
    (work / "Main.java").write_text("class Main {}")
    (work / "leak").symlink_to(secret)
    (work / "p" / "dirleak").symlink_to(tmp_path / "host-dir")
    os.mkfifo(work / "fifo")
    shared_dir.copy_tree(str(work), str(out), 1 << 20)
    copied = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    assert copied == ["Main.java", "p", "p/q", "p/q/Main.class"]
    assert (out / "p" / "q" / "Main.class").read_bytes() == b"\xca\xfe"


@pytest.mark.parametrize("shape", ["deep", "big"])
def test_copying_out_is_bounded(tmp_path: Path, shape: str) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    out.mkdir()
    if shape == "deep":
        (work / "/".join("d" * 40)).mkdir(parents=True)
    else:
        work.mkdir()
        (work / "Big.class").write_bytes(b"x" * 4096)
    with pytest.raises(shared_dir.TooMuchLeft):
        shared_dir.copy_tree(str(work), str(out), 1024)


def test_a_program_is_never_written_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "host-file"
    target.write_text("untouched")
    work = tmp_path / "work"
    work.mkdir()
    (work / "Main.java").symlink_to(target)  # made by a compiler that can write there
    with pytest.raises(OSError):
        put_program(str(work), (), "Main.java", b"class Main {}")
    assert target.read_text() == "untouched"


def test_the_service_is_a_setting() -> None:
    from sandbox_server import settings

    assert settings.load().javac_service is True
    assert settings.load(env={"SANDCHECK_JAVAC_SERVICE": "false"}).javac_service is False
    with pytest.raises(settings.ConfigError, match="javac_service_max_compiles"):
        settings.load(env={"SANDCHECK_JAVAC_SERVICE_MAX_COMPILES": "0"})
