"""The student process (issue 13): runs one submission's code, in the sandbox, for the judge.

scripts/judge.py starts it (through scripts/sandbox.py) and talks to it over its stdin and
stdout only, in scripts/wire.py's frames. It serves one request at a time:

* ``exec``: run a cell in its namespace (the instructor's set-up cells and the student's
  cells, in the notebook's order); the reply names what the cell bound: plain data as values,
  modules by name, anything else (functions, classes, objects) described by its origin;
* ``call``: call a student object (by name or handle) with copies of the judge's arguments,
  under the judge's numpy error state (``np.errstate``); the judge's functions among them
  arrive as callbacks that call back over the pipe;
* ``getattr``: an attribute of a student object.

Whatever the student's code changes here (numpy, nnlearn.parity, builtins) stays here: the
judge sees only the values sent back. What the code prints is captured and sent with each
reply; the frames keep their own copy of stdout, and file descriptor 1 goes to /dev/null, so a
print cannot break them. A process forked by the student's code exits instead of answering.
"""

import builtins
import io
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves scripts/ out

import numpy as np  # noqa: E402
import wire  # noqa: E402

OUTPUT_LIMIT = 100_000  # characters of printed output kept per reply


class Output(io.TextIOBase):
    """Printed text, at most OUTPUT_LIMIT characters until taken."""

    def __init__(self):
        self.parts, self.size = [], 0

    def writable(self):
        return True

    def write(self, text):
        if self.size < OUTPUT_LIMIT:
            self.parts.append(str(text)[: OUTPUT_LIMIT - self.size])
        self.size += len(text)
        return len(text)

    def take(self) -> str:
        text = "".join(self.parts) + ("\n[output cut]\n" if self.size > OUTPUT_LIMIT else "")
        self.parts, self.size = [], 0
        return text


class NoIPython:
    """get_ipython() in a student's cell: magics and shell commands are skipped."""

    def __getattr__(self, name):
        def skip(*args, **kwargs):
            print(f"(IPython's {name} is not run while grading)")

        return skip


class Callback:
    """A function of the judge, given as an argument: calling it calls the judge."""

    def __init__(self, student, node):
        self.student, self.node = student, node

    def __call__(self, *args, **kwargs):
        student = self.student
        header, buffers, refs = wire.call(self.node, args, kwargs, student.export)
        header["output"] = student.output.take()
        reply, reply_buffers = student.exchange(header, buffers)
        return wire.finish_call(reply, reply_buffers, student.resolve, refs)


def origin(obj) -> str:
    try:
        return f"{obj.__module__}.{obj.__qualname__}"
    except Exception:
        return f"instance of {type(obj).__module__}.{type(obj).__qualname__}"


class Student:
    def __init__(self):
        self.pid = os.getpid()
        read_fd, write_fd = os.dup(0), os.dup(1)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        self.pipe = wire.Pipe(read_fd, write_fd)
        self.output = Output()
        sys.stdout = sys.stderr = self.output
        sys.path.insert(0, os.getcwd())  # the submission's own modules, as in a kernel
        self.namespace = {"__name__": "__main__", "__builtins__": builtins}
        self.namespace["get_ipython"] = NoIPython
        self.handles, self.handle_ids = [], {}

    def export(self, obj) -> dict:
        if isinstance(obj, Callback):
            return obj.node
        if id(obj) not in self.handle_ids:
            self.handle_ids[id(obj)] = len(self.handles)
            self.handles.append(obj)  # kept alive: the judge may use it again
        return {"t": "handle", "id": self.handle_ids[id(obj)], "origin": origin(obj)}

    def resolve(self, node):
        if node["t"] == "handle":
            return self.handles[int(node["id"])]
        if node["t"] == "name":
            if node["name"] not in self.namespace:
                raise NameError(f"name {node['name']!r} is not defined")
            return self.namespace[node["name"]]
        if node["t"] == "callback":
            return Callback(self, node)
        raise wire.ProtocolError(f"unknown node {node['t']!r}")

    def exchange(self, header, buffers):
        """Send a request to the judge; serve its requests until its reply comes."""
        self.pipe.send(header, buffers)
        while True:
            request, request_buffers = self.pipe.recv()
            if request["op"] in ("return", "raise"):
                return request, request_buffers
            self.serve(request, request_buffers)

    def serve(self, request, buffers):
        try:
            with np.errstate(**request.get("errstate", {})):
                if request["op"] == "exec":
                    reply, reply_buffers = self.run(request["source"], request["label"])
                elif request["op"] == "call":
                    target = self.resolve(request["target"])
                    reply, reply_buffers = wire.serve_call(
                        target, request, buffers, self.resolve, self.export
                    )
                else:  # getattr
                    encoder = wire.Encoder(self.export)
                    value = getattr(self.resolve(request["target"]), request["name"])
                    reply = {"op": "return", "value": encoder.encode(value)}
                    reply_buffers = encoder.buffers
        except BaseException as error:  # sys.exit() in a student's function fails that call
            reply, reply_buffers = wire.raise_reply(error), []
        if os.getpid() != self.pid:
            os._exit(0)
        reply["output"] = self.output.take()
        self.pipe.send(reply, reply_buffers)

    def run(self, source: str, label: str):
        before = dict(self.namespace)
        error = None
        try:
            exec(compile(source, f"<{label}>", "exec"), self.namespace)
        except BaseException as e:  # the cell fails; what it defined before still counts
            error = wire.raise_reply(e)
        encoder, defined = wire.Encoder(self.export), {}
        for name, value in self.namespace.items():
            if name.startswith("__") or (name in before and before[name] is value):
                continue
            if isinstance(value, types.ModuleType):
                defined[name] = {"kind": "module", "name": value.__name__}
            elif wire.is_data(value):
                defined[name] = {"kind": "data", "value": encoder.encode(value)}
            else:
                defined[name] = {"kind": "object", "origin": origin(value)}
        deleted = [name for name in before if name not in self.namespace]
        reply = {"op": "return", "value": None, "defined": defined, "deleted": deleted}
        return {**reply, "error": error}, encoder.buffers


def main():
    student = Student()
    student.pipe.send({"op": "ready"})
    while True:
        try:
            request, buffers = student.pipe.recv()
        except EOFError:  # the judge is gone
            return
        student.serve(request, buffers)


if __name__ == "__main__":
    main()
