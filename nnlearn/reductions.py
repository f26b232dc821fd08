"""Reductions: sums, means, maxima and minima over dims, forward beside backward.

Notation as in :mod:`nnlearn.functional`: ``y`` is the output and ``g = dL/dy``. Every
function takes PyTorch's ``dim=``/``keepdim=`` or numpy's ``axis=``/``keepdims=`` (one
spelling per call); ``dim=None`` means every dim.

The maxima follow PyTorch to the gradient. ``max(a)`` and ``amax(a, dim)`` give one value per
slice and tied maxima *share* its gradient; ``max(a, dim)`` returns ``(values, indices)``, the
first maximum's index, and the gradient goes to that element alone (it is a gather at the
indices). The same holds for ``min``/``amin``. Indices are int64 Tensors, and ``any``/``all``
bool Tensors, without gradients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from nnlearn.functional import _dim_index, squeeze
from nnlearn.tensor import Function, Tensor

Axis = int | tuple[int, ...] | None


def _expand_reduced(g: np.ndarray, shape: tuple[int, ...], axis: Axis, keepdims: bool):
    """Put back the axes a reduction removed, so ``g`` broadcasts against the input (the one
    value of a reduction over every axis broadcasts as it is)."""
    if axis is None or keepdims:
        return g
    axes = (axis,) if isinstance(axis, int) else axis
    return np.expand_dims(g, tuple(ax % len(shape) for ax in axes))


def _spread(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``g`` copied out to ``shape`` (it broadcasts against it): every input value gets the
    gradient of the reduced value it went into. Filling an empty array costs less than
    ``np.broadcast_to``, a Python-level function, on the small arrays of a loss."""
    spread = np.empty(shape, dtype=g.dtype)
    spread[...] = g
    return spread


class Sum(Function):
    def forward(self, a: np.ndarray, axis: Axis = None, keepdims: bool = False) -> np.ndarray:
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return a.sum(axis=axis, keepdims=keepdims)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = sum of a over ``axis``:  dL/da = g, copied along the summed axes."""
        return _spread(_expand_reduced(g, self.shape, self.axis, self.keepdims), self.shape)


class Mean(Function):
    def forward(self, a: np.ndarray, axis: Axis = None, keepdims: bool = False) -> np.ndarray:
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        # numpy's mean is this sum and division, behind Python-level checks that cost more
        # than the arithmetic on the small arrays of a training step.
        total = a.sum(axis=axis, keepdims=keepdims)
        self.count = a.size // total.size if total.size else 0
        return total / self.count

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = mean of a over ``axis`` (N values each):  dL/da = g / N along those axes."""
        g = _expand_reduced(g, self.shape, self.axis, self.keepdims)
        return _spread(g / self.count, self.shape)


class AMax(Function):
    def forward(self, a: np.ndarray, axis: Axis = None, keepdims: bool = False) -> np.ndarray:
        self.a, self.axis, self.keepdims = a, axis, keepdims
        self.y = a.max(axis=axis, keepdims=keepdims)
        return self.y

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = max of a over ``axis``:  dL/da = g where a is the maximum, 0 elsewhere.

        Ties share the gradient equally, as ``torch.amax`` (and ``torch.max`` without a dim) do.
        """
        shape = self.a.shape
        y = _expand_reduced(self.y, shape, self.axis, self.keepdims)
        g = _expand_reduced(g, shape, self.axis, self.keepdims)
        is_max = self.a == y
        return g * is_max / is_max.sum(axis=self.axis, keepdims=True)


class TakeAlongDim(Function):
    any_dtype = True

    def forward(self, a: np.ndarray, indices: np.ndarray, dim: int) -> np.ndarray:
        self.shape, self.dtype = a.shape, a.dtype
        self.index = list(np.indices(indices.shape, sparse=True))
        self.index[dim] = indices
        return a[tuple(self.index)]

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = a picked at ``indices`` along ``dim`` (``torch.gather``, used by ``max(dim)``):

        dL/da = g at the picked positions, 0 elsewhere (a position picked twice gets the sum).
        """
        grad = np.zeros(self.shape, dtype=self.dtype)
        np.add.at(grad, tuple(self.index), g)
        return grad


def _dim_keepdim(op: str, dim: Any, keepdim: bool, axis: Any, keepdims: bool | None):
    """PyTorch's ``dim``/``keepdim`` or numpy's ``axis``/``keepdims`` (never both)."""
    if axis is not None or keepdims is not None:
        if dim is not None or keepdim:
            raise TypeError(f"{op}: give dim=/keepdim= (PyTorch) or axis=/keepdims=, not both")
        dim, keepdim = axis, bool(keepdims)
    return (tuple(dim) if isinstance(dim, list) else dim), keepdim


def sum(a: Any, dim: Axis = None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Sum over ``dim`` (an int or a tuple; all dims when None)."""
    dim, keepdim = _dim_keepdim("sum", dim, keepdim, axis, keepdims)
    return Sum.apply(a, axis=dim, keepdims=keepdim)


def mean(a: Any, dim: Axis = None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Mean over ``dim`` (an int or a tuple; all dims when None)."""
    dim, keepdim = _dim_keepdim("mean", dim, keepdim, axis, keepdims)
    return Mean.apply(a, axis=dim, keepdims=keepdim)


def amax(a: Any, dim: Axis = None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Largest value over ``dim`` (an int or a tuple; all when None); ties share the gradient."""
    dim, keepdim = _dim_keepdim("amax", dim, keepdim, axis, keepdims)
    return AMax.apply(a, axis=dim, keepdims=keepdim)


def amin(a: Any, dim: Axis = None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Smallest value over ``dim``, as ``-amax(-a)``; ties share the gradient."""
    return -amax(-a, dim, keepdim, axis=axis, keepdims=keepdims)


class ValuesIndices(NamedTuple):
    """What ``max(dim)`` and ``min(dim)`` return, like ``torch.return_types.max``."""

    values: Tensor
    indices: Tensor


def max(a: Any, dim: int | None = None, keepdim: bool = False, *, axis=None, keepdims=None):
    """``torch.max``: the largest value (0-d), or along ``dim`` the pair ``(values, indices)``.

    Without ``dim``, tied maxima share the gradient; with ``dim`` it goes to the index returned
    (the first maximum), as in PyTorch. For several dims with a shared gradient, use ``amax``.
    """
    dim, keepdim = _dim_keepdim("max", dim, keepdim, axis, keepdims)
    return _extreme("max", np.argmax, amax, a, dim, keepdim)


def min(a: Any, dim: int | None = None, keepdim: bool = False, *, axis=None, keepdims=None):
    """``torch.min``: the smallest value (0-d), or along ``dim`` the pair ``(values, indices)``."""
    dim, keepdim = _dim_keepdim("min", dim, keepdim, axis, keepdims)
    return _extreme("min", np.argmin, amin, a, dim, keepdim)


def _extreme(op: str, arg: Callable, whole: Callable, a: Any, dim: Any, keepdim: bool) -> Any:
    if dim is None:
        return whole(a)
    indices = _arg_reduce(op, arg, a, dim, keepdim=True)
    values = TakeAlongDim.apply(a, indices=indices.data, dim=_dim_index(op, dim, indices.ndim))
    if not keepdim:
        values, indices = squeeze(values, dim), squeeze(indices, dim)
    return ValuesIndices(values, indices)


def argmax(a: Any, dim: int | None = None, keepdim: bool = False, *, axis=None, keepdims=None):
    """Index (int64) of the largest value along ``dim`` (of the flattened ``a`` when None)."""
    dim, keepdim = _dim_keepdim("argmax", dim, keepdim, axis, keepdims)
    return _arg_reduce("argmax", np.argmax, a, dim, keepdim)


def argmin(a: Any, dim: int | None = None, keepdim: bool = False, *, axis=None, keepdims=None):
    """Index (int64) of the smallest value along ``dim`` (of the flattened ``a`` when None)."""
    dim, keepdim = _dim_keepdim("argmin", dim, keepdim, axis, keepdims)
    return _arg_reduce("argmin", np.argmin, a, dim, keepdim)


def any(a: Any, dim: Axis = None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Whether any value over ``dim`` (all dims when None) is nonzero, as a bool Tensor."""
    dim, keepdim = _dim_keepdim("any", dim, keepdim, axis, keepdims)
    return Tensor(np.any(_data(a), axis=dim, keepdims=keepdim), dtype=np.bool_)


def all(a: Any, dim: Axis = None, keepdim: bool = False, *, axis=None, keepdims=None) -> Tensor:
    """Whether every value over ``dim`` (all dims when None) is nonzero, as a bool Tensor."""
    dim, keepdim = _dim_keepdim("all", dim, keepdim, axis, keepdims)
    return Tensor(np.all(_data(a), axis=dim, keepdims=keepdim), dtype=np.bool_)


def _data(a: Any) -> np.ndarray:
    return a.data if isinstance(a, Tensor) else np.asarray(a)


def _arg_reduce(op: str, arg: Callable, a: Any, dim: Any, keepdim: bool) -> Tensor:
    """The first extreme's index, as PyTorch picks on ties; never requires grad."""
    data = _data(a)
    if dim is not None:
        dim = _dim_index(op, dim, data.ndim)
    return Tensor(arg(data, axis=dim, keepdims=keepdim), dtype=np.int64)
