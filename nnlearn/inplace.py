"""In-place updates: ``p -= lr * p.grad`` changes ``p`` itself, under PyTorch's rules.

``x += y``, ``x -= y``, ``x *= y``, ``x /= y`` (``add_``, ``sub_``, ``mul_``, ``div_``),
``zero_()`` and ``copy_(src)`` write into ``x.data`` and return ``x``, the same object, so a
hand-written optimizer step trains the Tensors the model holds::

    with nl.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None

The rules, as in PyTorch, while the graph is recorded (outside ``no_grad()``):

* a leaf that requires grad (a parameter) may not change in place: its old value is an input
  of the graph being built. Update parameters inside ``with nl.no_grad():``.
* a Tensor computed in a graph (or one about to join it through ``y``) may not change in place
  either: PyTorch rewrites the graph for that, nnlearn does not, so write ``x = x + y``.

Inside ``no_grad()``, and for Tensors outside any graph, in-place updates are always allowed.
Each one counts in the Tensor's ``_version``; an operation whose input or output was changed
after it ran refuses to backpropagate (as PyTorch's "modified by an inplace operation"), since
the values it saved for ``backward`` are no longer those it used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnlearn.autograd import is_grad_enabled
from nnlearn.tensor import Tensor, _as_tensors


def _check_allowed(op: str, x: Tensor, other: Any) -> None:
    if not is_grad_enabled():
        return
    if x.requires_grad and x.is_leaf:
        raise RuntimeError(
            f"{op}: a leaf Tensor that requires grad is being used in an in-place operation "
            f"(PyTorch refuses it too); to update a parameter, wrap it in `with nl.no_grad():`"
        )
    if x.requires_grad or (isinstance(other, Tensor) and other.requires_grad):
        raise RuntimeError(
            f"{op} on a Tensor in a graph: nnlearn records no in-place operations; write "
            f"x = x {op[0]} y instead, which makes a new Tensor"
        )


def _fits(op: str, shape: tuple[int, ...], into: tuple[int, ...]) -> None:
    """Raise unless ``shape`` broadcast against ``into`` gives ``into``: ``x`` keeps its shape."""
    try:
        fits = np.broadcast_shapes(shape, into) == into
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: a value of shape {shape} does not fit in place into {into}")


def _update(op: str, ufunc: np.ufunc, x: Tensor, y: Any) -> Tensor:
    _check_allowed(op, x, y)
    _, y = _as_tensors(op, (x, y))
    _fits(op, y.shape, x.shape)
    ufunc(x.data, y.data, out=x.data)
    x._version += 1
    return x


def add_(x: Tensor, y: Any) -> Tensor:
    """``x += y``: add into ``x.data`` in place; returns ``x``."""
    return _update("+=", np.add, x, y)


def sub_(x: Tensor, y: Any) -> Tensor:
    """``x -= y``: subtract from ``x.data`` in place; returns ``x``."""
    return _update("-=", np.subtract, x, y)


def mul_(x: Tensor, y: Any) -> Tensor:
    """``x *= y``: multiply ``x.data`` in place; returns ``x``."""
    return _update("*=", np.multiply, x, y)


def div_(x: Tensor, y: Any) -> Tensor:
    """``x /= y``: divide ``x.data`` in place; returns ``x``."""
    return _update("/=", np.divide, x, y)


def copy_(x: Tensor, src: Any) -> Tensor:
    """Copy ``src`` (broadcast to ``x``'s shape, converted to its dtype) into ``x``."""
    _check_allowed("copy_", x, src)
    values = src.data if isinstance(src, Tensor) else np.asarray(src)
    _fits("copy_", values.shape, x.shape)
    np.copyto(x.data, values, casting="unsafe")
    x._version += 1
    return x


def zero_(x: Tensor) -> Tensor:
    """Set every value of ``x`` to 0, in place; returns ``x``."""
    return copy_(x, 0)
