"""Checkpoints (chapter 13): whole models and weights in safetensors files, written atomically.

Keras's names with Keras's meaning: ``model.save(path)`` and :func:`load_model` keep the whole
model (architecture, weights, compile settings, the optimizer's state, so training resumes
exactly where it stopped); ``model.save_weights(path)`` and ``model.load_weights(path)`` keep
the weights alone, for a model built in code.

**The format.** Keras 3 writes ``.keras`` (a zip of JSON and HDF5) and ``.weights.h5``.
nnlearn writes neither (those suffixes are refused, saying so): each checkpoint is one
`safetensors <https://huggingface.co/docs/safetensors>`_ file::

    8 bytes: n (little-endian)  |  n bytes: a JSON header  |  the arrays' raw bytes

The header gives each array's name, dtype, shape and byte range; its ``__metadata__`` holds
nnlearn's JSON (``"nnlearn"``) and a SHA-256 of that JSON and the arrays (``"sha256"``).

* ``*.nnlearn``, a whole model (``model.save``): the arrays ``layers.0.kernel``, ..., the
  optimizer's state ``optimizer/<i>/<key>`` (``i``: torch's numbering, the model's parameter
  order) and pruning masks ``mask/<name>``; the JSON holds the architecture (each layer's
  class and ``get_config()``), the compile settings and the optimizer's ``step`` counts.
* ``*.weights.safetensors``, the weights alone (``save_weights``).
  Any safetensors reader opens both (``safetensors.numpy.load_file``).

**No pickle.** Unpickling runs whatever code the file's author chose; JSON and raw numbers
cannot, so loading executes nothing: layer and optimizer classes are looked up by name in
nnlearn and given JSON values. A pickle, zip or HDF5 file, a truncated or corrupted one (the
checksum) or a wrong architecture is a ``ValueError`` saying so (naming layer and shapes).

**Atomic writes.** :func:`atomic_write` writes a temporary file beside the target, flushes it to
the disk and renames it into place: a crash at any moment leaves the old file or the new one.

What a checkpoint does not hold, as in Keras and torch: nnlearn's random generator (``fit``
shuffles with it: to resume the same shuffles, keep ``nl.rng().bit_generator.state``), a
schedule (it sets ``optimizer.lr``, which is saved) and the training history.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy

from nnlearn import layers, losses, metrics, optim
from nnlearn.models import Sequential
from nnlearn.seeding import rng

MODEL_SUFFIX = ".nnlearn"
WEIGHTS_SUFFIX = ".weights.safetensors"
FORMAT_VERSION = 1
_KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")

# What a file that is not nnlearn's may be, by its first bytes (pickles: protocol 2 to 5).
_FOREIGN = {
    b"PK\x03\x04": "a zip archive (torch.save writes pickles in one; Keras's .keras is one)",
    b"\x89HDF\r\n\x1a\n": "an HDF5 file (Keras's .h5 and .weights.h5)",
    b"\x93NUMPY": "a numpy .npy file",
    **{b"\x80" + bytes([v]): "a pickle (pickle.dump, old torch.save)" for v in range(2, 6)},
}


# --- the file ----------------------------------------------------------------------------------
def atomic_write(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` all or nothing.

    The bytes go to a new temporary file beside ``path`` (``.<name>.<random>.tmp``), which is
    flushed to the disk (``fsync``) and then renamed over ``path`` (``os.replace``: atomic
    within one file system). Writing ``path`` directly would empty it first: a crash then
    loses the old checkpoint and leaves half a new one. Here a crash at any moment leaves the
    old file or the new one, and at worst a stray temporary file.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the folder {path.parent} does not exist")
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        with os.fdopen(os.open(temporary, flags, 0o666), "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())  # the bytes are on the disk before the name points at them
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if os.name == "posix":  # the rename itself reaches the disk (Windows cannot open folders)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def _checksum(document: str, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the JSON and of every array (name, dtype, shape, bytes), in name order."""
    digest = hashlib.sha256(document.encode())
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"\n{name} {array.dtype.str} {array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def write_checkpoint(path: Path, arrays: dict[str, np.ndarray], document: dict) -> None:
    """``arrays`` and the JSON ``document`` as one safetensors file, atomically."""
    text = json.dumps(document, allow_nan=False)
    arrays = {name: np.ascontiguousarray(a) for name, a in arrays.items()}
    metadata = {"nnlearn": text, "sha256": _checksum(text, arrays)}
    atomic_write(path, safetensors.numpy.save(arrays, metadata=metadata))


def read_checkpoint(path: Path, where: str) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and nnlearn's JSON of a checkpoint, after checking the file: a ValueError
    says what is wrong (not safetensors, truncated, corrupted). Nothing is unpickled."""
    data = path.read_bytes()

    def refuse(problem: str) -> ValueError:
        return ValueError(f"{where}: {path} {problem}; it cannot be loaded")

    foreign = next((what for magic, what in _FOREIGN.items() if data.startswith(magic)), None)
    if foreign:
        raise refuse(
            f"is {foreign}, not nnlearn's safetensors file. nnlearn never unpickles: "
            f"unpickling runs whatever code the file's author chose"
        )
    if len(data) <= 8:
        raise refuse(f"is truncated: {len(data)} bytes, not even a header")
    size = int.from_bytes(data[:8], "little")
    if data[8:9] != b"{":
        raise refuse("is not a safetensors file (no JSON header after the first 8 bytes)")
    if 8 + size > len(data):
        raise refuse(f"is truncated: its header announces {size} bytes, {len(data) - 8} follow")
    try:
        header = json.loads(data[8 : 8 + size])
        metadata = header.pop("__metadata__", None) or {}
        end = max((entry["data_offsets"][1] for entry in header.values()), default=0)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as error:
        raise refuse(f"is corrupted: its header is not safetensors' JSON ({error})") from None
    if 8 + size + end > len(data):
        raise refuse(f"is truncated: its arrays need {end} bytes, {len(data) - 8 - size} remain")
    if "nnlearn" not in metadata or "sha256" not in metadata:
        raise refuse("is a safetensors file without nnlearn's metadata (not written by nnlearn)")
    try:
        arrays = safetensors.numpy.load(data)
        document = json.loads(metadata["nnlearn"])
    except Exception as error:  # safetensors' own error class is not public
        raise refuse(f"is corrupted ({error})") from None
    if _checksum(metadata["nnlearn"], arrays) != metadata["sha256"]:
        raise refuse("is corrupted: its contents differ from the checksum saved with them")
    return arrays, document


def _checked_path(filepath: Any, suffixes: tuple, where: str, what: str, overwrite=True) -> Path:
    """``filepath`` as a Path if its name ends in one of ``suffixes`` (and it is not a file
    ``overwrite=False`` protects), else a clear error (Keras too refuses a wrong suffix)."""
    path = Path(os.fspath(filepath))
    if not overwrite and path.exists():
        raise FileExistsError(f"{where}: {path} exists and overwrite=False")
    if any(path.name.endswith(s) and len(path.name) > len(s) for s in suffixes):
        return path
    if path.name.endswith(_KERAS_SUFFIXES):
        stem = path.name.rsplit(".", 1)[0].removesuffix(".weights")
        raise ValueError(
            f"{where}: {path.name!r} has a suffix of Keras's formats (.keras, a zip of JSON and "
            f"HDF5; .weights.h5, HDF5), which nnlearn does not use: it keeps {what} in one "
            f"safetensors file named '*{suffixes[0]}', e.g. {stem + suffixes[0]!r} (chapter 13)"
        )
    if path.name.endswith(WEIGHTS_SUFFIX):
        raise ValueError(
            f"{where}: {path.name!r} holds weights only: build the model in code, then call "
            f"model.load_weights({path.name!r})"
        )
    raise ValueError(
        f"{where}: the file name must end in {suffixes[0]} ({what} in one safetensors file, "
        f"chapter 13); received {path.name!r}"
    )


# --- the model as JSON ---------------------------------------------------------------------------
def _class(module: Any, name: str, base: type, custom_objects: dict | None = None) -> type:
    """The subclass of ``base`` called ``name`` in ``module`` (or ``custom_objects``)."""
    cls = (custom_objects or {}).get(name) or getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ValueError(
            f"load_model: the file names a {base.__name__} {name!r} that {module.__name__} "
            f"does not have (a class of your own: pass custom_objects={{{name!r}: TheClass}})"
        )
    return cls


def model_config(model: Sequential) -> dict:
    """The architecture: each layer's class, ``get_config()`` and ``trainable``, the input."""
    if type(model) is not Sequential or not model.built:
        raise ValueError(
            "model.save: the model must be a built Sequential (give the first layer "
            "input_shape=(features,) or call model.build((None, features)))"
        )
    entries = [
        {"class_name": type(x).__name__, "config": x.get_config(), "trainable": x.trainable}
        for x in model.layers
    ]
    shape = list(model.input_shape)
    return {"build_input_shape": shape, "trainable": model.trainable, "layers": entries}


def model_from_config(config: dict, custom_objects: dict | None = None) -> Sequential:
    """A new model of that architecture, built. Building draws initial weights (about to be
    overwritten) from nnlearn's generator; its state is put back, so loading draws nothing."""
    state = rng().bit_generator.state
    try:
        model = Sequential()
        for entry in config["layers"]:
            cls = _class(layers, entry["class_name"], layers.Layer, custom_objects)
            model.add(cls(**entry["config"]))
        model.build(tuple(config["build_input_shape"]))
    finally:
        rng().bit_generator.state = state
    model.trainable = config["trainable"]
    for layer, entry in zip(model.layers, config["layers"], strict=True):
        layer.trainable = entry["trainable"]
    return model


def compile_config(model: Sequential) -> dict | None:
    """How the model was compiled (None if it was not): the optimizer's class and settings,
    the loss (a Keras loss class and its options, or a loss function's name), the metrics'
    names. An optimizer, loss or metric of your own has no name to save, and raises."""
    if model.loss is None:
        return None
    optimizer, loss = model.optimizer, model.loss
    unnamed = []
    for key, function in model.metric_functions.items():
        try:
            unnamed += [] if metrics.get(key) == (key, function) else [key]
        except ValueError:  # a name nnlearn does not know: a function of your own
            unnamed.append(key)
    loss_config = {"reduction": loss.reduction, "name": loss.name}
    if type(loss) in losses.CLASSES:
        loss_config |= loss.options
    elif type(loss) is losses.LossFunctionWrapper and loss.fn in losses.FUNCTIONS:
        loss_config["fn"] = loss.fn.__name__
        unnamed += [repr(loss)] if loss.options else []
    else:
        unnamed.append(repr(loss))
    if getattr(optim, type(optimizer).__name__, None) is not type(optimizer):
        unnamed.append(repr(optimizer))
    if unnamed:
        raise ValueError(
            f"model.save: {', '.join(unnamed)}: your own, so the file cannot name them; save "
            f"the weights (model.save_weights) and compile the model in code"
        )
    settings = {"lr": optimizer.lr, **optimizer.hyperparameters}
    return {
        "optimizer": {
            "class_name": type(optimizer).__name__,
            "config": {k: np.asarray(v).tolist() for k, v in settings.items()},  # plain numbers
        },
        "loss": {"class_name": type(loss).__name__, "config": loss_config},
        "metrics": list(model.metric_functions),
    }


def compile_from_config(model: Sequential, config: dict) -> dict:
    """Compile the model as :func:`compile_config` saw it; the optimizer's settings."""
    cls = _class(optim, config["optimizer"]["class_name"], optim.Optimizer)
    settings = {  # JSON's lists back to the tuples of the defaults (Adam's betas)
        k: tuple(v) if isinstance(cls.defaults.get(k), tuple) else v
        for k, v in config["optimizer"]["config"].items()
    }
    name, loss_config = config["loss"]["class_name"], dict(config["loss"]["config"])
    if name == "LossFunctionWrapper":  # a loss function, by name
        loss = losses.LossFunctionWrapper(losses.get(loss_config.pop("fn")), **loss_config)
    else:
        loss = _class(losses, name, losses.Loss)(**loss_config)
    model.compile(cls(**settings), loss, metrics=config["metrics"])
    return settings


# --- Keras's API -------------------------------------------------------------------------------
def save_model(model: Sequential, filepath: Any, overwrite: bool = True) -> None:
    """Keras's ``model.save(filepath)``: the whole model in one ``.nnlearn`` file (see above).
    ``overwrite=False`` refuses to replace a file (Keras asks on a terminal)."""
    path = _checked_path(filepath, (MODEL_SUFFIX,), "model.save", "the whole model", overwrite)
    document = {"format": "nnlearn.model", "version": FORMAT_VERSION}
    document |= {"model": model_config(model), "compile": compile_config(model)}
    arrays = {name: p.data for name, p in model.named_parameters()}
    arrays |= {f"mask/{name}": p.mask for name, p in model.named_parameters() if p.mask is not None}
    document["optimizer_state"] = _optimizer_state(model, arrays)
    write_checkpoint(path, arrays, document)


def _optimizer_state(model: Sequential, arrays: dict[str, np.ndarray]) -> dict | None:
    """The optimizer's ``state_dict()`` state: its arrays added to ``arrays`` (named
    ``optimizer/<i>/<key>``), its numbers (``step``) returned for the JSON."""
    optimizer = model.optimizer
    if model.loss is None or not optimizer.params:
        return None
    if [id(p) for p in optimizer.params] != [id(p) for p in model.parameters()]:
        raise ValueError(
            "model.save: the optimizer holds other parameters than the model's, in the model's "
            "order; save the weights (model.save_weights) and keep the optimizer yourself"
        )
    numbers = {}
    for i, entries in optimizer.state_dict()["state"].items():
        numbers[i] = {k: v for k, v in entries.items() if not isinstance(v, np.ndarray)}
        arrays |= {f"optimizer/{i}/{k}": v for k, v in entries.items() if k not in numbers[i]}
    return {"count": len(optimizer.params), "numbers": numbers}


def load_model(
    filepath: Any, custom_objects: dict | None = None, compile: bool = True, safe_mode: bool = True
) -> Sequential:
    """Keras's ``load_model``: the model of a ``.nnlearn`` file with its weights and, with
    ``compile=True``, compiled as it was, its optimizer holding its saved state, so ``fit``
    continues as if never interrupted. ``custom_objects`` maps names to layer classes of your
    own. ``safe_mode`` is accepted for Keras's signature: the format holds no code, so loading
    is always safe."""
    path = _checked_path(filepath, (MODEL_SUFFIX,), "load_model", "a whole model")
    arrays, document = read_checkpoint(path, "load_model")
    if document.get("format") != "nnlearn.model":
        raise ValueError(f"load_model: {path} holds {document.get('format')}, not a whole model")
    model = model_from_config(document["model"], custom_objects)
    _assign(model, arrays, "load_model", str(path))
    for name, p in model.named_parameters():
        p.mask = arrays.get(f"mask/{name}")
    if compile and document["compile"] is not None:
        settings = compile_from_config(model, document["compile"])
        saved = document["optimizer_state"]
        if saved:
            state = {int(i): numbers for i, numbers in saved["numbers"].items()}
            for name, array in arrays.items():
                if name.startswith("optimizer/"):
                    _, i, key = name.split("/")
                    state[int(i)][key] = array
            group = {**settings, "params": list(range(saved["count"]))}
            model.optimizer.load_state_dict({"state": state, "param_groups": [group]})
    return model


def save_weights(
    model: Sequential, filepath: Any, overwrite: bool = True, max_shard_size: Any = None
) -> None:
    """Keras's ``model.save_weights``: the weights alone, in a ``.weights.safetensors`` file
    (``max_shard_size``, Keras's splitting into several files, is not implemented)."""
    if max_shard_size is not None:
        raise NotImplementedError("save_weights: nnlearn writes one file (no max_shard_size)")
    path = _checked_path(filepath, (WEIGHTS_SUFFIX,), "save_weights", "the weights", overwrite)
    labels = [layer.label for layer in model.layers]
    document = {"format": "nnlearn.weights", "version": FORMAT_VERSION, "layers": labels}
    write_checkpoint(path, {name: p.data for name, p in model.named_parameters()}, document)


def load_weights(model: Sequential, filepath: Any, skip_mismatch: bool = False) -> None:
    """Keras's ``model.load_weights``: the weights of a ``.weights.safetensors`` file (or of a
    whole-model ``.nnlearn`` file) into the model, in place. It must have the same
    architecture: an error names the layer and both shapes, and changes nothing. With
    ``skip_mismatch=True`` the layers that do not match keep their weights (a warning each)."""
    path = _checked_path(filepath, (WEIGHTS_SUFFIX, MODEL_SUFFIX), "load_weights", "the weights")
    if not model.built:
        raise ValueError("load_weights: build the model first, so it has weights to load into")
    arrays, _ = read_checkpoint(path, "load_weights")
    _assign(model, arrays, "load_weights", str(path), skip_mismatch)


def _assign(model, arrays: dict, where: str, source: str, skip_mismatch: bool = False) -> None:
    """Copy ``arrays[name]`` into each parameter, after checking every layer's shapes."""
    weights = {k: v for k, v in arrays.items() if not k.startswith(("optimizer/", "mask/"))}
    extra = sorted(set(weights) - {name for name, _ in model.named_parameters()})
    if extra and not skip_mismatch:
        raise ValueError(f"{where}: {source} has weights the model lacks: {', '.join(extra)}")
    chosen = []
    for i, layer in enumerate(model.layers):
        mine = [(f"layers.{i}.{name}", p) for name, p in layer.named_parameters()]
        problems = [
            f"{name} has shape {p.shape} in the model but "
            + (f"{weights[name].shape} in the file" if name in weights else "is not in the file")
            for name, p in mine
            if name not in weights or weights[name].shape != p.shape
        ]
        if not problems:
            chosen += [(p, weights[name]) for name, p in mine]
        elif skip_mismatch:
            warnings.warn(
                f"{where}: skipped layer {i} ({layer.label}): {problems[0]}", stacklevel=3
            )
        else:
            raise ValueError(
                f"{where}: {source} holds weights for another architecture: layer {i} "
                f"({layer.label}): {'; '.join(problems)}"
            )
    for p, array in chosen:
        p.data[...] = array  # in place: an optimizer holding p keeps it
