"""The graph walk behind ``Tensor.backward()``, and the switch that records the graph.

Every Tensor made by an operation remembers the :class:`~nnlearn.tensor.Function` that made
it (``grad_fn``), and the Function its inputs (``parents``): the Tensors and Functions form a
graph. :func:`backward` walks it from the output back to the leaves in *reverse topological
order*: a node is processed only after every node that uses it, because its gradient is the
sum of the contributions from all of its users (the multivariable chain rule). Processing a
node earlier would pass on an incomplete gradient.

Gradients **accumulate**: each walk *adds* into the leaves' ``grad``, as in PyTorch, so call
``zero_grad()`` between two backward passes unless you want their sum.

This module knows nothing of numpy operations or dtypes; it imports numpy only, as
``torch.autograd`` sits under ``torch.Tensor``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from nnlearn.tensor import Tensor

_grad_enabled = True


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Context (or decorator) in which operations record no graph, e.g. for evaluation."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def is_grad_enabled() -> bool:
    """Whether operations currently record the graph for ``backward()``."""
    return _grad_enabled


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient back to the shape of the input that was broadcast.

    Broadcasting copies an input along new leading axes and along axes of length 1, so each
    input element is used several times; its gradient is the sum over those uses.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    summed = grad.sum(axis=tuple(range(extra))) if extra > 0 else grad
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and summed.shape[i] != 1)
    if stretched:
        summed = summed.sum(axis=stretched, keepdims=True)
    return summed.reshape(shape)


def topological_order(output: Tensor) -> list[Tensor]:
    """Every Tensor that requires grad and leads to ``output``, inputs before users.

    Iterative depth-first search, so deep graphs (long chains) do not hit Python's
    recursion limit: a node is placed once all its parents are. Nodes are known by ``id``,
    since a Tensor's ``==`` compares values.
    """
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(output, False)]
    while stack:
        node, parents_placed = stack.pop()
        if parents_placed:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        if node._ctx is None:  # _ctx is grad_fn: a leaf has no parents to place first
            order.append(node)
            continue
        stack.append((node, True))
        for parent in node._ctx.parents:
            if not parent.requires_grad or id(parent) in visited:
                continue
            if parent._ctx is None:  # a leaf (a parameter, most often): placed at once
                visited.add(id(parent))
                order.append(parent)
            else:
                stack.append((parent, False))
    return order


def backward(output: Tensor, grad: Any = None) -> None:
    """Add d(output)/d(leaf) into ``leaf.grad`` for every leaf that leads to ``output``.

    Args:
        output: the Tensor to differentiate (usually a scalar loss).
        grad: the gradient of the final scalar with respect to ``output`` (same shape). It may
            be left out only when ``output`` holds a single value; then it is 1.
    """
    if not output.requires_grad:
        raise RuntimeError(
            "backward() on a Tensor that does not require grad: no input had "
            "requires_grad=True, or it was computed inside no_grad()"
        )
    if grad is None:
        if output.numel() != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a single value, but this Tensor has "
                f"shape {output.shape}. Reduce it to a scalar first (e.g. .sum()), or pass "
                f"the gradient of your final value with respect to it, e.g. "
                f"t.backward(np.ones({output.shape}))"
            )
        grad = np.ones_like(output.data)
    else:
        grad = np.asarray(getattr(grad, "data", grad), dtype=output.dtype)
        if grad.shape != output.shape:
            raise ValueError(
                f"backward(): the gradient has shape {grad.shape} but the Tensor has "
                f"shape {output.shape}; they must match"
            )
    # The gradient of each node reached so far (the sum of its users' contributions), by id.
    grads: dict[int, np.ndarray] = {id(output): grad}
    for node in reversed(topological_order(output)):
        node_grad = grads.pop(id(node), None)
        if node_grad is None:
            continue
        ctx = node._ctx  # None for a leaf
        if ctx is None or node._retains_grad:
            node._accumulate(node_grad)
        if ctx is None:
            continue
        ctx.check_unchanged(node)
        input_grads = ctx.backward(node_grad)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for parent, parent_grad in zip(ctx.parents, input_grads, strict=True):
            if parent_grad is None or not parent.requires_grad:
                continue
            if parent_grad.shape != parent.data.shape:
                parent_grad = unbroadcast(parent_grad, parent.data.shape)
            key = id(parent)
            grads[key] = grads[key] + parent_grad if key in grads else parent_grad
