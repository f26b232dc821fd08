"""Exec wrapper for the classroom's student process (issue 13): set resource limits, then exec.

    python -I -S scripts/limits.py [options] -- PROGRAM [ARGS...]

Standard library only, so it runs under any Python 3 without the course's packages (scripts/
sandbox.py builds its command lines; nothing else should need to). Options, all optional:

  --memory BYTES      memory the process may allocate (Linux: RLIMIT_DATA, which counts every
                      private writable mapping -- heap, numpy buffers, thread stacks -- but not
                      the files torch's libraries map; elsewhere RLIMIT_AS, which macOS does not
                      enforce)
  --mapped BYTES      Linux: all it may map, files and shared memory too (RLIMIT_AS): the backstop
                      for shared anonymous memory, which RLIMIT_DATA does not count
  --cpu SECONDS       CPU time (RLIMIT_CPU: SIGXCPU at the limit, SIGKILL a second later)
  --file BYTES        largest file it may write (RLIMIT_FSIZE: Python ignores SIGXFSZ, so a write
                      past it raises OSError EFBIG)
  --processes N       processes and threads (RLIMIT_NPROC). The kernel counts them per user, and
                      per user namespace: inside bwrap's user namespace only the sandbox's own
                      tasks count, so N is exact there. Without a namespace the count includes
                      every other process of this user, so --processes-extra adds the number of
                      tasks the user runs now. The kernel does not enforce it for root.
  --processes-extra   (flag) see --processes
  --user UID:GID      drop to this user (only as root; used before bwrap so that the sandbox's
                      tasks are not root's, which RLIMIT_NPROC would exempt)
  --own DIR           with --user: chown DIR recursively to that user first (the private copy
                      the process must write)
  --copy SRC DST      copy the files of directory SRC into directory DST first (the sandbox's
                      working directory is an empty size-limited tmpfs; SRC the submission)
  --chdir DIR         working directory
  --setsid            a new session and process group, whose id is the process's pid, so that
                      the grader can end it and its children with os.killpg(pid, SIGKILL)
                      (without a sandbox; in one, its pid namespace ends them all)
  --clearenv          start from an empty environment
  --setenv NAME=VALUE set a variable (after --clearenv); repeatable

Hard limits equal the soft ones (CPU: one second more), so the process cannot raise them.
Windows has no `resource` module and no exec: scripts/sandbox.py does not use this file there.
"""

import os
import sys


def _tasks_of(uid):
    """Number of tasks (processes and threads) whose real uid is `uid`: what RLIMIT_NPROC counts
    on Linux; on other systems the processes (macOS counts processes only)."""
    if os.path.isdir("/proc/self/task"):
        count = 0
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/status") as status:
                    fields = dict(line.split(":", 1) for line in status if ":" in line)
            except OSError:  # the process ended while we looked
                continue
            if int(fields["Uid"].split()[0]) == uid:
                count += int(fields.get("Threads", "1"))
        return count
    import subprocess

    out = subprocess.run(["ps", "-A", "-o", "ruid="], capture_output=True, text=True).stdout
    return sum(1 for word in out.split() if word.strip() == str(uid))


def _set(resource, which, value, hard_extra=0):
    resource.setrlimit(which, (value, value + hard_extra))


def main(args):
    options = {"setenv": []}
    while args and args[0] != "--":
        name = args.pop(0)[2:]
        if name == "copy":
            options["copy"] = (args.pop(0), args.pop(0))
        elif name in ("clearenv", "processes-extra", "setsid"):
            options[name] = True
        elif name == "setenv":
            options["setenv"].append(args.pop(0))
        else:
            options[name] = args.pop(0)
    argv = args[1:]
    if not argv:
        sys.exit("limits.py: nothing to run (usage: limits.py [options] -- PROGRAM [ARGS...])")

    import resource  # before dropping to --user, who may not be able to read the stdlib

    if "copy" in options:
        import shutil

        source, target = options["copy"]
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    if "user" in options and os.geteuid() == 0:
        uid, gid = (int(part) for part in options["user"].split(":"))
        if "own" in options:
            # Bottom up: once a directory is the user's, root (without CAP_DAC_OVERRIDE here)
            # may no longer be allowed into it.
            for root, dirs, files in os.walk(options["own"], topdown=False):
                for name in dirs + files:
                    os.lchown(os.path.join(root, name), uid, gid)
            os.lchown(options["own"], uid, gid)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    linux = sys.platform.startswith("linux")
    if "memory" in options:
        try:
            _set(
                resource,
                resource.RLIMIT_DATA if linux else resource.RLIMIT_AS,
                int(options["memory"]),
            )
        except (ValueError, OSError) as error:  # macOS may refuse RLIMIT_AS; it ignores it anyway
            print(f"limits.py: no memory limit here ({error})", file=sys.stderr)
    if "mapped" in options and linux:
        _set(resource, resource.RLIMIT_AS, int(options["mapped"]))
    if "cpu" in options:
        _set(resource, resource.RLIMIT_CPU, int(options["cpu"]), hard_extra=1)
    if "file" in options:
        _set(resource, resource.RLIMIT_FSIZE, int(options["file"]))
    if "processes" in options:
        allowed = int(options["processes"])
        if options.get("processes-extra"):
            allowed += _tasks_of(os.getuid())
        _set(resource, resource.RLIMIT_NPROC, allowed)

    if options.get("clearenv"):
        os.environ.clear()
    for pair in options["setenv"]:
        name, _, value = pair.partition("=")
        os.environ[name] = value
    if options.get("setsid") and os.getpgid(0) != os.getpid():  # not already a group leader
        os.setsid()
    if "chdir" in options:
        os.chdir(options["chdir"])
    try:
        if os.sep in argv[0]:  # execvp would import modules the dropped --user may not read
            os.execv(argv[0], argv)
        os.execvp(argv[0], argv)
    except OSError as error:
        sys.exit(f"limits.py: cannot run {argv[0]}: {error}")


if __name__ == "__main__":
    main(sys.argv[1:])
