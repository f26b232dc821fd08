r"""Magnitude pruning (chapter 09): set the smallest weights to zero, and keep them there.

A trained network has many weights that barely matter. Magnitude pruning removes those whose
magnitude :math:`|w|` (the L1 norm of a single entry) is smallest: ``amount`` of one parameter's
entries (:func:`l1_unstructured`, per layer), or of several parameters ranked together
(:func:`global_unstructured`, so layers with many small weights lose more). The names, the
arguments and the counts are ``torch.nn.utils.prune``'s; the tests compare the masks with it.

**How many.** An int ``amount`` is a count (``amount=3``: three entries); a float in [0, 1] is a
fraction, and the count is ``round(amount * n)`` with Python's ``round``, which takes a half to
the even neighbour, as torch computes it: n = 10, amount = 0.25 prunes 2 (2.5 -> 2); n = 6,
amount = 0.25 prunes 2 (1.5 -> 2); n = 10, amount = 0.05 prunes none (0.5 -> 0). So
``amount=1`` prunes one entry and ``amount=1.0`` all of them. A bool is refused (torch would
read ``True`` as the count 1).

**Which ones.** The ``k`` smallest :math:`|w|` among the entries not pruned yet. Equal
magnitudes (ties) are where nnlearn and torch may differ: torch picks with
``torch.topk(|w|, k, largest=False)``, whose choice among equal values is unspecified (CPU and
GPU differ); nnlearn prunes the one that comes first in row-major order of the parameter (in
the global case, of the parameters in the order given). How many are pruned never differs.

**Again.** Pruning a pruned parameter prunes ``amount`` of what is *left* (as torch's
``PruningContainer``): 0.5 and then 0.5 leaves a quarter; the masks multiply.

**How it is kept.** A pruned :class:`~nnlearn.module.Parameter` carries ``mask``, an array of
its shape (1: kept, 0: pruned), and its pruned entries are set to 0. After every update
``Optimizer.step`` multiplies the parameter by its mask (:mod:`nnlearn.optim`), so the pruned
entries stay 0 through ``fit`` and any hand-written loop. :func:`remove` makes the pruning
permanent: the zeros stay, the mask goes, and later training may move them again.

**torch's way.** torch reparametrises instead: the parameter becomes ``weight_orig`` (it keeps
its values), the buffer ``weight_mask`` holds the mask :math:`m`, and a forward pre-hook computes
``weight = weight_orig * weight_mask`` before every forward. The two agree where it matters:

* the effective weights: torch's :math:`w_\text{orig} \odot m` is nnlearn's ``p.data``;
* the gradients: torch's gradient of ``weight_orig`` is
  :math:`\partial L/\partial w \odot m`; nnlearn's gradient of ``p`` is
  :math:`\partial L/\partial w`, equal on every unpruned entry (both come from the same
  effective weights) and discarded on the pruned ones;
* the updates: SGD, Adagrad, RMSprop, Adam and AdamW move each entry by its own gradient and
  state only, so the unpruned entries follow the same trajectory in both, and the pruned
  entries are 0 in both effective weights (torch's ``weight_orig`` may drift there through
  momentum or weight decay; the mask hides it).

One trap on torch's side: pruning again ranks the ``weight`` its hook computed at the last
forward, which is stale if the optimizer stepped since; nnlearn ranks the current values.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from nnlearn.module import Module, Parameter
from nnlearn.tensor import Tensor


def compute_nparams_toprune(amount: int | float, tensor_size: int, label: str = "") -> int:
    """How many of ``tensor_size`` entries ``amount`` prunes (torch's
    ``_compute_nparams_toprune``, with torch's checks and clear errors).

    Args:
        amount: an int >= 0, a count; or a float in [0, 1], a fraction: ``round(amount * n)``
            (halves to even: 2.5 -> 2, 1.5 -> 2, 0.5 -> 0).
        tensor_size: ``n``, the number of entries that may be pruned (those not pruned yet).
        label: what is pruned, for error messages (e.g. ``"l1_unstructured(Dense(4).kernel)"``).
    """
    where = f"{label}: " if label else ""
    if isinstance(amount, bool) or not isinstance(amount, numbers.Real):
        raise TypeError(
            f"{where}amount must be an int (how many entries to prune) or a float in [0, 1] "
            f"(what fraction), got {amount!r} of type {type(amount).__name__}"
        )
    if isinstance(amount, numbers.Integral):
        if amount < 0:
            raise ValueError(f"{where}amount={amount} must be a non-negative count")
        if amount > tensor_size:
            raise ValueError(
                f"{where}amount={amount} is more than the {tensor_size} entries left to prune "
                f"(an int is a count; for a fraction give a float, e.g. 0.5)"
            )
        return int(amount)
    if not 0.0 <= float(amount) <= 1.0:  # written so that nan is refused too
        raise ValueError(
            f"{where}amount={amount} must be a fraction in [0, 1] (a float) or a count (an int)"
        )
    return int(round(amount * tensor_size))  # Python's round, as torch: halves to even


def _parameter(module: Any, name: str) -> tuple[Parameter, str]:
    """The Parameter ``module.<name>`` (or ``module`` itself) and its label for messages."""
    if isinstance(module, Parameter):
        return module, f"parameter {module.shape}"
    label = f"{getattr(module, 'label', type(module).__name__)}.{name}"
    if not isinstance(module, Module):
        raise TypeError(f"{label}: expected a layer or a Parameter, got {type(module).__name__}")
    p = getattr(module, name, None)
    if not isinstance(p, Parameter):
        built = "" if getattr(module, "built", True) else " (the layer is not built yet)"
        known = ", ".join(n for n, _ in module.named_parameters()) or "none"
        raise ValueError(
            f"{label}: the layer has no parameter {name!r}{built}; its parameters: {known}"
        )
    return p, label


def _mask_of(p: Parameter) -> np.ndarray:
    """The parameter's mask, or all ones when it is not pruned."""
    return np.ones(p.shape, dtype=p.data.dtype) if p.mask is None else p.mask


def _prune_smallest(magnitude: np.ndarray, mask: np.ndarray, amount: Any, label: str):
    """A new flat mask: ``mask`` (flat, 0/1) with the ``k`` smallest ``magnitude`` among its
    unpruned entries also set to 0, ``k`` from ``amount`` and the number left."""
    alive = np.flatnonzero(mask)
    k = compute_nparams_toprune(amount, alive.size, label)
    # A stable sort: among equal magnitudes the first in row-major order is pruned first.
    smallest = alive[np.argsort(magnitude[alive], kind="stable")[:k]]
    new = mask.copy()
    new[smallest] = 0
    return new


def _set_mask(p: Parameter, mask: np.ndarray) -> None:
    """Give ``p`` its mask and zero its pruned entries (in place: optimizers hold ``p``)."""
    p.mask = mask.reshape(p.shape).astype(p.data.dtype)
    p.data *= p.mask


def l1_unstructured(module: Any, name: str = "kernel", amount: int | float | None = None) -> Any:
    r"""Prune ``amount`` of the entries of one parameter: those of smallest :math:`|w|`
    (``torch.nn.utils.prune.l1_unstructured``).

    Args:
        module: a layer (any Module) whose attribute ``name`` is the Parameter to prune, or
            the Parameter itself (``name`` is then not used).
        name: the parameter's attribute name: ``"kernel"`` (Keras's name; torch's ``weight``
            is ``kernel.T``) or ``"bias"``.
        amount: an int, how many entries; or a float in [0, 1], the fraction,
            ``round(amount * n)`` with ``n`` the entries not pruned yet (module docstring).

    Returns ``module``. Sets the parameter's ``mask`` (its shape; 0 where pruned), multiplied
    by any earlier mask, and sets its pruned entries to 0.
    """
    p, label = _parameter(module, name)
    label = f"l1_unstructured({label})"
    if amount is None:
        raise TypeError(f"{label}: give amount=, an int (a count) or a float in [0, 1]")
    mask = _prune_smallest(np.abs(p.data).ravel(), _mask_of(p).ravel(), amount, label)
    _set_mask(p, mask)
    return module


def global_unstructured(parameters: Iterable[Any], *, amount: int | float) -> None:
    r"""Prune ``amount`` of the entries of several parameters ranked together by :math:`|w|`
    (``torch.nn.utils.prune.global_unstructured(parameters,
    pruning_method=prune.L1Unstructured, amount=...)``).

    Args:
        parameters: ``(layer, name)`` pairs, as torch's ``(module, name)``, e.g.
            ``[(layer, "kernel") for layer in model.layers]``, or the Parameters themselves.
        amount: an int, how many entries in all; or a float in [0, 1], the fraction of all the
            entries not pruned yet, ``round(amount * n)``.

    Each parameter gets its share of the pruned entries as its ``mask`` (multiplied by any
    earlier one), so a parameter with many small entries loses more than ``amount`` of them.
    """
    params = []
    for item in parameters:
        if isinstance(item, Parameter):
            params.append(_parameter(item, ""))
        elif isinstance(item, tuple) and len(item) == 2:
            params.append(_parameter(*item))
        else:
            raise TypeError(
                f"global_unstructured: expected (layer, name) pairs or Parameters, got {item!r}"
            )
    if not params:
        raise ValueError("global_unstructured: parameters is empty; give (layer, name) pairs")
    labels = [label for _, label in params]
    if len({id(p) for p, _ in params}) < len(params):
        raise ValueError(f"global_unstructured: a parameter is given twice in {labels}")
    label = f"global_unstructured({', '.join(labels)})"
    magnitude = np.concatenate([np.abs(p.data).ravel() for p, _ in params])
    mask = np.concatenate([_mask_of(p).ravel() for p, _ in params])
    mask = _prune_smallest(magnitude, mask, amount, label)
    ends = np.cumsum([p.data.size for p, _ in params])[:-1]
    for (p, _), piece in zip(params, np.split(mask, ends), strict=True):
        _set_mask(p, piece)


def remove(module: Any, name: str = "kernel") -> Any:
    """Make the pruning of ``module.<name>`` permanent (``torch.nn.utils.prune.remove``): its
    pruned entries stay 0, its mask is dropped, so further training may change them.

    ``module`` may also be the Parameter itself. Returns ``module``; raises ValueError when the
    parameter is not pruned.
    """
    p, label = _parameter(module, name)
    if p.mask is None:
        raise ValueError(f"remove({label}): it is not pruned, so there is no pruning to remove")
    p.data *= p.mask  # as torch's remove keeps weight_orig * mask
    p.mask = None
    return module


def is_pruned(module: Any) -> bool:
    """Whether any parameter of ``module`` (a model, a layer, or one Parameter) has a mask
    (``torch.nn.utils.prune.is_pruned``)."""
    params = [module] if isinstance(module, Parameter) else module.parameters()
    return any(p.mask is not None for p in params)


def sparsity(target: Any) -> float:
    """The fraction of entries that are exactly 0, over all of ``target``'s parameters.

    Args:
        target: a model or layer (all its parameters, biases included), a Parameter or
            Tensor, or an iterable of them, e.g. ``[layer.kernel for layer in model.layers]``
            to measure the kernels only. Pruned entries count, and so do weights that are 0
            for any other reason.
    """
    if isinstance(target, Module):
        tensors = target.parameters()
    elif isinstance(target, Tensor):
        tensors = [target]
    else:
        tensors = list(target)
    if not all(isinstance(t, Tensor) for t in tensors):
        raise TypeError("sparsity: expected a model, a layer, a Parameter, or Parameters")
    size = sum(t.data.size for t in tensors)
    if size == 0:
        raise ValueError("sparsity: there are no entries to measure (is the model built?)")
    return sum(int(np.count_nonzero(t.data == 0)) for t in tensors) / size
