"""Layers and forward propagation (chapter 03): Parameter, Module, Layer, Dense, Activation.

The concepts are PyTorch's (a :class:`Module` owns :class:`Parameter` s and has a ``forward``),
the ergonomics are Keras's (``Dense(64, activation="relu")``, sizes inferred on first use,
``trainable``, ``get_weights``/``set_weights``). Layers are stacked and trained by
:class:`nnlearn.models.Sequential` (chapter 08).

A Dense layer maps a batch ``x`` of shape ``(batch, in)`` to

.. math::

    y = f(x W + b), \\qquad W \\in \\mathbb{R}^{in \\times units},\\; b \\in \\mathbb{R}^{units}

Its ``kernel`` ``W`` has Keras's layout ``(in, units)``; ``torch.nn.Linear`` stores the
transpose, so ``linear.weight == kernel.T`` and ``linear.bias == bias``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from nnlearn import activations, initializers
from nnlearn.seeding import rng
from nnlearn.tensor import Function, Tensor, _checked_dtype, get_default_dtype

Shape = tuple[int | None, ...]


class Parameter(Tensor):
    """A Tensor that a Module learns (torch's ``nn.Parameter``).

    ``requires_grad`` is True unless the parameter is frozen: a layer with
    ``trainable = False`` sets it to False, so ``backward`` computes no gradient for it and an
    optimizer leaves it as it is (it skips parameters whose ``grad`` is None).

    Two attributes of Keras's weights (set by :meth:`Layer.add_weight`): ``trainable`` is
    False for state that is never learned by gradient (BatchNormalization's moving mean,
    chapter 09), which then never requires grad; ``regularizer`` is a function of the
    parameter whose value ``fit`` adds to the loss (``kernel_regularizer=l2(0.01)``).
    """

    trainable = True
    regularizer: Callable[[Tensor], Tensor] | None = None
    mask: np.ndarray | None = None  # 0 where pruned (chapter 09); optimizers keep those at 0

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)


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
            if isinstance(value, _HOLDERS):
                yield from _named_parameters(value, prefix + name)

    def parameters(self) -> list[Parameter]:
        """Every Parameter, in definition order, sub-Modules included."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self) -> None:
        """Forget the accumulated gradients of every parameter."""
        for p in self.parameters():
            p.zero_grad()


def _named_parameters(value: Any, name: str) -> Iterator[tuple[str, Parameter]]:
    """The Parameters in ``value``, one of :data:`_HOLDERS`."""
    if isinstance(value, Parameter):
        yield name, value
    elif isinstance(value, Module):
        yield from value.named_parameters(name + ".")
    else:  # a list or tuple
        for i, item in enumerate(value):
            if isinstance(item, _HOLDERS):
                yield from _named_parameters(item, f"{name}.{i}")


# What may hold Parameters; other attributes (numbers, shapes' ints, functions) are skipped
# before any generator is made, since fit looks the parameters up on every call.
_HOLDERS = (Parameter, Module, list, tuple)


class Layer(Module):
    """A Keras-style Module: it learns its input size on first use (``build``).

    Args:
        input_shape: the shape of one example, without the batch axis (e.g. ``(100,)``);
            given, the layer is built at once, else on its first call.
        dtype: the dtype of its parameters (default: :func:`nnlearn.get_default_dtype`).

    Keras's weight API: ``weights`` (its Parameters, in creation order), ``trainable_weights``
    (those ``fit`` updates), ``get_weights()``/``set_weights()`` (numpy arrays in Keras's
    order and layout, e.g. a Dense layer's ``[kernel (in, units), bias (units,)]``),
    ``trainable`` and ``losses`` (the penalties of regularized weights).

    Calling a layer runs ``forward(x)``. A layer that behaves differently while training
    (Dropout, BatchNormalization: chapter 09) declares ``forward(self, x, training=False)``
    and receives ``training`` from ``layer(x, training=True)``, as Keras passes it to a
    ``call`` that has the argument; ``layer(x)`` is inference.
    """

    _forward_takes_training = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._forward_takes_training = "training" in inspect.signature(cls.forward).parameters

    def __init__(self, input_shape: Sequence[int] | None = None, dtype: Any = None) -> None:
        self.dtype = _checked_dtype(dtype) if dtype is not None else get_default_dtype()
        self.input_shape: Shape | None = None  # with the batch axis as None, like Keras
        self.output_shape: Shape | None = None
        self.built = False
        self._trainable = True
        if input_shape is not None:
            self.build((None, *input_shape))

    def add_weight(
        self,
        shape: Sequence[int],
        initializer: str | Callable,
        trainable: bool = True,
        regularizer: Callable[[Tensor], Tensor] | None = None,
    ) -> Parameter:
        """A new Parameter of ``shape``, drawn by ``initializer`` in this layer's dtype (Keras's
        ``add_weight``; ``build`` calls it). It requires grad when it is ``trainable`` and the
        layer is; ``regularizer(p)`` is its penalty in :attr:`losses`."""
        draw = initializers.get(initializer)
        p = Parameter(draw(tuple(shape), rng(), self.dtype), requires_grad=False)
        p.trainable = bool(trainable)
        p.requires_grad = p.trainable and self.trainable
        p.regularizer = regularizer
        return p

    @property
    def trainable(self) -> bool:
        """Whether ``fit`` updates this layer's weights (Keras's ``layer.trainable``).

        Setting it to False freezes the layer: its Parameters get ``requires_grad = False``
        (as Keras does on its PyTorch backend), so no gradient is computed for them and the
        optimizer leaves them alone. It takes effect at once, also on a compiled model.
        Setting it to True never makes a non-trainable weight (a moving mean) trainable.
        """
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for p in self.parameters():
            p.requires_grad = self._trainable and p.trainable

    @property
    def weights(self) -> list[Parameter]:
        """Every Parameter of the layer, in creation order (``parameters()``, Keras's name)."""
        return self.parameters()

    @property
    def trainable_weights(self) -> list[Parameter]:
        """The Parameters ``fit`` updates (those with ``requires_grad``): none when frozen."""
        return [p for p in self.weights if p.requires_grad]

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        """The Parameters ``fit`` leaves unchanged."""
        trainable = {id(p) for p in self.trainable_weights}
        return [p for p in self.weights if id(p) not in trainable]

    @property
    def losses(self) -> list[Tensor]:
        """The penalties of the trainable weights that have a regularizer, computed from the
        weights as they are now (Keras's ``layer.losses``); ``fit`` adds them to the loss."""
        return [p.regularizer(p) for p in self.trainable_weights if p.regularizer is not None]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights as numpy arrays, in the order of ``weights``."""
        return [p.data.copy() for p in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Overwrite the weights in place with arrays in the order of ``get_weights()``.

        Each array must have its weight's shape (values are cast to the layer's dtype).
        """
        weights = list(weights)
        named = list(self.named_parameters())
        if len(weights) != len(named):
            raise ValueError(
                f"{self.label}.set_weights: the layer has {len(named)} weights "
                f"({', '.join(name for name, _ in named) or 'none yet: build it first'}), "
                f"but {len(weights)} arrays were given"
            )
        arrays = [np.asarray(w) for w in weights]
        for (name, p), array in zip(named, arrays, strict=True):
            if array.shape != p.shape:
                raise ValueError(
                    f"{self.label}.set_weights: {name} has shape {p.shape}, but the array "
                    f"given for it has shape {array.shape}"
                )
        for (_, p), array in zip(named, arrays, strict=True):
            p.data[...] = array  # in place: optimizers keep their state for p

    @property
    def label(self) -> str:
        """A short name for messages: the class name (Dense adds its units: ``Dense(64)``)."""
        return type(self).__name__

    def build(self, input_shape: Shape) -> None:
        """Create what depends on the input size; ``input_shape`` includes the batch axis."""
        self.input_shape = (None, *input_shape[1:])
        self.output_shape = self.compute_output_shape(self.input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def count_params(self) -> int:
        return sum(p.data.size for p in self.parameters())

    def __call__(self, x: Any, training: bool | None = None) -> Tensor:
        x = self._prepare(x)
        if self._forward_takes_training:
            return self.forward(x, training=bool(training))
        return self.forward(x)

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


def _regularizer(identifier: str | Callable | None) -> Callable | None:
    """None, a function of a Parameter, or a name that :mod:`nnlearn.regularizers` knows
    (chapter 09, imported only when a name is given)."""
    if identifier is None or callable(identifier):
        return identifier
    from nnlearn import regularizers

    return regularizers.get(identifier)


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
        self.activation_name = _activation_name(activation)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = _regularizer(kernel_regularizer)
        self.bias_regularizer = _regularizer(bias_regularizer)
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
        self.activation_name = _activation_name(activation)
        self.activation = activations.get(activation)
        super().__init__(input_shape, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(x)

    def __repr__(self) -> str:
        return f"Activation({self.activation_name!r})"


# Layers of later chapters are reachable here too, as in Keras (``nnlearn.layers.Dropout``);
# their module is imported at the first use of the name (PEP 562), so this chapter-03 module
# imports no later chapter when it loads.
def __getattr__(name: str) -> Any:
    if name in ("Dropout", "BatchNormalization", "LayerNormalization"):  # chapter 09
        from nnlearn import regularization

        return getattr(regularization, name)
    raise AttributeError(f"module 'nnlearn.layers' has no attribute {name!r}")
