"""Weight penalties (chapter 09): ``L1``, ``L2``, ``L1L2``, as in ``keras.regularizers``.

A regularizer is a function of a weight tensor ``w`` that returns a number added to the loss::

    L1(l1)(w) = l1 * sum(|w|)                  gradient  l1 * sign(w)
    L2(l2)(w) = l2 * sum(w**2)                 gradient  2 * l2 * w
    L1L2(l1, l2)(w) = L1(l1)(w) + L2(l2)(w)

``Dense(64, kernel_regularizer=l2(0.01))`` gives its kernel one; ``fit`` and ``evaluate`` add
``sum(model.losses)`` to the loss they report, as Keras does. The defaults are Keras's:
``L1()``/``L2()`` use 0.01, ``L1L2()`` uses 0 for both, and the names Keras accepts
(``"l1"``, ``"l2"``, ``"l1l2"``, or the class names) give those defaults.

PyTorch has no regularizer objects: its optimizers' ``weight_decay=wd`` adds ``wd * w`` to the
gradient of every parameter (biases too). That is the gradient of ``L2(wd / 2)``, so for SGD
``l2(λ)`` on every weight equals ``weight_decay = 2λ``; for Adam the added gradient is then
rescaled per coordinate, and AdamW instead shrinks the weights directly ("decoupled"),
``w -= lr * wd * w``, which no penalty on the loss reproduces (chapter 09 shows it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nnlearn.tensor import Tensor


class Regularizer:
    """A penalty on a weight tensor: ``regularizer(w)`` is a scalar Tensor."""

    def __call__(self, w: Tensor) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, float]:
        return dict(vars(self))

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({settings})"


def _factor(name: str, value: Any) -> float:
    """A factor as Keras accepts it: a finite number, zero or positive."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, zero or positive; got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be zero or positive, got {value}")
    return float(value)


class L1(Regularizer):
    """``l1 * sum(|w|)``; its gradient ``l1 * sign(w)`` (0 where ``w`` is 0) pushes weights
    to exactly zero."""

    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = _factor("l1", l1)

    def __call__(self, w: Tensor) -> Tensor:
        return w.abs().sum() * self.l1


class L2(Regularizer):
    """``l2 * sum(w**2)``; its gradient ``2 * l2 * w`` shrinks every weight in proportion."""

    def __init__(self, l2: float = 0.01) -> None:
        self.l2 = _factor("l2", l2)

    def __call__(self, w: Tensor) -> Tensor:
        return (w * w).sum() * self.l2


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)`` (Keras's defaults: both 0)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor("l1", l1)
        self.l2 = _factor("l2", l2)

    def __call__(self, w: Tensor) -> Tensor:
        return w.abs().sum() * self.l1 + (w * w).sum() * self.l2


# Keras's lower-case names are the classes themselves: l2(0.01) is L2(0.01).
l1, l2, l1_l2 = L1, L2, L1L2

_NAMES = {"l1": L1, "l2": L2, "l1l2": L1L2, "L1": L1, "L2": L2, "L1L2": L1L2}


def get(identifier: str | dict | Callable | None) -> Callable | None:
    """A regularizer from a name (``"l1"``, ``"l2"``, ``"l1l2"``, Keras's defaults), from the
    dict ``get_config`` writes (Keras's form, ``{"class_name": "L2", "config": {"l2": 0.01}}``),
    a callable (returned as it is) or None."""
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, dict) and identifier.get("class_name") in _NAMES:
        return _NAMES[identifier["class_name"]](**identifier.get("config", {}))
    if isinstance(identifier, str) and identifier in _NAMES:
        return _NAMES[identifier]()
    raise ValueError(
        f"unknown regularizer {identifier!r}; use one of {sorted(_NAMES)} or an object such as "
        "nnlearn.regularizers.l2(0.001)"
    )
