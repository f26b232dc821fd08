"""The judge (issue 13): grades a submission's notebook without running the student's code.

Before nbgrader executes a submission, scripts/released_cells.py rewrites each student cell
into ``__judge__.run_cell(index, source)`` and puts a first cell that makes the ``Judge``.
The grading kernel then runs only the instructor's cells (set-up, tests and hidden tests);
each student cell runs in the *student process* (scripts/student_process.py), which the judge
starts in the sandbox (scripts/sandbox.py) on a private copy of the submission's folder and
talks to over its pipes (scripts/wire.py; no pickle). The student process runs the
instructor's set-up cells (the cells that are neither tests nor the student's) before the
student's cells that follow them, so the student's code finds the helpers it may use.

After a student cell, the judge binds in the kernel's namespace what the cell bound: plain data
as copies; functions, classes and other objects as ``Proxy``s, whose calls, attributes and
methods run in the student process. A name an instructor cell bound is never rebound: the test
keeps its own ``np``, ``check_activation``, ``x``...; a student cell that rebinds such a name
to another function, module or object is flagged. So the student's code decides only what its
own functions return; monkeypatching numpy, nnlearn.parity or builtins changes the student
process, never the judge.

A student's exception is raised in the judge as the built-in exception of that name (or
``wire.RemoteError``). A call or cell that runs longer than ``timeout`` seconds (set below
nbgrader's cell timeout), nbgrader's own interrupt at that timeout, a student process that
dies (``os._exit``, a limit) or breaks the protocol: the judge kills the process, the cell
fails (StudentTimeout, KeyboardInterrupt, StudentDied) and a flag is recorded. The next use
starts a fresh process that replays the set-up and the student cells that had finished,
without the one that failed: only that part's points are lost. ``finish()``, the notebook's
last cell, prints the flags for released_cells.py.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import sandbox
import wire

SCRIPTS = Path(__file__).resolve().parent
FLAGS = "nnlearn-judge-flags: "  # the line finish() prints


# A failed call's error that says it ran into a limit (the process lived on): its flag.
LIMITS = {
    "limit:memory": ("MemoryError", "Unable to allocate"),
    "limit:file-size": ("File too large",),
    "limit:processes": ("Resource temporarily unavailable",),
}


class StudentError(Exception):
    """The student process failed (died, timed out, broke the protocol)."""


class StudentTimeout(StudentError):
    pass


class StudentDied(StudentError):
    pass


class _Timeout(Exception):
    pass


class _Died(Exception):
    pass


class Proxy:
    """A student's function, class or object in the judge: calls, attributes and methods run
    in the student process. Names refer to the student's namespace (they survive a restart);
    handles to one object of one student process."""

    def __init__(self, judge: Judge, node: dict, label: str):
        self._judge, self._node, self._label = judge, node, label
        self._generation = judge.generation
        self.__name__ = self.__qualname__ = label.split(".")[-1]  # for reports that name it

    def __call__(self, *args, **kwargs):
        return self._judge.call(self, args, kwargs)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return self._judge.getattr(self, name)

    def __repr__(self):
        return f"<the student's {self._label}>"


def _origin(value) -> str | None:
    """module.qualname of an imported function or class (None for the notebook's own)."""
    module, name = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    return f"{module}.{name}" if module and name and module != "__main__" else None


def _python(source: str) -> str:
    """A cell's IPython syntax (magics, !commands) as Python, as the kernel would read it."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # not valid IPython either: Python reports the error in the student's cell
        return source


class Judge:
    def __init__(
        self,
        namespace: dict,
        *,
        shared: dict[int, str] | None = None,
        hide=(),
        sandboxed: bool = True,
        timeout: float = 25.0,
        limits: sandbox.Limits | None = None,
        folder: str | Path | None = None,
    ):
        self.ns, self.shared = namespace, dict(sorted((shared or {}).items()))
        self.hide, self.sandboxed, self.timeout = [Path(p) for p in hide], sandboxed, timeout
        self.limits = limits or sandbox.Limits()
        self.placed: dict[str, object] = {}  # name -> what the judge bound for the student
        self.flags: dict[str, None] = {}  # an ordered set
        self.done: list[tuple[int, str]] = []  # cells the student process finished, in order
        self.proc, self.generation, self.depth, self.deadline = None, 0, 0, 0.0
        self.replaying = False
        self.failure: Exception | None = None
        self.callbacks: list = []  # judge objects given to the student's code, by number
        self.callback_ids: dict[int, int] = {}
        # The private copy, outside the course directory; notebooks (the one being graded holds
        # the hidden tests) stay out.
        self.workdir = Path(tempfile.mkdtemp(prefix="nnlearn-submission-"))
        ignore = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints")
        shutil.copytree(folder or os.getcwd(), self.workdir, ignore=ignore, dirs_exist_ok=True)
        atexit.register(self.close)

    # The notebook's side: student cells, then finish().

    def run_cell(self, index: int, source: str) -> None:
        """Run student cell `index` in the student process and bind what it defined."""
        source = _python(source)
        self._ensure()
        for i, text in self.shared.items():  # the instructor's set-up cells before this one
            if i < index and all(i != j for j, _ in self.done):
                reply, _ = self._exec(i, _python(text))
                if reply.get("error"):
                    error = wire.as_exception(reply["error"])
                    raise StudentError(f"the instructor's cell {i} failed: {error}")
        reply, buffers = self._exec(index, source)
        try:
            self._bind(reply, buffers)
        except wire.ProtocolError as error:
            self._fail("protocol-error", StudentDied, f"sent an unreadable value ({error})")
        if reply.get("error"):
            raise self._failed(reply["error"])

    def finish(self) -> None:
        self.close()
        print(FLAGS + json.dumps(list(self.flags)))

    def close(self) -> None:
        self._kill()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # Proxies' side.

    def call(self, proxy: Proxy, args: tuple, kwargs: dict):
        self._ensure()
        self._check(proxy)
        header, buffers, refs = wire.call(proxy._node, args, kwargs, self._export)
        header["errstate"] = np.geterr()  # a test's np.errstate(over="raise") holds there too
        reply, reply_buffers = self._request(header, buffers)
        if reply.get("op") == "raise":
            raise self._failed(reply)
        try:
            return wire.finish_call(reply, reply_buffers, self._resolve, refs)
        except wire.ProtocolError as error:
            self._fail("protocol-error", StudentDied, f"sent an unreadable value ({error})")

    def getattr(self, proxy: Proxy, name: str):
        self._ensure()
        self._check(proxy)
        reply, buffers = self._request({"op": "getattr", "target": proxy._node, "name": name})
        if reply.get("op") == "raise":
            raise self._failed(reply)
        try:
            return wire.Decoder(buffers, self._resolve).decode(reply["value"])
        except (wire.ProtocolError, KeyError) as error:
            self._fail("protocol-error", StudentDied, f"sent an unreadable value ({error})")

    def _check(self, proxy: Proxy) -> None:
        if proxy._node["t"] == "handle" and proxy._generation != self.generation:
            raise StudentDied(f"{proxy!r} belonged to a student process that was stopped")

    def _export(self, value) -> dict:
        """A judge value that is not plain data, as the student process will see it."""
        if isinstance(value, Proxy):
            self._check(value)
            return value._node
        if callable(value):  # a test's function, np.tanh...: the student's code calls back
            if id(value) not in self.callback_ids:
                self.callback_ids[id(value)] = len(self.callbacks)
                self.callbacks.append(value)
            return {"t": "callback", "id": self.callback_ids[id(value)]}
        raise TypeError(
            f"a {type(value).__name__} cannot be given to the student's code: only numbers, "
            "strings, numpy arrays, lists, tuples and dicts of them, and functions"
        )

    def _resolve(self, node: dict):
        """A node the student process sent: its objects as handles, the judge's callbacks."""
        if node["t"] == "handle":
            label = str(node.get("origin"))[:100]
            return Proxy(self, {"t": "handle", "id": int(node["id"])}, label)
        if node["t"] == "callback" and 0 <= int(node["id"]) < len(self.callbacks):
            return self.callbacks[int(node["id"])]
        raise wire.ProtocolError(f"the student process may not send {node!r:.100}")

    # The student process.

    def _ensure(self) -> None:
        """A running student process that has run every finished cell (again, after a restart)."""
        if self.proc is not None:
            return
        for _ in range(len(self.done) + 1):
            self._spawn()
            self.replaying = True
            try:
                for position, (index, source) in enumerate(self.done):
                    header = {"op": "exec", "source": source, "label": f"cell {index}"}
                    try:
                        self._request(header)
                    except StudentError:  # it fails where it did not before: left out now
                        del self.done[position]
                        break
                else:
                    return
            finally:
                self.replaying = False
        raise StudentDied("the student's cells could not be run again")

    def _spawn(self) -> None:
        argv = [sys.executable, "-I", str(SCRIPTS / "student_process.py")]
        command = sandbox.command(
            argv, workdir=self.workdir, hide=self.hide, limits=self.limits, sandboxed=self.sandboxed
        )
        debug = os.environ.get("NNLEARN_JUDGE_DEBUG")
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None if debug else subprocess.DEVNULL,
            start_new_session=True,  # one process group: killed together
        )
        os.set_blocking(self.proc.stdin.fileno(), False)  # writes wait in select, with deadlines
        self.pipe = wire.Pipe(self.proc.stdout.fileno(), self.proc.stdin.fileno(), self._wait)
        self.generation += 1
        self.deadline = time.monotonic() + self.timeout
        try:
            header, _ = self.pipe.recv()
            if header.get("op") != "ready":
                raise wire.ProtocolError("no greeting")
        except (_Timeout, _Died, EOFError, wire.ProtocolError) as error:
            status = self._kill()
            raise StudentDied(f"the student process did not start ({status}): {error!r}") from None

    def _exec(self, index: int, source: str):
        header = {"op": "exec", "source": source, "label": f"cell {index}"}
        reply = self._request({**header, "errstate": np.geterr()})
        self.done.append((index, source))
        return reply

    def _request(self, header: dict, buffers=()):
        """Send a request; serve the student's callbacks until its reply. On a timeout, death,
        unreadable frame or interrupt: kill the process, flag it, raise."""
        if self.depth == 0:
            self.deadline = time.monotonic() + self.timeout
        self.depth += 1
        try:
            self.pipe.send(header, buffers)
            while True:
                reply, reply_buffers = self.pipe.recv()
                if reply.get("output") and not self.replaying:
                    sys.stdout.write(str(reply["output"])[:100_000])
                if reply.get("op") in ("return", "raise"):
                    return reply, reply_buffers
                if reply.get("op") != "call":
                    raise wire.ProtocolError(f"unexpected {reply.get('op')!r}")
                self._serve_callback(reply, reply_buffers)
        except _Timeout:
            self._fail("timeout", StudentTimeout, f"ran longer than {self.timeout:g} s")
        except (_Died, EOFError, BrokenPipeError):
            self._fail("process-died", StudentDied, "ended its process")
        except wire.ProtocolError as error:
            self._fail("protocol-error", StudentDied, f"broke the protocol ({error})")
        except KeyboardInterrupt:  # nbgrader's interrupt at its cell timeout
            self._kill()
            self._flag("interrupted")
            raise
        finally:
            self.depth -= 1

    def _serve_callback(self, request: dict, buffers) -> None:
        proc, target = self.proc, request.get("target", {})
        number = (
            target.get("id") if isinstance(target, dict) and target.get("t") == "callback" else None
        )
        if not isinstance(number, int) or not 0 <= number < len(self.callbacks):
            raise wire.ProtocolError("a call of something that is not a callback")
        function = self.callbacks[number]
        reply, reply_buffers = wire.serve_call(
            function, request, buffers, self._resolve, self._export, tracebacks=False
        )
        if self.proc is not proc:  # the callback's own calls stopped the student process
            raise self.failure
        self.pipe.send(reply, reply_buffers)

    def _wait(self, fd: int, writing: bool) -> None:
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise _Timeout
            ready = select.select(
                [] if writing else [fd], [fd] if writing else [], [], min(left, 0.25)
            )
            if ready[0] or ready[1]:
                return
            if self.proc.poll() is not None:
                raise _Died

    def _fail(self, flag: str, error_type: type, message: str):
        status = self._kill()
        self._flag(flag if flag != "process-died" else f"{flag} ({status})")
        self.failure = error_type(
            f"The student's code {message} ({status}). The next call starts a new process, "
            "which runs the cells that had finished again."
        )
        raise self.failure from None

    def _kill(self) -> str:
        proc, self.proc = self.proc, None
        if proc is None:
            return "not running"
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the sandbox dies with it
            except ProcessLookupError:
                pass
        code = proc.wait()
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if code == -signal.SIGKILL:
            return "killed by the judge"
        if code < 0 or code > 128:
            number = -code if code < 0 else code - 128
            name = signal.Signals(number).name if number in signal.valid_signals() else number
            return f"ended by signal {name}"
        return f"exit status {code}"

    def _failed(self, error: dict) -> Exception:
        """The exception of a failed call or cell; a limit it ran into is flagged."""
        text = f"{error.get('type')}: {error.get('message')}"
        for flag, signs in LIMITS.items():
            if any(sign in text for sign in signs):
                self._flag(flag)
        return wire.as_exception(error)

    def _flag(self, flag: str) -> None:
        self.flags[flag] = None

    # Binding the student's names.

    def _bind(self, reply: dict, buffers) -> None:
        decoder = wire.Decoder(buffers, self._resolve)
        protected = {
            name
            for name, value in self.ns.items()
            if not name.startswith("_") and not (name in self.placed and self.placed[name] is value)
        }
        for name, info in dict(reply.get("defined") or {}).items():
            if not str(name).isidentifier() or not isinstance(info, dict):
                raise wire.ProtocolError(f"bad name {name!r}")
            if name in protected:
                if not wire.is_data(self.ns[name]) and not self._same(self.ns[name], info):
                    self._flag(f"rebinds-instructor-name:{name}")
                continue
            if info.get("kind") == "data":
                value = decoder.decode(info["value"])
            elif info.get("kind") == "object":
                value = Proxy(self, {"t": "name", "name": name}, name)
            else:  # a module: never imported in the judge (it may be the student's own file)
                continue
            self.ns[name] = self.placed[name] = value
        for name in reply.get("deleted") or []:
            if name in self.placed and self.ns.get(name) is self.placed.pop(name):
                del self.ns[name]

    @staticmethod
    def _same(value, info: dict) -> bool:
        """Whether the student's new binding is what the instructor's is: `import numpy as np`
        again, or the same library function imported again (not a flag)."""
        if info.get("kind") == "module":
            return isinstance(value, types.ModuleType) and value.__name__ == info.get("name")
        origin = _origin(value)
        return info.get("kind") == "object" and origin is not None and origin == info.get("origin")
