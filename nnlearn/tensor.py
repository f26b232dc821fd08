"""Tensors, Functions and the graph walk: the engine that makes backpropagation visible.

A :class:`Tensor` holds a numpy array ``data`` and, after ``backward()``, the gradient of a
scalar with respect to it in ``grad`` (same shape as ``data``). Every operation that makes a
Tensor out of other Tensors is a :class:`Function` (the operations live in
:mod:`nnlearn.functional`): ``forward`` computes the value from numpy arrays and ``backward``
turns the gradient of the output into the gradients of the inputs. The Function that made a
Tensor is remembered, so the Tensors and Functions form a graph.

``backward()`` walks that graph from the output back to the leaves in *reverse topological
order*: a node is processed only after every node that uses it, because its gradient is the
sum of the contributions from all of its users (the multivariable chain rule). Processing a
node earlier would pass on an incomplete gradient.

Rules, as in PyTorch:

* Gradients **accumulate**: each ``backward()`` *adds* into ``grad``. Call ``zero_grad()`` (or an
  optimizer's ``zero_grad()``) before the next backward pass, or the gradients of both passes
  are summed.
* Only leaves (Tensors you created with ``requires_grad=True``) keep ``grad``; an intermediate
  Tensor keeps it only after ``retain_grad()``.
* Inside ``with no_grad():`` no graph is recorded.

Dtypes (one rule): a Tensor is float32 or float64. float32/float64 numpy arrays keep their
dtype; anything else (lists, Python numbers, integer arrays) becomes the default dtype,
float32 as in PyTorch (see :func:`set_default_dtype`). Python numbers and numpy arrays used as
operands take the dtype of the Tensor they meet. Two Tensors of different dtypes never mix
silently: the operation raises a ``TypeError`` naming both dtypes; convert one with
``astype``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_default_dtype = np.dtype(np.float32)
_grad_enabled = True


def set_default_dtype(dtype: Any) -> None:
    """Choose the dtype (float32 or float64) of Tensors made from lists, numbers or ints."""
    global _default_dtype
    _default_dtype = _checked_dtype(dtype)


def get_default_dtype() -> np.dtype:
    """The dtype of Tensors made from lists, Python numbers or integer arrays."""
    return _default_dtype


def _checked_dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"nnlearn Tensors are float32 or float64, not {dtype}")
    return dtype


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


class Tensor:
    """An n-dimensional array that remembers how it was computed, for ``backward()``.

    Args:
        data: array-like values. float32/float64 arrays keep their dtype; anything else becomes
            the default dtype (float32) unless ``dtype`` is given.
        requires_grad: whether ``backward()`` should compute ``grad`` for this Tensor.
        dtype: float32 or float64, to convert ``data`` to.
    """

    # Make numpy defer to Tensor's operators: ``ndarray + Tensor`` calls ``Tensor.__radd__``.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = _to_array(data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._ctx: Function | None = None
        self._retains_grad = False

    # --- basic properties -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def grad_fn(self) -> Function | None:
        """The Function that made this Tensor (None for leaves), as in PyTorch."""
        return self._ctx

    @property
    def is_leaf(self) -> bool:
        """True for Tensors made by the user rather than by an operation."""
        return self._ctx is None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}, dtype={self.dtype}{extra})"

    def numpy(self) -> np.ndarray:
        """The values as a numpy array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """The value of a one-element Tensor as a Python float."""
        if self.size != 1:
            raise ValueError(f"item() needs a one-element Tensor, this one has shape {self.shape}")
        return float(self.data.reshape(()))

    def detach(self) -> Tensor:
        """A new leaf Tensor sharing the values, cut from the graph."""
        return Tensor(self.data)

    # --- gradients --------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``grad`` becomes None)."""
        self.grad = None

    def retain_grad(self) -> None:
        """Keep ``grad`` on this intermediate Tensor too, for inspection."""
        self._retains_grad = True

    def backward(self, grad: Any = None) -> None:
        """Backpropagate: add d(self)/d(leaf) into ``leaf.grad`` for every leaf in the graph.

        Args:
            grad: the gradient of the final scalar with respect to this Tensor (same shape).
                It may be left out only when this Tensor holds a single value (a loss); then
                it is 1.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a Tensor that does not require grad: no input had "
                "requires_grad=True, or it was computed inside no_grad()"
            )
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a single value, but this Tensor has "
                    f"shape {self.shape}. Reduce it to a scalar first (e.g. .sum()), or pass "
                    f"the gradient of your final value with respect to it, e.g. "
                    f"t.backward(np.ones({self.shape}))"
                )
            grad = np.ones_like(self.data)
        else:
            grad = _to_array(grad, self.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward(): the gradient has shape {grad.shape} but the Tensor has "
                    f"shape {self.shape}; they must match"
                )
        grads: dict[int, np.ndarray] = {id(self): grad}
        for node in reversed(self.topological_order()):
            node_grad = grads.pop(id(node), None)
            if node_grad is None:
                continue
            if node.is_leaf or node._retains_grad:
                node._accumulate(node_grad)
            if node.is_leaf:
                continue
            ctx = node._ctx
            input_grads = ctx.backward(node_grad)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            for parent, parent_grad in zip(ctx.parents, input_grads, strict=True):
                if parent_grad is None or not parent.requires_grad:
                    continue
                parent_grad = unbroadcast(parent_grad, parent.shape)
                key = id(parent)
                grads[key] = grads[key] + parent_grad if key in grads else parent_grad

    def _accumulate(self, grad: np.ndarray) -> None:
        # A copy on first use: the array may be shared with other nodes' gradients.
        self.grad = grad.astype(self.dtype, copy=True) if self.grad is None else self.grad + grad

    def topological_order(self) -> list[Tensor]:
        """Every Tensor that requires grad and leads to this one, inputs before users.

        Iterative depth-first search, so deep graphs (long chains) do not hit Python's
        recursion limit.
        """
        order: list[Tensor] = []
        visited: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            node, children_done = stack.pop()
            if children_done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            if node._ctx is not None:
                for parent in node._ctx.parents:
                    if parent.requires_grad and id(parent) not in visited:
                        stack.append((parent, False))
        return order

    # --- operators (each is a Function in nnlearn.functional) ----------------------------
    def __add__(self, other: Any) -> Tensor:
        return _functional().add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _functional().add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _functional().sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _functional().sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _functional().mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _functional().mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _functional().div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _functional().div(other, self)

    def __neg__(self) -> Tensor:
        return _functional().neg(self)

    def __pow__(self, exponent: float) -> Tensor:
        return _functional().pow(self, exponent)

    def __matmul__(self, other: Any) -> Tensor:
        return _functional().matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _functional().matmul(other, self)

    def __getitem__(self, index: Any) -> Tensor:
        return _functional().getitem(self, index)

    def exp(self) -> Tensor:
        return _functional().exp(self)

    def log(self) -> Tensor:
        return _functional().log(self)

    def abs(self) -> Tensor:
        return _functional().abs(self)

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return _functional().sum(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return _functional().mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return _functional().max(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = tuple(shape[0])
        return _functional().reshape(self, shape)

    def transpose(self, *axes: int) -> Tensor:
        return _functional().transpose(self, axes or None)

    @property
    def T(self) -> Tensor:
        return _functional().transpose(self, None)

    def astype(self, dtype: Any) -> Tensor:
        """This Tensor converted to ``dtype``; gradients flow back converted to the old one."""
        return _functional().astype(self, dtype)


def _functional():  # imported late: functional.py imports this module
    from nnlearn import functional

    return functional


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.asarray(data, dtype=_checked_dtype(dtype))
    array = np.asarray(data)
    if isinstance(data, (np.ndarray, np.floating)) and array.dtype in FLOAT_DTYPES:
        return array
    return array.astype(_default_dtype)


class Function:
    """One differentiable operation: ``forward`` and ``backward`` side by side.

    Subclasses implement

    * ``forward(self, *arrays, **options) -> ndarray``: the value, from numpy arrays; save what
      ``backward`` needs on ``self``;
    * ``backward(self, grad_output) -> ndarray | tuple``: given dL/d(output) (the output's
      shape), return dL/d(input) for each input, in order (``None`` for an input that needs no
      gradient). A gradient may have the broadcast shape: the engine sums it back to the
      input's shape (:func:`unbroadcast`), so no Function repeats that step.

    Call an operation with ``MyFunction.apply(*inputs, **options)``; it returns a Tensor that
    remembers the Function (and so its inputs) when any input requires grad.
    """

    def __init__(self, *parents: Tensor) -> None:
        self.parents = parents

    @property
    def name(self) -> str:
        return type(self).__name__

    def forward(self, *arrays: np.ndarray, **options: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_output: np.ndarray) -> np.ndarray | tuple[np.ndarray | None, ...]:
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs: Any, **options: Any) -> Tensor:
        tensors = _as_tensors(cls.__name__, inputs)
        ctx = cls(*tensors)
        out = Tensor(ctx.forward(*(t.data for t in tensors), **options))
        if _grad_enabled and any(t.requires_grad for t in tensors):
            out.requires_grad = True
            out._ctx = ctx
        return out


def _as_tensors(op: str, inputs: Sequence[Any]) -> list[Tensor]:
    """The inputs as Tensors: non-Tensors take the dtype of the Tensors they meet."""
    dtypes = {x.dtype for x in inputs if isinstance(x, Tensor)}
    if len(dtypes) > 1:
        names = " and ".join(sorted(str(d) for d in dtypes))
        raise TypeError(
            f"{op}: cannot mix {names} Tensors; convert one with .astype(...) so both match"
        )
    dtype = dtypes.pop() if dtypes else None
    return [x if isinstance(x, Tensor) else Tensor(x, dtype=dtype) for x in inputs]
