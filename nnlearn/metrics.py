"""Metrics for classifiers (chapter 08): accuracy and the confusion matrix, on numpy arrays.

Both accept labels or scores in the forms a model produces:

* true values: integer labels ``(n,)`` (or ``(n, 1)``), or one-hot rows ``(n, classes)``;
* predictions: integer labels ``(n,)``, class scores ``(n, classes)`` (probabilities or
  logits: the predicted class is the argmax), or one probability per example ``(n,)`` /
  ``(n, 1)`` from a sigmoid output (the predicted class is 1 when it exceeds 0.5).
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


_BY_NAME: dict[str, Metric] = {"accuracy": accuracy, "acc": accuracy}


def get(metric: str | Metric) -> tuple[str, Metric]:
    """``(name, function)`` for a metric name (``"accuracy"``, ``"acc"``) or a function.

    The name is the key the metric gets in a training history.
    """
    if callable(metric):
        return getattr(metric, "__name__", type(metric).__name__), metric
    if isinstance(metric, str) and metric.lower() in _BY_NAME:
        return metric, _BY_NAME[metric.lower()]
    raise ValueError(
        f"unknown metric {metric!r}; known names: {', '.join(_BY_NAME)}, or pass a function "
        "(y_true, y_pred) -> float"
    )
