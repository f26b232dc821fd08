"""Layers and forward propagation (chapter 03): Parameter, Module, Dense, Activation, Sequential.

The concepts are PyTorch's (a :class:`Module` owns :class:`Parameter` s and has a ``forward``),
the ergonomics are Keras's (``Dense(64, activation="relu")``, sizes inferred on first use,
``Sequential([...]).compile(...).fit(...)``).

A Dense layer maps a batch ``x`` of shape ``(batch, in)`` to

.. math::

    y = f(x W + b), \\qquad W \\in \\mathbb{R}^{in \\times units},\\; b \\in \\mathbb{R}^{units}

Its ``kernel`` ``W`` has Keras's layout ``(in, units)``; ``torch.nn.Linear`` stores the
transpose, so ``linear.weight == kernel.T`` and ``linear.bias == bias``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from nnlearn import activations, initializers
from nnlearn.seeding import rng
from nnlearn.tensor import Function, Tensor, _checked_dtype, get_default_dtype
from nnlearn.training import TrainingMixin

Shape = tuple[int | None, ...]


class Parameter(Tensor):
    """A Tensor that a Module learns: ``requires_grad`` is always True."""

    def __init__(self, data: Any, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=True, dtype=dtype)


class Module:
    """Something with parameters and a ``forward``; calling it runs ``forward``.

    ``parameters()`` finds every :class:`Parameter` stored in an attribute, in a list of
    attributes, or inside a sub-Module, in the order they were assigned (as PyTorch does).
    """

    def forward(self, *inputs: Any) -> Tensor:
        raise NotImplementedError

    def __call__(self, *inputs: Any) -> Tensor:
        return self.forward(*inputs)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, Parameter)`` pairs, e.g. ``("layers.0.kernel", ...)``."""
        for name, value in vars(self).items():
            yield from _named_parameters(value, prefix + name)

    def parameters(self) -> list[Parameter]:
        """Every Parameter, in definition order, sub-Modules included."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Forget the accumulated gradients of every parameter."""
        for p in self.parameters():
            p.zero_grad()


def _named_parameters(value: Any, name: str) -> Iterator[tuple[str, Parameter]]:
    if isinstance(value, Parameter):
        yield name, value
    elif isinstance(value, Module):
        yield from value.named_parameters(name + ".")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _named_parameters(item, f"{name}.{i}")


class Layer(Module):
    """A Keras-style Module: it learns its input size on first use (``build``).

    Args:
        input_shape: the shape of one example, without the batch axis (e.g. ``(100,)``);
            given, the layer is built at once, else on its first call.
        dtype: the dtype of its parameters (default: :func:`nnlearn.get_default_dtype`).
    """

    def __init__(self, input_shape: Sequence[int] | None = None, dtype: Any = None) -> None:
        self.dtype = _checked_dtype(dtype) if dtype is not None else get_default_dtype()
        self.input_shape: Shape | None = None  # with the batch axis as None, like Keras
        self.output_shape: Shape | None = None
        self.built = False
        if input_shape is not None:
            self.build((None, *input_shape))

    def build(self, input_shape: Shape) -> None:
        """Create what depends on the input size; ``input_shape`` includes the batch axis."""
        self.input_shape = (None, *input_shape[1:])
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def count_params(self) -> int:
        return sum(p.size for p in self.parameters())

    def __call__(self, x: Any) -> Tensor:
        return self.forward(self._prepare(x))

    def _prepare(self, x: Any) -> Tensor:
        """``x`` as a Tensor of this layer's dtype (arrays adopt it), building on first use."""
        if not isinstance(x, Tensor):
            x = Tensor(x, dtype=self.dtype)
        if not self.built:
            self.build(x.shape)
        return x

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


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


def _activation_name(activation: str | Callable | None) -> str:
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
        dtype: Any = None,
    ) -> None:
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        self.units = int(units)
        self.activation_name = _activation_name(activation)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
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
        self.kernel = Parameter(
            self.kernel_initializer((in_features, self.units), rng(), self.dtype)
        )
        if self.use_bias:
            self.bias = Parameter(self.bias_initializer((self.units,), rng(), self.dtype))
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

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

    def pre_activation(self, x: Any) -> Tensor:
        """``x @ kernel + bias`` before the activation (the logits of a softmax layer)."""
        return self._affine(self._prepare(x))

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
        self.activation_name = _activation_name(activation)
        self.activation = activations.get(activation)
        super().__init__(input_shape, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(x)

    def pre_activation(self, x: Any) -> Tensor:
        """The input itself, before the activation (the logits of a softmax layer)."""
        return self._prepare(x)

    def __repr__(self) -> str:
        return f"Activation({self.activation_name!r})"


class Sequential(TrainingMixin, Layer):
    """Layers applied one after the other; trains Keras-style (compile, fit, evaluate, predict).

    Args:
        layers: the layers, first to last (more can be appended with :meth:`add`). The first
            may carry ``input_shape``; the sizes of the others follow from it, or from the
            first batch the model sees.
    """

    def __init__(self, layers: Sequence[Layer] | None = None) -> None:
        # Not Layer.__init__: a Sequential has no dtype of its own (see ``dtype``).
        self.layers: list[Layer] = []
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        self.built = False
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Layer) -> None:
        """Append a layer; build it at once when the shape of its input is known."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a layer such as Dense, got {layer!r}")
        self.layers.append(layer)
        first = self.layers[0]
        if first.built:
            self.build(first.input_shape)

    def build(self, input_shape: Shape) -> None:
        """Build every layer in turn, each from the output shape of the one before."""
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

    def __call__(self, x: Any) -> Tensor:
        if not self.layers:
            raise ValueError("Sequential: the model has no layers yet; add some first")
        return self.forward(x)

    def forward(self, x: Any) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        if not self.built:
            self.build(self.layers[0].input_shape)
        return x

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print each layer with its output shape and parameter count, then the total."""
        if not self.built:
            raise ValueError(
                "summary(): the model is not built yet, so its sizes are unknown. Give the first "
                "layer input_shape=(features,), or call the model on a batch first"
            )
        rows = [("Layer", "Output shape", "Params")]
        rows += [(repr(x), str(x.output_shape), f"{x.count_params():,}") for x in self.layers]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
        rule = "-" * len(lines[0])
        print_fn("\n".join([lines[0], rule, *lines[1:], rule]))
        print_fn(f"Total params: {self.count_params():,}")

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {layer!r}" for layer in self.layers)
        return f"Sequential([\n{inner}\n])" if self.layers else "Sequential([])"
