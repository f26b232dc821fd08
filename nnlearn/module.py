"""The building blocks of every layer (chapter 03): Parameter, Module, Layer.

The concepts are PyTorch's (a :class:`Module` owns :class:`Parameter` s and has a ``forward``),
the ergonomics are Keras's (sizes inferred on first use, ``trainable``, ``weights``,
``get_weights``/``set_weights``, ``training``). :mod:`nnlearn.layers` builds the layers of the
course on them (``Dense``, ``Activation``; later chapters add their own) and is where a learner
finds all of them, as in Keras.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from nnlearn import initializers
from nnlearn.seeding import rng
from nnlearn.tensor import Tensor, _checked_dtype, get_default_dtype

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

    def get_config(self) -> dict[str, Any]:
        """The layer's constructor arguments under Keras's names, as a dict JSON can hold, such
        that ``type(layer)(**layer.get_config())`` makes the same layer, unbuilt (Keras's
        ``get_config``; ``model.save`` writes it, chapter 13). Each layer class defines its own."""
        name = type(self).__name__
        raise NotImplementedError(
            f"{name} has no get_config(), so model.save cannot write it: define get_config() "
            f"returning its constructor arguments as a dict JSON can hold, such that "
            f"{name}(**config) rebuilds the layer (model.save_weights needs none)"
        )

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
