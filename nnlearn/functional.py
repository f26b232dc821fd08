"""Differentiable operations on Tensors: one Function class each, forward beside backward.

Notation in the docstrings: ``y`` is the output, ``g = dL/dy`` the gradient arriving from
above (same shape as ``y``), and each backward returns ``dL/dx = g * dy/dx`` for each input
``x`` (summed back to ``x``'s shape by the engine when ``x`` was broadcast).

The lower-case functions at the end are the public entry points, with PyTorch's names,
arguments and results (``transpose(a, dim0, dim1)`` swaps two dims); Tensor's methods and
operators call them. Beside them: the comparisons (``eq``, ``lt``, ...), which give bool
Tensors without gradients. Reductions (``sum``, ``max``, ...) are in
:mod:`nnlearn.reductions`; in-place updates (``p -= ...``) in :mod:`nnlearn.inplace`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nnlearn.tensor import DTYPES, FLOAT_DTYPES, Function, Tensor, _checked_dtype

Axis = int | tuple[int, ...] | None


def _broadcast_shape(op: str, a: np.ndarray, b: np.ndarray) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together "
            f"(trailing dimensions must be equal or 1)"
        ) from None


# --- elementwise arithmetic ---------------------------------------------------------------
class Add(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _broadcast_shape("add", a, b)
        return a + b

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """y = a + b:  dL/da = g,  dL/db = g."""
        return g, g


class Sub(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _broadcast_shape("sub", a, b)
        return a - b

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """y = a - b:  dL/da = g,  dL/db = -g."""
        return g, -g


class Mul(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _broadcast_shape("mul", a, b)
        self.a, self.b = a, b
        return a * b

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """y = a * b:  dL/da = g * b,  dL/db = g * a."""
        return g * self.b, g * self.a


class Div(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        _broadcast_shape("div", a, b)
        self.a, self.b = a, b
        return a / b

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """y = a / b:  dL/da = g / b,  dL/db = -g * a / b**2."""
        return g / self.b, -g * self.a / (self.b * self.b)


class Neg(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        return -a

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = -a:  dL/da = -g."""
        return -g


class Pow(Function):
    def forward(self, a: np.ndarray, exponent: float) -> np.ndarray:
        self.a, self.exponent = a, exponent
        return a**exponent

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = a**p (p a number):  dL/da = g * p * a**(p-1)."""
        return g * self.exponent * self.a ** (self.exponent - 1)


class RPow(Function):
    def forward(self, a: np.ndarray, base: float) -> np.ndarray:
        self.y, self.log_base = base**a, math.log(base)
        return self.y

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = c**a (c > 0 a number, ``2 ** x``):  dL/da = g * c**a * ln(c) = g * y * ln(c)."""
        return g * self.y * self.log_base


class Exp(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        self.y = np.exp(a)
        return self.y

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = exp(a):  dL/da = g * exp(a) = g * y."""
        return g * self.y


class Log(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        self.a = a
        return np.log(a)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = log(a) (natural log):  dL/da = g / a."""
        return g / self.a


class Abs(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        self.a = a
        return np.abs(a)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = |a|:  dL/da = g * sign(a), with sign(0) = 0 as in PyTorch."""
        return g * np.sign(self.a)


class AsType(Function):
    def forward(self, a: np.ndarray, dtype: np.dtype) -> np.ndarray:
        self.input_dtype = a.dtype
        return a.astype(dtype)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = a converted to another float dtype:  dL/da = g converted back."""
        return g.astype(self.input_dtype)


# --- linear algebra -----------------------------------------------------------------------
class MatMul(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul: needs at least 1-D inputs, got shapes {a.shape} and {b.shape}"
            )
        inner_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if a.shape[-1] != inner_b:
            raise ValueError(
                f"matmul: shapes {a.shape} and {b.shape} do not match: the last dimension of "
                f"the first ({a.shape[-1]}) must equal the "
                f"{'second-to-last' if b.ndim > 1 else 'only'} dimension of the second ({inner_b})"
            )
        self.a, self.b = a, b
        return a @ b

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """y = a @ b, with a (..., m, n), b (..., n, k), y (..., m, k):

        dL/da = g @ b^T  (m, n),   dL/db = a^T @ g  (n, k).

        A 1-D ``a`` is treated as a row (1, n) and a 1-D ``b`` as a column (n, 1), as numpy
        does; batch dimensions that were broadcast are summed back by the engine.
        """
        a, b = self.a, self.b
        if b.ndim == 1:
            b, g = b[:, None], g[..., None]
        if a.ndim == 1:
            a, g = a[None, :], g[..., None, :]
        grad_a = g @ np.swapaxes(b, -1, -2)
        grad_b = np.swapaxes(a, -1, -2) @ g
        if self.a.ndim == 1:
            grad_a = grad_a[..., 0, :]
        if self.b.ndim == 1:
            grad_b = grad_b[..., 0]
        return grad_a, grad_b


# --- selecting and moving values (these also take bool and int64 Tensors) -------------------
class Reshape(Function):
    any_dtype = True

    def forward(self, a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        try:
            y = a.reshape(shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape shape {a.shape} ({a.size} values) into {tuple(shape)}"
            ) from None
        self.input_shape = a.shape
        return y

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = a reshaped:  dL/da = g reshaped back."""
        return g.reshape(self.input_shape)


class Permute(Function):
    any_dtype = True

    def forward(self, a: np.ndarray, dims: tuple[int, ...]) -> np.ndarray:
        self.dims = tuple(_dim_index("permute", d, a.ndim) for d in dims)
        if sorted(self.dims) != list(range(a.ndim)):
            raise ValueError(f"permute: dims {dims} are not an order of the {a.ndim} dims")
        return a.transpose(self.dims)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = a with its dims reordered:  dL/da = g with the inverse order."""
        return g.transpose(np.argsort(self.dims))


class GetItem(Function):
    any_dtype = True

    def forward(self, a: np.ndarray, index: Any) -> np.ndarray:
        self.shape, self.dtype, self.index = a.shape, a.dtype, index
        return a[index]

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = a[index]:  dL/da = g at the selected positions, 0 elsewhere.

        A position selected several times (fancy indexing) receives the sum of its gradients,
        which is why this uses ``np.add.at`` rather than assignment.
        """
        grad = np.zeros(self.shape, dtype=self.dtype)
        np.add.at(grad, self.index, g)
        return grad


class Concatenate(Function):
    any_dtype = True

    def forward(self, *arrays: np.ndarray, axis: int = 0) -> np.ndarray:
        try:
            y = np.concatenate(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ValueError(
                f"concatenate: shapes {shapes} must agree on every axis except axis {axis}"
            ) from None
        self.axis = axis
        self.splits = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return y

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, ...]:
        """y = [a1, a2, ...] joined along ``axis``:  dL/dai = the slice of g that came from ai."""
        return tuple(np.split(g, self.splits, axis=self.axis))


# --- argument helpers -----------------------------------------------------------------------
def _dim_index(op: str, dim: Any, ndim: int) -> int:
    """One dim as a position from 0 (negative dims count from the end), checked."""
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise TypeError(f"{op}: dim must be one int, as in PyTorch, got {dim!r}")
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{op}: dim {dim} is out of range for a {ndim}-D Tensor")
    return int(dim) % max(ndim, 1)


def _shape(a: Any) -> tuple[int, ...]:
    return a.shape if isinstance(a, Tensor) else np.shape(a)


# --- the public functions -------------------------------------------------------------------
def add(a: Any, b: Any) -> Tensor:
    """Elementwise ``a + b`` with broadcasting."""
    return Add.apply(a, b)


def sub(a: Any, b: Any) -> Tensor:
    """Elementwise ``a - b`` with broadcasting."""
    return Sub.apply(a, b)


def mul(a: Any, b: Any) -> Tensor:
    """Elementwise ``a * b`` with broadcasting."""
    return Mul.apply(a, b)


def div(a: Any, b: Any) -> Tensor:
    """Elementwise ``a / b`` with broadcasting."""
    return Div.apply(a, b)


def neg(a: Any) -> Tensor:
    """``-a``."""
    return Neg.apply(a)


def pow(a: Any, exponent: Any) -> Tensor:
    """``a ** exponent``: a Tensor to a number power, or a positive number to a Tensor power."""
    if isinstance(exponent, Tensor) and not isinstance(a, Tensor) and np.ndim(a) == 0:
        if not a > 0:
            raise ValueError(f"pow: {a} ** x needs a positive base (its gradient has ln(base))")
        return RPow.apply(exponent, base=float(a))
    if isinstance(exponent, Tensor) or np.ndim(exponent) != 0:
        raise TypeError("pow: the exponent must be a number; for a Tensor use exp(b * log(a))")
    return Pow.apply(a, exponent=float(exponent))


def exp(a: Any) -> Tensor:
    """Elementwise ``e ** a``."""
    return Exp.apply(a)


def log(a: Any) -> Tensor:
    """Elementwise natural logarithm."""
    return Log.apply(a)


def abs(a: Any) -> Tensor:
    """Elementwise ``|a|``."""
    return Abs.apply(a)


def astype(a: Tensor, dtype: Any) -> Tensor:
    """``a`` as float32, float64, int64 or bool; only float to float keeps the gradient path
    (an int64 or bool Tensor never requires grad, as in PyTorch)."""
    dtype = _checked_dtype(dtype, DTYPES)
    if a.dtype in FLOAT_DTYPES and dtype in FLOAT_DTYPES:
        return AsType.apply(a, dtype=dtype)
    return Tensor(a.data.astype(dtype), dtype=dtype)


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product ``a @ b`` (numpy's rules for 1-D and batched inputs)."""
    return MatMul.apply(a, b)


def reshape(a: Any, shape: Sequence[int]) -> Tensor:
    """The same values in a new shape (one entry may be -1)."""
    return Reshape.apply(a, shape=tuple(shape))


def permute(a: Any, dims: Sequence[int]) -> Tensor:
    """The dims reordered: dim ``i`` of the result is dim ``dims[i]`` of ``a``."""
    return Permute.apply(a, dims=tuple(dims))


def transpose(a: Any, dim0: int, dim1: int) -> Tensor:
    """``a`` with dims ``dim0`` and ``dim1`` swapped (``torch.transpose``)."""
    dims = list(range(len(_shape(a))))
    i, j = (_dim_index("transpose", d, len(dims)) for d in (dim0, dim1))
    dims[i], dims[j] = dims[j], dims[i]
    return permute(a, dims)


def unsqueeze(a: Any, dim: int) -> Tensor:
    """``a`` with a new dim of length 1 at position ``dim`` of the result."""
    shape = list(_shape(a))
    shape.insert(_dim_index("unsqueeze", dim, len(shape) + 1), 1)
    return reshape(a, shape)


def squeeze(a: Any, dim: Axis = None) -> Tensor:
    """``a`` without its dims of length 1 (only those in ``dim`` when given; others stay)."""
    shape = _shape(a)
    dims = range(len(shape)) if dim is None else dim if isinstance(dim, tuple) else (dim,)
    drop = {_dim_index("squeeze", d, len(shape)) for d in dims}
    return reshape(a, [n for i, n in enumerate(shape) if i not in drop or n != 1])


def flatten(a: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """``a`` with dims ``start_dim`` to ``end_dim`` (included) merged into one."""
    shape = _shape(a) or (1,)
    start, end = (_dim_index("flatten", d, len(shape)) for d in (start_dim, end_dim))
    return reshape(a, (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :]))


def getitem(a: Any, index: Any) -> Tensor:
    """``a[index]``: ints, slices, ``None``, ``...``, int arrays and bool masks (arrays or the
    int64/bool Tensors that comparisons and ``argmax`` return)."""
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, Tensor) and i.dtype in FLOAT_DTYPES for i in parts):
        raise TypeError("indexing: an index Tensor must be int64 or bool; convert with .long()")
    parts = tuple(i.data if isinstance(i, Tensor) else i for i in parts)
    return GetItem.apply(a, index=parts if isinstance(index, tuple) else parts[0])


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join Tensors along an existing axis."""
    return Concatenate.apply(*tensors, axis=axis)


# --- comparisons: bool Tensors, never part of a graph ----------------------------------------
def _comparison(name: str, ufunc: np.ufunc, symbol: str) -> Callable[[Any, Any], Tensor]:
    def compare(a: Any, b: Any) -> Tensor:
        a, b = (x.data if isinstance(x, Tensor) else np.asarray(x) for x in (a, b))
        if b.dtype.kind not in "biuf":  # None, a string: Python's == falls back to ``is``
            return NotImplemented
        _broadcast_shape(name, a, b)
        return Tensor(ufunc(a, b), dtype=np.bool_)

    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = f"Elementwise ``a {symbol} b`` (broadcast), as a bool Tensor."
    return compare


eq, ne = _comparison("eq", np.equal, "=="), _comparison("ne", np.not_equal, "!=")
lt, le = _comparison("lt", np.less, "<"), _comparison("le", np.less_equal, "<=")
gt, ge = _comparison("gt", np.greater, ">"), _comparison("ge", np.greater_equal, ">=")
