"""The classroom's sandbox (scripts/sandbox.py, scripts/limits.py): one test per attack.

Each attack is a short `python -c` snippet run through `sandbox.command()`, as the grader runs a
student process; the test asserts on what the snippet saw (exceptions, errno), its exit status,
and what exists outside afterwards. The limits are set low (32 processes, 256 MiB, 1 CPU
second, 1 MiB files), and every snippet bounds itself as well (a spawner that stops at 200
children, a hog that stops at 2 GiB), so a broken limit fails a test without harming the machine.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.classroom

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import sandbox  # noqa: E402
from sandbox import Limits  # noqa: E402

MiB = 2**20
GiB = 2**30


def run(code: str, workdir: Path, *, hide=(), limits=None, sandboxed=True):
    """Run a snippet as the student process; a hard timeout kills it (and, through
    --die-with-parent and the pid namespace, everything it started)."""
    argv = [sys.executable, "-c", textwrap.dedent(code)]
    limits = limits or Limits()
    cmd = sandbox.command(argv, workdir=workdir, hide=hide, limits=limits, sandboxed=sandboxed)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def workdir(tmp_path):
    """The private copy of one submission, with a data file in it."""
    copy = tmp_path / "submission"
    copy.mkdir()
    (copy / "data.txt").write_text("the submission's data")
    return copy


@pytest.fixture
def course():
    """A course directory (gradebook, another student's submission, the solutions) beside a
    visible file, somewhere the sandbox would otherwise show (the repository, not /tmp, which
    the sandbox replaces anyway)."""
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    base = Path(tempfile.mkdtemp(dir=ROOT / "test-artifacts", prefix="sandbox-"))
    base.chmod(0o755)  # readable by the sandbox's user, so only hiding can make it unreadable
    course = base / "course"
    for path, text in {
        "gradebook.db": "SQLite format 3 -- the grades",
        "submitted/bob/a1_neurons/a1_neurons.ipynb": "bob's answers",
        "source/a1_neurons/a1_neurons.ipynb": "### BEGIN SOLUTION",
    }.items():
        (course / path).parent.mkdir(parents=True, exist_ok=True)
        (course / path).write_text(text)
    (base / "visible.txt").write_text("not hidden")
    yield course
    shutil.rmtree(base)


def lines(done: subprocess.CompletedProcess) -> list[str]:
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_the_sandbox_runs_here():
    assert sandbox.unavailable_reason() is None  # make test installs bubblewrap on Linux


def test_unavailable_reason_says_how_to_install_bwrap(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    sandbox.unavailable_reason.cache_clear()
    try:
        reason = sandbox.unavailable_reason()
    finally:
        monkeypatch.undo()
        sandbox.unavailable_reason.cache_clear()
    assert reason is not None and "apt-get install bubblewrap" in reason


def test_the_private_copy_is_writable_and_the_course_python_importable(workdir):
    out = lines(
        run(
            """
            import os, numpy, nnlearn, nnlearn.parity  # the set-up cells' imports, torch too
            print(open("data.txt").read())
            open("answer.txt", "w").write("written")
            os.mkdir("results")
            print(open("answer.txt").read(), os.getcwd() == os.environ["HOME"])
            """,
            workdir,
        )
    )
    assert out == ["the submission's data", "written True"]
    # Writes stay in the sandbox: the grader's copy is as it was.
    assert sorted(p.name for p in workdir.iterdir()) == ["data.txt"]


def test_a_course_python_under_tmp_stays_visible_and_read_only(workdir, monkeypatch):
    # CI may clone the course into /tmp, which the sandbox replaces with a private one: the
    # course's Python and checkout there must stay readable (and not writable).
    checkout = Path(tempfile.mkdtemp(dir="/tmp", prefix="checkout-"))
    try:
        checkout.chmod(0o755)
        (checkout / "module.py").write_text("WHERE = 'the checkout'")
        (checkout / "module.py").chmod(0o644)
        dirs = sandbox._python_dirs()
        monkeypatch.setattr(sandbox, "_python_dirs", lambda: [*dirs, checkout])
        out = lines(
            run(
                f"""
                import sys
                sys.path.insert(0, {str(checkout)!r})
                import module
                try:
                    open({str(checkout / "new.txt")!r}, "w")
                except OSError as error:
                    print(module.WHERE, error.errno)
                """,
                workdir,
            )
        )
        assert out == [f"the checkout {errno.EROFS}"]
        assert not (checkout / "new.txt").exists()
    finally:
        shutil.rmtree(checkout)


def test_writes_outside_the_private_copy_fail_and_leave_nothing(workdir, course, tmp_path):
    token = uuid.uuid4().hex
    targets = {
        "repo": ROOT / f"sandbox-escape-{token}",
        "course": course / "gradebook.db",
        "home": Path.home() / f"sandbox-escape-{token}",
        "host_tmp": tmp_path / f"sandbox-escape-{token}",
        "submission": workdir / "data.txt",
    }
    code = f"""
        import json
        results = {{}}
        for name, path in { ({k: str(v) for k, v in targets.items()})!r}.items():
            try:
                open(path, "w").write("tampered")
                results[name] = "written"
            except OSError as error:
                results[name] = error.errno
        open("/tmp/{token}", "w").write("private")  # the sandbox's own /tmp: allowed
        print(json.dumps(results))
        """
    import json

    results = json.loads(lines(run(code, workdir, hide=[course]))[0])
    assert all(isinstance(value, int) for value in results.values()), results
    assert results["repo"] == errno.EROFS
    for name in ("repo", "home", "host_tmp"):
        assert not targets[name].exists(), name
    assert (course / "gradebook.db").read_text() == "SQLite format 3 -- the grades"
    assert (workdir / "data.txt").read_text() == "the submission's data"
    assert not Path(f"/tmp/{token}").exists()


def test_the_course_and_other_submissions_are_unreadable(workdir, course):
    paths = [course / "gradebook.db", course / "submitted/bob/a1_neurons/a1_neurons.ipynb"]
    paths.append(course / "source/a1_neurons/a1_neurons.ipynb")
    out = lines(
        run(
            f"""
            import os
            print(open({str(course.parent / "visible.txt")!r}).read())  # beside it: visible
            print(os.listdir({str(course)!r}), os.listdir({str(ROOT / ".git")!r}))
            for path in {[str(p) for p in paths]!r}:
                try:
                    print(open(path).read())
                except OSError as error:
                    print(type(error).__name__)
            """,
            workdir,
            hide=[course],
        )
    )
    assert out == ["not hidden", "[] []", *["FileNotFoundError"] * 3]


def test_no_network_not_even_the_graders_loopback(workdir):
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    abstract = socket.socket(socket.AF_UNIX)
    abstract_name = f"\0nnlearn-sandbox-{uuid.uuid4().hex}"
    abstract.bind(abstract_name)
    abstract.listen()
    abstract.setblocking(False)
    try:
        out = lines(
            run(
                f"""
                import socket
                for family, address in [
                    (socket.AF_INET, ("127.0.0.1", {server.getsockname()[1]})),
                    (socket.AF_INET, ("192.0.2.1", 80)),  # any address outside
                    (socket.AF_UNIX, {abstract_name!r}),
                ]:
                    try:
                        socket.socket(family).connect(address)
                        print("connected")
                    except OSError as error:
                        print(error.errno)
                """,
                workdir,
            )
        )
        assert out == [str(errno.ECONNREFUSED), str(errno.ENETUNREACH), str(errno.ECONNREFUSED)]
        for listener in (server, abstract):
            with pytest.raises(BlockingIOError):  # nobody connected
                listener.accept()
    finally:
        server.close()
        abstract.close()


def test_a_fork_bomb_is_stopped_by_the_process_limit(workdir):
    token = uuid.uuid4().hex
    out = lines(
        run(
            f"""
            import os, time
            token = "{token}"
            children = 0
            try:
                while children < 200:  # bounded, should the limit fail
                    if os.fork() == 0:
                        time.sleep(60)
                        os._exit(0)
                    children += 1
                print("not stopped", children)
            except OSError as error:
                print(error.errno, children)
            """,
            workdir,
            limits=Limits(processes=32),
        )
    )
    code, children = out[0].split()
    assert int(code) == errno.EAGAIN and 20 <= int(children) < 32
    # The sleeping children went with the sandbox's pid namespace.
    assert _running(token) == []


SLEEPERS = """
    import os, time
    token = "{token}"
    if os.fork() == 0:
        time.sleep(60)
        os._exit(0)
    print("ready", flush=True)
    time.sleep(60)
    """


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "limits-only"])
def test_killing_the_student_process_ends_all_it_started(workdir, sandboxed):
    """How the grader stops a student process after a timeout (see sandbox's docstring)."""
    token = uuid.uuid4().hex
    argv = [sys.executable, "-c", textwrap.dedent(SLEEPERS.format(token=token))]
    cmd = sandbox.command(argv, workdir=workdir, sandboxed=sandboxed)
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "ready\n"
        assert len(_running(token)) >= 2  # the process and its child (and bwrap's two)
        if sandboxed:
            process.kill()
        else:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 5
        while _running(token) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _running(token) == []
    finally:
        process.kill()
        process.stdout.close()
        process.wait()


def _running(token: str) -> list[str]:
    """The live (not zombie) processes whose command line holds token."""
    return [
        pid
        for pid in os.listdir("/proc")
        if pid.isdigit() and _has(pid, token) and not _zombie(pid)
    ]


def _zombie(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def _has(pid: str, token: str) -> bool:
    try:
        return token.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


HOG = """
    chunks = []
    try:
        while len(chunks) < 128:  # 2 GiB at most, should the limit fail
            chunks.append(bytearray(16 * 2**20))  # zero-filled: really used
        print("not stopped")
    except MemoryError:
        print("MemoryError", len(chunks))
    """


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "limits-only"])
def test_a_memory_hog_is_stopped(workdir, sandboxed):
    limits = Limits(memory_bytes=256 * MiB)
    word, chunks = lines(run(HOG, workdir, limits=limits, sandboxed=sandboxed))[0].split()
    assert word == "MemoryError" and 8 <= int(chunks) < 16  # python itself uses some of it


SHARED = """
    import mmap
    try:
        mmap.mmap(-1, 2 * 2**30, flags=mmap.MAP_SHARED)  # shared memory: not in RLIMIT_DATA
        print("not stopped")
    except OSError as error:
        print(error.errno)
    """


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "limits-only"])
def test_shared_memory_is_bounded_by_the_address_space_limit(workdir, sandboxed):
    limits = Limits(memory_bytes=256 * MiB, mapped_bytes=1024 * MiB)
    assert lines(run(SHARED, workdir, limits=limits, sandboxed=sandboxed)) == [str(errno.ENOMEM)]


BIG_FILE = """
    import os
    try:
        with open("big.bin", "wb") as file:
            file.write(bytes(4 * 2**20))
        print("not stopped")
    except OSError as error:
        print(error.errno, os.path.getsize("big.bin"))
    """


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "limits-only"])
def test_a_huge_file_is_stopped_at_the_file_limit(workdir, sandboxed):
    limits = Limits(file_bytes=MiB)
    code, size = lines(run(BIG_FILE, workdir, limits=limits, sandboxed=sandboxed))[0].split()
    assert int(code) == errno.EFBIG and int(size) == MiB


@pytest.mark.parametrize("sandboxed", [True, False], ids=["sandboxed", "limits-only"])
def test_a_busy_loop_is_stopped_by_the_cpu_limit(workdir, sandboxed):
    done = run("while True: pass", workdir, limits=Limits(cpu_seconds=1), sandboxed=sandboxed)
    # bwrap reports a child killed by signal N as 128 + N; without it the signal comes through.
    assert done.returncode == (128 + signal.SIGXCPU if sandboxed else -signal.SIGXCPU)


def test_limits_only_sets_every_limit_the_environment_and_the_directory(workdir, monkeypatch):
    monkeypatch.setenv("NNLEARN_GRADER_SECRET", "the instructor's token")
    limits = Limits(300 * MiB, cpu_seconds=7, processes=40, file_bytes=3 * MiB, mapped_bytes=GiB)
    out = lines(
        run(
            """
            import os, resource
            for name in ("DATA", "AS", "CPU", "FSIZE", "NPROC"):
                print(*resource.getrlimit(getattr(resource, "RLIMIT_" + name)))
            print(os.getcwd(), "NNLEARN_GRADER_SECRET" in os.environ)
            """,
            workdir,
            limits=limits,
            sandboxed=False,
        )
    )
    assert out[:4] == [f"{300 * MiB} {300 * MiB}", f"{GiB} {GiB}", "7 8", f"{3 * MiB} {3 * MiB}"]
    # The process limit adds the tasks this user runs already (the kernel counts them all).
    soft, hard = map(int, out[4].split())
    assert soft == hard and 40 < soft < 40 + 100_000
    assert out[5] == f"{workdir.resolve()} False"
