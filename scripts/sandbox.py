"""The classroom's sandbox for a student's code (issue 13): bubblewrap plus resource limits.

`command(argv, workdir=..., hide=...)` returns the command line that runs `argv` as the *student
process* of one submission (see scripts/classroom.py): start it with
`subprocess.Popen(cmd, stdin=PIPE, stdout=PIPE)`; the pipes cross the sandbox.

Inside the sandbox (Linux, `bwrap`; `apt-get install bubblewrap`):
- the whole file system read-only (the system and the course's Python, the venv and the editable
  nnlearn checkout), with empty private /tmp, /var/tmp, /dev/shm (in memory, one largest file
  each) and /run (no sockets of the host's services);
- the home directories (/root, /home, $HOME) replaced by empty ones, except the directories the
  course's Python lives in (a pyenv or conda under home), re-bound read-only;
- the `hide` paths (the course directory: gradebook.db, submitted/, autograded/, source/ with
  the solutions) and the checkout's .git (the solutions' history) replaced by empty ones;
- its working directory and HOME, /home/student: an in-memory file system of limited size
  (`Limits.home_bytes`) holding a copy of `workdir` (the private copy of the one submission),
  which itself is read-only at /run/submission; what the process writes stays in the sandbox;
- new network (only its own loopback), pid, ipc, uts and user namespaces; no capabilities; a new
  session (no terminal injection); it dies with its parent; a minimal environment;
- as root, it runs as a user of its own, with no name (`student_uid()`: one per grading
  process, so that sandboxes graded at the same time do not share a process count), and the
  private copy is chown'ed to it, because the kernel exempts root's tasks from the process limit.
The limits (`Limits`; set by scripts/limits.py, an exec wrapper) apply inside.

`sandboxed=False` (the instructor's opt-in where bwrap cannot run) keeps only the limits, the
working directory (workdir itself) and the environment; nothing is hidden, writes land on disk.
The process leads a process group of its own: end it with its children by
`os.killpg(proc.pid, signal.SIGKILL)` (a sandbox ends with `proc.kill()`: its pid namespace goes).
macOS enforces the CPU, file and process limits but not the memory one. The kernel does not
enforce the process limit for root, and root may raise the others: grade unsandboxed as an
ordinary user. Windows has none of them and the argv comes back unchanged (start it with
`cwd=workdir`; the judge's timeouts are all that bounds it).
"""

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

LIMITS_PY = Path(__file__).resolve().with_name("limits.py")
REPO = LIMITS_PY.parent.parent
SANDBOX_HOME = "/home/student"  # the working directory inside the sandbox: a copy of workdir
SUBMISSION = "/run/submission"  # workdir itself, read-only, inside the sandbox
STUDENT_UID_BASE = 0x40000000  # root's sandboxes run as this plus the grader's pid (no one's uid)


@dataclass(frozen=True)
class Limits:
    """Per-process limits of the student process (and of each process it starts)."""

    memory_bytes: int = 4 * 2**30  # private writable memory (Linux RLIMIT_DATA)
    cpu_seconds: int = 120  # CPU time (RLIMIT_CPU)
    processes: int = 64  # tasks, threads included (RLIMIT_NPROC)
    file_bytes: int = 64 * 2**20  # largest file written (RLIMIT_FSIZE)
    # Linux: everything mapped, libraries and shared memory included (RLIMIT_AS), a backstop
    # for what RLIMIT_DATA does not count; torch's libraries map about 1 GiB (CPU build).
    mapped_bytes: int = 12 * 2**30

    def home_bytes(self, workdir: Path) -> int:
        """Size of the sandbox's working directory: the submission plus four largest files.
        /tmp, /var/tmp and /dev/shm may each hold one largest file."""
        files = (p for p in Path(workdir).rglob("*") if p.is_file() and not p.is_symlink())
        return sum(p.stat().st_size for p in files) + 4 * self.file_bytes


def _environment(home: str) -> dict[str, str]:
    """The student process's whole environment: no secrets, one thread per library."""
    path = os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    env = {
        "PATH": path,
        "HOME": home,
        "USER": "student",  # getpass.getuser() reads it; the sandbox's uid may have no name
        "LOGNAME": "student",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TMPDIR": tempfile.gettempdir() if home != SANDBOX_HOME else "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": os.path.join(home, ".matplotlib"),
    }
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = "1"
    if "PYTHONPATH" in os.environ:  # the judge's scripts/ (the student-process runner)
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env


def student_uid() -> int:
    """The uid (and gid) a sandbox started by root runs as: unique to this grading process."""
    return STUDENT_UID_BASE + os.getpid()


def _limit_options(limits: Limits) -> list[str]:
    return [
        "--memory", str(limits.memory_bytes),
        "--mapped", str(limits.mapped_bytes),
        "--cpu", str(limits.cpu_seconds),
        "--file", str(limits.file_bytes),
        "--processes", str(limits.processes),
    ]  # fmt: skip


def _wrapper() -> list[str]:
    # -I -S: no user site, no site-packages, no environment: the stdlib is all it needs.
    return [sys.executable, "-I", "-S", str(LIMITS_PY)]


def _python_dirs() -> list[Path]:
    """Directories the course's Python needs: prefixes, the interpreter, sys.path, the checkout."""
    dirs = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), REPO}
    dirs.add(Path(os.path.realpath(sys.executable)).parent.parent)
    dirs.update(Path(entry) for entry in sys.path if entry and os.path.isdir(entry))
    return sorted({Path(os.path.realpath(d)) for d in dirs})


@functools.cache
def _bwrap_version() -> tuple[int, ...]:
    try:
        out = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout
    except OSError:
        return (0,)
    words = out.split()  # "bubblewrap 0.8.0"
    return tuple(int(part) for part in words[-1].split(".") if part.isdigit()) if words else (0,)


def _inside(path: Path, parents: Sequence[Path]) -> bool:
    return any(path == parent or parent in path.parents for parent in parents)


def _tmpfs(path: str, size: int, perms: str = "1777") -> list[str]:
    """A private, empty, size-limited file system at path (in memory, gone with the sandbox)."""
    sized = ["--size", str(size)] if _bwrap_version() >= (0, 8) else []  # older bwrap: half the RAM
    return ["--perms", perms, *sized, "--tmpfs", path]


def _bwrap(argv: list[str], workdir: Path, hide: Sequence[Path], limits: Limits) -> list[str]:
    homes: list[Path] = []
    for home in sorted({Path(os.path.realpath(p)) for p in ("/root", "/home", Path.home())}):
        if home.is_dir() and not _inside(home, homes):
            homes.append(home)
    hidden = [Path(os.path.realpath(p)) for p in hide] + [REPO / ".git"]
    cmd = [shutil.which("bwrap") or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev"]
    cmd += ["--proc", "/proc"]
    privates = [Path(os.path.realpath(p)) for p in ("/tmp", "/var/tmp", "/dev/shm")]
    for private in privates:
        cmd += _tmpfs(str(private), limits.file_bytes)
    cmd += ["--tmpfs", "/run", "--ro-bind", str(Path(workdir).resolve()), SUBMISSION]
    for home in homes:
        cmd += ["--tmpfs", str(home)]
    # The course's Python under a home directory (pyenv, conda, a checkout in ~) or a temporary
    # one (a checkout in /tmp, as CI may clone it) stays visible, read-only.
    covered = homes + privates
    kept: list[Path] = []
    for directory in _python_dirs():
        if _inside(directory, covered) and not _inside(directory, kept):
            kept.append(directory)
            top = next(top for top in covered if _inside(directory, [top]))
            for parent in reversed(directory.parents):  # bwrap would make them 0700, root's
                if top in parent.parents:
                    cmd += ["--perms", "0755", "--dir", str(parent)]
            cmd += ["--ro-bind", str(directory), str(directory)]
    for path in hidden:
        if path.is_dir():
            cmd += ["--tmpfs", str(path), "--remount-ro", str(path)]
        elif path.exists():
            cmd += ["--ro-bind", "/dev/null", str(path)]
    # The working directory: a size-limited file system in memory, into which the wrapper copies
    # the submission (so that writes, however many files, cannot fill the grader's disk).
    cmd += _tmpfs(SANDBOX_HOME, limits.home_bytes(workdir), "0755") + ["--chdir", SANDBOX_HOME]
    for home in homes:  # now that the mount points in them exist; nothing can be written there
        cmd += ["--remount-ro", str(home)]
    cmd += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    cmd += ["--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent", "--new-session"]
    cmd += ["--cap-drop", "ALL"]
    wrapper = [*_wrapper(), "--copy", SUBMISSION, SANDBOX_HOME, *_limit_options(limits)]
    if os.geteuid() == 0:
        # The kernel exempts root's tasks from RLIMIT_NPROC, and as another user bwrap could not
        # read a Python under /root: bwrap sets up as root (no user namespace), then the wrapper,
        # keeping just these capabilities, hands the private copy to the student's uid and
        # becomes it (no_new_privs: nothing it executes gains privileges back).
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_CHOWN"]
        uid = student_uid()
        wrapper += ["--user", f"{uid}:{uid}", "--own", SANDBOX_HOME]
    else:
        # A user namespace of its own: RLIMIT_NPROC then counts only the sandbox's tasks.
        cmd += ["--unshare-user"]
        if _bwrap_version() >= (0, 8):  # no nested user namespaces (older bwrap lacks it)
            cmd += ["--disable-userns"]
    cmd += ["--clearenv"]
    for name, value in _environment(SANDBOX_HOME).items():
        cmd += ["--setenv", name, value]
    cmd += ["--", *wrapper, "--", *argv]
    return cmd


def command(
    argv: list[str],
    *,
    workdir: Path,
    hide: Sequence[Path] = (),
    limits: Limits = Limits(),
    sandboxed: bool = True,
) -> list[str]:
    """argv wrapped to run in the sandbox (sandboxed=True) or with the limits only; workdir is
    the private writable copy, the process's cwd; hide: extra paths made invisible (the course
    directory). Use with subprocess.Popen(..., stdin=PIPE, stdout=PIPE)."""
    if sandboxed:
        return _bwrap(list(argv), Path(workdir), hide, limits)
    if sys.platform == "win32":  # no resource limits, no exec: the judge's timeouts only
        return list(argv)
    cmd = [*_wrapper(), *_limit_options(limits), "--processes-extra", "--setsid"]
    cmd += ["--chdir", str(Path(workdir).resolve()), "--clearenv"]
    for name, value in _environment(str(Path(workdir).resolve())).items():
        cmd += ["--setenv", f"{name}={value}"]
    return [*cmd, "--", *argv]


@functools.cache
def unavailable_reason() -> str | None:
    """None when the sandbox runs here; otherwise why not, in words for the instructor."""
    if not sys.platform.startswith("linux"):
        return (
            f"the sandbox needs Linux (bubblewrap); this is {sys.platform}. Grade on Linux, or "
            "opt in to unsandboxed grading (make grade UNSANDBOXED=1), which runs the students' "
            "code with your rights"
        )
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    with tempfile.TemporaryDirectory() as workdir:
        try:
            done = subprocess.run(
                command(["true"], workdir=Path(workdir)), capture_output=True, text=True, timeout=30
            )
        except subprocess.TimeoutExpired:
            return "bwrap did not finish a trivial command in 30 s"
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        hint = ""
        if os.geteuid() != 0 and ("namespace" in message or "uid map" in message):
            hint = (
                " (unprivileged user namespaces look disabled: kernel.unprivileged_userns_clone,"
                " or on Ubuntu 24.04 kernel.apparmor_restrict_unprivileged_userns)"
            )
        return f"bwrap cannot run here: {message}{hint}"
    return None
