"""Warm runs (jail/warm.py's `Artifact`): a built program run again forks in a
warm exec jail kept for it, and must end as it would in a cold run jail.

Two real servers side by side, one slot each, result cache off: one with warm
runs (the default), one with ``--warm-runs off``. One C++ program serves most
tests: its first word on stdin says what to do. Whether runs share a jail is
read from the program's own pid (a fresh jail's first run is pid 2; a warm
jail's runs count up). A start failure and max checks are tried on an
in-process executor (real jails too), whose slots the test can reach. No
timing assertions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox_server.config import ServerConfig
from sandbox_server.executor import Executor, Job
from sandbox_server.jail import warm as warm_module
from sandbox_server.limits import Limits as ServerLimits

from sandcheck import Client, Limits

from .conftest import RunningServer

pytestmark = pytest.mark.skipif(not Path("/usr/bin/g++").exists(), reason="g++ is not installed")

MODES = r"""
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
extern char **environ;

static void list_tmp() {
    DIR *d = opendir("/tmp");
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) printf("%s\n", e->d_name);
}

// What a process inherits from whoever started it: argv, environment, working
// directory, ids, rlimits, signal dispositions and mask, open fds, umask,
// prctl flags, scheduling (and stdin's kind, printed first).
static void inherited(int argc, char **argv) {
    for (int i = 0; i < argc; i++) printf("argv %s\n", argv[i]);
    for (char **e = environ; *e; e++) printf("env %s\n", *e);
    char cwd[4096];
    printf("cwd %s\n", getcwd(cwd, sizeof cwd));
    printf("ids %d %d %d %d ppid %d pgid-is-pid %d\n", getuid(), geteuid(), getgid(), getegid(), getppid(),
           getpgrp() == getpid());
    for (int r = 0; r < RLIM_NLIMITS; r++) {
        struct rlimit l;
        getrlimit(r, &l);
        printf("rlimit %d %llu %llu\n", r, (unsigned long long)l.rlim_cur, (unsigned long long)l.rlim_max);
    }
    sigset_t mask;
    sigprocmask(SIG_BLOCK, nullptr, &mask);
    for (int s = 1; s < 65; s++) {
        struct sigaction a;
        if (sigaction(s, nullptr, &a) == 0)
            printf("signal %d %s blocked %d\n", s, a.sa_handler == SIG_DFL ? "default" : a.sa_handler == SIG_IGN ? "ignored" : "handled",
                   sigismember(&mask, s));
    }
    for (int fd = 1; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) != -1) {
            struct stat st;
            fstat(fd, &st);
            printf("fd %d type %o flags %o\n", fd, st.st_mode & S_IFMT, fcntl(fd, F_GETFL) & ~0100000);
        }
    mode_t m = umask(0);
    printf("umask %o\n", m);
    printf("prctl dumpable %d nnp %d seccomp %d pdeathsig-set %d\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0),
           prctl(PR_GET_SECCOMP, 0, 0, 0, 0), [] { int s = 0; prctl(PR_GET_PDEATHSIG, &s); return s; }());
    printf("sched %d nice %d\n", sched_getscheduler(0), getpriority(PRIO_PROCESS, 0));
    struct utsname u;
    uname(&u);
    printf("host %s\n", u.nodename);
}

static struct stat stdin_stat;
static int stdin_flags;

int main(int argc, char **argv) {
    fstat(0, &stdin_stat);  // before anything reads it
    stdin_flags = fcntl(0, F_GETFL) & ~0100000;  // O_LARGEFILE as the kernel reports it (glibc says 0)
    std::string mode;
    std::cin >> mode;
    if (mode.empty() || mode == "inherited")  // what stdin is: a pipe, or /dev/null without one
        printf("fd 0 type %o flags %o seekable %d\n", stdin_stat.st_mode & S_IFMT, stdin_flags, lseek(0, 0, SEEK_CUR) >= 0);
    if (mode == "sum") {
        long long x, s = 0;
        while (std::cin >> x) s += x;
        printf("%lld\n", s);
    } else if (mode == "pid") {
        printf("%d\n", getpid());
    } else if (mode == "exit3") {
        return 3;
    } else if (mode == "abort") {
        abort();
    } else if (mode == "spin") {
        for (volatile unsigned long n = 0;; n++) {}
    } else if (mode == "sleep") {
        sleep(60);
    } else if (mode == "alloc") {  // touch N MiB
        size_t mib;
        std::cin >> mib;
        char *p = (char *)malloc(mib << 20);
        for (size_t i = 0; i < (mib << 20); i += 4096) p[i] = 1;
        printf("%d\n", p[4096]);
    } else if (mode == "burn") {  // about N ms of CPU
        long ms;
        std::cin >> ms;
        clock_t end = clock() + ms * (CLOCKS_PER_SEC / 1000);
        while (clock() < end) {}
        printf("burnt\n");
    } else if (mode == "flood") {
        static char buf[65536];
        memset(buf, 'x', sizeof buf);
        for (int i = 0; i < 64; i++) fwrite(buf, 1, sizeof buf, stdout);
    } else if (mode == "write") {  // leave files, a directory without access, odd modes on /tmp
        FILE *f = fopen("/tmp/secret", "w");
        fputs("run one's secret", f);
        fclose(f);
        mkdir("/tmp/d", 0700);
        fclose(fopen("/tmp/d/inner", "w"));
        chmod("/tmp/d", 0);
        chmod("/tmp", 0755);
        list_tmp();
    } else if (mode == "wait") {  // N ms without CPU, then what /tmp holds
        long ms;
        std::cin >> ms;
        usleep(ms * 1000);
        list_tmp();
    } else if (mode == "ls") {
        list_tmp();
        struct stat st;
        stat("/tmp", &st);
        printf("mode %o\n", st.st_mode & 07777);
    } else if (mode == "daemon") {  // a process that outlives the run, and writes to /tmp later
        if (fork() == 0) {
            setsid();
            signal(SIGTERM, SIG_IGN);
            sleep(1);
            FILE *f = fopen("/tmp/late", "w");
            if (f) fputs("from an earlier run", f), fclose(f);
            for (;;) pause();
        }
        printf("left one behind\n");
    } else if (mode == "signal-pid1") {  // PID 1 drops every signal from inside its jail
        for (int s = 1; s < 65; s++) kill(1, s);
        kill(-1, SIGKILL);
        printf("alive\n");
    } else if (mode == "sched-pid1") {  // the same uid may lower PID 1's scheduling
        struct sched_param p = {0};
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(0, &one);
        printf("%d %d\n", sched_setscheduler(1, SCHED_IDLE, &p), sched_setaffinity(1, sizeof one, &one));
    } else if (mode == "shm") {  // a SysV segment outlives its process
        printf("%d\n", shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600) >= 0);
    } else if (mode == "shm-count") {
        struct shm_info info = {};
        shmctl(0, SHM_INFO, (struct shmid_ds *)&info);
        printf("%d\n", info.used_ids);
    } else if (mode == "exec-copies") {  // the artifact's own bytes, run from a memfd and from /tmp
        int in = open("/build/main", O_RDONLY), mem = memfd_create("copy", 0);
        int tmp = open("/tmp/copy", O_WRONLY | O_CREAT, 0755);
        char buf[65536];
        for (ssize_t n; (n = read(in, buf, sizeof buf)) > 0;) write(mem, buf, n), write(tmp, buf, n);
        close(tmp);
        char *args[] = {(char *)"copy", (char *)"pid", nullptr};
        fexecve(mem, args, environ);
        printf("fexecve %s\n", strerror(errno));
        execve("/tmp/copy", args, environ);
        printf("execve /tmp %s\n", strerror(errno));
        fflush(stdout);
        execve("/build/main", args, environ);  // the artifact itself runs: stdin is spent, so it says what fd 0 is
    } else if (mode == "inherited") {
        inherited(argc, argv);
    }
    return 0;
}
"""
OTHER = "#include <cstdio>\n#include <unistd.h>\nint main() { printf(\"other %d\\n\", getpid()); }\n"
ALICE, BOB = "alice-token-" + "a" * 20, "bob-token-" + "b" * 20


@pytest.fixture(scope="module")
def token_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tokens") / "tokens"
    path.write_text(f"{ALICE} alice\n{BOB} bob\n")
    path.chmod(0o600)
    return path


def _server(token_file: Path, *extra: str) -> Iterator[str]:
    s = RunningServer("--concurrency", "1", "--result-cache-mb", "0", "--token-file", str(token_file), *extra,
                      token=ALICE)
    try:
        yield s.target
    finally:
        assert s.stop() == 0


@pytest.fixture(scope="module")
def warm_target(token_file: Path) -> Iterator[str]:
    yield from _server(token_file)


@pytest.fixture(scope="module")
def cold_target(token_file: Path) -> Iterator[str]:
    yield from _server(token_file, "--warm-runs", "off")


@pytest.fixture(scope="module")
def warm(warm_target: str) -> Iterator[Client]:
    with Client(warm_target, timeout=120, token=ALICE) as c:
        assert c.execute(MODES, language="cpp", stdin=b"pid").status == "OK"  # compiled (and run cold) once
        yield c


@pytest.fixture(scope="module")
def cold(cold_target: str) -> Iterator[Client]:
    with Client(cold_target, timeout=120, token=ALICE) as c:
        assert c.execute(MODES, language="cpp", stdin=b"pid").status == "OK"
        yield c


def run(client: Client, stdin: str, limits: Limits | None = None, source: str = MODES):
    r = client.execute(source, language="cpp", stdin=stdin.encode(), limits=limits)
    assert r.compile is not None and r.compile.cached, "a further run of a kept build"
    return r


def pid(client: Client) -> int:
    r = run(client, "pid")
    assert r.status == "OK", r
    return int(r.stdout)


def test_further_runs_share_one_warm_jail_and_get_their_own_stdin(warm: Client) -> None:
    first = pid(warm)
    sums = [run(warm, f"sum {i} {i * i} -1") for i in range(6)]
    assert [r.stdout for r in sums] == [f"{i + i * i - 1}\n".encode() for i in range(6)]
    assert all(r.status == "OK" and r.exit_code == 0 and r.cpu_time_ms >= 0 for r in sums)
    assert pid(warm) > first + 6  # one jail, one fork per run


def test_cold_runs_each_get_a_fresh_jail(cold: Client) -> None:
    assert {pid(cold) for _ in range(3)} == {2}  # the init is PID 1, the program 2, in every jail


def test_a_warm_run_inherits_what_a_cold_run_does(warm: Client, cold: Client) -> None:
    limits = Limits(cpu_time_ms=2500, memory_bytes=300 << 20)
    w, c = run(warm, "inherited", limits), run(cold, "inherited", limits)
    assert w.status == c.status == "OK", (w.stderr, c.stderr)
    assert b"argv /build/main\n" in w.stdout and b"signal 13 default" in w.stdout  # SIGPIPE as a shell leaves it
    assert w.stdout.startswith(b"fd 0 type 10000 flags 0 seekable 0\n")  # a pipe
    assert w.stdout.decode() == c.stdout.decode()
    w, c = run(warm, ""), run(cold, "")
    assert w.stdout == c.stdout == b"fd 0 type 20000 flags 2 seekable 1\n"  # /dev/null, read-write


def test_a_big_stdin_arrives_whole_and_an_unread_one_is_dropped(warm: Client, cold: Client) -> None:
    numbers = " ".join(str(i) for i in range(300_000))  # ~2 MB: many times a pipe's buffer
    for client in (warm, cold):
        r = run(client, f"sum {numbers}")
        assert (r.status, r.stdout) == ("OK", f"{sum(range(300_000))}\n".encode())
        r = run(client, f"pid {numbers}")  # exits without reading the rest
        assert r.status == "OK" and int(r.stdout) >= 2


def test_a_copy_of_the_artifact_cannot_be_executed_warm_or_cold(warm: Client, cold: Client) -> None:
    for client in (warm, cold):
        r = run(client, "exec-copies")
        assert r.status == "OK", r
        # execveat (fexecve's call) is refused by the filter; /tmp is noexec; /build/main itself runs.
        assert r.stdout == (b"fexecve Operation not permitted\nexecve /tmp Permission denied\n"
                            b"fd 0 type 10000 flags 0 seekable 0\n"), r.stdout


def test_tmp_is_fresh_for_every_run(warm: Client) -> None:
    before = pid(warm)
    wrote = run(warm, "write")
    assert wrote.status == "OK" and b"secret" in wrote.stdout
    after = run(warm, "ls")
    assert after.status == "OK" and after.stdout == b"mode 1777\n"
    assert pid(warm) > before  # the same jail: /tmp was emptied and reset, not replaced


def test_a_leftover_process_does_not_reach_the_next_run(warm: Client) -> None:
    left = run(warm, "daemon")
    assert left.status == "OK" and left.stdout == b"left one behind\n"
    # The leftover would write /tmp/late a second after its run: the next run waits longer.
    after = run(warm, "wait 1500")
    assert after.status == "OK" and after.stdout == b""
    assert pid(warm) == 3  # the jail was replaced after the leftover


@pytest.mark.parametrize("stdin, limits, status, kind, replaced", [
    ("exit3", None, "NONZERO_EXIT", None, False),
    ("abort", None, "SIGNALED", None, False),
    ("spin", Limits(cpu_time_ms=500, wall_time_ms=5000), "TIMEOUT", "CPU", True),
    ("sleep", Limits(cpu_time_ms=500, wall_time_ms=800), "TIMEOUT", "WALL", True),
    ("alloc 512", Limits(memory_bytes=64 << 20), "MEMORY_LIMIT", None, True),
    ("flood", Limits(output_bytes=1 << 20), "OUTPUT_LIMIT", None, False),
])
def test_each_end_is_the_cold_runs_and_the_next_run_works(warm: Client, cold: Client, stdin: str, limits: Limits | None,
                                                          status: str, kind: str | None, replaced: bool) -> None:
    before = pid(warm)
    w, c = run(warm, stdin, limits), run(cold, stdin, limits)
    for r in (w, c):
        assert r.status == status, (stdin, r)
        assert (r.timeout_kind.value if r.timeout_kind else None) == kind
    assert (w.exit_code, w.signal, w.stdout_truncated) == (c.exit_code, c.signal, c.stdout_truncated)
    nxt = run(warm, "sum 40 2")
    assert nxt.status == "OK" and nxt.stdout == b"42\n"
    # A timeout or an OOM kill replaces the jail (its next runs are pids 2, 3); the others do not.
    assert pid(warm) == (3 if replaced else before + 3)


@pytest.mark.parametrize("attack, said, replaced", [
    ("signal-pid1", b"alive\n", False),  # every signal dropped: the jail goes on
    ("sched-pid1", b"0 0\n", True),  # done, seen by the zygote: the jail is replaced
    ("shm", b"1\n", True),
])
def test_what_a_run_does_to_pid1_or_leaves_in_ipc_does_not_reach_the_next(warm: Client, attack: str, said: bytes,
                                                                          replaced: bool) -> None:
    before = pid(warm)
    did = run(warm, attack)
    assert did.status == "OK" and did.stdout == said, did
    assert run(warm, "shm-count").stdout == b"0\n"
    assert pid(warm) == (3 if replaced else before + 3)  # a fresh jail: its second run is pid 3


def test_cpu_and_memory_are_counted_per_run(warm: Client) -> None:
    big, small = run(warm, "alloc 200"), run(warm, "pid")
    assert big.status == small.status == "OK"
    assert big.memory_bytes >= 200 << 20 > small.memory_bytes
    busy, idle = run(warm, "burn 400"), run(warm, "pid")
    assert busy.cpu_time_ms >= 300 > idle.cpu_time_ms


def test_tenants_never_share_a_warm_jail(warm_target: str, warm: Client) -> None:
    first = pid(warm)
    assert pid(warm) == first + 1  # alice's jail, warm
    with Client(warm_target, timeout=120, token=BOB) as bob:
        secret = run(warm, "write")  # alice leaves a file
        assert secret.status == "OK"
        # Bob's builds are his own: the same source compiles again for him (nothing tells him alice built it),
        # and its first run is cold.
        own = bob.execute(MODES, language="cpp", stdin=b"pid")
        assert own.status == "OK" and not own.compile.cached and int(own.stdout) == 2
        seen = run(bob, "ls")  # his first further run: a warm jail of his own
        assert seen.stdout == b"mode 1777\n"
        assert pid(bob) == 3
    assert pid(warm) == 2  # alice's jail was replaced too: one warm jail per slot


def test_another_artifact_replaces_the_jail(warm: Client) -> None:
    pid(warm)
    assert pid(warm) > 2
    warm.execute(OTHER, language="cpp")  # compiled, run cold
    other = run(warm, "", source=OTHER)
    assert other.status == "OK" and other.stdout == b"other 2\n"  # the second artifact's own jail
    assert pid(warm) == 2  # and the first's is new again


@pytest.fixture(scope="module")
def executor() -> Iterator[Executor]:
    """An in-process executor (real jails), one slot, whose warm jails take 3 checks each."""
    ex = Executor(ServerConfig(cgroup_root="sandcheck-test-warm-runs", concurrency=1, languages=["cpp"],
                               warm_max_checks=3))
    ex.start()
    yield ex
    ex.stop()
    for controller in ("memory", "pids", "cpuacct"):  # v1: the root the executor made
        with contextlib.suppress(OSError):
            Path(f"/sys/fs/cgroup/{controller}/{ex.config.cgroup_root}").rmdir()


def test_a_warm_run_jail_that_cannot_start_leaves_the_run_to_a_cold_jail(executor: Executor, monkeypatch) -> None:
    job = Job(OTHER.encode(), b"", ServerLimits(), language="cpp")
    assert executor.submit(job).result(timeout=300).stdout == b"other 2\n"  # compiled (or cached), run cold or warm
    runs = executor._warm_runs[0]
    runs.close()
    started = runs.started
    # The zygote takes an unknown flag for a module to preload, fails to import it and never gets ready.
    monkeypatch.setattr(warm_module, "_EXEC_FLAG", "no_such_module_here")
    r = executor.submit(job).result(timeout=300)
    assert r.status == "OK" and r.stdout == b"other 2\n" and r.compile.cached
    assert runs.jail is None and runs.started == started + 1
    monkeypatch.undo()
    assert executor.submit(job).result(timeout=300).stdout == b"other 2\n"  # now warm, in a jail of its own
    assert runs.jail is not None and runs.started == started + 2


def test_a_warm_run_jail_is_replaced_after_max_checks(executor: Executor) -> None:
    runs = executor._warm_runs[0]
    other = Job(OTHER.encode(), b"", ServerLimits(), language="cpp")
    for _ in range(4):  # until the slot's run jail holds OTHER's build (it may just have reached max checks)
        assert executor.submit(other).result(timeout=300).status == "OK"
        if runs.jail is not None:
            break
    assert runs.jail is not None
    before, switched = runs.recycled.get("max checks", 0), runs.switched
    pids = []
    for _ in range(7):
        r = executor.submit(Job(MODES.encode(), b"pid", ServerLimits(), language="cpp")).result(timeout=300)
        assert r.status == "OK"
        pids.append(int(r.stdout))
    assert pids[1:] == [2, 3, 4, 2, 3, 4]  # the first compiled and ran cold; then 3 runs a jail
    assert runs.recycled.get("max checks", 0) == before + 2
    assert runs.switched == switched + 1  # OTHER's jail made way for this build's: not a recycle


# Each compiled language: the sum of stdin's two numbers, and the program's pid.
SUM_AND_PID = {
    "go": 'package main\nimport ("fmt"; "os")\nfunc main() { var a, b int; fmt.Scan(&a, &b); fmt.Println(a+b, os.Getpid()) }\n',
    "rust": "use std::io::Read;\nfn main() { let mut s = String::new(); std::io::stdin().read_to_string(&mut s).unwrap();"
            " let v: i64 = s.split_whitespace().map(|x| x.parse::<i64>().unwrap()).sum();"
            ' println!("{} {}", v, std::process::id()); }\n',
    "java": "import java.util.*;\npublic class Main { public static void main(String[] a) { Scanner s = new Scanner(System.in);"
            ' long x = s.nextLong() + s.nextLong(); System.out.println(x + " " + ProcessHandle.current().pid()); } }\n',
    "ts": 'declare var require: any, process: any;\nconst s: string = require("fs").readFileSync(0, "utf8");\n'
          'const [a, b] = s.trim().split(/\\s+/).map(Number);\nconsole.log(a + b, process.pid);\n',
}


@pytest.mark.slow
@pytest.mark.parametrize("language", sorted(SUM_AND_PID))
def test_each_compiled_language_runs_again_warm_as_it_runs_cold(warm: Client, cold: Client, language: str) -> None:
    source = SUM_AND_PID[language]
    ends = {}
    for name, client in (("warm", warm), ("cold", cold)):
        client.execute(source, language=language, stdin=b"0 0")  # compiled, run cold
        runs = [client.execute(source, language=language, stdin=f"{i} 40".encode()) for i in range(3)]
        assert all(r.status == "OK" and r.compile.cached for r in runs), runs
        assert [int(r.stdout.split()[0]) for r in runs] == [40, 41, 42]
        ends[name] = [int(r.stdout.split()[1]) for r in runs]
    assert ends["cold"] == [2, 2, 2]  # a fresh jail each
    assert ends["warm"] == sorted(set(ends["warm"])) and ends["warm"][0] >= 2  # one jail, pids counting up
