r"""The training recipe (chapter 11): checks to run before any hyperparameter search.

A search only pays once the network trains at all. Each check here catches a family of bugs,
cheaply, before they cost a day of searching:

1. **The initial loss.** A classifier that has learned nothing should spread its probability
   evenly over the :math:`C` classes, so its softmax cross-entropy starts at

   .. math:: L_0 = -\log \tfrac{1}{C} = \log C \qquad (\log 10 \approx 2.303).

   Much more means confident, wrong outputs at the start (inputs not standardized, a last
   layer initialized too large): :func:`check_initial_loss`.
2. **Overfit one batch.** A network with enough units must learn a handful of examples by
   heart, loss near 0. If it cannot, something blocks learning (weights that cannot break
   their symmetry, frozen layers, a learning rate far off): :func:`overfit_one_batch`.
3. **The learning-rate range test** (Leslie Smith, 2015/2017). One short run whose learning rate
   grows exponentially, :math:`\eta_t = \eta_0 (\eta_1/\eta_0)^{t/(T-1)}`, one step each, stopped
   when the loss diverges: the loss falls once :math:`\eta` is large enough to matter and blows
   up once it is too large. A good rate lies a bit below the bottom: :func:`lr_range_test`.
4. **Activations, gradients and updates per layer** (Karpathy's "makemore" diagnostics).
   Histograms of every hidden layer's outputs and of the loss's gradient with respect to them
   show saturated (tanh at ±1) or dead (ReLU always 0) units and gradients that vanish or
   explode with depth: :func:`layer_statistics`. The **update:data ratio** of a weight matrix
   :math:`W`, measured after every step,

   .. math:: r_t = \frac{\lVert W_{t} - W_{t-1} \rVert_F}{\lVert W_{t-1} \rVert_F},

   says how fast it learns; about :math:`10^{-3}` is healthy, :math:`10^{-1}` is a learning rate
   far too large, :math:`10^{-5}` one far too small: :class:`UpdateRatio`, a ``fit`` callback.

The plots import matplotlib when they are called.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nnlearn import data
from nnlearn.tensor import Tensor, no_grad
from nnlearn.training import Callback, TrainingDiverged


class RecipeCheckFailed(AssertionError):
    """A step of the training recipe found a problem; the message says what to look at."""


# --- 1. the initial loss ---------------------------------------------------------------------
def expected_initial_loss(num_classes: int) -> float:
    """``log(C)``: the cross-entropy of the uniform prediction ``1/C`` for every class."""
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
    return math.log(num_classes)


def initial_loss(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """The compiled loss of ``model`` on ``(x, y)`` as it is now (inference mode), without the
    weights' penalties: the data term the recipe compares with :func:`expected_initial_loss`."""
    with no_grad():
        return float(model.loss(y, model(x, training=False)).data)


def check_initial_loss(model: Any, x: np.ndarray, y: np.ndarray, rtol: float = 0.15) -> float:
    """:func:`initial_loss` of an untrained classifier; raises :class:`RecipeCheckFailed` unless
    it is within ``rtol`` (relative) of ``log(C)``, ``C`` the model's outputs. Returns it."""
    classes = model.output_shape[-1] if model.built else model(x[:1]).shape[-1]
    expected, loss = expected_initial_loss(classes), initial_loss(model, x, y)
    if abs(loss - expected) > rtol * expected:
        raise RecipeCheckFailed(
            f"the initial loss is {loss:.3f}, but a classifier of {classes} classes that has "
            f"learned nothing should give log({classes}) = {expected:.3f}. The outputs are "
            "too confident (or too uniform) before training: check that the inputs are "
            "standardized and that the last layer starts with small weights"
        )
    return loss


# --- 2. overfit one batch --------------------------------------------------------------------
def overfit_one_batch(model: Any, x: np.ndarray, y: np.ndarray, steps: int = 100) -> np.ndarray:
    """Train the compiled ``model`` for ``steps`` steps on the one batch ``(x, y)`` (``fit``
    with ``batch_size=len(x)``); returns the loss before each step, shape ``(steps,)``.

    A healthy network drives it towards 0 (it memorises the batch). The model is trained: give
    a fresh one.
    """
    history = model.fit(x, y, batch_size=len(x), epochs=steps, shuffle=False, verbose=0)
    return np.asarray(history.history["loss"])


# --- 3. the learning-rate range test ---------------------------------------------------------
@dataclass
class LRRangeTest:
    """The result of :func:`lr_range_test`.

    Attributes:
        lrs: the learning rate of each step taken, ``(steps,)``.
        losses: the training loss of each step's batch, before its update, ``(steps,)``.
        smoothed: ``losses`` smoothed by a bias-corrected exponential moving average.
        diverged: whether the test stopped because the loss diverged.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    diverged: bool

    @property
    def best_lr(self) -> float:
        """The learning rate where the smoothed loss is lowest."""
        return float(self.lrs[np.argmin(self.smoothed)])

    @property
    def suggestion(self) -> float:
        """A tenth of :attr:`best_lr`: a rule of thumb, a rate where the loss still falls fast
        but that is safely below the edge of divergence."""
        return self.best_lr / 10

    def plot(self, ax: Any = None) -> Any:
        """Loss against learning rate (log scale), the suggestion marked; returns the axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            ax = plt.subplots(figsize=(7, 3.5), layout="constrained")[1]
        ax.plot(self.lrs, self.losses, ".", alpha=0.3, label="loss of each step")
        ax.plot(self.lrs, self.smoothed, "-", label="smoothed")
        ax.axvline(self.suggestion, color="C2", ls="--", label=f"suggestion {self.suggestion:.1e}")
        ax.set(xscale="log", xlabel="learning rate", ylabel="training loss")
        ax.set_ylim(top=min(np.nanmax(self.smoothed), 3 * self.smoothed[0]) * 1.1)
        ax.grid(alpha=0.3)
        ax.legend()
        return ax


def smooth(values: Sequence[float], beta: float = 0.9) -> np.ndarray:
    r"""Bias-corrected exponential moving average (as Adam corrects its moments):
    :math:`m_t = \beta m_{t-1} + (1-\beta) v_t`, reported as :math:`m_t / (1 - \beta^t)`."""
    out, mean = np.empty(len(values)), 0.0
    for t, value in enumerate(values, start=1):
        mean = beta * mean + (1 - beta) * value
        out[t - 1] = mean / (1 - beta**t)
    return out


def lr_range_test(
    model_factory: Callable[[], Any],
    x: np.ndarray,
    y: np.ndarray,
    lrs: Sequence[float] | None = None,
    batch_size: int = 32,
    divergence: float = 4.0,
    beta: float = 0.9,
    seed: int = 0,
) -> LRRangeTest:
    """Leslie Smith's learning-rate range test.

    One step per learning rate in ``lrs`` (default ``np.geomspace(1e-5, 10, 100)``, growing
    exponentially), each on the next mini-batch of ``(x, y)`` (shuffled with ``seed``, a new
    pass when one ends), with the optimizer's ``lr`` set to it first. Stops early when the loss
    diverges: it is nan or infinite, or its smoothed value exceeds ``divergence`` times the
    lowest smoothed value so far.

    Args:
        model_factory: returns a fresh compiled model (its optimizer's ``lr`` is overwritten).
        x, y: training data.
        lrs: the learning rates, one step each.
        batch_size: examples per step.
        divergence: the factor above the best smoothed loss that counts as diverged.
        beta: the smoothing of :func:`smooth`.
        seed: the order of the batches.
    """
    lrs = np.geomspace(1e-5, 10, 100) if lrs is None else np.asarray(lrs, dtype=float)
    model = model_factory()
    generator = np.random.default_rng(seed)
    stream = _endless_batches(x, y, batch_size, generator)
    losses: list[float] = []
    diverged = False
    for lr in lrs:
        x_batch, y_batch = next(stream)
        model.optimizer.lr = float(lr)
        try:
            fitted = model.fit(x_batch, y_batch, batch_size=len(x_batch), shuffle=False, verbose=0)
        except TrainingDiverged:
            diverged = True
            break
        losses.append(fitted.history["loss"][0])
        smoothed = smooth(losses, beta)
        if smoothed[-1] > divergence * smoothed.min():
            diverged = True
            break
    taken = len(losses)
    return LRRangeTest(lrs[:taken], np.asarray(losses), smooth(losses, beta), diverged)


def _endless_batches(x: np.ndarray, y: np.ndarray, batch_size: int, generator):
    """Mini-batches of ``(x, y)``, pass after pass, each pass in a new random order."""
    while True:
        yield from data.batches(np.asarray(x), np.asarray(y), batch_size, True, generator)


# --- 4. activations, gradients and updates per layer -----------------------------------------
@dataclass
class LayerStatistics:
    """One hidden layer's outputs on a batch and the loss's gradient with respect to them.

    Attributes:
        name: the layer and its position, e.g. ``"0: Dense(64, activation='relu')"``.
        activations: the layer's outputs, ``(batch, units)``.
        gradients: ``dL/d(outputs)``, the same shape.
    """

    name: str
    activations: np.ndarray
    gradients: np.ndarray

    def summary(self, saturation: float = 0.97) -> dict[str, float]:
        """Mean and std of the outputs, the fraction exactly 0 (dead ReLU), the fraction with
        ``|a| > saturation`` (a saturated tanh), and the std of the gradients."""
        a = self.activations
        return {
            "mean": float(a.mean()),
            "std": float(a.std()),
            "zero": float(np.mean(a == 0)),
            "saturated": float(np.mean(np.abs(a) > saturation)),
            "gradient std": float(self.gradients.std()),
        }

    def histogram(self, kind: str = "activations", bins: int = 50, value_range=None):
        """``(counts, edges)`` of ``np.histogram`` over the ``kind`` values (``"activations"``
        or ``"gradients"``), every value of the batch counted once."""
        return np.histogram(getattr(self, kind), bins=bins, range=value_range)


def layer_statistics(model: Any, x: np.ndarray, y: np.ndarray) -> list[LayerStatistics]:
    """Run the compiled ``model`` on ``(x, y)`` in training mode, layer by layer, and
    backpropagate the loss; every layer but the last (the hidden layers) keeps its outputs and
    their gradient (``retain_grad``). The model's weights are unchanged; their ``grad`` is left
    empty again."""
    outputs: list[Tensor] = []
    h = x
    for layer in model.layers:
        h = layer(h, training=True)
        h.retain_grad()
        outputs.append(h)
    model.zero_grad()
    model.loss(y, h).backward()
    model.zero_grad()
    return [
        LayerStatistics(f"{i}: {layer!r}", out.data, out.grad)
        for i, (layer, out) in enumerate(zip(model.layers[:-1], outputs, strict=False))
    ]


def plot_histograms(stats: Sequence[LayerStatistics], kind: str = "activations", ax=None):
    """One histogram line per layer (``kind``: ``"activations"`` or ``"gradients"``), labelled
    with its position and the activations' std and share of zero or saturated values, or the
    gradients' std; returns the axes."""
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.subplots(figsize=(7, 3.5), layout="constrained")[1]
    for layer in stats:
        counts, edges = layer.histogram(kind)
        s = layer.summary()
        position = layer.name.split(":")[0]  # the legend names the layer by its position
        if kind == "activations":
            label = f"layer {position}: std {s['std']:.2f}, "
            label += f"zero {s['zero']:.0%}, saturated {s['saturated']:.0%}"
        else:
            label = f"layer {position}: std {s['gradient std']:.1e}"
        ax.plot((edges[:-1] + edges[1:]) / 2, counts, label=label)
    ax.set(xlabel=kind, ylabel="count", title=f"{kind} of each hidden layer")
    ax.legend(fontsize="small")
    return ax


class UpdateRatio(Callback):
    """A ``fit`` callback: after every training step, each weight matrix's update:data ratio
    ``||W_after - W_before|| / ||W_before||`` (Frobenius norms).

    Biases are left out: they start at 0, where the ratio is undefined (a matrix that is all
    zeros before a step gets ``nan`` for it).

    Attributes:
        ratios: ``{parameter name: [ratio after step 1, step 2, ...]}``, names from
            ``model.named_parameters()``, e.g. ``"layers.0.kernel"``.
    """

    def __init__(self) -> None:
        self.ratios: dict[str, list[float]] = {}
        self._before: dict[str, np.ndarray] = {}

    def _matrices(self) -> dict[str, Any]:
        return {n: p for n, p in self.model.named_parameters() if p.ndim >= 2 and p.requires_grad}

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._before = {name: p.data.copy() for name, p in self._matrices().items()}

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        for name, p in self._matrices().items():
            before = self._before[name]
            size = np.linalg.norm(before)
            ratio = np.linalg.norm(p.data - before) / size if size > 0 else math.nan
            self.ratios.setdefault(name, []).append(float(ratio))


def plot_update_ratios(ratios: dict[str, Sequence[float]], ax=None):
    """``log10`` of each matrix's update:data ratio against the step, with ``1e-3`` marked."""
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.subplots(figsize=(7, 3.5), layout="constrained")[1]
    for name, values in ratios.items():
        ax.plot(np.log10(values), label=name)
    ax.axhline(-3, color="k", ls="--", lw=1, label="1e-3, a healthy rate")
    ax.set(xlabel="step", ylabel="log10 update:data ratio")
    ax.legend(fontsize=7)
    return ax
