"""The loss functions of chapter 04, Keras's: ``loss(y_true, y_pred)`` -> one loss per example.

Each reduces over the last axis only (the class axis of the cross-entropies): ``y_pred`` of
shape ``(N, C)`` gives losses ``(N,)``. Losses that are short compositions of Tensor operations
(MSE, MAE, cross-entropy of probabilities) are written as such; the others are
:class:`~nnlearn.tensor.Function` subclasses whose ``backward`` states the derivative. Targets
are data: they get no gradient.

Probabilities are clipped to ``[EPSILON, 1 - EPSILON]`` as Keras does (``keras.config.epsilon()``
is 1e-7), and a categorical row is divided by its sum first. Probabilities that
:func:`nnlearn.activations.softmax` or ``sigmoid`` made carry their logits
(``_softmax_logits``, ``_sigmoid_logits``); :func:`_recorded_logits` finds them and the
cross-entropies score those logits with the fused, stable Functions instead (see the package
docstring, :mod:`nnlearn.losses`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnlearn.activations import log_softmax_values, sigmoid_values
from nnlearn.tensor import FLOAT_DTYPES, Function, Tensor

EPSILON = 1e-7  # keras.config.epsilon()
# Below these, a float32 or float64 number has lost precision (a subnormal) or is 0.
_SMALLEST_NORMAL = {dtype: np.finfo(dtype).tiny for dtype in FLOAT_DTYPES}


# --- the Functions -------------------------------------------------------------------------------
class Clip(Function):
    def forward(self, x: np.ndarray, low: float, high: float) -> np.ndarray:
        """y = min(max(x, low), high), elementwise (the bounds in x's dtype, as in torch)."""
        low, high = x.dtype.type(low), x.dtype.type(high)
        self.inside = (x >= low) & (x <= high)
        return np.clip(x, low, high)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dy/dx = 1 inside [low, high] (bounds included, as torch.clip), 0 where y is flat."""
        return g * self.inside


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
        """l = -[y log p + (1 - y) log(1 - p)], elementwise, for p in (0, 1) (already clipped)."""
        self.p, self.y = p, y
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, None]:
        """dl/dp = (p - y) / (p (1 - p)). Targets get no gradient."""
        p = self.p
        return g * (p - self.y) / (p * (1 - p)), None


class BCEFromLogits(Function):
    def forward(self, z: np.ndarray, y: np.ndarray) -> np.ndarray:
        """l = -[y log s(z) + (1 - y) log(1 - s(z))] elementwise, s the sigmoid.

        Written stably as max(z, 0) - z y + log(1 + e^{-|z|}): no exponential overflows and no
        log of a probability rounded to 0, however large |z| is.
        """
        self.z, self.y = z, y
        return np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, None]:
        """dl/dz = s(z) - y. Targets get no gradient."""
        return g * (sigmoid_values(self.z) - self.y), None


class SoftmaxCrossEntropy(Function):
    def forward(
        self,
        z: np.ndarray,
        t: np.ndarray | None = None,
        axis: int = -1,
        labels: np.ndarray | None = None,
        probabilities: np.ndarray | None = None,
    ) -> np.ndarray:
        """l = -sum_c t_c log softmax(z)_c along ``axis``: one loss per row.

        Shapes: logits ``z`` and targets ``t`` (one-hot or probabilities) of one shape, e.g.
        (N, C); the losses have that shape without ``axis``, e.g. (N,). Or, instead of ``t``,
        integer ``labels`` of the losses' shape (as ``torch.nn.functional.cross_entropy`` takes
        class indices): l = -log softmax(z)_label, the one-hot value without the one-hot rows.

        The log-softmax is the stable one (shifted by the maximum). With labels and the
        ``probabilities`` softmax(z) already computed (by the softmax layer that made them),
        l = -log p_label costs a log per row instead: exact while each p_label is a normal
        number; one that underflowed (a hopeless prediction) sends every row the stable way.
        """
        axis = axis % z.ndim
        self.t, self.axis = t, axis
        self.row_shape = (*z.shape[:axis], 1, *z.shape[axis + 1 :])  # a loss per row, axis kept
        self.at_labels = None if labels is None else _label_index(labels, axis)
        if labels is not None and probabilities is not None:
            picked = probabilities[self.at_labels]
            if not picked.size or picked.min() >= _SMALLEST_NORMAL[picked.dtype]:
                self.p = probabilities
                return -np.log(picked)
        log_p = log_softmax_values(z, axis)
        self.p = np.exp(log_p)
        if labels is None:
            return -(t * log_p).sum(axis=axis)
        return -log_p[self.at_labels]

    def backward(self, g: np.ndarray) -> np.ndarray | tuple[np.ndarray, None]:
        """dl/dz_c = softmax(z)_c * sum_k t_k - t_c.

        For targets that sum to 1 (one-hot, probabilities, labels) this is softmax(z) - t: the
        prediction minus the target, with no division by a probability that could be tiny.
        (The mean over N rows divides it by N.) Targets get no gradient.
        """
        rows = g.reshape(self.row_shape)
        if self.t is None:  # labels: p - onehot(label), scaled by each row's g
            grad = rows * self.p
            grad[self.at_labels] -= g
            return grad
        return rows * (self.p * self.t.sum(axis=self.axis, keepdims=True) - self.t), None


def _label_index(labels: np.ndarray, axis: int) -> tuple[np.ndarray, ...]:
    """The index that picks, along ``axis``, each label's entry: ``values[index]`` has the
    shape of ``labels`` (rows ``arange(N)`` and columns ``labels`` for a matrix)."""
    ndim = labels.ndim
    index = [np.arange(n).reshape((n,) + (1,) * (ndim - 1 - i)) for i, n in enumerate(labels.shape)]
    index.insert(axis, labels)
    return tuple(index)


# --- shapes and checks at the boundary -----------------------------------------------------------
def _prediction(y_pred: Any) -> Tensor:
    return y_pred if isinstance(y_pred, Tensor) else Tensor(y_pred)


def _target(y_true: Any, y_pred: Tensor) -> Tensor:
    """``y_true`` as a Tensor; a non-Tensor takes ``y_pred``'s dtype (as Keras casts it)."""
    if isinstance(y_true, Tensor):
        return y_true
    return Tensor(np.asarray(y_true), dtype=y_pred.dtype)


def squeeze_or_expand_to_same_rank(x1: Any, x2: Any, expand_rank_1: bool = True):
    """Keras's shape rule: if the ranks differ by one and the longer one ends in an axis of 1,
    squeeze that axis (or, when the shorter one is 1-D, expand the shorter one instead).

    So targets ``(N,)`` meet predictions ``(N, 1)`` as ``(N, 1)``, never broadcast to (N, N).
    ``x1`` and ``x2`` are Tensors or numpy arrays; their shapes change by ``reshape``.
    """
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1 and expand_rank_1:
            return x1, x2.reshape((*x2.shape, 1))
        return x1.reshape(x1.shape[:-1]), x2
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1 and expand_rank_1:
            return x1.reshape((*x1.shape, 1)), x2
        return x1, x2.reshape(x2.shape[:-1])
    return x1, x2


def _broadcast_target(loss: str, y_true: Any, y_pred: Any) -> tuple[Tensor, Tensor]:
    """Targets and predictions after Keras's shape rule; the targets must then broadcast to the
    predictions' shape (a target row shared by every example is fine, growing y_pred is not)."""
    y_pred = _prediction(y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(_target(y_true, y_pred), y_pred)
    try:
        grown = np.broadcast_shapes(y_true.shape, y_pred.shape) != y_pred.shape
    except ValueError:
        grown = True
    if grown:
        _shape_error(loss, y_true, y_pred, "y_true must have y_pred's shape")
    return y_true, y_pred


def _same_shape(loss: str, y_true: Any, y_pred: Tensor) -> Tensor:
    """The targets, which the cross-entropy functions need in exactly ``y_pred``'s shape."""
    target = _target(y_true, y_pred)
    if target.shape != y_pred.shape:
        _shape_error(loss, target, y_pred, "they must be equal")
    return target


def _shape_error(loss: str, y_true: Any, y_pred: Any, rule: str) -> None:
    same_size = math.prod(y_true.shape) == math.prod(y_pred.shape)
    hint = f" (reshape y_true to {y_pred.shape})" if same_size else ""
    raise ValueError(
        f"{loss}: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; {rule}{hint}"
    )


def _at_least_1d(loss: str, y_pred: Tensor) -> None:
    if y_pred.ndim == 0:
        raise ValueError(f"{loss}: y_pred needs a last axis to reduce over, got a scalar")


def _check_probabilities(loss: str, p: Tensor) -> None:
    if p.data.size and not (p.data.min() >= 0 and p.data.max() <= 1):
        raise ValueError(
            f"{loss}: y_pred must hold probabilities in [0, 1], got values from "
            f"{p.data.min():g} to {p.data.max():g}; for raw scores (logits) use from_logits=True"
        )


def _recorded_logits(loss: str, y_pred: Tensor, kind: str, from_logits: bool, axis: int):
    """The logits that ``softmax`` or ``sigmoid`` (``kind``) recorded on ``y_pred``, or None.

    softmax records them only when it normalised the last axis, so a loss along another axis
    does not use them.
    """
    logits = getattr(y_pred, f"_{kind}_logits", None)
    if logits is not None and from_logits:
        raise ValueError(
            f"{loss}: y_pred holds probabilities (the output of {kind}), but from_logits=True; "
            f"pass the logits, or use from_logits=False"
        )
    if kind == "softmax" and axis not in (-1, y_pred.ndim - 1):
        return None
    return logits


def _smoothed(target: Tensor, label_smoothing: float, towards: float) -> Tensor:
    """Keras's label smoothing: ``t (1 - s) + s * towards``."""
    if not label_smoothing:
        return target
    return target * (1.0 - label_smoothing) + label_smoothing * towards


def _labels(loss: str, labels: Any, y_pred: Tensor, axis: int) -> np.ndarray:
    """Integer labels for ``y_pred`` (..., C, ...) with classes along ``axis``, checked.

    Labels are integers or integral floats (Tensors hold floats), of ``y_pred``'s shape without
    ``axis``, or with an axis of 1 in its place, as Keras allows.
    """
    values = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    if values.dtype.kind not in "biuf":
        raise ValueError(
            f"{loss}: labels must be integers; map class names to 0..C-1 first "
            f"(got labels of dtype {values.dtype})"
        )
    axis = axis % y_pred.ndim
    classes, rows = y_pred.shape[axis], y_pred.shape[:axis] + y_pred.shape[axis + 1 :]
    if values.ndim == y_pred.ndim and values.shape[axis] == 1:
        values = np.squeeze(values, axis)
    if values.shape != rows:
        raise ValueError(
            f"{loss}: y_pred has shape {y_pred.shape}, so the labels need shape {rows} (one "
            f"class index per row), but they have shape {values.shape}"
        )
    # A quick check on every batch; the slower search for the culprit only when it fails.
    integral = values.dtype.kind != "f" or np.array_equal(values, np.round(values))
    if values.size and not (integral and values.min() >= 0 and values.max() < classes):
        bad = ~np.isfinite(values) | (values != np.round(values))
        bad |= (values < 0) | (values >= classes)
        raise ValueError(
            f"{loss}: labels must be integers in [0, {classes}) for {classes} classes, "
            f"got {values[bad].flat[0].item()!r}"
        )
    return values.astype(np.intp, copy=False)


def _one_hot(labels: np.ndarray, y_pred: Tensor, axis: int) -> Tensor:
    """Checked ``labels`` as one-hot rows of ``y_pred``'s shape and dtype, along ``axis``."""
    one_hot = np.eye(y_pred.shape[axis], dtype=y_pred.dtype)[labels]
    return Tensor(one_hot if axis in (-1, y_pred.ndim - 1) else np.moveaxis(one_hot, -1, axis))


def _crossentropy(
    loss: str, target: Tensor | None, y_pred: Tensor, from_logits: bool, axis: int, labels=None
):
    """-sum_c t_c log p_c along ``axis``, from logits, recorded logits, or probabilities; the
    targets one-hot or probabilities, or (``target`` None) checked integer ``labels``."""
    recorded = _recorded_logits(loss, y_pred, "softmax", from_logits, axis)
    logits = y_pred if from_logits else recorded
    if logits is not None:
        if target is not None:
            return SoftmaxCrossEntropy.apply(logits, target, axis=axis)
        # y_pred is softmax(logits) when it recorded them (unless changed in place since).
        reusable = recorded is not None and not y_pred._version
        return SoftmaxCrossEntropy.apply(
            logits, axis=axis, labels=labels, probabilities=y_pred.data if reusable else None
        )
    _check_probabilities(loss, y_pred)
    if target is None:
        target = _one_hot(labels, y_pred, axis)
    rows = y_pred / y_pred.sum(axis=axis, keepdims=True)
    return -(target * Clip.apply(rows, low=EPSILON, high=1 - EPSILON).log()).sum(axis=axis)


# --- the functions: one loss per example ---------------------------------------------------------
def mean_squared_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean((y_true - y_pred)^2)`` over the last axis: y_pred (N, D) gives losses (N,)."""
    y_true, y_pred = _broadcast_target("mean_squared_error", y_true, y_pred)
    _at_least_1d("mean_squared_error", y_pred)
    return ((y_pred - y_true) ** 2).mean(axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Tensor:
    """``mean(|y_true - y_pred|)`` over the last axis (gradient 0 where they are equal)."""
    y_true, y_pred = _broadcast_target("mean_absolute_error", y_true, y_pred)
    _at_least_1d("mean_absolute_error", y_pred)
    return (y_pred - y_true).abs().mean(axis=-1)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Tensor:
    """Huber penalty of ``y_pred - y_true`` (see :class:`HuberError`), mean over the last axis."""
    if not delta > 0:
        raise ValueError(f"huber: delta must be positive, got {delta}")
    y_true, y_pred = _broadcast_target("huber", y_true, y_pred)
    _at_least_1d("huber", y_pred)
    return HuberError.apply(y_pred - y_true, delta=delta).mean(axis=-1)


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    """Binary cross-entropy of each element, mean over ``axis``: (N, D) gives (N,).

    ``y_pred`` holds probabilities (clipped to [1e-7, 1 - 1e-7]), or logits with
    ``from_logits=True``; targets in [0, 1] of the same shape. ``label_smoothing`` s moves them
    towards 1/2: ``t (1 - s) + s / 2``.
    """
    loss = "binary_crossentropy"
    y_pred = _prediction(y_pred)
    _at_least_1d(loss, y_pred)
    target = _smoothed(_same_shape(loss, y_true, y_pred), label_smoothing, 0.5)
    logits = _recorded_logits(loss, y_pred, "sigmoid", from_logits, axis)
    if logits is not None:
        terms = BCEFromLogits.apply(logits, target)
    elif from_logits:
        terms = BCEFromLogits.apply(y_pred, target)
    else:
        _check_probabilities(loss, y_pred)
        terms = BCEFromProbabilities.apply(
            Clip.apply(y_pred, low=EPSILON, high=1 - EPSILON), target
        )
    return terms.mean(axis=axis)


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
) -> Tensor:
    """``-sum_c t_c log p_c`` over the class ``axis``: y_pred and y_true (N, C) give (N,).

    ``y_pred`` holds probabilities (each row divided by its sum, then clipped), or logits with
    ``from_logits=True`` (then the fused, stable :class:`SoftmaxCrossEntropy`). Targets are
    one-hot or probabilities; ``label_smoothing`` s gives ``t (1 - s) + s / C``, C the length of
    the last axis (as Keras, whatever ``axis``).
    """
    loss = "categorical_crossentropy"
    y_pred = _prediction(y_pred)
    _at_least_1d(loss, y_pred)
    target = _same_shape(loss, y_true, y_pred)
    target = _smoothed(target, label_smoothing, 1.0 / target.shape[-1])
    return _crossentropy(loss, target, y_pred, from_logits, axis)


def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
) -> Tensor:
    """:func:`categorical_crossentropy` with integer labels: y_true (N,) or (N, 1), y_pred
    (N, C), losses (N,)."""
    loss = "sparse_categorical_crossentropy"
    if ignore_class is not None:
        raise NotImplementedError(
            f"{loss}: nnlearn does not support ignore_class; give the examples of that class "
            f"sample_weight 0 in the loss object instead"
        )
    y_pred = _prediction(y_pred)
    _at_least_1d(loss, y_pred)
    labels = _labels(loss, y_true, y_pred, axis)
    return _crossentropy(loss, None, y_pred, from_logits, axis, labels)


FUNCTIONS = (
    mean_squared_error,
    mean_absolute_error,
    huber,
    binary_crossentropy,
    categorical_crossentropy,
    sparse_categorical_crossentropy,
)
