"""Tensors and Functions: the engine that makes backpropagation visible.

A :class:`Tensor` holds a numpy array ``data`` and, after ``backward()``, the gradient of a
scalar with respect to it in ``grad`` (same shape as ``data``). Every operation that makes a
Tensor out of other Tensors is a :class:`Function` (the operations live in
:mod:`nnlearn.functional` and :mod:`nnlearn.reductions`): ``forward`` computes the value from
numpy arrays and ``backward`` turns the gradient of the output into the gradients of the
inputs. The Function that made a Tensor is remembered, so the Tensors and Functions form a
graph, which ``backward()`` walks in reverse topological order (:mod:`nnlearn.autograd` says
why, and why gradients accumulate).

**Names.** A name PyTorch has means what it means in PyTorch: ``transpose(0, 1)`` swaps two
dims, ``max(dim)`` returns ``(values, indices)``, ``x == y`` compares elements, ``p -= ...``
changes ``p`` in place. Where nnlearn cannot do what PyTorch does, it raises an error that
says what to write instead; it never returns a different result silently. numpy's
``axis=``/``keepdims=`` are accepted beside ``dim=``/``keepdim=``.

Rules, as in PyTorch:

* Only leaves (Tensors you created with ``requires_grad=True``) keep ``grad``; an intermediate
  Tensor keeps it only after ``retain_grad()``. Inside ``with no_grad():`` no graph is recorded.
  ``grad`` is a numpy array (PyTorch's is a Tensor): clear it with ``zero_grad()`` or
  ``x.grad = None``.
* ``+=``, ``-=``, ``*=``, ``/=``, ``zero_()`` and ``copy_()`` change ``data`` in place: on a
  parameter only inside ``no_grad()``, never on a Tensor in a graph (:mod:`nnlearn.inplace`).

Dtypes: a Tensor is float32 or float64, or, without gradients, bool (comparisons) or int64
(indices from ``argmax``, ``max(dim)``). A differentiable operation refuses bool and int64
Tensors: convert with ``.float()``, ``.double()`` or ``.astype(...)``. float32/float64 numpy
arrays keep their dtype; anything else (lists, numbers, integer arrays) becomes the default
dtype, float32 as in PyTorch (see :func:`set_default_dtype`). Numbers and numpy arrays used as
operands take the dtype of the Tensor they meet. Two Tensors of different float dtypes never
mix silently: the operation raises a ``TypeError``; convert one with ``astype``.

A Tensor made from a float numpy array shares it (as ``torch.from_numpy``), and ``view`` is
``reshape``: numpy has no strides to refuse, so ``view`` works where PyTorch needs ``reshape``.
Tensor's methods call the operation modules, which import this one, so they import them when
first called: :mod:`nnlearn.functional`, :mod:`nnlearn.reductions`, :mod:`nnlearn.inplace`,
and, for ``relu()``, ``tanh()`` and ``sigmoid()`` only, :mod:`nnlearn.activations` (chapter
02), the engine's one lazy dependency on a later chapter.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from nnlearn import autograd
from nnlearn.autograd import is_grad_enabled
from nnlearn.autograd import no_grad as no_grad  # nnlearn.tensor.no_grad, as before the split
from nnlearn.autograd import unbroadcast as unbroadcast

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
DTYPES = (*FLOAT_DTYPES, np.dtype(np.int64), np.dtype(np.bool_))
_default_dtype = np.dtype(np.float32)


def set_default_dtype(dtype: Any) -> None:
    """Choose the dtype (float32 or float64) of Tensors made from lists, numbers or ints."""
    global _default_dtype
    _default_dtype = _checked_dtype(dtype)


def get_default_dtype() -> np.dtype:
    """The dtype of Tensors made from lists, Python numbers or integer arrays."""
    return _default_dtype


def _checked_dtype(dtype: Any, allowed: tuple[np.dtype, ...] = FLOAT_DTYPES) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in allowed:
        raise TypeError(f"nnlearn Tensors here are {' or '.join(map(str, allowed))}, not {dtype}")
    return dtype


def _calls(path: str, reflected: bool = False) -> Callable[..., Any]:
    """A Tensor method that calls ``nnlearn.<path>`` with the Tensor as first argument (as the
    second when ``reflected``, for ``2 - x``), looked up at the first call (its module imports
    this one) and then remembered."""
    module, name = path.split(".")
    function: Callable[..., Any] | None = None

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Any:
        nonlocal function
        if function is None:
            function = getattr(importlib.import_module(f"nnlearn.{module}"), name)
        return function(args[0], self) if reflected else function(self, *args, **kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Calls ``nnlearn.{path}`` ({'other, self' if reflected else 'self, ...'})."
    return method


class Tensor:
    """An n-dimensional array that remembers how it was computed, for ``backward()``.

    Args:
        data: array-like values. float32/float64 arrays keep their dtype; anything else becomes
            the default dtype (float32) unless ``dtype`` is given.
        requires_grad: whether ``backward()`` should compute ``grad`` for this Tensor.
        dtype: float32 or float64 (or int64, bool for a Tensor without gradients).
    """

    # What every Tensor has, in slots (smaller, quicker to make); the rest in __dict__. One
    # string: the import-graph test reads every string here as a module name, "data" too.
    __slots__ = tuple("data grad requires_grad _ctx _retains_grad _version".split())
    __slots__ += ("__dict__", "__weakref__")
    # Make numpy defer to Tensor's operators: ``ndarray + Tensor`` calls ``Tensor.__radd__``.
    __array_ufunc__ = None
    # ``==`` compares elements, so dicts and sets key Tensors by identity, as in PyTorch.
    __hash__ = object.__hash__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data = _to_array(data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = False
        self._ctx: Function | None = None
        self._retains_grad = False
        self._version = 0  # in-place changes so far, so backward can refuse stale values
        if requires_grad:
            self.requires_grad_()

    # --- basic properties -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

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

    def size(self, dim: int | None = None) -> Any:
        """The shape, or the length of dimension ``dim`` (``numel()`` counts the values)."""
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({body}, dtype={self.dtype}{extra})"

    def __format__(self, spec: str) -> str:  # f"{loss:.3f}" formats a 0-d Tensor's value
        return format(self.item(), spec) if self.ndim == 0 else super().__format__(spec)

    # --- Python values --------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a numpy array (shared, not copied)."""
        return self.data

    def item(self) -> Any:
        """The value of a one-element Tensor as a Python float, int or bool."""
        if self.data.size != 1:
            raise RuntimeError(
                f"item(): a Tensor with {self.data.size} elements (shape {self.shape}) cannot "
                f"be converted to one Python number; index or reduce it first"
            )
        return self.data.reshape(()).item()

    def __float__(self) -> float:
        return float(self._one_value())

    def __int__(self) -> int:
        return int(self._one_value())

    def _one_value(self) -> np.ndarray:
        if self.data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self.data.reshape(())

    def __bool__(self) -> bool:
        if self.data.size != 1:
            amount = "no values" if self.data.size == 0 else "more than one value"
            raise RuntimeError(
                f"Boolean value of Tensor with {amount} is ambiguous; "
                f"use .any() or .all(), or compare one element"
            )
        return bool(self.data.reshape(()))

    def detach(self) -> Tensor:
        """A new leaf Tensor sharing the values, cut from the graph."""
        return Tensor(self.data, dtype=self.dtype)

    # --- gradients --------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``grad`` becomes None)."""
        self.grad = None

    def retain_grad(self) -> None:
        """Keep ``grad`` on this intermediate Tensor too, for inspection."""
        self._retains_grad = True

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Switch gradient tracking of a leaf on (or off), in place; returns this Tensor."""
        if requires_grad and self.dtype not in FLOAT_DTYPES:
            raise RuntimeError(
                f"only float Tensors can require gradients, this one is {self.dtype}; "
                f"convert it with .float() or .double()"
            )
        if not requires_grad and not self.is_leaf:
            raise RuntimeError("requires_grad_(False) works on leaves; use detach() here")
        self.requires_grad = bool(requires_grad)
        return self

    def backward(self, grad: Any = None) -> None:
        """Backpropagate: add d(self)/d(leaf) into ``leaf.grad`` for every leaf in the graph.

        ``grad`` is the gradient of the final scalar with respect to this Tensor (same shape);
        it may be left out only for a single value (a loss), then it is 1. The walk itself is
        :func:`nnlearn.autograd.backward`.
        """
        autograd.backward(self, grad)

    def topological_order(self) -> list[Tensor]:
        """Every Tensor that requires grad and leads to this one, inputs before users."""
        return autograd.topological_order(self)

    def _accumulate(self, grad: np.ndarray) -> None:
        # A copy on first use: the array may be shared with other nodes' gradients.
        self.grad = grad.astype(self.dtype, copy=True) if self.grad is None else self.grad + grad

    # --- operations: each method calls the function named, with this Tensor first ----------
    __add__, __radd__ = _calls("functional.add"), _calls("functional.add", reflected=True)
    __sub__, __rsub__ = _calls("functional.sub"), _calls("functional.sub", reflected=True)
    __mul__, __rmul__ = _calls("functional.mul"), _calls("functional.mul", reflected=True)
    __truediv__ = _calls("functional.div")
    __rtruediv__ = _calls("functional.div", reflected=True)
    __matmul__ = _calls("functional.matmul")
    __rmatmul__ = _calls("functional.matmul", reflected=True)
    __pow__, __rpow__ = _calls("functional.pow"), _calls("functional.pow", reflected=True)
    __neg__ = _calls("functional.neg")
    __getitem__ = _calls("functional.getitem")
    exp, log, abs = _calls("functional.exp"), _calls("functional.log"), _calls("functional.abs")
    relu, tanh = _calls("activations.relu"), _calls("activations.tanh")
    sigmoid = _calls("activations.sigmoid")

    # Comparisons give bool Tensors without gradients.
    __eq__, __ne__ = _calls("functional.eq"), _calls("functional.ne")
    __lt__, __le__ = _calls("functional.lt"), _calls("functional.le")
    __gt__, __ge__ = _calls("functional.gt"), _calls("functional.ge")

    # In place: ``p -= lr * p.grad`` changes ``p`` itself (rules in nnlearn.inplace).
    __iadd__ = add_ = _calls("inplace.add_")
    __isub__ = sub_ = _calls("inplace.sub_")
    __imul__ = mul_ = _calls("inplace.mul_")
    __itruediv__ = div_ = _calls("inplace.div_")
    zero_, copy_ = _calls("inplace.zero_"), _calls("inplace.copy_")

    # Reductions: dim=/keepdim= as in PyTorch, or numpy's axis=/keepdims=.
    sum, mean = _calls("reductions.sum"), _calls("reductions.mean")
    amax, amin = _calls("reductions.amax"), _calls("reductions.amin")
    max, min = _calls("reductions.max"), _calls("reductions.min")
    argmax, argmin = _calls("reductions.argmax"), _calls("reductions.argmin")
    any, all = _calls("reductions.any"), _calls("reductions.all")

    # Shapes.
    unsqueeze, squeeze = _calls("functional.unsqueeze"), _calls("functional.squeeze")
    flatten = _calls("functional.flatten")

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        """The same values in shape ``shape`` (``reshape(2, 3)`` or ``reshape((2, 3))``)."""
        return _functional().reshape(self, _shape_arguments(shape))

    view = reshape  # see the module docstring

    def permute(self, *dims: int | Sequence[int]) -> Tensor:
        """The dims reordered: dim ``i`` of the result is dim ``dims[i]`` of this Tensor."""
        return _functional().permute(self, _shape_arguments(dims))

    def transpose(self, *dims: int) -> Tensor:
        """Swap two dims, ``transpose(dim0, dim1)``, as ``torch.transpose``."""
        if len(dims) != 2:
            raise TypeError(
                f"transpose(dim0, dim1) swaps two dims, as in PyTorch (got {len(dims)} "
                f"arguments); use .T to reverse all dims or permute(...) to reorder them"
            )
        return _functional().transpose(self, *dims)

    @property
    def T(self) -> Tensor:
        """The dims in reverse order (for a matrix, its transpose)."""
        return _functional().permute(self, range(self.ndim)[::-1])

    # Dtypes.
    def astype(self, dtype: Any) -> Tensor:
        """This Tensor as ``dtype``; between float dtypes gradients flow back converted."""
        return _functional().astype(self, dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def long(self) -> Tensor:
        return self.astype(np.int64)

    def bool(self) -> Tensor:
        return self.astype(np.bool_)


def _functional() -> Any:  # imported late: functional.py imports this module
    return importlib.import_module("nnlearn.functional")


def _shape_arguments(args: tuple) -> tuple[int, ...]:
    """``f(2, 3)`` and ``f((2, 3))`` both mean (2, 3), as in PyTorch."""
    single = len(args) == 1 and not isinstance(args[0], int | np.integer)
    return tuple(args[0]) if single else args


def _to_array(data: Any, dtype: Any = None) -> np.ndarray:
    if type(data) is np.ndarray and data.dtype in FLOAT_DTYPES and dtype in (None, data.dtype):
        return data  # the usual case, an operation's result: taken as it is, quickly
    if isinstance(data, Tensor):
        data, dtype = data.data, dtype if dtype is not None else data.dtype
    if dtype is not None:
        return np.asarray(data, dtype=_checked_dtype(dtype, DTYPES))
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
      input's shape (:func:`~nnlearn.autograd.unbroadcast`), so no Function repeats that step.

    Call an operation with ``MyFunction.apply(*inputs, **options)``; it returns a Tensor that
    remembers the Function (and so its inputs) when any input requires grad. A Function that
    only selects or moves values sets ``any_dtype = True`` to take bool and int64 Tensors too.
    """

    any_dtype = False

    def __init__(self, *parents: Tensor) -> None:
        self.parents = parents
        self.versions = [p._version for p in parents]

    @property
    def name(self) -> str:
        return type(self).__name__

    def forward(self, *arrays: np.ndarray, **options: Any) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_output: np.ndarray) -> np.ndarray | tuple[np.ndarray | None, ...]:
        raise NotImplementedError

    def check_unchanged(self, output: Tensor) -> None:
        """Raise if an input or the output changed in place since ``forward``: the values
        ``backward`` saved would be stale."""
        if output._version or [p._version for p in self.parents] != self.versions:
            raise RuntimeError(
                f"{self.name}: an input or output was changed in place (+=, zero_(), ...) "
                f"after this operation ran, so its gradient cannot be computed; change it "
                f"after backward(), or write x = x + y to make a new Tensor"
            )

    @classmethod
    def apply(cls, *inputs: Any, **options: Any) -> Tensor:
        tensors = _as_tensors(cls.__name__, inputs, cls.any_dtype)
        ctx = cls(*tensors)
        value = ctx.forward(*[t.data for t in tensors], **options)
        out = Tensor(value, dtype=value.dtype if cls.any_dtype else None)
        if is_grad_enabled() and any([t.requires_grad for t in tensors]):
            out.requires_grad = True
            out._ctx = ctx
        return out


def _as_tensors(op: str, inputs: Sequence[Any], any_dtype: bool = False) -> Sequence[Tensor]:
    """The inputs as Tensors: non-Tensors take the dtype of the Tensors they meet."""
    found = [x.data.dtype for x in inputs if isinstance(x, Tensor)]
    dtypes = set(found)
    if len(found) == len(inputs) and len(dtypes) == 1 and (any_dtype or found[0] in FLOAT_DTYPES):
        return inputs  # the usual case: Tensors of one float dtype, nothing to convert
    if not any_dtype and not dtypes <= set(FLOAT_DTYPES):
        other = " and ".join(sorted(str(d) for d in dtypes - set(FLOAT_DTYPES)))
        raise TypeError(
            f"{op}: a {other} Tensor (from a comparison or an index) cannot enter a "
            f"differentiable operation; convert it with .float(), .double() or .astype(...)"
        )
    if len(dtypes) > 1:
        names = " and ".join(sorted(str(d) for d in dtypes))
        raise TypeError(
            f"{op}: cannot mix {names} Tensors; convert one with .astype(...) so both match"
        )
    dtype = next(iter(dtypes), None)
    return [x if isinstance(x, Tensor) else Tensor(x, dtype=dtype) for x in inputs]
