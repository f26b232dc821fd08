"""Loss functions (chapter 04): how far the predictions are from the targets, as one number.

Every loss takes ``(y_pred, y_true)`` in that order (PyTorch's; Keras puts ``y_true`` first)
and returns a scalar Tensor: the mean over the batch (over every element for the regression
and binary losses, over every row of classes for the categorical ones).

* Regression: :func:`mean_squared_error`, :func:`mean_absolute_error`, :func:`huber`.
* Binary classification: :func:`binary_crossentropy` (probabilities) and
  :func:`binary_crossentropy_with_logits` (raw scores, fused and stable).
* Multi-class: :func:`categorical_crossentropy` (one-hot or probability targets) and
  :func:`sparse_categorical_crossentropy` (integer labels), from probabilities or, with
  ``from_logits=True``, from raw scores through the fused :class:`SoftmaxCrossEntropy`.

Losses that are short compositions of differentiable operations (MSE, MAE) are written as
such; the others are :class:`~nnlearn.tensor.Function` subclasses whose ``backward`` states the
derivative. Targets are data: the fused Functions give them no gradient.

The Keras-style classes (:class:`MeanSquaredError`, ..., :class:`SparseCategoricalCrossentropy`)
hold the options (``delta``, ``from_logits``); :func:`get` finds one by its Keras name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nnlearn.activations import log_softmax_values, sigmoid_values
from nnlearn.tensor import Function, Tensor

# torch's BCELoss clamps each log at -100, so p = 0 or 1 gives a finite loss, and floors
# p (1 - p) in its backward at 1e-12 (a float32 constant there, so the same value here).
LOG_FLOOR = -100.0
BCE_EPSILON = float(np.float32(1e-12))


def clamped_log_values(p: np.ndarray) -> np.ndarray:
    """``max(log p, -100)`` for probabilities ``p >= 0`` (``log 0`` becomes -100, silently)."""
    with np.errstate(divide="ignore"):
        return np.maximum(np.log(p), LOG_FLOOR)


# --- the Functions -------------------------------------------------------------------------------
class ClampedLog(Function):
    def forward(self, p: np.ndarray) -> np.ndarray:
        """y = max(log p, -100), elementwise, for probabilities p in [0, 1]."""
        self.p = p
        self.y = clamped_log_values(p)
        return self.y

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dy/dp = 1/p where log p > -100, and 0 where the clamp holds y flat."""
        unclamped = self.y > LOG_FLOOR
        return np.divide(g, self.p, out=np.zeros_like(g), where=unclamped)


class HuberError(Function):
    def forward(self, r: np.ndarray, delta: float = 1.0) -> np.ndarray:
        """h(r) = r^2 / 2 for |r| < delta, else delta (|r| - delta / 2), elementwise.

        Quadratic near 0 like the squared error, linear in the tails like the absolute error,
        so outliers pull with a bounded force. ``r`` is the residual ``y_pred - y_true``.
        """
        self.r, self.delta = r, float(delta)
        magnitude = np.abs(r)
        return np.where(
            magnitude < self.delta, 0.5 * r * r, self.delta * (magnitude - 0.5 * self.delta)
        )

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dh/dr = clip(r, -delta, delta): r inside the band, ±delta outside (continuous)."""
        return g * np.clip(self.r, -self.delta, self.delta)


class BCEFromProbabilities(Function):
    def forward(self, p: np.ndarray, y: np.ndarray) -> np.ndarray:
        """L = -(1/N) sum_i [y_i log p_i + (1 - y_i) log(1 - p_i)] over all N elements.

        Each log is clamped at -100 as in torch's BCELoss, so p = 0 or 1 stays finite.
        """
        self.p, self.y = p, y
        terms = y * clamped_log_values(p) + (1 - y) * clamped_log_values(1 - p)
        return np.asarray(-terms.mean(), dtype=p.dtype)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, None]:
        """dL/dp_i = (p_i - y_i) / (N p_i (1 - p_i)), the denominator floored at 1e-12.

        (PyTorch's formula; the floor keeps it finite at p = 0 or 1.) Targets get no gradient.
        """
        p, y = self.p, self.y
        return g * (p - y) / (np.maximum(p * (1 - p), BCE_EPSILON) * p.size), None


class BCEFromLogits(Function):
    def forward(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """L = (1/N) sum_i -[y_i log s(z_i) + (1 - y_i) log(1 - s(z_i))], s the sigmoid.

        Written stably as max(z, 0) - z y + log(1 + e^{-|z|}): no exponential overflows and no
        log of a probability rounded to 0, however large |z| is.
        """
        self.z, self.y = z, y
        terms = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
        return np.asarray(terms.mean(), dtype=z.dtype)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, None]:
        """dL/dz_i = (s(z_i) - y_i) / N. Targets get no gradient."""
        return g * (sigmoid_values(self.z) - self.y) / self.z.size, None


class SoftmaxCrossEntropy(Function):
    def forward(self, z: np.ndarray, t: np.ndarray) -> np.ndarray:
        """L = -(1/N) sum_n sum_c t_nc log softmax(z_n)_c.

        Shapes: logits ``z`` (..., C), targets ``t`` (..., C) (one-hot or probabilities); the
        N rows are all positions of the leading axes. The log-softmax is the stable one.
        """
        self.t = t
        self.log_p = log_softmax_values(z, axis=-1)
        self.rows = z.size // z.shape[-1]
        return np.asarray(-(t * self.log_p).sum() / self.rows, dtype=z.dtype)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, None]:
        """dL/dz_nc = (softmax(z_n)_c * sum_k t_nk - t_nc) / N.

        For targets that sum to 1 (one-hot, probabilities) this is (softmax - t) / N: the
        prediction minus the target, with no division by a probability that could be tiny.
        Targets get no gradient.
        """
        p = np.exp(self.log_p)
        return g * (p * self.t.sum(axis=-1, keepdims=True) - self.t) / self.rows, None


# --- checks at the boundary ----------------------------------------------------------------------
def _prediction(y_pred: Any) -> Tensor:
    return y_pred if isinstance(y_pred, Tensor) else Tensor(y_pred)


def _target(loss: str, y_pred: Tensor, y_true: Any) -> Tensor:
    """``y_true`` as a Tensor of ``y_pred``'s dtype and shape, or a ValueError naming both."""
    target = (
        y_true if isinstance(y_true, Tensor) else Tensor(np.asarray(y_true), dtype=y_pred.dtype)
    )
    if target.shape != y_pred.shape:
        hint = f" (reshape y_true to {y_pred.shape})" if target.size == y_pred.size else ""
        raise ValueError(
            f"{loss}: y_pred has shape {y_pred.shape} but y_true has shape {target.shape}; "
            f"they must be equal{hint}"
        )
    return target


def _check_probabilities(loss: str, p: Tensor) -> None:
    if p.size and not (p.data.min() >= 0 and p.data.max() <= 1):
        raise ValueError(
            f"{loss}: y_pred must hold probabilities in [0, 1], got values from "
            f"{p.data.min():g} to {p.data.max():g}; for raw scores (logits) use from_logits=True"
        )


def _one_hot_labels(loss: str, y_pred: Tensor, labels: Any) -> np.ndarray:
    """Integer labels ``(...)`` for ``y_pred`` ``(..., C)`` as one-hot rows of y_pred's dtype.

    Labels may be integers or integral floats (Tensors hold floats), of shape ``(...)`` or
    ``(..., 1)`` as Keras allows.
    """
    values = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    classes, rows = y_pred.shape[-1], y_pred.shape[:-1]
    if values.shape == (*rows, 1):
        values = values[..., 0]
    if values.shape != rows:
        raise ValueError(
            f"{loss}: y_pred has shape {y_pred.shape}, so the labels need shape {rows} (one "
            f"class index per row), but they have shape {values.shape}"
        )
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        raise ValueError(f"{loss}: labels must be integers, got dtype {values.dtype}")
    bad = ~np.isfinite(values) | (values != np.round(values)) | (values < 0) | (values >= classes)
    if bad.any():
        raise ValueError(
            f"{loss}: labels must be integers in [0, {classes}) for {classes} classes, "
            f"got {values[bad].flat[0].item()!r}"
        )
    return np.eye(classes, dtype=y_pred.dtype)[values.astype(np.intp)]


def _crossentropy(loss: str, y_pred: Tensor, target: Tensor, from_logits: bool) -> Tensor:
    if from_logits:
        return SoftmaxCrossEntropy.apply(y_pred, target)
    _check_probabilities(loss, y_pred)
    return -(target * ClampedLog.apply(y_pred)).sum(axis=-1).mean()


def _at_least_1d(loss: str, y_pred: Tensor) -> None:
    if y_pred.ndim == 0:
        raise ValueError(f"{loss}: y_pred needs a last axis of classes, got a scalar")


# --- the public functions ------------------------------------------------------------------------
def mean_squared_error(y_pred: Any, y_true: Any) -> Tensor:
    """``mean((y_pred - y_true)^2)`` over all elements; both of one shape."""
    y_pred = _prediction(y_pred)
    return ((y_pred - _target("mean_squared_error", y_pred, y_true)) ** 2).mean()


def mean_absolute_error(y_pred: Any, y_true: Any) -> Tensor:
    """``mean(|y_pred - y_true|)`` over all elements (gradient 0 where they are equal)."""
    y_pred = _prediction(y_pred)
    return (y_pred - _target("mean_absolute_error", y_pred, y_true)).abs().mean()


def huber(y_pred: Any, y_true: Any, delta: float = 1.0) -> Tensor:
    """Mean Huber penalty of the residuals ``y_pred - y_true`` (see :class:`HuberError`)."""
    if not delta > 0:
        raise ValueError(f"huber: delta must be positive, got {delta}")
    y_pred = _prediction(y_pred)
    residual = y_pred - _target("huber", y_pred, y_true)
    return HuberError.apply(residual, delta=delta).mean()


def binary_crossentropy(y_pred: Any, y_true: Any, from_logits: bool = False) -> Tensor:
    """Mean binary cross-entropy of probabilities ``y_pred`` (or logits) and targets in [0, 1]."""
    if from_logits:
        return binary_crossentropy_with_logits(y_pred, y_true)
    y_pred = _prediction(y_pred)
    target = _target("binary_crossentropy", y_pred, y_true)
    _check_probabilities("binary_crossentropy", y_pred)
    return BCEFromProbabilities.apply(y_pred, target)


def binary_crossentropy_with_logits(y_pred: Any, y_true: Any) -> Tensor:
    """Mean binary cross-entropy of ``sigmoid(y_pred)``, fused and stable for any logits."""
    y_pred = _prediction(y_pred)
    return BCEFromLogits.apply(y_pred, _target("binary_crossentropy_with_logits", y_pred, y_true))


def categorical_crossentropy(y_pred: Any, y_true: Any, from_logits: bool = False) -> Tensor:
    """Mean over rows of ``-sum_c t_c log p_c``; ``y_pred`` and ``y_true`` both (..., C).

    ``y_pred`` holds probabilities (each log clamped at -100), or logits with
    ``from_logits=True`` (then the fused, stable :class:`SoftmaxCrossEntropy`).
    """
    y_pred = _prediction(y_pred)
    _at_least_1d("categorical_crossentropy", y_pred)
    target = _target("categorical_crossentropy", y_pred, y_true)
    return _crossentropy("categorical_crossentropy", y_pred, target, from_logits)


def sparse_categorical_crossentropy(y_pred: Any, y_true: Any, from_logits: bool = False) -> Tensor:
    """:func:`categorical_crossentropy` with integer labels ``(...)`` for ``y_pred`` (..., C)."""
    loss = "sparse_categorical_crossentropy"
    y_pred = _prediction(y_pred)
    _at_least_1d(loss, y_pred)
    target = Tensor(_one_hot_labels(loss, y_pred, y_true))
    return _crossentropy(loss, y_pred, target, from_logits)


# --- Keras-style loss objects --------------------------------------------------------------------
class Loss:
    """A loss with its options: ``loss(y_pred, y_true)`` returns a scalar Tensor."""

    name = ""

    def __call__(self, y_pred: Any, y_true: Any) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in vars(self).items())
        return f"{type(self).__name__}({options})"


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def __call__(self, y_pred: Any, y_true: Any) -> Tensor:
        return mean_squared_error(y_pred, y_true)


class MeanAbsoluteError(Loss):
    name = "mean_absolute_error"

    def __call__(self, y_pred: Any, y_true: Any) -> Tensor:
        return mean_absolute_error(y_pred, y_true)


class Huber(Loss):
    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        self.delta = delta

    def __call__(self, y_pred: Any, y_true: Any) -> Tensor:
        return huber(y_pred, y_true, delta=self.delta)


class BinaryCrossentropy(Loss):
    name = "binary_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = from_logits

    def __call__(self, y_pred: Any, y_true: Any) -> Tensor:
        return binary_crossentropy(y_pred, y_true, from_logits=self.from_logits)


class CategoricalCrossentropy(Loss):
    name = "categorical_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = from_logits

    def __call__(self, y_pred: Any, y_true: Any) -> Tensor:
        return categorical_crossentropy(y_pred, y_true, from_logits=self.from_logits)


class SparseCategoricalCrossentropy(Loss):
    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = from_logits

    def __call__(self, y_pred: Any, y_true: Any) -> Tensor:
        return sparse_categorical_crossentropy(y_pred, y_true, from_logits=self.from_logits)


_BY_NAME: dict[str, type[Loss]] = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}


def get(loss: str | Callable[[Any, Any], Tensor]) -> Callable[[Any, Any], Tensor]:
    """A loss for a Keras name (a new loss object with default options), or a callable as is."""
    if callable(loss):
        return loss
    if isinstance(loss, str) and loss.lower() in _BY_NAME:
        return _BY_NAME[loss.lower()]()
    raise ValueError(f"unknown loss {loss!r}; known names: {', '.join(_BY_NAME)}")
