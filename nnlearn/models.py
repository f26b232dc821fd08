"""Models (chapter 08): ``Sequential``, a stack of layers that trains Keras-style.

The stack (``add``, ``build``, ``summary``, ``get_weights``/``set_weights``, ``trainable``) is
here; the training API (``compile``, ``fit``, ``evaluate``, ``predict``) is
:class:`nnlearn.trainer.Trainer`, which Sequential inherits, as Keras's models do. Every name
means what it means in Keras 3, checked against Keras itself.

``model(x, training=True)`` runs every layer in training mode (Dropout drops, BatchNormalization
uses the batch's statistics, chapter 09); ``model(x)`` is inference, as in Keras. ``fit``
passes ``training=True``, ``evaluate`` and ``predict`` pass ``training=False``.

Keras's checkpoints, ``model.save``/:func:`load_model` and ``save_weights``/``load_weights``,
are chapter 13's :mod:`nnlearn.saving`, imported only when called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nnlearn.layers import Layer, Shape
from nnlearn.tensor import Tensor, get_default_dtype
from nnlearn.trainer import Trainer


class Sequential(Trainer, Layer):
    """Layers applied one after the other; trains Keras-style (compile, fit, evaluate, predict).

    Args:
        layers: the layers, first to last (more can be appended with :meth:`add`). The first
            may carry ``input_shape``; the model is then built at once, else on the first
            batch it sees (or by :meth:`build`).

    ``trainable = False`` on the model freezes every layer; on one layer, that layer. ``fit``
    updates exactly ``trainable_weights`` (the Parameters that require grad), so a change
    takes effect at once, also after ``compile`` (Keras asks to compile again). One
    difference: a layer unfrozen inside a frozen model trains here; Keras keeps it frozen.
    """

    def __init__(self, layers: Sequence[Layer] | None = None) -> None:
        # Not Layer.__init__: a Sequential has no dtype of its own (see ``dtype``).
        self.layers: list[Layer] = []
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        self.built = False
        self._trainable = True
        self.optimizer = None
        self.loss = None
        self.metric_functions = {}
        self.stop_training = False
        self.history = None
        for layer in layers or []:
            self.add(layer)

    # --- the stack of layers ----------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append a layer; build it at once when the shape of its input is known."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a layer such as Dense, got {layer!r}")
        self.layers.append(layer)
        if self.layers[0].built:
            self.build(self.layers[0].input_shape)

    def build(self, input_shape: Shape | None = None) -> None:
        """Build every layer in turn, each from the output shape of the one before.

        ``input_shape`` includes the batch axis, e.g. ``(None, 100)``; without it, the first
        layer's ``input_shape`` (Keras's ``model.build()``).
        """
        if input_shape is None:
            input_shape = self.layers[0].input_shape if self.layers else None
            if input_shape is None:
                raise ValueError(
                    "build(): the input shape is unknown; call model.build((None, features)) "
                    "or give the first layer input_shape=(features,)"
                )
        shape = (None, *input_shape[1:])
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            elif layer.input_shape != shape:
                raise ValueError(
                    f"Sequential: {layer!r} was built for inputs of shape {layer.input_shape}, "
                    f"but the layer before it gives {shape}"
                )
            shape = layer.output_shape
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        for layer in self.layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the first layer, which converts the inputs."""
        return self.layers[0].dtype if self.layers else get_default_dtype()

    @Layer.trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self.layers:
            layer.trainable = value

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Overwrite the weights with arrays in the order of ``get_weights()`` (per layer:
        kernel ``(in, units)``, then bias), so weights move between Keras and nnlearn as they
        are. A wrong count or shape is an error naming the layer and both shapes."""
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise ValueError(
                f"set_weights: the model has {len(self.weights)} weights (each layer's weights in "
                f"Keras's order, layer by layer), but {len(weights)} arrays were given"
            )
        for layer in self.layers:
            count = len(layer.weights)
            layer.set_weights(weights[:count])
            weights = weights[count:]

    def __call__(self, x: Any, training: bool | None = None) -> Tensor:
        if not self.layers:
            raise ValueError("Sequential: the model has no layers yet; add some first")
        return self.forward(x, training=training)

    def forward(self, x: Any, training: bool | None = None) -> Tensor:
        """Each layer in turn, all in training mode or all in inference mode (the default)."""
        for layer in self.layers:
            x = layer(x, training=training)
        if not self.built:
            self.build(self.layers[0].input_shape)
        return x

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print each layer with its output shape and parameter count, then the totals."""
        if not self.built:
            raise ValueError(
                "summary(): the model is not built yet, so its sizes are unknown. Give the first "
                "layer input_shape=(features,), call model.build((None, features)), or call the "
                "model on a batch first"
            )
        rows = [("Layer", "Output shape", "Params")]
        rows += [(repr(x), str(x.output_shape), f"{x.count_params():,}") for x in self.layers]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
        rule = "-" * len(lines[0])
        print_fn("\n".join([lines[0], rule, *lines[1:], rule]))
        trainable = sum(p.data.size for p in self.trainable_weights)
        print_fn(f"Total params: {self.count_params():,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {self.count_params() - trainable:,}")

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {layer!r}" for layer in self.layers)
        return f"Sequential([\n{inner}\n])" if self.layers else "Sequential([])"

    # --- checkpoints (chapter 13: nnlearn.saving, imported when called) ------------------------
    def save(self, filepath: Any, overwrite: bool = True) -> None:
        """Keras's ``model.save``: architecture, weights, compile settings and optimizer state
        in one ``.nnlearn`` file (:mod:`nnlearn.saving`); :func:`load_model` reads it."""
        from nnlearn import saving

        saving.save_model(self, filepath, overwrite)

    def save_weights(self, filepath: Any, overwrite: bool = True, max_shard_size: Any = None):
        """Keras's ``model.save_weights``: the weights in a ``.weights.safetensors`` file."""
        from nnlearn import saving

        saving.save_weights(self, filepath, overwrite, max_shard_size)

    def load_weights(self, filepath: Any, skip_mismatch: bool = False) -> None:
        """Keras's ``model.load_weights``: weights saved from a model of this architecture."""
        from nnlearn import saving

        saving.load_weights(self, filepath, skip_mismatch)


def save_model(model: Sequential, filepath: Any, overwrite: bool = True) -> None:
    """Keras's ``keras.models.save_model``: ``model.save(filepath)``."""
    model.save(filepath, overwrite)


def load_model(
    filepath: Any, custom_objects: dict | None = None, compile: bool = True, safe_mode: bool = True
) -> Sequential:
    """Keras's ``keras.models.load_model``: the model of a ``.nnlearn`` file, compiled, its
    optimizer state restored (:func:`nnlearn.saving.load_model`)."""
    from nnlearn import saving

    return saving.load_model(filepath, custom_objects, compile, safe_mode)
