"""Whole-model and optimizer checks against PyTorch, and training a twin the way fit does.

* :func:`check_model`: a model (or layer) and its torch twin on the same batch: the output,
  the loss, the gradient of the input and of every parameter, and every parameter after a
  few optimizer steps on both sides.
* :func:`check_optimizer`: an nnlearn optimizer (or a hand-written update rule) and
  ``torch.optim`` step by step on the same parameters and gradients.
* :func:`fit_twin`: the twin trained by fit's loop (same batches, same order), to compare
  with ``model.fit``.

Loss conventions: an nnlearn loss is called Keras's way, ``loss(y_true, y_pred)``; a torch
loss is called torch's way, ``torch_loss(prediction, target)`` (as ``torch.nn.functional``'s
losses). Give the nnlearn one; its torch twin follows from its Keras name
(:func:`~nnlearn.parity.twins.twin_loss`) unless ``torch_loss`` is given.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nnlearn import losses, optim
from nnlearn.data import batches
from nnlearn.parity.core import (
    compare,
    device_and_dtype,
    exact_float32,
    to_numpy,
    to_torch,
)
from nnlearn.parity.twins import (
    torch_twin,
    twin_gradients,
    twin_loss,
    twin_optimizer,
    twin_parameters,
)
from nnlearn.report import Report
from nnlearn.tensor import Tensor

if TYPE_CHECKING:
    import torch

TorchLoss = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]
TorchOptimizerFactory = Callable[[list["torch.Tensor"]], "torch.optim.Optimizer"]


def _tolerance_dtype(*dtypes: Any) -> np.dtype:
    """The coarser of the dtypes compared: float32 if either side computed in float32."""
    return np.dtype(np.float32 if np.dtype(np.float32) in map(np.dtype, dtypes) else np.float64)


def _optimizer(optimizer: Any) -> optim.Optimizer:
    """An nnlearn optimizer from a Keras name, a class (default settings) or an instance."""
    if isinstance(optimizer, type):
        return optimizer()
    return optim.get(optimizer)


def _fresh(optimizer: optim.Optimizer, params: list[Tensor]) -> optim.Optimizer:
    """A new optimizer of the same class and settings on ``params`` (no state, no steps)."""
    return type(optimizer)(params, lr=optimizer.lr, **optimizer.hyperparameters)


def _torch_target(y: Any, like: torch.Tensor) -> torch.Tensor:
    """Targets on the twin's device: integer labels as int64, the rest in its dtype."""
    import torch

    y = np.asarray(y)
    if np.issubdtype(y.dtype, np.integer):
        return torch.as_tensor(y, dtype=torch.int64, device=like.device)
    return torch.as_tensor(y, dtype=like.dtype, device=like.device)


# --- check_model -----------------------------------------------------------------------------
def _objectives(
    shape: tuple[int, ...], y: Any, t_x: torch.Tensor, loss: Any, torch_loss: Any, seed: int
) -> tuple[Callable, Callable]:
    """What both sides differentiate: the loss and its twin, or, without a loss,
    ``sum(output * upstream)`` for one random ``upstream`` of the output's ``shape``."""
    import torch

    if loss is None:
        upstream = np.random.default_rng(seed).standard_normal(shape)
        t_upstream = torch.as_tensor(upstream, dtype=t_x.dtype, device=t_x.device)

        def nn_objective(out: Tensor) -> Tensor:
            return (out * upstream.astype(out.dtype)).sum()

        def torch_objective(out: torch.Tensor) -> torch.Tensor:
            return (out * t_upstream).sum()

        return nn_objective, torch_objective
    if y is None:
        raise ValueError("check_model: a loss needs the targets y")
    nn_loss = losses.as_loss(loss)
    torch_loss = torch_loss or twin_loss(nn_loss)
    t_y = _torch_target(y, t_x)

    def nn_objective(out: Tensor) -> Tensor:
        return nn_loss(y, out)

    def torch_objective(out: torch.Tensor) -> torch.Tensor:
        return torch_loss(out, t_y)

    return nn_objective, torch_objective


def _grad(t: Tensor) -> np.ndarray:
    """A copy of ``t.grad``; zeros where the graph gave it none."""
    return np.zeros(t.shape) if t.grad is None else t.grad.copy()


def _nn_pass(model: Any, x: np.ndarray, objective: Callable[[Tensor], Tensor], training=False):
    """Forward and backward through the nnlearn model: (input Tensor, output, objective)."""
    model.zero_grad()
    inputs = Tensor(x, requires_grad=True)
    outputs = model(inputs, training=training)
    value = objective(outputs)
    value.backward()
    return inputs, outputs, value


def _torch_pass(twin: Any, x: torch.Tensor, objective: Callable):
    """The same through the twin (its gradients zeroed first)."""
    twin.zero_grad()
    inputs = x.detach().clone().requires_grad_(True)
    outputs = twin(inputs)
    value = objective(outputs)
    value.backward()
    return inputs, outputs, value


def check_model(
    model: Any,
    x: np.ndarray,
    y: np.ndarray | None = None,
    *,
    loss: Any = None,
    torch_loss: TorchLoss | None = None,
    optimizer: Any = None,
    steps: int = 3,
    device: str | None = None,
    dtype: Any = None,
    seed: int = 0,
    title: str | None = None,
    training: bool = False,
) -> Report:
    """Check a model (or one layer) against its :func:`torch_twin` on one batch.

    Rows: ``output``; ``loss`` (with a loss); ``d/dinput`` and ``d/d<param>`` for every
    parameter (``named_parameters()`` names, nnlearn's layout); with an optimizer,
    ``loss at each step`` (before each update) and ``<param> after <steps> steps``.

    Args:
        model: a model or layer whose type has a registered twin. It is copied: the
            caller's model, weights and gradients stay as they were.
        x: a batch of inputs, cast to the model's dtype (an unbuilt model builds on it).
        y: the targets of the loss (floats are cast to the model's dtype).
        loss: an nnlearn loss, taken as ``compile`` takes it (:func:`nnlearn.losses.as_loss`:
            a Keras name, a loss object, or a function) and called ``loss(y, output)``,
            Keras's order. Without one, the objective is ``sum(output * upstream)`` with a random
            ``upstream`` (so every gradient is checked without a loss).
        torch_loss: the twin's loss, ``torch_loss(output, target)``; default: the twin of
            ``loss`` by its Keras name (:func:`twin_loss`).
        optimizer: an nnlearn optimizer (only its class and settings are used), its class,
            or a Keras name; the twin gets ``torch.optim``'s of the same class and settings.
        steps: the optimizer steps taken on both sides.
        device, dtype: the twin's device and dtype (default: :func:`choose_device`, and
            float64 on the CPU, float32 elsewhere). nnlearn computes in the model's dtype;
            the tolerance is float32's if either side is float32.
        seed: seed of the random upstream gradient.
        title: the report's title.
        training: both sides in training mode (``model(x, training=True)``, the twin in
            ``train()``): BatchNormalization then uses the batch's statistics. Dropout's
            random masks differ between the libraries, so check it in inference mode. The
            moving statistics are then left out of the rows after the optimizer's steps: they
            follow each library's convention (:func:`keras_moving_variance` converts).
    """
    device, dtype = device_and_dtype(device, dtype)
    model = copy.deepcopy(model)
    x = np.asarray(x)
    nn_x = x.astype(model.dtype)
    if y is not None and np.issubdtype(np.asarray(y).dtype, np.floating):
        y = np.asarray(y).astype(model.dtype)
    t_x = to_torch(x, device, dtype)
    shape = model(nn_x).shape  # the first call builds an unbuilt model (inference: no change)
    nn_objective, torch_objective = _objectives(shape, y, t_x, loss, torch_loss, seed)
    twin = torch_twin(model, device, dtype, training=training)  # before a training pass moves
    inputs, outputs, objective = _nn_pass(model, nn_x, nn_objective, training)
    with exact_float32():
        t_inputs, t_outputs, t_objective = _torch_pass(twin, t_x, torch_objective)
    actual, expected = {"output": outputs.data}, {"output": to_numpy(t_outputs)}
    if loss is not None:
        actual["loss"], expected["loss"] = objective.item(), t_objective.item()
    actual["d/dinput"], expected["d/dinput"] = _grad(inputs), to_numpy(t_inputs.grad)
    actual |= {f"d/d{name}": _grad(p) for name, p in model.named_parameters()}
    expected |= {f"d/d{name}": grad for name, grad in twin_gradients(twin).items()}
    label = f"{type(model).__name__} vs its torch twin on {device}, {dtype}"

    if optimizer is not None and steps > 0:
        ours = _fresh(_optimizer(optimizer), model.parameters())
        theirs = twin_optimizer(ours, twin.parameters())
        our_losses, their_losses = [objective.item()], [t_objective.item()]
        with exact_float32():
            for step in range(1, steps + 1):
                ours.step()
                theirs.step()
                if step < steps:
                    our_losses.append(_nn_pass(model, nn_x, nn_objective, training)[2].item())
                    their_losses.append(_torch_pass(twin, t_x, torch_objective)[2].item())
        actual["loss at each step"], expected["loss at each step"] = our_losses, their_losses
        after = f"after {steps} steps"
        # In training mode the moving statistics move by each library's own convention (torch's
        # running variance is unbiased, Keras's is not: nnlearn.parity.regularization_twins), so
        # the rows after the steps are the learned weights.
        learned = [n for n, p in model.named_parameters() if p.trainable or not training]
        actual |= {
            f"{name} {after}": p.data for name, p in model.named_parameters() if name in learned
        }
        theirs = twin_parameters(twin)
        expected |= {f"{name} {after}": theirs[name] for name in learned}
        label += f", {steps} steps of {type(ours).__name__}"
    return compare(actual, expected, _tolerance_dtype(model.dtype, dtype), title or label)


# --- check_optimizer -------------------------------------------------------------------------
def _rule_name(rule: Callable) -> str:
    """``adam_step(lr=0.1)`` for ``functools.partial(adam_step, lr=0.1)``."""
    if isinstance(rule, functools.partial):
        settings = ", ".join(f"{key}={value!r}" for key, value in rule.keywords.items())
        return f"{rule.func.__name__}({settings})"
    return getattr(rule, "__name__", "update rule")


def check_optimizer(
    optimizer: Any,
    params: Sequence[np.ndarray],
    grads: Sequence[Sequence[np.ndarray | None]] | Callable[[list[np.ndarray]], Sequence],
    *,
    torch_optimizer: TorchOptimizerFactory | None = None,
    steps: int | None = None,
    every_step: bool = False,
    state: bool = False,
    device: str | None = None,
    dtype: Any = None,
    title: str | None = None,
) -> Report:
    """Run an optimizer and ``torch.optim`` step by step from the same parameters, on the
    same gradients; compare the parameters (after the last step, or after every step).

    Args:
        optimizer: an nnlearn optimizer (only its class and settings are used; a class
            means its defaults), or an update rule ``rule(param, grad, state) -> new param``
            (or None after updating ``param`` in place) with its settings bound, e.g.
            ``functools.partial(adam_step, lr=0.1)``; ``state`` starts as ``{}`` per parameter.
        params: the initial parameter arrays (several shapes welcome).
        grads: one list of gradients per step (``None``: that parameter has no gradient that
            step, so both sides skip it), or a function of the current parameter values
            returning that list (each side's own values: they may drift apart).
        torch_optimizer: ``torch_optimizer(tensors) -> torch.optim.Optimizer``, e.g.
            ``functools.partial(torch.optim.Adam, lr=0.1)``; default (nnlearn optimizers
            only): ``torch.optim``'s class of the same name with the same settings.
        steps: the number of steps (default: ``len(grads)``; needed when ``grads`` is a function).
        every_step: compare after every step, not just the last.
        state: also compare, after the last step, the optimizer's state arrays that torch
            keeps (``exp_avg``, ``momentum_buffer``, ...), by torch's names.
        device, dtype: as for :func:`check_function`; both sides compute in ``dtype``.
        title: the report's title.
    """
    device, dtype = device_and_dtype(device, dtype)
    steps = len(grads) if steps is None else steps
    if isinstance(optimizer, type):
        optimizer = optimizer()
    tensors = [Tensor(np.array(p, dtype=dtype), requires_grad=True) for p in params]
    torch_tensors = [to_torch(p, device, dtype, requires_grad=True) for p in params]
    if isinstance(optimizer, optim.Optimizer):
        ours = _fresh(optimizer, tensors)
        states = [ours.state[id(t)] for t in tensors]
        theirs = (torch_optimizer or (lambda ts: twin_optimizer(ours, ts)))(torch_tensors)
        name = repr(ours)
    elif torch_optimizer is None:
        raise ValueError("check_optimizer: an update rule needs torch_optimizer= to compare with")
    else:
        ours, states = None, [{} for _ in params]
        theirs = torch_optimizer(torch_tensors)
        name = _rule_name(optimizer)

    actual, expected = {}, {}
    for step in range(steps):
        our_grads = grads([t.data for t in tensors]) if callable(grads) else grads[step]
        their_grads = (
            grads([to_numpy(t) for t in torch_tensors]) if callable(grads) else grads[step]
        )
        for t, tt, g, tg in zip(tensors, torch_tensors, our_grads, their_grads, strict=True):
            t.grad = None if g is None else np.asarray(g, dtype=dtype)
            tt.grad = None if tg is None else to_torch(tg, device, dtype)
        if ours is not None:
            ours.step()
        else:
            for t, s in zip(tensors, states, strict=True):
                if t.grad is not None:
                    new = optimizer(t.data, t.grad, s)
                    if new is not None:
                        t.data = np.asarray(new, dtype=dtype)
        theirs.step()
        if every_step or step == steps - 1:
            prefix = f"step {step + 1}: " if every_step else ""
            for i, (t, tt) in enumerate(zip(tensors, torch_tensors, strict=True)):
                actual[f"{prefix}param {i} {t.shape}"] = t.data.copy()
                expected[f"{prefix}param {i} {t.shape}"] = to_numpy(tt)
    if state:
        for i, (s, tt) in enumerate(zip(states, torch_tensors, strict=True)):
            for key, value in theirs.state[tt].items():
                expected[f"param {i} state {key}"] = to_numpy(value)
                actual[f"param {i} state {key}"] = s.get(key, np.full(tuple(value.shape), np.nan))
    label = f"{name}, {steps} steps, vs torch.optim on {device}, {dtype}"
    return compare(actual, expected, dtype, title or label)


# --- fit_twin --------------------------------------------------------------------------------
def fit_twin(
    twin: torch.nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    loss: Any,
    optimizer: Any,
    torch_loss: TorchLoss | None = None,
    epochs: int = 1,
    batch_size: int = 32,
    shuffle: bool = True,
    rng: np.random.Generator | None = None,
) -> dict[str, list[float]]:
    """Train a :func:`torch_twin` with fit's loop: the same mini-batches in the same order
    (:func:`nnlearn.data.batches`), and per batch ``zero_grad``, loss, ``backward``, ``step``.

    Args:
        twin: the twin, made from the model's weights before ``fit``.
        x, y: the training data given to ``fit``.
        loss, optimizer: the model's (e.g. ``model.loss``, ``model.optimizer``, or Keras
            names): the twin uses their torch twins (same class and settings).
        torch_loss: the twin's loss ``torch_loss(output, target)`` instead of ``loss``'s twin.
        epochs, batch_size, shuffle: as given to ``fit``.
        rng: with ``shuffle``, the generator fit draws its orders from, in the state it had
            just before ``fit``: take ``copy.deepcopy(nl.rng())`` then, and pass it here.

    Returns:
        ``{"loss": [...], "batch_loss": [...]}``, what ``fit`` reports (as Keras): each
        epoch's loss (its ``History``), and after every step ``logs["loss"]`` as its
        callbacks see it, the mean loss of the epoch so far (batches weighted by their size).
    """
    import torch

    torch_loss = torch_loss or twin_loss(loss)
    torch_optimizer = twin_optimizer(_optimizer(optimizer), twin.parameters())
    like = next(twin.parameters())
    history: dict[str, list[float]] = {"loss": [], "batch_loss": []}
    was_training = twin.training
    twin.train()  # fit trains in training mode (Dropout drops, BatchNormalization moves)
    with exact_float32():
        for _ in range(epochs):
            total = count = 0.0
            for x_batch, y_batch in batches(np.asarray(x), np.asarray(y), batch_size, shuffle, rng):
                prediction = twin(torch.as_tensor(x_batch, dtype=like.dtype, device=like.device))
                value = torch_loss(prediction, _torch_target(y_batch, like))
                torch_optimizer.zero_grad()
                value.backward()
                torch_optimizer.step()
                total, count = total + value.item() * len(x_batch), count + len(x_batch)
                history["batch_loss"].append(total / count)
            history["loss"].append(total / count)
    twin.train(was_training)
    return history
