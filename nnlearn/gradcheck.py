"""Numeric gradients by central differences, and the relative error used to judge them.

The derivative of a scalar L with respect to one input element x_i is approximated by

.. math::

    \\frac{\\partial L}{\\partial x_i} \\approx
    \\frac{L(x + \\epsilon e_i) - L(x - \\epsilon e_i)}{2\\epsilon}

whose error shrinks like :math:`\\epsilon^2`. In float64 with :math:`\\epsilon = 10^{-6}` a
correct backward pass agrees to a relative error of about 1e-8 or less; above 1e-6 the
backward formula is almost certainly wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from nnlearn.report import Report, Row
from nnlearn.tensor import Tensor

RELATIVE_ERROR_THRESHOLD = 1e-6


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """``max |a - b| / max(1e-8, |a| + |b|)``, elementwise, then the largest (0 when empty)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def numeric_gradient(
    f: Callable[..., Tensor],
    inputs: Sequence[np.ndarray],
    upstream: np.ndarray,
    eps: float = 1e-6,
) -> list[np.ndarray]:
    """Central-difference gradients of ``L = sum(f(*inputs) * upstream)`` for each input.

    Args:
        f: a function of Tensors returning a Tensor.
        inputs: float64 arrays, the point at which to differentiate.
        upstream: dL/d(output), the output's shape.
        eps: the step.

    Returns:
        One array per input, its shape, holding dL/d(input).
    """
    points = [np.array(x, dtype=np.float64) for x in inputs]

    def loss() -> float:
        return float(np.sum(f(*(Tensor(x) for x in points)).data * upstream))

    grads = []
    for x in points:
        grad = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            saved = x[i]
            x[i] = saved + eps
            above = loss()
            x[i] = saved - eps
            below = loss()
            x[i] = saved
            grad[i] = (above - below) / (2 * eps)
        grads.append(grad)
    return grads


def gradcheck(
    f: Callable[..., Tensor],
    *inputs: np.ndarray,
    eps: float = 1e-6,
    threshold: float = RELATIVE_ERROR_THRESHOLD,
    seed: int = 0,
    names: Sequence[str] | None = None,
) -> Report:
    """Compare ``f``'s backward pass with numeric gradients, in float64.

    A random upstream gradient (not all ones) is used, so that a backward pass that mixes up
    positions cannot hide behind a symmetric sum.

    Returns:
        A :class:`~nnlearn.report.Report` with one row per input; call ``assert_ok()`` on it.
    """
    arrays = [np.asarray(x, dtype=np.float64) for x in inputs]
    names = list(names) if names else [f"x{i}" for i in range(len(arrays))]
    tensors = [Tensor(x.copy(), requires_grad=True) for x in arrays]
    out = f(*tensors)
    upstream = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(upstream)
    numeric = numeric_gradient(f, arrays, upstream, eps)
    rows = []
    for name, tensor, expected in zip(names, tensors, numeric, strict=True):
        analytic = np.zeros_like(expected) if tensor.grad is None else tensor.grad
        error = relative_error(analytic, expected)
        rows.append(
            Row(
                f"d/d{name}",
                analytic.shape,
                float(np.max(np.abs(analytic - expected), initial=0.0)),
                error,
                error < threshold,
            )
        )
    criterion = f"relative error max|a-n|/max(1e-8,|a|+|n|) below {threshold:g} (eps={eps:g})"
    return Report("Gradient check: backward vs central differences", criterion, rows)
