"""Layers and forward propagation (chapter 03): Dense, Activation, and every layer by name.

The layers are built on :class:`~nnlearn.module.Parameter`, :class:`~nnlearn.module.Module` and
:class:`~nnlearn.module.Layer` (:mod:`nnlearn.module`, re-exported here). The concepts are
PyTorch's (a Module owns Parameters and has a ``forward``), the ergonomics are Keras's
(``Dense(64, activation="relu")``, sizes inferred on first use, ``trainable``,
``get_weights``/``set_weights``). Layers are stacked and trained by
:class:`nnlearn.models.Sequential` (chapter 08). As in Keras, every layer of the course is
here by name: ``nnlearn.layers.Dropout`` (chapter 09) loads its own module on first use.

A Dense layer maps a batch ``x`` of shape ``(batch, in)`` to

.. math::

    y = f(x W + b), \\qquad W \\in \\mathbb{R}^{in \\times units},\\; b \\in \\mathbb{R}^{units}

Its ``kernel`` ``W`` has Keras's layout ``(in, units)``; ``torch.nn.Linear`` stores the
transpose, so ``linear.weight == kernel.T`` and ``linear.bias == bias``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nnlearn import activations, initializers
from nnlearn.module import Layer, Module, Parameter, Shape
from nnlearn.tensor import Function, Tensor

__all__ = ["Activation", "Affine", "Dense", "Layer", "Module", "Parameter", "Shape"]


class Affine(Function):
    """``z = x @ W + b``: the affine part of a Dense layer as one fused operation.

    Shapes: ``x`` (..., in), ``W`` (in, units), ``b`` (units,) or absent, ``z`` (..., units).
    One Function instead of a matmul and an add: one node in the graph per layer, and no
    broadcast of ``b`` to undo in the backward pass.
    """

    def forward(self, x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None):
        self.x, self.kernel = x, kernel
        z = x @ kernel
        if bias is not None:
            z += bias  # in place: z is a fresh array
        return z

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        """With ``g = dL/dz`` (..., units), rows of x and g flattened to (n, in), (n, units):

        dL/dx = g @ W^T (..., in),   dL/dW = x^T @ g (in, units),   dL/db = sum_rows g (units,).

        dL/dx is skipped (None) when ``x`` needs no gradient, as for a batch of data.
        """
        x_needs_grad = self.parents[0].requires_grad
        grad_x = g @ self.kernel.T if x_needs_grad else None
        x2 = self.x.reshape(-1, self.x.shape[-1])
        g2 = g.reshape(-1, g.shape[-1])
        grad_kernel = x2.T @ g2
        if len(self.parents) == 2:
            return grad_x, grad_kernel
        return grad_x, grad_kernel, g2.sum(axis=0)


def get_regularizer(identifier: str | dict | Callable | None) -> Callable | None:
    """None, a function of a Parameter, a name that :mod:`nnlearn.regularizers` knows, or
    the dict ``get_config`` writes for one, ``{"class_name": "L2", "config": {"l2": 0.01}}``
    (Keras's form; chapter 09's module is imported only for a name or a dict)."""
    if identifier is None or callable(identifier):
        return identifier
    from nnlearn import regularizers

    return regularizers.get(identifier)


def saved_name(layer: Layer, argument: str, lookup: Callable) -> str:
    """The name ``lookup`` (``activations.get``, ``initializers.get``) finds the function
    ``layer.<argument>`` by, for ``get_config``; a function of the learner's own has none."""
    function = getattr(layer, argument)
    name = getattr(function, "__name__", "")
    try:
        if lookup(name) is function:
            return name
    except ValueError:
        pass
    raise ValueError(
        f"{layer.label}.get_config: its {argument}, {function!r}, is a function of your own; "
        f"a saved model names its functions (e.g. 'relu', 'glorot_uniform'), so use a name, or "
        f"save the weights alone (model.save_weights) and rebuild the model in code"
    )


def regularizer_config(layer: Layer, argument: str) -> dict | None:
    """``{"class_name": "L2", "config": {"l2": 0.01}}`` for ``layer.<argument>``, a
    regularizer of :mod:`nnlearn.regularizers` (Keras's form); None for none."""
    regularizer = getattr(layer, argument)
    if regularizer is None:
        return None
    from nnlearn import regularizers

    if getattr(regularizers, type(regularizer).__name__, None) is not type(regularizer):
        raise ValueError(
            f"{layer.label}.get_config: its {argument}, {regularizer!r}, is not one of "
            f"nnlearn.regularizers (L1, L2, L1L2), so a saved model cannot name it; save the "
            f"weights alone (model.save_weights) and rebuild the model in code"
        )
    return {"class_name": type(regularizer).__name__, "config": regularizer.get_config()}


def activation_name(activation: str | Callable | None) -> str:
    if activation is None:
        return "linear"
    return activation if isinstance(activation, str) else activation.__name__


class Dense(Layer):
    """A fully connected layer: ``y = activation(x @ kernel + bias)``.

    Args:
        units: the number of outputs.
        activation: a name from :mod:`nnlearn.activations` (``"relu"``, ``"softmax"``...), a
            function of Tensors, or None (identity).
        input_shape: ``(in,)``; without it the layer learns ``in`` on its first call.
        use_bias: whether to add ``bias``.
        kernel_initializer, bias_initializer: names from :mod:`nnlearn.initializers`.
        kernel_regularizer, bias_regularizer: penalties added to the loss, as in Keras:
            ``l2(0.01)`` adds ``0.01 * sum(kernel**2)`` (see :mod:`nnlearn.regularizers`,
            chapter 09; a name such as ``"l2"`` gets Keras's default factor 0.01).
        dtype: the dtype of kernel and bias (default: :func:`nnlearn.get_default_dtype`).

    Shapes: input (batch, in) -> output (batch, units); kernel (in, units), bias (units,).
    """

    def __init__(
        self,
        units: int,
        activation: str | Callable | None = None,
        input_shape: Sequence[int] | None = None,
        use_bias: bool = True,
        kernel_initializer: str | Callable = "glorot_uniform",
        bias_initializer: str | Callable = "zeros",
        kernel_regularizer: str | Callable | None = None,
        bias_regularizer: str | Callable | None = None,
        dtype: Any = None,
    ) -> None:
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation_name = activation_name(activation)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = get_regularizer(kernel_regularizer)
        self.bias_regularizer = get_regularizer(bias_regularizer)
        self.kernel: Parameter | None = None
        self.bias: Parameter | None = None
        super().__init__(input_shape, dtype)

    def build(self, input_shape: Shape) -> None:
        """Create ``kernel`` (in, units) and ``bias`` (units,) once ``in`` is known."""
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"{self.label}: inputs need shape (batch, features), got {tuple(input_shape)}"
            )
        in_features = int(input_shape[-1])
        self.kernel = self.add_weight(
            (in_features, self.units), self.kernel_initializer, regularizer=self.kernel_regularizer
        )
        if self.use_bias:
            self.bias = self.add_weight(
                (self.units,), self.bias_initializer, regularizer=self.bias_regularizer
            )
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments under Keras's names (those of
        ``keras.layers.Dense(...).get_config()`` that nnlearn has): functions by name,
        regularizers as Keras writes them, the dtype's name."""
        return {
            "units": self.units,
            "activation": saved_name(self, "activation", activations.get),
            "use_bias": self.use_bias,
            "kernel_initializer": saved_name(self, "kernel_initializer", initializers.get),
            "bias_initializer": saved_name(self, "bias_initializer", initializers.get),
            "kernel_regularizer": regularizer_config(self, "kernel_regularizer"),
            "bias_regularizer": regularizer_config(self, "bias_regularizer"),
            "dtype": self.dtype.name,
        }

    @property
    def label(self) -> str:
        """A short name for messages, e.g. ``Dense(64)``."""
        return f"Dense({self.units})"

    def __repr__(self) -> str:
        return f"Dense({self.units}, activation={self.activation_name!r})"

    def _prepare(self, x: Any) -> Tensor:
        x = super()._prepare(x)
        in_features = self.kernel.shape[0]
        if x.ndim < 2 or x.shape[-1] != in_features:
            raise ValueError(
                f"{self.label}: expected inputs of shape (batch, {in_features}), got {x.shape}"
            )
        if x.dtype != self.dtype:
            raise TypeError(
                f"{self.label}: the inputs are {x.dtype} but the layer's parameters are "
                f"{self.dtype}; convert the inputs with .astype({self.dtype.name!r}) or build "
                f"the layer with dtype={x.dtype.name!r}"
            )
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self._affine(x))

    def _affine(self, x: Tensor) -> Tensor:
        if self.bias is None:
            return Affine.apply(x, self.kernel)
        return Affine.apply(x, self.kernel, self.bias)


class Activation(Layer):
    """An activation function as a layer of its own, e.g. ``Activation("relu")``."""

    def __init__(
        self,
        activation: str | Callable | None,
        input_shape: Sequence[int] | None = None,
        dtype: Any = None,
    ) -> None:
        self.activation_name = activation_name(activation)
        self.activation = activations.get(activation)
        super().__init__(input_shape, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(x)

    def get_config(self) -> dict[str, Any]:
        """Keras's keys: ``activation`` (by name) and ``dtype``."""
        return {
            "activation": saved_name(self, "activation", activations.get),
            "dtype": self.dtype.name,
        }

    def __repr__(self) -> str:
        return f"Activation({self.activation_name!r})"


# Layers of later chapters are reachable here too, as in Keras (``nnlearn.layers.Dropout``);
# their module is imported at the first use of the name (PEP 562), so this chapter-03 module
# imports no later chapter when it loads.
def __getattr__(name: str) -> Any:
    if name in ("Dropout", "BatchNormalization", "LayerNormalization"):  # chapter 09
        from nnlearn import regularization as module
    elif name in (
        "Conv2D",
        "MaxPooling2D",
        "AveragePooling2D",
        "GlobalAveragePooling2D",
        "Flatten",
    ):
        from nnlearn import conv as module  # chapter 14
    elif name in ("SimpleRNN", "LSTM", "GRU"):
        from nnlearn import recurrent as module  # chapter 15
    elif name in ("Embedding", "MultiHeadAttention"):
        from nnlearn import attention as module  # chapter 16
    else:
        raise AttributeError(f"module 'nnlearn.layers' has no attribute {name!r}")
    return getattr(module, name)
