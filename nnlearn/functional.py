"""Differentiable operations on Tensors: one Function class each, forward beside backward.

Notation in the docstrings: ``y`` is the output, ``g = dL/dy`` the gradient arriving from
above (same shape as ``y``), and each backward returns ``dL/dx = g * dy/dx`` for each input
``x`` (summed back to ``x``'s shape by the engine when ``x`` was broadcast).

The lower-case functions at the end (``add``, ``matmul``, ...) are the public entry points;
Tensor's operators call them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nnlearn.tensor import Function, Tensor, _checked_dtype

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
        """y = a converted to another dtype:  dL/da = g converted back."""
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


# --- reductions ---------------------------------------------------------------------------
def _expand_reduced(g: np.ndarray, shape: tuple[int, ...], axis: Axis, keepdims: bool):
    """Put back the axes a reduction removed, so ``g`` broadcasts against the input."""
    if axis is None or keepdims:
        return g.reshape([1] * len(shape)) if axis is None and not keepdims else g
    axes = (axis,) if isinstance(axis, int) else axis
    return np.expand_dims(g, tuple(ax % len(shape) for ax in axes))


class Sum(Function):
    def forward(self, a: np.ndarray, axis: Axis = None, keepdims: bool = False) -> np.ndarray:
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        return a.sum(axis=axis, keepdims=keepdims)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = sum of a over ``axis``:  dL/da = g, copied along the summed axes."""
        g = _expand_reduced(g, self.shape, self.axis, self.keepdims)
        return np.broadcast_to(g, self.shape)


class Mean(Function):
    def forward(self, a: np.ndarray, axis: Axis = None, keepdims: bool = False) -> np.ndarray:
        self.shape, self.axis, self.keepdims = a.shape, axis, keepdims
        y = a.mean(axis=axis, keepdims=keepdims)
        self.count = a.size // np.size(y) if np.size(y) else 0
        return y

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = mean of a over ``axis`` (N values each):  dL/da = g / N along those axes."""
        g = _expand_reduced(g, self.shape, self.axis, self.keepdims)
        return np.broadcast_to(g / self.count, self.shape)


class Max(Function):
    def forward(self, a: np.ndarray, axis: Axis = None, keepdims: bool = False) -> np.ndarray:
        self.a, self.axis, self.keepdims = a, axis, keepdims
        self.y = a.max(axis=axis, keepdims=keepdims)
        return self.y

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = max of a over ``axis``:  dL/da = g where a is the maximum, 0 elsewhere.

        Ties share the gradient equally, as ``torch.amax`` does.
        """
        shape = self.a.shape
        y = _expand_reduced(self.y, shape, self.axis, self.keepdims)
        g = _expand_reduced(g, shape, self.axis, self.keepdims)
        is_max = self.a == y
        return g * is_max / is_max.sum(axis=self.axis, keepdims=True)


# --- shape ----------------------------------------------------------------------------------
class Reshape(Function):
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


class Transpose(Function):
    def forward(self, a: np.ndarray, axes: Sequence[int] | None = None) -> np.ndarray:
        self.axes = tuple(range(a.ndim))[::-1] if axes is None else tuple(axes)
        if sorted(np.mod(self.axes, a.ndim or 1).tolist()) != list(range(a.ndim)):
            raise ValueError(f"transpose: axes {self.axes} do not fit a shape {a.shape}")
        return a.transpose(self.axes)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """y = a with axes permuted:  dL/da = g with the inverse permutation."""
        return g.transpose(np.argsort(self.axes))


class GetItem(Function):
    def forward(self, a: np.ndarray, index: Any) -> np.ndarray:
        if isinstance(index, Tensor) or (
            isinstance(index, tuple) and any(isinstance(i, Tensor) for i in index)
        ):
            raise TypeError("indexing: use integers, slices or numpy arrays, not Tensors")
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


def pow(a: Any, exponent: float) -> Tensor:
    """``a ** exponent`` for a number ``exponent`` (for a Tensor exponent use exp(b * log(a)))."""
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
    """``a`` converted to float32 or float64."""
    return AsType.apply(a, dtype=_checked_dtype(dtype))


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product ``a @ b`` (numpy's rules for 1-D and batched inputs)."""
    return MatMul.apply(a, b)


def sum(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all axes when None)."""
    return Sum.apply(a, axis=axis, keepdims=keepdims)


def mean(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (all axes when None)."""
    return Mean.apply(a, axis=axis, keepdims=keepdims)


def max(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Maximum over ``axis`` (all axes when None); ties share the gradient."""
    return Max.apply(a, axis=axis, keepdims=keepdims)


def reshape(a: Any, shape: Sequence[int]) -> Tensor:
    """The same values in a new shape (one entry may be -1)."""
    return Reshape.apply(a, shape=tuple(shape))


def transpose(a: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None)."""
    return Transpose.apply(a, axes=axes)


def getitem(a: Any, index: Any) -> Tensor:
    """``a[index]``: integers, slices, ``None``, ``...`` and integer or boolean arrays."""
    return GetItem.apply(a, index=index)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join Tensors along an existing axis."""
    return Concatenate.apply(*tensors, axis=axis)
