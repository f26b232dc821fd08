"""How the judge and the student process talk (issue 13): frames of JSON and raw arrays, no pickle.

A message is one frame: an 8-byte big-endian length, a 4-byte length of its JSON header, the
header, then the raw buffers of the arrays it carries. Values travel as JSON *nodes*:

* ``None``, bools, ints, floats (NaN and infinities too) and strings as themselves;
* ``{"t": "list" | "tuple", "v": [...]}``, ``{"t": "dict", "k": [...], "v": [...]}``;
* ``{"t": "array" | "scalar", "dtype": "<f8", "shape": [...], "b": i}`` (numbers, bools;
  ``b`` indexes the buffers), ``{"t": "complex", "v": [re, im]}``, ``{"t": "bytes", "b": i}``;
* anything else is a reference made by the sender's ``export`` hook (``handle``: a student
  object, ``callback``: a judge object, ``name``: a name in the student's namespace), which
  the receiver's ``resolve`` hook turns back into an object (or refuses);
* ``{"t": "ref", "n": k, "v": node}``: the receiver's own k-th mutable argument (arrays, lists
  and dicts, numbered in the order they were encoded), whose contents are now ``v``.

Calls (``call``, ``serve_call``, ``finish_call``) copy their arguments; after the call, the
callee sends back the arguments it changed in place (``ref`` nodes), and the caller puts the
changes into its own objects, so an optimizer step that updates a parameter array or a state
dict in place works as it does in one process. Decoding only builds plain data: what a
student's process sends can be wrong, never code that runs in the judge.
"""

from __future__ import annotations

import json
import os
import struct
import traceback

import numpy as np

MAX_FRAME = 512 * 2**20  # bytes: a larger frame is refused (ProtocolError)
KINDS = "biufc"  # numpy dtype kinds that travel: bools, integers, floats, complex
PLAIN = (type(None), bool, int, float, str)


class ProtocolError(Exception):
    """A frame or node that does not follow this module's rules."""


def pack(header: dict, buffers: list[bytes]) -> bytes:
    head = json.dumps({**header, "sizes": [len(b) for b in buffers]}).encode()
    body = b"".join([struct.pack(">I", len(head)), head, *buffers])
    return struct.pack(">Q", len(body)) + body


def unpack(body: bytes) -> tuple[dict, list[memoryview]]:
    try:
        (size,) = struct.unpack_from(">I", body)
        header = json.loads(body[4 : 4 + size])
        view, offset, buffers = memoryview(body), 4 + size, []
        for length in header.pop("sizes"):
            buffers.append(view[offset : offset + int(length)])
            offset += int(length)
    except (ValueError, TypeError, KeyError, AttributeError, struct.error, RecursionError) as e:
        raise ProtocolError(f"unreadable frame: {e}") from None
    if offset != len(body) or not isinstance(header, dict):
        raise ProtocolError("frame and header do not match")
    return header, buffers


class Pipe:
    """Frames over two file descriptors. ``wait(fd, writing)`` is called before each read or
    write (the judge's deadlines); without it, reads and writes block."""

    def __init__(self, read_fd: int, write_fd: int, wait=None):
        self.read_fd, self.write_fd, self.wait = read_fd, write_fd, wait

    def send(self, header: dict, buffers: list[bytes] = ()) -> None:
        data = memoryview(pack(header, list(buffers)))
        while data:
            if self.wait:
                self.wait(self.write_fd, True)
            try:
                data = data[os.write(self.write_fd, data) :]
            except BlockingIOError:  # the judge's non-blocking pipe is full: wait again
                pass

    def recv(self) -> tuple[dict, list[memoryview]]:
        (size,) = struct.unpack(">Q", self._read(8))
        if size > MAX_FRAME:
            raise ProtocolError(f"a frame of {size} bytes (at most {MAX_FRAME})")
        return unpack(self._read(size))

    def _read(self, size: int) -> bytes:
        chunks, left = [], size
        while left:
            if self.wait:
                self.wait(self.read_fd, False)
            chunk = os.read(self.read_fd, min(left, 2**20))
            if not chunk:
                raise EOFError("the other side closed the pipe")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


def is_data(value, depth: int = 0) -> bool:
    """Whether value travels as a copy: numbers, strings, arrays, and containers of them."""
    if isinstance(value, (*PLAIN, complex, bytes, np.generic)):
        return not isinstance(value, np.generic) or value.dtype.kind in KINDS
    if isinstance(value, np.ndarray):
        return value.dtype.kind in KINDS
    if depth > 50:
        return False
    if isinstance(value, (list, tuple)):
        return all(is_data(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(is_data(k, depth + 1) and is_data(v, depth + 1) for k, v in value.items())
    return False


class Encoder:
    """Values to nodes. ``known``: {id(obj): k} of objects that are the receiver's k-th
    argument (sent back as ``ref``); ``refs``: the mutable objects encoded, in order."""

    def __init__(self, export, known: dict[int, int] | None = None):
        self.export, self.known, self.buffers, self.refs = export, known or {}, [], []

    def encode(self, value):
        if id(value) in self.known:
            return {"t": "ref", "n": self.known[id(value)], "v": self._content(value)}
        return self._content(value)

    def _content(self, value):
        if isinstance(value, PLAIN) and not isinstance(value, np.generic):  # np.float64 is a float
            return value
        if isinstance(value, (np.ndarray, np.generic)) and value.dtype.kind in KINDS:
            array = np.asarray(value)  # (not ascontiguousarray: it makes a 0-d array 1-d)
            if isinstance(value, np.ndarray):
                self.refs.append(value)
            self.buffers.append(array.tobytes(order="C"))
            kind = "array" if isinstance(value, np.ndarray) else "scalar"
            return {
                "t": kind,
                "dtype": array.dtype.str,
                "shape": list(array.shape),
                "b": len(self.buffers) - 1,
            }
        if isinstance(value, (list, tuple)):
            if isinstance(value, list):
                self.refs.append(value)
            return {
                "t": "list" if isinstance(value, list) else "tuple",
                "v": [self.encode(v) for v in value],
            }
        if isinstance(value, dict):
            self.refs.append(value)
            keys = list(value)
            return {
                "t": "dict",
                "k": [self.encode(k) for k in keys],
                "v": [self.encode(value[k]) for k in keys],
            }
        if isinstance(value, complex):
            return {"t": "complex", "v": [value.real, value.imag]}
        if isinstance(value, bytes):
            self.buffers.append(bytes(value))
            return {"t": "bytes", "b": len(self.buffers) - 1}
        return self.export(value)


class Decoder:
    """Nodes to values. ``targets``: the objects this side sent as arguments (``ref`` nodes
    update them in place); ``refs``: the mutable objects built, in order (as Encoder.refs)."""

    def __init__(self, buffers, resolve, targets: list | None = None):
        self.buffers, self.resolve, self.targets, self.refs = buffers, resolve, targets or [], []

    def decode(self, node):
        try:
            return self._decode(node)
        except ProtocolError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as e:
            raise ProtocolError(f"bad value: {type(e).__name__}: {e}") from None

    def _decode(self, node):
        if isinstance(node, PLAIN):
            return node
        kind = node["t"]
        if kind in ("array", "scalar"):
            dtype = np.dtype(node["dtype"])
            if dtype.kind not in KINDS or dtype.fields is not None:
                raise ProtocolError(f"dtype {dtype} does not travel")
            shape = tuple(int(n) for n in node["shape"])
            array = np.frombuffer(self.buffers[node["b"]], dtype=dtype).reshape(shape).copy()
            if kind == "scalar":
                return array[()]
            self.refs.append(array)
            return array
        if kind == "list":
            out = []
            self.refs.append(out)
            out.extend(self._decode(v) for v in node["v"])
            return out
        if kind == "tuple":
            return tuple(self._decode(v) for v in node["v"])
        if kind == "dict":
            out = {}
            self.refs.append(out)
            for k, v in zip(node["k"], node["v"], strict=True):
                out[self._decode(k)] = self._decode(v)
            return out
        if kind == "complex":
            return complex(float(node["v"][0]), float(node["v"][1]))
        if kind == "bytes":
            return bytes(self.buffers[node["b"]])
        if kind == "ref":
            return _update(self.targets[int(node["n"])], self._decode(node["v"]))
        return self.resolve(node)


def _update(target, new):
    """target (an object this side sent) changed in place to new's contents; returns target."""
    if isinstance(target, np.ndarray) and isinstance(new, np.ndarray):
        if target.shape == new.shape and target.flags.writeable:
            np.copyto(target, new, casting="unsafe")
    elif isinstance(target, list) and isinstance(new, list):
        target[:] = new
    elif isinstance(target, dict) and isinstance(new, dict):
        target.clear()
        target.update(new)
    else:
        return new
    return target


def call(target_node, args, kwargs, export, **extra) -> tuple[dict, list[bytes], list]:
    """A call request: header, buffers, and the encoded mutable arguments (for finish_call)."""
    encoder = Encoder(export)
    items = [[i, encoder.encode(a)] for i, a in enumerate(args)]
    items += [[name, encoder.encode(v)] for name, v in kwargs.items()]
    header = {"op": "call", "target": target_node, "args": items, **extra}
    return header, encoder.buffers, encoder.refs


def finish_call(header, buffers, resolve, targets):
    """The value of a call's reply; its in-place changes applied to targets. Raises the
    callee's exception (as_exception) if it raised."""
    if header.get("op") == "raise":
        raise as_exception(header)
    decoder = Decoder(buffers, resolve, targets)
    for _, node in header.get("sync", []):
        decoder.decode(node)
    return decoder.decode(header["value"])


def serve_call(function, header, buffers, resolve, export, tracebacks=True):
    """Run a call request on function; the reply (header, buffers), with the arguments it
    changed in place. tracebacks=False: an exception's reply says only its type and message
    (the judge's tracebacks would show the hidden tests to the student's code)."""
    decoder = Decoder(buffers, resolve)
    args, kwargs, spans = [], {}, []
    for key, node in header["args"]:
        start = len(decoder.refs)
        value = decoder.decode(node)
        (args.append(value) if isinstance(key, int) else kwargs.__setitem__(key, value))
        spans.append((key, value, start, len(decoder.refs)))
    before = [_fingerprint(obj) for obj in decoder.refs]
    try:
        result = function(*args, **kwargs)
        encoder = Encoder(export, {id(obj): n for n, obj in enumerate(decoder.refs)})
        changed = [_fingerprint(obj) != old for obj, old in zip(decoder.refs, before, strict=True)]
        sync = [[k, encoder.encode(v)] for k, v, a, b in spans if any(changed[a:b])]
        return {"op": "return", "value": encoder.encode(result), "sync": sync}, encoder.buffers
    except Exception as error:  # the callee's failure is the caller's exception
        return raise_reply(error, tracebacks), []


def _fingerprint(obj):
    if isinstance(obj, np.ndarray):
        return (obj.shape, obj.dtype.str, obj.tobytes())
    if isinstance(obj, list):
        return [id(v) for v in obj]
    return [(id(k), id(v)) for k, v in obj.items()]


def raise_reply(error: BaseException, tracebacks=True) -> dict:
    text = "".join(traceback.format_exception(error)[-20:])[-8000:] if tracebacks else ""
    return {
        "op": "raise",
        "type": type(error).__name__,
        "message": str(error)[:2000],
        "traceback": text,
    }


class RemoteError(Exception):
    """An exception of the other side that is not one of Python's built-in exceptions."""


def as_exception(header: dict) -> Exception:
    """The exception a ``raise`` reply stands for: the built-in class of that name (so that a
    test expecting a ValueError or a FloatingPointError sees one), or RemoteError."""
    import builtins

    name, message = str(header.get("type")), str(header.get("message", ""))
    text = f"{message}\n\n{header.get('traceback', '')}".strip()
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception) and cls.__module__ == "builtins":
        try:
            return cls(text)
        except TypeError:  # a built-in exception with other arguments (UnicodeDecodeError)
            pass
    return RemoteError(f"{name}: {text}")
