"""Regularization layers (chapter 09): Dropout, BatchNormalization, LayerNormalization.

Keras's names with Keras 3's meaning, checked against Keras itself and, through their torch
twins (:mod:`nnlearn.parity.regularization_twins`), against PyTorch; each is also
``nnlearn.layers.<Name>``, as in Keras. Dropout and BatchNormalization behave differently
while training, so their ``forward`` takes ``training``: ``fit`` and
``model(x, training=True)`` pass True; ``evaluate``, ``predict`` and ``model(x)`` infer.

* ``Dropout(rate)``: training: each input is zeroed with probability ``rate`` and the kept
  ones are scaled by ``1 / (1 - rate)`` ("inverted" dropout: ``E[y] = x``, so inference,
  the identity, needs no rescaling).
* ``BatchNormalization()``: training: each feature normalised with the batch's mean and
  biased variance, which move the moving statistics; inference, or a frozen layer (Keras
  3's rule): the moving statistics.
* ``LayerNormalization()``: each example normalised over its own features, always.

The formulas live in two fused Functions, forward and backward side by side:
:class:`InvertedDropout`, and :class:`Normalize`, shared by both normalizations (they differ
only in the axes their statistics are taken over).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nnlearn import initializers
from nnlearn.module import Layer, Parameter, Shape
from nnlearn.seeding import rng
from nnlearn.tensor import Function, Tensor

__all__ = ["BatchNormalization", "Dropout", "LayerNormalization"]  # the layers
__all__ += ["InvertedDropout", "Normalize", "moments"]  # their formulas


def moments(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The mean and the *biased* variance of ``x`` over ``axes`` (kept as size-1 axes):

    .. math::

        \\mu = \\frac{1}{N} \\sum x, \\qquad \\sigma^2 = \\frac{1}{N} \\sum (x - \\mu)^2

    with ``N`` the number of values averaged (not ``N - 1``: Keras and torch normalise with
    this one; torch's running variance alone uses ``N - 1``).
    """
    mean = x.mean(axis=axes, keepdims=True)
    return mean, np.square(x - mean).mean(axis=axes, keepdims=True)


class InvertedDropout(Function):
    """``y = x * mask / (1 - rate)``: dropout's training pass, for a given ``mask``.

    Shapes: ``x`` any; ``mask`` (0 = dropped, 1 = kept) of ``x``'s shape or broadcastable to
    it (Keras's ``noise_shape``); ``y`` like ``x``. ``rate = 1`` drops everything: ``y = 0``
    (as Keras, rather than 0/0).
    """

    def forward(self, x: np.ndarray, *, mask: np.ndarray, rate: float) -> np.ndarray:
        keep = 1.0 - rate
        scale = mask / keep if keep > 0 else np.zeros(np.shape(mask))
        self.scale = np.asarray(scale, dtype=x.dtype)
        return x * self.scale

    def backward(self, g: np.ndarray) -> np.ndarray:
        """``dL/dx = g * mask / (1 - rate)``: a dropped unit passes no gradient back."""
        return g * self.scale


class Normalize(Function):
    """``y = gamma * xhat + beta`` with ``xhat = (x - mu) / sqrt(var + epsilon)``.

    Args (options):
        axes: the axes of ``x`` that the statistics ``mu``, ``var`` (:func:`moments`) are
            taken over: every axis but the features for BatchNormalization, the features for
            LayerNormalization.
        param_axes: the axes of ``x`` that ``gamma`` and ``beta`` span, in order.
        epsilon: added to the variance.
        mean, variance: given (BatchNormalization at inference, shaped like ``gamma``), they
            are constants and no statistics of ``x`` are taken.

    Shapes: ``x`` (n0, n1, ...); ``gamma``, ``beta``, ``mean``, ``variance``: the sizes of
    ``x`` along ``param_axes``, e.g. (features,); ``y`` like ``x``.
    """

    def forward(self, x, gamma, beta, *, axes, param_axes, epsilon, mean=None, variance=None):
        # gamma (features,) against x (batch, features, length): numpy broadcasts from the
        # right, so the parameters are given size-1 axes everywhere else.
        shape = [n if i in param_axes else 1 for i, n in enumerate(x.shape)]
        self.batch_statistics = mean is None
        if self.batch_statistics:
            mean, variance = moments(x, axes)
        else:
            mean, variance = mean.reshape(shape), variance.reshape(shape)
        self.axes, self.param_shape = axes, gamma.shape
        self.summed = tuple(i for i in range(x.ndim) if i not in param_axes)
        self.gamma = gamma.reshape(shape)
        self.inv_std = 1.0 / np.sqrt(variance + epsilon)
        self.xhat = (x - mean) * self.inv_std
        return self.xhat * self.gamma + beta.reshape(shape)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        """With ``g = dL/dy`` (``x``'s shape) and ``dxhat = g * gamma``:

        * batch statistics (``mu``, ``var`` depend on ``x``; means over ``axes``, N values)::

              dL/dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)

          (the two subtracted terms are the paths through ``mu`` and through ``var``);
        * given statistics (constants): ``dL/dx = dxhat / sqrt(var + eps)``;
        * ``dL/dgamma = sum(g * xhat)``, ``dL/dbeta = sum(g)``, summed over every axis but
          ``param_axes`` (shape of ``gamma``).

        A gradient nobody needs (data ``x``, a constant ``gamma``) is skipped (None).
        """
        x_, gamma_, beta_ = (p.requires_grad for p in self.parents)
        grad_x = grad_gamma = grad_beta = None
        if x_:
            dxhat = g * self.gamma
            if self.batch_statistics:
                through_mean = dxhat.mean(axis=self.axes, keepdims=True)
                through_var = self.xhat * (dxhat * self.xhat).mean(axis=self.axes, keepdims=True)
                dxhat = dxhat - through_mean - through_var
            grad_x = dxhat * self.inv_std
        if gamma_:
            grad_gamma = (g * self.xhat).sum(axis=self.summed).reshape(self.param_shape)
        if beta_:
            grad_beta = g.sum(axis=self.summed).reshape(self.param_shape)
        return grad_x, grad_gamma, grad_beta


def _config(layer: Layer, names: Sequence[str]) -> dict[str, Any]:
    """``layer.get_config()``: the constructor's arguments by Keras's names, as JSON values
    (an initializer by its name), so that ``type(layer)(**config)`` rebuilds the layer
    (unbuilt, without its weights)."""
    config = {}
    for name in names:
        value = getattr(layer, name)
        if name.endswith("_initializer") and not isinstance(value, str):
            if initializers.INITIALIZERS.get(getattr(value, "__name__", "")) is not value:
                raise ValueError(f"{layer.label}.get_config: {name} {value!r} has no name")
            value = value.__name__
        config[name] = list(value) if isinstance(value, tuple) else value
    return config | {"dtype": layer.dtype.name}


# --- Dropout ---------------------------------------------------------------------------------
class Dropout(Layer):
    """Keras's ``Dropout``: while training, zero each input with probability ``rate`` and
    scale the kept ones by ``1 / (1 - rate)``; at inference, the identity.

    Args:
        rate: the fraction of inputs dropped, in [0, 1].
        noise_shape: the shape of the mask, broadcast against the input; ``None`` entries
            take the input's size, e.g. ``(None, 1, None)`` drops the same features at every
            step of a sequence (batch, steps, features). Default: the input's shape.
        seed: the layer's own seed (a reproducible sequence of masks); without it, masks
            are drawn from :func:`nnlearn.seeding.rng` (reseeded by ``seed_everything``).
        input_shape, dtype: as for every layer.

    Shapes: input (batch, ...) -> output of the same shape. No weights.
    """

    CONFIG = ("rate", "noise_shape", "seed")

    def __init__(
        self,
        rate: float,
        noise_shape: Sequence[int | None] | None = None,
        seed: int | None = None,
        input_shape: Sequence[int] | None = None,
        dtype: Any = None,
    ) -> None:
        if not isinstance(rate, (int, float, np.number)) or not 0 <= rate <= 1:
            raise ValueError(f"Dropout: rate must be a number between 0 and 1, got {rate!r}")
        if noise_shape is not None:
            noise_shape = tuple(noise_shape)
            if any(d is not None and (not isinstance(d, int) or d < 1) for d in noise_shape):
                raise ValueError(
                    f"Dropout: noise_shape must hold positive integers or None, got {noise_shape}"
                )
        self.rate, self.noise_shape, self.seed = float(rate), noise_shape, seed
        self._generator = None if seed is None else np.random.default_rng(seed)
        super().__init__(input_shape, dtype)

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        if not training or self.rate == 0:
            return x
        draw = self._generator if self._generator is not None else rng()
        keep = draw.random(self._mask_shape(x.shape)) >= self.rate  # P(keep) = 1 - rate
        return InvertedDropout.apply(x, mask=keep.astype(x.dtype), rate=self.rate)

    def _mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.noise_shape is None:
            return shape
        mask = tuple(n if d is None else d for d, n in zip(self.noise_shape, shape, strict=False))
        if len(mask) != len(shape) or any(
            d not in (1, n) for d, n in zip(mask, shape, strict=True)
        ):
            raise ValueError(
                f"{self.label}: noise_shape {self.noise_shape} does not broadcast to the "
                f"input's shape {shape}: give one entry per axis, each 1, None or the size"
            )
        return mask

    def get_config(self) -> dict[str, Any]:
        return _config(self, self.CONFIG)

    def __repr__(self) -> str:
        return f"Dropout({self.rate:g})"


# --- the normalizations ----------------------------------------------------------------------
class _Normalization(Layer):
    """What both normalizations share: their axes, input checks and optional gamma, beta."""

    CONFIG: tuple[str, ...] = ()  # the constructor's arguments, for get_config
    axes: tuple[int, ...] = ()  # the axes of the input that gamma and beta span (build)
    gamma: Parameter | None  # both made by build (None: left out, center or scale False)
    beta: Parameter | None

    def _axis(self, axis: int, input_shape: Shape) -> int:
        """``axis`` as a non-negative index of ``input_shape``; the batch axis is refused."""
        rank = len(input_shape)
        if not -rank <= axis < rank or axis % rank == 0:
            raise ValueError(
                f"{self.label}: axis {axis} is not a feature axis of inputs of shape "
                f"{tuple(input_shape)} (axis 0 is the batch)"
            )
        return axis % rank

    def _prepare(self, x: Any) -> Tensor:
        x = super()._prepare(x)
        want = self.input_shape
        if x.ndim != len(want) or any(x.shape[a] != want[a] for a in self.axes):
            raise ValueError(
                f"{self.label}: built for inputs of shape {want} (normalising axes "
                f"{self.axes}), got {x.shape}"
            )
        if x.dtype != self.dtype:
            raise TypeError(
                f"{self.label}: the inputs are {x.dtype} but the layer's weights are "
                f"{self.dtype}; convert the inputs with .astype({self.dtype.name!r}) or build "
                f"the layer with dtype={x.dtype.name!r}"
            )
        return x

    def _scale_and_offset(self) -> tuple[Any, Any]:
        """``gamma`` and ``beta``, or constants 1 and 0 for those the layer leaves out."""
        shape = tuple(self.input_shape[a] for a in self.axes)
        gamma = self.gamma if self.gamma is not None else np.ones(shape, self.dtype)
        beta = self.beta if self.beta is not None else np.zeros(shape, self.dtype)
        return gamma, beta

    def get_config(self) -> dict[str, Any]:
        return _config(self, self.CONFIG)


class BatchNormalization(_Normalization):
    """Keras's ``BatchNormalization``: each feature normalised over the batch.

    .. math::

        y = \\gamma \\frac{x - \\mu}{\\sqrt{\\sigma^2 + \\epsilon}} + \\beta

    Training (``training=True`` and the layer trainable): ``mu``, ``sigma^2`` are the batch's
    mean and biased variance per feature (:func:`moments`), and the moving statistics move
    toward them: ``moving = moving * momentum + batch * (1 - momentum)``. Inference, or a
    frozen layer (``trainable = False``, Keras 3's rule): ``moving_mean``, ``moving_variance``.

    Args:
        axis: the feature axis (one integer; -1: the last, as in (batch, features)).
        momentum, epsilon: Keras's defaults 0.99 and 1e-3. torch's ``BatchNorm1d`` writes the
            same update with ``momentum = 1 - 0.99 = 0.01`` (its default 0.1 is Keras's 0.9)
            and its default ``eps`` is 1e-5.
        center, scale: whether to learn ``beta`` and ``gamma``.
        beta_initializer, gamma_initializer, moving_mean_initializer,
        moving_variance_initializer: names from :mod:`nnlearn.initializers` (or functions).
        input_shape, dtype: as for every layer.

    Weights, Keras's order: ``gamma``, ``beta`` (trainable), ``moving_mean``,
    ``moving_variance`` (non-trainable), each (features,). Shapes: input (batch, ...,
    features) for ``axis=-1``, output the same.
    """

    CONFIG = ("axis", "momentum", "epsilon", "center", "scale", "beta_initializer")
    CONFIG += ("gamma_initializer", "moving_mean_initializer", "moving_variance_initializer")

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: str | Callable = "zeros",
        gamma_initializer: str | Callable = "ones",
        moving_mean_initializer: str | Callable = "zeros",
        moving_variance_initializer: str | Callable = "ones",
        input_shape: Sequence[int] | None = None,
        dtype: Any = None,
    ) -> None:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(
                f"BatchNormalization: axis must be one integer (Keras 3 takes one), got {axis!r}"
            )
        self.axis, self.momentum, self.epsilon = int(axis), float(momentum), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        # Keras's weight order, which parameters() follows: the order they are first assigned
        # (a chained assignment assigns from left to right).
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None
        super().__init__(input_shape, dtype)

    def build(self, input_shape: Shape) -> None:
        """Create the weights, each (features,), once the number of features is known."""
        axis = self._axis(self.axis, input_shape)
        self.axes = (axis,)
        self.reduction_axes = tuple(i for i in range(len(input_shape)) if i != axis)
        shape = (int(input_shape[axis]),)
        if self.scale:
            self.gamma = self.add_weight(shape, self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight(shape, self.beta_initializer)
        self.moving_mean = self.add_weight(shape, self.moving_mean_initializer, trainable=False)
        self.moving_variance = self.add_weight(
            shape, self.moving_variance_initializer, trainable=False
        )
        super().build(input_shape)

    def forward(self, x: Tensor, training: bool = False) -> Tensor:
        gamma, beta = self._scale_and_offset()
        options = {"axes": self.reduction_axes, "param_axes": self.axes, "epsilon": self.epsilon}
        if not (training and self.trainable):
            mean, variance = self.moving_mean.data, self.moving_variance.data
            return Normalize.apply(x, gamma, beta, mean=mean, variance=variance, **options)
        mean, variance = moments(x.data, self.reduction_axes)
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            moving.data[...] = moving.data * self.momentum + batch.reshape(-1) * (1 - self.momentum)
        return Normalize.apply(x, gamma, beta, **options)

    def __repr__(self) -> str:
        return f"BatchNormalization(momentum={self.momentum:g}, epsilon={self.epsilon:g})"


class LayerNormalization(_Normalization):
    """Keras's ``LayerNormalization``: each example normalised over its own features.

    ``y = gamma * (x - mu) / sqrt(sigma^2 + epsilon) + beta`` with ``mu``, ``sigma^2`` the
    mean and biased variance of one example over ``axis``; the same in training and at
    inference (no moving statistics).

    Args:
        axis: the axis or list of axes normalised over (-1: the last).
        epsilon: Keras's default 1e-3 (torch's ``LayerNorm`` has ``eps`` 1e-5).
        center, scale: whether to learn ``beta`` and ``gamma``.
        beta_initializer, gamma_initializer: names from :mod:`nnlearn.initializers`.
        input_shape, dtype: as for every layer.

    Weights, Keras's order: ``gamma``, ``beta``, each of the input's sizes along ``axis``,
    e.g. (features,). Shapes: input (batch, ..., features), output the same.
    """

    CONFIG = ("axis", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer")

    def __init__(
        self,
        axis: int | Sequence[int] = -1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: str | Callable = "zeros",
        gamma_initializer: str | Callable = "ones",
        input_shape: Sequence[int] | None = None,
        dtype: Any = None,
    ) -> None:
        many = isinstance(axis, (list, tuple))
        if not all(isinstance(a, (int, np.integer)) for a in (axis if many else [axis])):
            raise TypeError(
                f"LayerNormalization: axis must be an integer or a list of integers, got {axis!r}"
            )
        self.axis = [int(a) for a in axis] if many else int(axis)
        self.epsilon, self.center, self.scale = float(epsilon), bool(center), bool(scale)
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.gamma = self.beta = None  # Keras's order, which parameters() follows
        super().__init__(input_shape, dtype)

    def build(self, input_shape: Shape) -> None:
        """Create ``gamma`` and ``beta``, each of the input's sizes along ``axis``."""
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        self.axes = tuple(sorted({self._axis(a, input_shape) for a in axes}))
        shape = tuple(int(input_shape[a]) for a in self.axes)
        if self.scale:
            self.gamma = self.add_weight(shape, self.gamma_initializer)
        if self.center:
            self.beta = self.add_weight(shape, self.beta_initializer)
        super().build(input_shape)

    def forward(self, x: Tensor) -> Tensor:
        gamma, beta = self._scale_and_offset()
        return Normalize.apply(
            x, gamma, beta, axes=self.axes, param_axes=self.axes, epsilon=self.epsilon
        )

    def __repr__(self) -> str:
        return f"LayerNormalization(epsilon={self.epsilon:g})"
