"""Torch twins: the PyTorch module, loss and optimizer that compute what nnlearn's compute.

:func:`torch_twin` turns an nnlearn layer or model into a ``torch.nn.Module`` holding a copy of
its weights. Each layer type registers how it becomes a torch module (:func:`register_twin`):
a builder that makes the torch architecture, and a :class:`Slot` for each of the layer's
parameters, saying which torch parameter holds it and in what layout. A ``Dense`` layer, say,
becomes ``Sequential(Linear, <activation>)`` with ``weight = kernel.T`` and ``bias = bias``;
a ``Sequential`` model becomes a ``torch.nn.Sequential`` of its layers' twins. Later chapters
add one entry each: chapter 09's layers in :mod:`~nnlearn.parity.regularization_twins` (a
slot may name a buffer there, a batch norm's running mean), later ones here.

The slots also work backwards: :func:`twin_parameters` and :func:`twin_gradients` return the
twin's values named and laid out like nnlearn's ``named_parameters()`` (``kernel``, not
``weight``), so a report compares like with like.

:func:`twin_activation`, :func:`twin_loss` and :func:`twin_optimizer` give the torch
equivalents of an activation name, a Keras-named loss, and an nnlearn optimizer (same class
and hyperparameters, which keep torch's names). torch is imported only when one is built.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from nnlearn import layers, losses
from nnlearn.parity.core import to_numpy, to_torch

if TYPE_CHECKING:
    import torch


def _same(array: np.ndarray) -> np.ndarray:
    return array


@dataclass(frozen=True)
class Slot:
    """Where one nnlearn parameter lives in a twin.

    Attributes:
        torch_name: the torch parameter's dotted name inside the twin, e.g. ``"0.weight"``.
        to_torch: nnlearn's array -> torch's layout (default: unchanged).
        to_nnlearn: torch's array -> nnlearn's layout (the inverse of ``to_torch``).
        buffer: the torch tensor is a buffer, not a parameter: state that torch updates
            without gradients, such as a batch norm's ``running_mean`` (chapter 09).
    """

    torch_name: str
    to_torch: Callable[[np.ndarray], np.ndarray] = _same
    to_nnlearn: Callable[[np.ndarray], np.ndarray] = _same
    buffer: bool = False


def transposed(torch_name: str) -> Slot:
    """A matrix stored transposed in torch: Keras's kernel ``(in, out)`` is Linear's
    ``weight`` ``(out, in)``."""
    return Slot(torch_name, np.transpose, np.transpose)


# --- activations -------------------------------------------------------------------------
# nnlearn's activation name -> (torch.nn module, its arguments). The arguments are nnlearn's
# defaults (Keras's, stated explicitly): the twin must compute exactly what the layer computes.
TORCH_ACTIVATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "linear": ("Identity", {}),
    "relu": ("ReLU", {}),
    "leaky_relu": ("LeakyReLU", {"negative_slope": 0.2}),  # Keras's default; torch's is 0.01
    "elu": ("ELU", {"alpha": 1.0}),
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "softplus": ("Softplus", {}),
    "gelu": ("GELU", {"approximate": "none"}),  # the exact erf form
    "silu": ("SiLU", {}),
    "swish": ("SiLU", {}),
    "softmax": ("Softmax", {"dim": -1}),
    "log_softmax": ("LogSoftmax", {"dim": -1}),
}


def twin_activation(name: str) -> torch.nn.Module:
    """The torch module of an nnlearn activation name (``"relu"``, ``"softmax"``, ...).

    The softmax and the sigmoid record on their output the logits it came from
    (``_keras_logits``), as Keras 3's and nnlearn's do: a cross-entropy given those
    probabilities (:func:`twin_loss`) is computed from the logits, stably.
    """
    import torch

    if name not in TORCH_ACTIVATIONS:
        raise ValueError(
            f"no torch twin for the activation {name!r}; known: {', '.join(TORCH_ACTIVATIONS)}. "
            f"Add it to nnlearn.parity.twins.TORCH_ACTIVATIONS"
        )
    module_name, arguments = TORCH_ACTIVATIONS[name]
    module = getattr(torch.nn, module_name)(**arguments)
    if name in ("softmax", "sigmoid"):
        module.register_forward_hook(_keep_logits)
    return module


def _keep_logits(module: Any, inputs: tuple, output: torch.Tensor) -> None:
    output._keras_logits = inputs[0]


# --- the registry of layer twins -----------------------------------------------------------
Builder = Callable[[Any], "torch.nn.Module"]
_TWINS: dict[type, tuple[Builder, dict[str, Slot]]] = {}


def register_twin(layer_type: type, **slots: Slot) -> Callable[[Builder], Builder]:
    """Register ``builder(layer) -> torch.nn.Module`` as the twin of ``layer_type`` (and of
    its subclasses).

    The builder makes the torch architecture only; :func:`torch_twin` then copies the
    weights in. ``slots`` names, for each of the layer's parameters (as in its
    ``named_parameters()``), the torch parameter that holds it::

        @register_twin(MyLayer, kernel=transposed("0.weight"), bias=Slot("0.bias"))
        def _my_layer(layer):
            return torch.nn.Sequential(torch.nn.Linear(...), twin_activation(...))
    """

    def register(builder: Builder) -> Builder:
        _TWINS[layer_type] = (builder, slots)
        return builder

    return register


@register_twin(layers.Dense, kernel=transposed("0.weight"), bias=Slot("0.bias"))
def _dense(layer: layers.Dense) -> torch.nn.Module:
    """``Sequential(Linear(in, units), activation)``: ``y = f(x W^T + b)`` with ``W = kernel.T``."""
    import torch

    linear = torch.nn.Linear(layer.kernel.shape[0], layer.units, bias=layer.bias is not None)
    return torch.nn.Sequential(linear, twin_activation(layer.activation_name))


@register_twin(layers.Activation)
def _activation(layer: layers.Activation) -> torch.nn.Module:
    return twin_activation(layer.activation_name)


def _registered(layer_type: type) -> tuple[Builder, dict[str, Slot]] | None:
    """The entry of ``layer_type`` or of its nearest registered base class."""
    return next((_TWINS[cls] for cls in layer_type.__mro__ if cls in _TWINS), None)


def _build(item: Any) -> tuple[torch.nn.Module, dict[str, Slot]]:
    """The twin's architecture and the slot of every nnlearn parameter name."""
    import torch

    entry = _registered(type(item))
    if entry is not None:
        if not getattr(item, "built", True):
            raise ValueError(
                f"torch_twin: {item!r} is not built yet, so its sizes are unknown; give it "
                f"input_shape=..., or call it on a batch first"
            )
        builder, slots = entry
        return builder(item), slots
    if hasattr(item, "layers"):  # a Sequential model: its layers' twins, one after the other
        modules, slots = [], {}
        for i, layer in enumerate(item.layers):
            module, inner = _build(layer)
            modules.append(module)
            for name, slot in inner.items():
                slots[f"layers.{i}.{name}"] = replace(slot, torch_name=f"{i}.{slot.torch_name}")
        return torch.nn.Sequential(*modules), slots
    raise TypeError(
        f"torch_twin: no torch twin is registered for {type(item).__name__} "
        f"({type(item).__module__}.{type(item).__qualname__}). Register one with "
        f"@nnlearn.parity.register_twin({type(item).__name__}, <param>=Slot('<torch name>'), ...) "
        f"on a function that takes the layer and returns the torch.nn.Module computing the same"
    )


def torch_twin(
    model_or_layer: Any, device: str = "cpu", dtype: Any = None, training: bool = False
) -> torch.nn.Module:
    """A torch module computing what ``model_or_layer`` computes, with a copy of its weights.

    Args:
        model_or_layer: a built nnlearn layer of a registered type, or a Sequential model
            (anything with ``.layers``) of such layers.
        device: the torch device of the twin.
        dtype: the twin's dtype (default: the model's own).
        training: the twin's mode. False: ``eval()``, computing what ``model(x)`` computes
            (inference); True: ``train()``, as ``model(x, training=True)`` (Dropout drops,
            BatchNorm uses and updates the batch's statistics). ``twin.train()`` and
            ``twin.eval()`` switch it later, as for any torch module.

    The twin keeps the slots of its parameters in ``twin.nnlearn_slots`` (nnlearn name ->
    :class:`Slot`), read by :func:`twin_parameters` and :func:`twin_gradients`.
    """
    import torch

    twin, slots = _build(model_or_layer)
    dtype = np.dtype(dtype if dtype is not None else model_or_layer.dtype)
    twin = twin.to(device=device, dtype=getattr(torch, dtype.name))
    params = dict(model_or_layer.named_parameters())
    torch_params = dict(twin.named_parameters())
    unplaced = [name for name in params if name not in slots]
    if unplaced:
        raise ValueError(
            f"torch_twin: the twin of {type(model_or_layer).__name__} has no slot for the "
            f"parameters {unplaced}; the register_twin entry of their layer must name them"
        )
    slots = {name: slot for name, slot in slots.items() if name in params}
    with torch.no_grad():  # buffers that no slot names (num_batches_tracked) keep torch's value
        for name, slot in slots.items():
            target = twin.get_buffer(slot.torch_name) if slot.buffer else None
            target = torch_params.pop(slot.torch_name) if target is None else target
            target.copy_(to_torch(slot.to_torch(params[name].data)))
    if torch_params:
        raise ValueError(
            f"torch_twin: the twin's parameters {list(torch_params)} receive no nnlearn "
            f"weights (they would keep torch's random start); give them a slot"
        )
    twin.nnlearn_slots = slots
    return twin.train(training)


def _slots(twin: torch.nn.Module) -> dict[str, Slot]:
    if not hasattr(twin, "nnlearn_slots"):
        raise TypeError("expected a twin made by nnlearn.parity.torch_twin")
    return twin.nnlearn_slots


def _tensor(twin: torch.nn.Module, slot: Slot) -> torch.Tensor:
    return (twin.get_buffer if slot.buffer else twin.get_parameter)(slot.torch_name)


def twin_parameters(twin: torch.nn.Module) -> dict[str, np.ndarray]:
    """The twin's parameters (and the buffers slots name), named and laid out as nnlearn's
    ``named_parameters()``."""
    return {
        name: slot.to_nnlearn(to_numpy(_tensor(twin, slot))) for name, slot in _slots(twin).items()
    }


def twin_gradients(twin: torch.nn.Module) -> dict[str, np.ndarray]:
    """The twin's parameter gradients, named and laid out as nnlearn's parameters (zeros
    where torch has none, as for buffers)."""
    grads = {}
    for name, slot in _slots(twin).items():
        param = _tensor(twin, slot)
        grad = np.zeros(tuple(param.shape)) if param.grad is None else to_numpy(param.grad)
        grads[name] = slot.to_nnlearn(grad)
    return grads


# --- losses ----------------------------------------------------------------------------------
EPSILON = 1e-7  # Keras's backend.epsilon(): probabilities are clipped to [eps, 1 - eps]


def _like_prediction(y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
    """Targets of shape (n,) for predictions (n, 1) gain the last axis, as Keras does."""
    if y_true.ndim == y_pred.ndim - 1:
        y_true = y_true.unsqueeze(-1)
    return y_true.to(y_pred.dtype)


def _logits(y_pred: torch.Tensor, from_logits: bool) -> torch.Tensor | None:
    """The logits of ``y_pred``: itself, or those its softmax or sigmoid recorded, or None."""
    return y_pred if from_logits else getattr(y_pred, "_keras_logits", None)


def _mean_squared_error(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    return F.mse_loss(y_pred, _like_prediction(y_true, y_pred))


def _mean_absolute_error(y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
    import torch.nn.functional as F

    return F.l1_loss(y_pred, _like_prediction(y_true, y_pred))


def _huber(y_pred: torch.Tensor, y_true: torch.Tensor, delta: float = 1.0) -> torch.Tensor:
    import torch.nn.functional as F

    return F.huber_loss(y_pred, _like_prediction(y_true, y_pred), delta=delta)


def _binary_crossentropy(
    y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False, label_smoothing=0.0
) -> torch.Tensor:
    import torch.nn.functional as F

    y_true = _like_prediction(y_true, y_pred) * (1 - label_smoothing) + 0.5 * label_smoothing
    logits = _logits(y_pred, from_logits)
    if logits is not None:
        return F.binary_cross_entropy_with_logits(logits, y_true)
    return F.binary_cross_entropy(y_pred.clamp(EPSILON, 1 - EPSILON), y_true)


def _categorical_crossentropy(
    y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False, label_smoothing=0.0
) -> torch.Tensor:
    import torch.nn.functional as F

    classes = y_pred.shape[-1]
    y_true = y_true.to(y_pred.dtype) * (1 - label_smoothing) + label_smoothing / classes
    logits = _logits(y_pred, from_logits)
    if logits is not None:  # probability targets: torch's cross_entropy accepts them
        return F.cross_entropy(logits.reshape(-1, classes), y_true.reshape(-1, classes))
    p = (y_pred / y_pred.sum(-1, keepdim=True)).clamp(EPSILON, 1 - EPSILON)
    return -(y_true * p.log()).sum(-1).mean()


def _sparse_categorical_crossentropy(
    y_pred: torch.Tensor, y_true: torch.Tensor, from_logits: bool = False
) -> torch.Tensor:
    import torch.nn.functional as F

    classes, labels = y_pred.shape[-1], y_true.long().reshape(-1)
    logits = _logits(y_pred, from_logits)
    if logits is not None:
        return F.cross_entropy(logits.reshape(-1, classes), labels)
    log_p = y_pred.clamp(EPSILON, 1 - EPSILON).log()
    return F.nll_loss(log_p.reshape(-1, classes), labels)


# nnlearn's (Keras's) loss function -> its torch twin, reduced as Keras's default
# "sum_over_batch_size" (alias "mean"): the mean of the per-example losses.
REDUCTIONS = ("sum_over_batch_size", "mean")
TORCH_LOSSES: dict[str, Callable[..., Any]] = {
    "mean_squared_error": _mean_squared_error,
    "mean_absolute_error": _mean_absolute_error,
    "huber": _huber,
    "binary_crossentropy": _binary_crossentropy,
    "categorical_crossentropy": _categorical_crossentropy,
    "sparse_categorical_crossentropy": _sparse_categorical_crossentropy,
}


def twin_loss(loss: Any) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The torch twin of an nnlearn loss: a Keras name (``"mse"``), a loss object
    (``SparseCategoricalCrossentropy(from_logits=True)``, its options included), or a loss
    function, taken as ``compile`` takes it (:func:`nnlearn.losses.as_loss`).

    The twin takes torch's order, ``(prediction, target)``, and returns the mean of the
    per-example losses (Keras's default reduction). Given probabilities from a twin's
    softmax or sigmoid, the cross-entropies use the logits they carry
    (:func:`twin_activation`), as nnlearn's do.
    """
    loss = losses.as_loss(loss)
    name = getattr(getattr(loss, "fn", None), "__name__", None)
    options = dict(getattr(loss, "options", {}))  # from_logits, label_smoothing, delta, ...
    along_last_axis = options.pop("axis", -1) == -1 and options.pop("ignore_class", None) is None
    if name not in TORCH_LOSSES or not along_last_axis or loss.reduction not in REDUCTIONS:
        raise ValueError(
            f"no torch twin for the loss {loss!r}: twins exist for {', '.join(TORCH_LOSSES)}, "
            f"along the last axis, with the reduction {REDUCTIONS[0]!r}. Pass torch_loss=, a "
            f"function (prediction, target) -> scalar torch tensor"
        )
    return functools.partial(TORCH_LOSSES[name], **options)


# --- optimizers ------------------------------------------------------------------------------
TORCH_OPTIMIZERS = ("SGD", "Adagrad", "RMSprop", "Adam", "AdamW")  # the same names in torch.optim


def twin_optimizer(optimizer: Any, params: Iterable[torch.Tensor]) -> torch.optim.Optimizer:
    """``torch.optim``'s optimizer of the same class as the nnlearn ``optimizer`` (or of its
    nearest base class with a torch name), on ``params``, with its ``lr`` and hyperparameters
    (nnlearn's keep torch's names, e.g. ``betas``, ``momentum``)."""
    import torch

    for cls in type(optimizer).__mro__:
        if cls.__name__ in TORCH_OPTIMIZERS:
            torch_class = getattr(torch.optim, cls.__name__)
            return torch_class(params, lr=optimizer.lr, **optimizer.hyperparameters)
    raise ValueError(
        f"no torch.optim twin for {type(optimizer).__name__}; known: {', '.join(TORCH_OPTIMIZERS)}."
        f" Pass torch_optimizer=, a function of the torch parameters returning the optimizer"
    )
