"""Metrics (chapter 08): how good the predictions are, on numpy arrays, ``(y_true, y_pred)``.

Two kinds:

* :func:`accuracy` and :func:`confusion_matrix` summarise a whole set. They accept labels or
  scores in the forms a model produces: true values as integer labels ``(n,)`` (or ``(n, 1)``)
  or one-hot rows ``(n, classes)``; predictions as labels ``(n,)``, class scores
  ``(n, classes)`` (the predicted class is the argmax) or one probability per example
  ``(n,)`` / ``(n, 1)`` (class 1 when it exceeds 0.5).
* Keras's metric functions (:func:`binary_accuracy`, :func:`categorical_accuracy`,
  :func:`sparse_categorical_accuracy`, :func:`mean_absolute_error`,
  :func:`mean_squared_error`) return one value per example, as Keras's do; ``fit`` and
  ``evaluate`` average them over an epoch with :class:`Mean`. :func:`get` finds them by the
  names ``compile(metrics=[...])`` accepts (``"accuracy"`` picks one of the three accuracies
  from the shapes, as Keras does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Metric = Callable[[Any, Any], float]


def _as_labels(values: Any, name: str) -> np.ndarray:
    """Integer class labels ``(n,)`` from labels, one-hot rows, scores or probabilities."""
    values = np.asarray(getattr(values, "data", values))
    if values.ndim == 2 and values.shape[1] > 1:
        return values.argmax(axis=1)
    if values.ndim == 2:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"{name} must have shape (n,), (n, 1) or (n, classes), got {values.shape}")
    if np.issubdtype(values.dtype, np.floating):
        # Floats in one column are probabilities of class 1, unless they are whole numbers.
        if np.all(values == np.round(values)):
            return values.astype(np.int64)
        return (values > 0.5).astype(np.int64)
    return values.astype(np.int64)


def _paired_labels(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    true, pred = _as_labels(y_true, "y_true"), _as_labels(y_pred, "y_pred")
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} examples but y_pred has {len(pred)}")
    if len(true) == 0:
        raise ValueError("no examples: y_true and y_pred are empty")
    return true, pred


def accuracy(y_true: Any, y_pred: Any) -> float:
    """The fraction of examples whose predicted class is the true class.

    .. math:: \\text{accuracy} = \\frac{1}{n} \\sum_i [\\hat y_i = y_i]
    """
    true, pred = _paired_labels(y_true, y_pred)
    return float(np.mean(true == pred))


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """``C[i, j]`` = the number of examples of true class ``i`` predicted as class ``j``.

    Rows are true classes and columns predicted ones (scikit-learn's convention); the diagonal
    holds the correct predictions. ``num_classes`` defaults to the largest label seen plus one.
    Shape: ``(num_classes, num_classes)``, integers.
    """
    true, pred = _paired_labels(y_true, y_pred)
    seen = int(max(true.max(), pred.max())) + 1
    num_classes = seen if num_classes is None else num_classes
    if min(true.min(), pred.min()) < 0 or seen > num_classes:
        raise ValueError(
            f"confusion_matrix: labels must lie in [0, {num_classes}); found "
            f"{min(true.min(), pred.min())} to {seen - 1}"
        )
    counts = np.bincount(true * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


# --- Keras's metric functions: one value per example ------------------------------------------
def _arrays(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both as arrays, their ranks made equal as Keras's ``squeeze_or_expand_to_same_rank``
    does: a last axis of size 1 on one side is dropped, or added to a 1-D other side."""
    y_true = np.asarray(getattr(y_true, "data", y_true))
    y_pred = np.asarray(getattr(y_pred, "data", y_pred))
    if y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1] == 1:
        if y_pred.ndim == 1:
            return y_true, y_pred[:, None]
        return y_true[..., 0], y_pred
    if y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1] == 1:
        if y_true.ndim == 1:
            return y_true[:, None], y_pred
        return y_true, y_pred[..., 0]
    return y_true, y_pred


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """1.0 where ``(y_pred > threshold)`` equals ``y_true`` (0 or 1), else 0.0, elementwise."""
    y_true, y_pred = _arrays(y_true, y_pred)
    return (y_true == (y_pred > threshold)).astype(np.float64)


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per example: 1.0 where ``argmax y_true == argmax y_pred`` (one-hot targets), else 0.0."""
    y_true = np.asarray(getattr(y_true, "data", y_true))
    y_pred = np.asarray(getattr(y_pred, "data", y_pred))
    return (y_true.argmax(axis=-1) == y_pred.argmax(axis=-1)).astype(np.float64)


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per example: 1.0 where the label ``y_true`` (``(n,)`` or ``(n, 1)``) is
    ``argmax y_pred``, else 0.0."""
    y_true = np.asarray(getattr(y_true, "data", y_true))
    y_pred = np.asarray(getattr(y_pred, "data", y_pred))
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]
    return (y_true == y_pred.argmax(axis=-1)).astype(np.float64)


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per example: ``mean(|y_true - y_pred|)`` over the last axis."""
    y_true, y_pred = _arrays(y_true, y_pred)
    return np.abs(y_true - y_pred).mean(axis=-1)


def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """Per example: ``mean((y_true - y_pred)^2)`` over the last axis."""
    y_true, y_pred = _arrays(y_true, y_pred)
    return np.square(y_true - y_pred).mean(axis=-1)


def auto_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """What ``compile(metrics=["accuracy"])`` computes, chosen from the shapes as Keras does.

    One output column: :func:`binary_accuracy`. Labels (one axis fewer than ``y_pred``, or a
    single column against several): :func:`sparse_categorical_accuracy`. Otherwise (one-hot
    rows): :func:`categorical_accuracy`.
    """
    y_true = np.asarray(getattr(y_true, "data", y_true))
    y_pred = np.asarray(getattr(y_pred, "data", y_pred))
    if y_pred.shape[-1] == 1:
        return binary_accuracy(y_true, y_pred)
    if y_true.ndim < y_pred.ndim or y_true.shape[-1] == 1:
        return sparse_categorical_accuracy(y_true, y_pred)
    return categorical_accuracy(y_true, y_pred)


class Mean:
    """A running (weighted) mean, as Keras keeps for the loss and each metric over an epoch.

    ``update_state(values, sample_weight)`` adds ``sum(w * values)`` to ``total`` and
    ``sum(w)`` to ``count`` (``w`` is 1 for each value when not given, so a metric that returns
    one number per batch counts once per batch); ``result()`` is ``total / count``.
    """

    def __init__(self) -> None:
        self.reset_state()

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        if isinstance(values, float) and isinstance(sample_weight, int | float | None):
            # One number (a batch's loss, every batch of fit): Python's arithmetic is quicker
            # than numpy's on 0-d arrays, and it is float64 too.
            weight = 1.0 if sample_weight is None else float(sample_weight)
            self.total += weight * values
            self.count += weight
            return
        values = np.asarray(values, dtype=np.float64)
        if sample_weight is None:
            total, count = values.sum(), values.size
        else:
            weight = np.asarray(sample_weight, dtype=np.float64) * np.ones_like(values)
            total, count = (values * weight).sum(), weight.sum()
        self.total += float(total)
        self.count += float(count)

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def reset_state(self) -> None:
        self.total, self.count = 0.0, 0.0


class EpochMeans:
    """The running means ``fit`` and ``evaluate`` report, as Keras keeps them: the loss weighted
    by the batch size, each metric by how many values it returns (one per example for Keras's
    metrics). ``result()`` is sorted by name, as Keras's logs are."""

    def __init__(self, metric_functions: dict[str, Metric]) -> None:
        self.metric_functions = metric_functions
        self.means = {name: Mean() for name in ["loss", *metric_functions]}

    def update(self, loss: float, y_true: Any, y_pred: np.ndarray) -> None:
        self.means["loss"].update_state(loss, len(y_pred))
        for name, metric in self.metric_functions.items():
            self.means[name].update_state(metric(y_true, y_pred))

    def result(self) -> dict[str, float]:
        return {name: self.means[name].result() for name in sorted(self.means)}


_BY_NAME: dict[str, Metric] = {
    "accuracy": auto_accuracy,
    "acc": auto_accuracy,
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
    "mae": mean_absolute_error,
    "mean_absolute_error": mean_absolute_error,
    "mse": mean_squared_error,
    "mean_squared_error": mean_squared_error,
}
# Which way is better, for EarlyStopping(mode="auto"); Keras's metrics carry the same.
_HIGHER_IS_BETTER = (
    auto_accuracy,
    binary_accuracy,
    categorical_accuracy,
    sparse_categorical_accuracy,
)
_LOWER_IS_BETTER = (mean_absolute_error, mean_squared_error)


def get(metric: str | Metric) -> tuple[str, Metric]:
    """``(name, function)`` for a metric name (``"accuracy"``, ``"mae"``, ...) or a function.

    The name is the key the metric gets in a training history: the string as given (so
    ``"acc"`` stays ``"acc"``), or a function's ``__name__``, as in Keras.
    """
    if callable(metric):
        return getattr(metric, "__name__", type(metric).__name__), metric
    if isinstance(metric, str) and metric.lower() in _BY_NAME:
        return metric, _BY_NAME[metric.lower()]
    raise ValueError(
        f"unknown metric {metric!r}; known names: {', '.join(_BY_NAME)}, or pass a function "
        "(y_true, y_pred) -> values"
    )


def higher_is_better(metric: Metric) -> bool | None:
    """True for the accuracies, False for the errors, None for a metric nnlearn does not know."""
    if metric in _HIGHER_IS_BETTER:
        return True
    if metric in _LOWER_IS_BETTER:
        return False
    return None
