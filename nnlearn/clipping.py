"""Gradient clipping (chapter 15): PyTorch's ``clip_grad_norm_`` and ``clip_grad_value_``.

A recurrent network multiplies its gradient by the same recurrent matrix once per step
backwards, so a gradient can grow geometrically with the sequence's length ("exploding
gradients") and one step of the optimizer can throw the weights far away. Clipping bounds
the step: between ``backward()`` and ``optimizer.step()``,

.. math::

    \\|g\\| = \\Big(\\sum_{p} \\|g_p\\|^2\\Big)^{1/2}, \\qquad
    g_p \\leftarrow g_p \\cdot \\min\\Big(1, \\frac{\\text{max\\_norm}}{\\|g\\| + 10^{-6}}\\Big)

over all parameters ``p`` together: the *global* norm, so the direction of the whole
gradient is kept and only its length is capped. Names and meaning are torch's
(``torch.nn.utils.clip_grad_norm_``, ``clip_grad_value_``): the gradients change in place
(the trailing underscore), and ``clip_grad_norm_`` returns the norm before clipping.

Keras has two spellings, on the optimizer: ``global_clipnorm=c`` is this function; but
``clipnorm=c`` clips *each* variable's gradient to norm ``c`` separately, which changes the
direction of the whole gradient; nnlearn's optimizers keep torch's names and have neither.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from nnlearn.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    """The parameters (one Tensor or many) that have a gradient (others are skipped, as torch
    does)."""
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: Any = None,
) -> Tensor:
    """Scale the gradients of ``parameters`` in place so that their global norm is at most
    ``max_norm``; return the global norm they had (a 0-d Tensor), as torch does.

    Args:
        parameters: a Tensor or an iterable of Tensors (e.g. ``model.parameters()``); those
            whose ``grad`` is None are skipped.
        max_norm: the largest norm allowed.
        norm_type: ``p > 0`` of the p-norm (2: Euclidean; ``math.inf``: the largest ``|g|``).
            The global norm is the p-norm of the per-parameter p-norms, which is the p-norm
            of all the gradients' entries together.
        error_if_nonfinite: raise if the norm is nan or inf (else the gradients become nan,
            as in torch).
        foreach: torch's choice of implementation; accepted and ignored (numpy has one).

    The factor is ``min(1, max_norm / (norm + 1e-6))``: torch's 1e-6 keeps it finite for a
    zero gradient, and it multiplies every gradient, also when it is 1.
    """
    grads = [p.grad for p in _with_grads(parameters)]
    norm_type = float(norm_type)
    if not (norm_type > 0):  # also nan
        raise ValueError(
            f"clip_grad_norm_: norm_type must be a positive number or math.inf, got "
            f"{norm_type} (nnlearn does not implement torch's 0 and negative orders)"
        )
    if not grads:
        return Tensor(0.0)
    norms = np.array([_norm(g, norm_type) for g in grads])
    total = _norm(norms, norm_type).astype(grads[0].dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is "
            f"{float(total)}, so they cannot be clipped; set error_if_nonfinite=False to "
            f"clip anyway (the gradients become nan)"
        )
    factor = min(1.0, max_norm / (float(total) + 1e-6))
    with np.errstate(invalid="ignore"):  # an infinite norm: inf * 0 is nan, silently, as torch
        for g in grads:
            g *= g.dtype.type(factor)  # in place: the parameters' own gradient arrays
    return Tensor(total)


def _norm(values: np.ndarray, norm_type: float) -> np.ndarray:
    """``(sum |v|^p)^(1/p)`` of all entries; ``max |v|`` for ``p = inf``."""
    magnitudes = np.abs(values)
    if math.isinf(norm_type):
        return magnitudes.max()
    if norm_type == 2:
        return np.sqrt(np.sum(magnitudes * magnitudes))
    return np.sum(magnitudes**norm_type) ** (1.0 / norm_type)


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient entry of ``parameters`` to ``[-clip_value, clip_value]``, in place
    (torch's ``clip_grad_value_``: each entry on its own, so the direction changes)."""
    for p in _with_grads(parameters):
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)
