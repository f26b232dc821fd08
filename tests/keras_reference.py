"""Keras 3 itself, on its PyTorch backend, as the reference for nnlearn's Keras-named parts.

Shared by ``test_keras_reference.py`` and ``test_idioms_keras.py``. Importing this module
imports Keras once (a few seconds). The GPU parity suite (``tests/parity``) never imports it:
that machine has numpy, torch and pytest only.

* :data:`LIBRARIES`: ``keras`` and an ``nnlearn`` namespace exposing the same names
  (``Sequential``, ``layers.Dense``, ``losses``, ``metrics``, ``callbacks``), so one piece of
  test code runs on both.
* :func:`floatx`: both libraries' default float type for a block (float64 where a test wants
  exact agreement).
* :func:`to_numpy`: a Keras (torch) tensor, an nnlearn Tensor or a number as a numpy array.
* :func:`recorder`: a callback recording every hook Keras calls, for either library.
* :func:`twins`: a Keras model and its nnlearn twin holding Keras's initial weights.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the import: Keras reads it once
import keras  # noqa: E402

import nnlearn as nl  # noqa: E402

# Keras's module paths, and where nnlearn keeps the same names. nnlearn has no module called
# `callbacks`: Callback and EarlyStopping live in `nnlearn.training`.
NNLEARN = SimpleNamespace(
    __name__="nnlearn",
    Sequential=nl.Sequential,
    layers=nl.layers,
    losses=nl.losses,
    metrics=nl.metrics,
    callbacks=nl.training,
)
LIBRARIES = {"keras": keras, "nnlearn": NNLEARN}

# Every hook of keras.callbacks.Callback. `on_batch_begin`/`on_batch_end` are called by the base
# class's `on_train_batch_begin`/`on_train_batch_end`, not by `fit` itself.
HOOKS = tuple(name for name in dir(keras.callbacks.Callback) if name.startswith("on_"))


def twins(layers: Callable[[Any], list], inputs: int = 3, seed: int = 0) -> tuple[Any, Any]:
    """The Keras model ``Sequential(layers(keras))`` and its nnlearn twin with the same
    weights (Keras's initial ones, copied with ``set_weights``), both built for
    ``(batch, inputs)``, so any difference between them is the library's, not the draw's."""
    keras.utils.set_random_seed(seed)
    models = {}
    for name, library in LIBRARIES.items():
        models[name] = library.Sequential(layers(library))
        models[name].build((None, inputs))
    models["nnlearn"].set_weights(models["keras"].get_weights())
    return models["keras"], models["nnlearn"]


@contextmanager
def floatx(dtype: str) -> Iterator[None]:
    """Keras's ``floatx`` and nnlearn's default dtype set to ``dtype`` inside the block.

    Keras's layers take their dtype from a global policy that Keras caches from ``floatx``
    when first asked, so the policy is set and restored too.
    """
    old = keras.config.floatx(), keras.config.dtype_policy(), nl.get_default_dtype()
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)
    nl.set_default_dtype(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(old[0])
        keras.config.set_dtype_policy(old[1])
        nl.set_default_dtype(old[2])


def to_numpy(value: Any) -> np.ndarray:
    """A numpy array from a Keras (torch) tensor, an nnlearn Tensor, a list or a number."""
    if isinstance(value, nl.Tensor):
        return value.data
    if hasattr(value, "detach"):  # a torch tensor: what Keras's torch backend returns
        return keras.ops.convert_to_numpy(value)
    return np.asarray(value)


def recorder(library: Any) -> Any:
    """A callback of ``library`` (keras or :data:`NNLEARN`) that records, in ``self.calls``,
    each hook called as ``(hook, batch or epoch or None, sorted log keys)``.

    Missing logs and empty logs both record ``[]``. The batch hooks of training also call the
    base class's version, so its ``on_batch_begin``/``on_batch_end`` forwarding is recorded.
    """
    base = library.callbacks.Callback

    def hook(name: str, has_index: bool):
        def record(self, *args, **kwargs):
            index = args[0] if has_index else None
            logs = kwargs.get("logs", args[-1] if len(args) > has_index else None)
            self.calls.append((name, index, sorted(logs or {})))
            forward = getattr(super(cls, self), name, None)
            if name in ("on_train_batch_begin", "on_train_batch_end") and forward:
                forward(*args, **kwargs)

        return record

    methods = {name: hook(name, "batch" in name or "epoch" in name) for name in HOOKS}
    cls = type("Recorder", (base,), methods)
    instance = cls()
    instance.calls = []
    return instance
