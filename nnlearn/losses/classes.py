"""Keras's loss objects (chapter 04): ``loss(y_true, y_pred, sample_weight=None)`` -> one number.

:class:`Loss` is Keras's base class: a subclass defines ``call(y_true, y_pred)`` returning one
loss per example, and the base class weights and reduces them (Keras's default
``"sum_over_batch_size"``: the weighted sum divided by the number of losses).
:class:`LossFunctionWrapper` makes a loss function of :mod:`nnlearn.losses.functions` into a
Loss, after Keras's shape rule; each Keras loss class is one of those with its options.
:func:`get` is ``keras.losses.get``; :func:`as_loss` is what ``compile(loss=...)`` trains with.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np

from nnlearn.losses.functions import (
    FUNCTIONS,
    binary_crossentropy,
    categorical_crossentropy,
    huber,
    mean_absolute_error,
    mean_squared_error,
    sparse_categorical_crossentropy,
    squeeze_or_expand_to_same_rank,
)
from nnlearn.tensor import Tensor

REDUCTIONS = ("sum_over_batch_size", "mean", "sum", "mean_with_sample_weight", "none", None)


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Loss:
    """Keras's base class: ``loss(y_true, y_pred, sample_weight=None)`` returns one number.

    A subclass defines ``call(self, y_true, y_pred)``, returning one loss per example; the base
    class weights them by ``sample_weight`` (one weight per example, or any shape that
    broadcasts against the losses) and reduces them: ``"sum_over_batch_size"`` (also
    ``"mean"``) divides the weighted sum by the number of losses, ``"sum"`` keeps the sum,
    ``"mean_with_sample_weight"`` divides by the sum of the weights, ``None`` or ``"none"``
    returns the weighted losses.
    """

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size"):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = reduction

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        y_pred = y_pred if isinstance(y_pred, Tensor) else Tensor(y_pred)
        losses = self.call(y_true, y_pred)
        if not isinstance(losses, Tensor):
            losses = Tensor(losses, dtype=y_pred.dtype)
        return self._reduce(losses, sample_weight)

    def call(self, y_true: Any, y_pred: Tensor) -> Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} must define call(self, y_true, y_pred), returning one loss "
            "per example"
        )

    def _reduce(self, losses: Tensor, sample_weight: Any) -> Tensor:
        weights = None
        if sample_weight is not None:
            weights = np.asarray(
                sample_weight.data if isinstance(sample_weight, Tensor) else sample_weight,
                dtype=losses.dtype,
            )
            losses, weights = squeeze_or_expand_to_same_rank(losses, weights)
            try:
                np.broadcast_shapes(losses.shape, weights.shape)
            except ValueError:
                raise ValueError(
                    f"{self.name}: sample_weight has shape {weights.shape}, which does not "
                    f"broadcast against the losses of shape {losses.shape} (one per example)"
                ) from None
            losses = losses * weights
        if self.reduction in (None, "none") or losses.shape in ((), (0,)):
            return losses
        if self.reduction == "sum":
            return losses.sum()
        if self.reduction == "mean_with_sample_weight" and weights is not None:
            total = weights.sum()
            # As Keras's divide_no_nan: weights summing to 0 give a loss of 0.
            return losses.sum() / total if total else losses.sum() * 0.0
        return losses.mean() if losses.data.size else losses.sum()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, reduction={self.reduction!r})"


class LossFunctionWrapper(Loss):
    """A loss function ``fn(y_true, y_pred, **options)`` (one loss per example) as a
    :class:`Loss`, after Keras's shape rule (:func:`squeeze_or_expand_to_same_rank`).

    The class behind every loss class below, and what ``compile`` makes of a loss function
    (:func:`as_loss`). Each option is also an attribute, e.g. ``loss.from_logits``.
    """

    def __init__(
        self,
        fn: Callable[..., Tensor],
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(name=name or fn.__name__, reduction=reduction)
        self.fn, self.options = fn, options
        for option, value in options.items():
            setattr(self, option, value)

    def call(self, y_true: Any, y_pred: Tensor) -> Tensor:
        if not isinstance(y_true, Tensor):
            y_true = np.asarray(y_true)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self.options)

    def __repr__(self) -> str:
        settings = [f"{key}={value!r}" for key, value in self.options.items()]
        if type(self) is LossFunctionWrapper:
            settings.insert(0, self.fn.__name__)
        return f"{type(self).__name__}({', '.join(settings)})"


# Keras's loss classes: each is its function with the options, defaults and names of Keras's.
class MeanSquaredError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error"):
        super().__init__(mean_squared_error, reduction, name)


class MeanAbsoluteError(LossFunctionWrapper):
    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error"):
        super().__init__(mean_absolute_error, reduction, name)


class Huber(LossFunctionWrapper):
    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(huber, reduction, name, delta=delta)


class BinaryCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
    ):
        options = {"from_logits": from_logits, "label_smoothing": label_smoothing, "axis": axis}
        super().__init__(binary_crossentropy, reduction, name, **options)


class CategoricalCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
    ):
        options = {"from_logits": from_logits, "label_smoothing": label_smoothing, "axis": axis}
        super().__init__(categorical_crossentropy, reduction, name, **options)


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction="sum_over_batch_size",
        axis=-1,
        name="sparse_categorical_crossentropy",
    ):
        options = {"from_logits": from_logits, "ignore_class": ignore_class, "axis": axis}
        super().__init__(sparse_categorical_crossentropy, reduction, name, **options)


# --- lookup by name, as keras.losses.get ---------------------------------------------------------
CLASSES = (
    MeanSquaredError,
    MeanAbsoluteError,
    Huber,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
)
_BY_NAME: dict[str, Any] = {
    **{f.__name__: f for f in FUNCTIONS},
    **{c.__name__: c for c in CLASSES},
    **dict.fromkeys(("mse", "MSE"), mean_squared_error),
    **dict.fromkeys(("mae", "MAE"), mean_absolute_error),
    **dict.fromkeys(("bce", "BCE"), binary_crossentropy),
}


def get(identifier: Any) -> Any:
    """What ``keras.losses.get`` returns: for the name of a function or an alias ("mse", "mae",
    "bce") the function itself (one loss per example); for a class name ("MeanSquaredError")
    or a Loss class a new object with default options; a callable as it is; None for None.
    Names are case-sensitive, as in Keras.
    """
    if identifier is None:
        return None
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(
                f"unknown loss {identifier!r} (names are case-sensitive); known names: "
                f"{', '.join(_BY_NAME)}"
            )
        identifier = _BY_NAME[identifier]
    if isinstance(identifier, type):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(
        f"could not interpret the loss {identifier!r}: give a loss name, a loss function of "
        "(y_true, y_pred) or a Loss object"
    )


def as_loss(identifier: Any) -> Loss:
    """The :class:`Loss` that ``compile(loss=identifier)`` trains with, as Keras's ``compile``
    makes it: :func:`get`, then a function wrapped in :class:`LossFunctionWrapper` (named by
    the string given, or the function's name) so it reduces and takes ``sample_weight``.
    """
    loss = get(identifier)
    if loss is None:
        raise ValueError("give a loss, e.g. loss='sparse_categorical_crossentropy'")
    if isinstance(loss, Loss):
        return loss
    return LossFunctionWrapper(loss, name=identifier if isinstance(identifier, str) else None)
