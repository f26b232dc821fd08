"""Chapter 08's playground, its pure core: the data, the network, and training in steps.

TensorFlow Playground trains while you watch. Here a :class:`PlaygroundRun` holds one network and
its data and trains it a few epochs at a time with nnlearn's own ``compile``/``fit`` (Adam or SGD,
sparse categorical cross-entropy). After every call to :meth:`PlaygroundRun.train` it keeps a
:class:`Snapshot` of the weights, the losses and the test accuracy, which the widget
(:mod:`nnlearn.widgets.playground`) draws as one frame. :func:`train_playground` is a whole run
in one call. Nothing here imports matplotlib or ipywidgets.

**Its own random numbers.** ``fit`` shuffles with nnlearn's generator (:func:`nnlearn.rng`), and
``Dense`` draws its initial weights from it. A run keeps its own generator and lends it to nnlearn
while it builds or trains (:func:`nnlearn.seeding.drawing_from`), so training in steps draws
exactly the batches one long ``fit`` draws, whatever else used nnlearn's generator in between,
and a run never moves the learner's own random stream.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nnlearn import data, layers, optim, seeding
from nnlearn.autograd import no_grad
from nnlearn.models import Sequential
from nnlearn.training import TrainingDiverged

# name -> (generator (n, noise, seed) -> (x (n, 2), y (n,)), its default noise: one that keeps
# the classes mostly separable, so a good network reaches a high accuracy). Each generator's
# noise is its own: the standard deviation of a point's jitter (moons, circles, xor) or of the
# angle along the arm (spirals).
DATASETS: dict[str, tuple[Callable[..., tuple[np.ndarray, np.ndarray]], float]] = {
    "moons": (data.make_moons, 0.15),
    "circles": (data.make_circles, 0.08),
    "xor": (data.make_xor, 0.05),
    "spirals": (data.make_spirals, 0.1),
}
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "silu", "elu", "leaky_relu", "linear")
# The optimizers on offer: torch.optim's classes as nnlearn mirrors them (torch's defaults).
# TensorFlow Playground trains with plain SGD, which a large learning rate makes diverge.
OPTIMIZERS: dict[str, type[optim.Optimizer]] = {"adam": optim.Adam, "sgd": optim.SGD}


@dataclass(frozen=True)
class Settings:
    r"""Everything that defines a run, with the playground's defaults.

    Attributes:
        dataset: a key of :data:`DATASETS`.
        noise: the generator's ``noise`` (see :data:`DATASETS`); None: the data set's default.
        ratio: the fraction of the ``n`` points used for training (TensorFlow Playground's
            "ratio of training to test data"); the rest is the test set.
        n: points drawn in all.
        width, depth: units per hidden layer and number of hidden layers (0: a linear model).
        activation: the hidden layers' activation (a name from ``nl.activations``).
        optimizer: a key of :data:`OPTIMIZERS`.
        lr: its learning rate :math:`\eta`.
        l2: :math:`\lambda`, the optimizer's ``weight_decay``: torch's L2 penalty, which adds
            :math:`\lambda\theta` to the gradient of *every* parameter (kernels and biases)
            before the optimizer's step; the gradient of :math:`\frac{\lambda}{2}\sum\theta^2`.
            Keras's ``kernel_regularizer=l2(λ)`` adds :math:`\lambda\sum w^2` to the loss
            instead (gradient :math:`2\lambda w`, kernels only): on a kernel, Keras's ``l2(λ)``
            is ``l2=2λ`` here. The losses the playground reports are the cross-entropy alone,
            without the penalty.
        batch_size: examples per step of ``fit``.
        seed: the data (drawing and the train/test split) and the run's generator (initial
            weights, shuffles).
    """

    dataset: str = "moons"
    noise: float | None = None
    ratio: float = 0.5
    n: int = 400
    width: int = 4
    depth: int = 2
    activation: str = "tanh"
    optimizer: str = "adam"
    lr: float = 0.03
    l2: float = 0.0
    batch_size: int = 10
    seed: int = 0


@dataclass(frozen=True)
class Snapshot:
    """The run after ``epoch`` epochs: its weights (``get_weights()`` order) and how it does.

    ``loss`` is the training loss as ``fit`` reports it (the mean over the epoch's batches; at
    epoch 0, over the training set before any step), ``test_loss`` and ``test_accuracy`` are
    measured on the test set after the epoch.
    """

    epoch: int
    weights: list[np.ndarray]
    loss: float
    test_loss: float
    test_accuracy: float


def make_dataset(
    name: str, n: int, seed: int, noise: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of the 2-D data set ``name`` (a key of :data:`DATASETS`): x (n, 2), y (n,)."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {list(DATASETS)}")
    generate, default_noise = DATASETS[name]
    return generate(n, noise=default_noise if noise is None else noise, seed=seed)


def split_dataset(settings: Settings) -> tuple[np.ndarray, ...]:
    """``(x, y, x_test, y_test)``: the ``n`` points in a random order (``seed``), the first
    ``round(ratio * n)`` for training and the rest for testing."""
    s = settings
    if not 0 < s.ratio < 1:
        raise ValueError(f"ratio must be between 0 and 1 (the training fraction), not {s.ratio}")
    x, y = make_dataset(s.dataset, s.n, s.seed, s.noise)
    order = np.random.default_rng(s.seed).permutation(s.n)  # spirals come sorted by class
    train, test = order[: round(s.ratio * s.n)], order[round(s.ratio * s.n) :]
    return x[train], y[train], x[test], y[test]


def build_model(width: int, depth: int, activation: str, classes: int) -> Sequential:
    """``depth`` hidden ``Dense(width, activation)`` layers on 2 inputs, then a softmax layer."""
    hidden = [
        layers.Dense(width, activation=activation, input_shape=(2,) if i == 0 else None)
        for i in range(depth)
    ]
    first = {} if depth else {"input_shape": (2,)}
    return Sequential([*hidden, layers.Dense(classes, activation="softmax", **first)])


def count_parameters(model: Sequential) -> int:
    """The number of trainable numbers in ``model``."""
    return sum(p.data.size for p in model.parameters())


class PlaygroundRun:
    """One network, its data and its training so far (see the module's docstring).

    Attributes:
        settings: the :class:`Settings` it was made with.
        x, y, x_test, y_test: training points (m, 2), labels (m,); test points and labels.
        model: the compiled network.
        history: ``{"loss": [...], "test_loss": [...]}``, one value per epoch from epoch 0.
        snapshots: one :class:`Snapshot` at epoch 0 and one after every :meth:`train`.
        diverged: None, or the message of the ``TrainingDiverged`` that stopped training.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        s = self.settings = settings or Settings()
        self.x, self.y, self.x_test, self.y_test = split_dataset(s)
        self.generator = np.random.default_rng(s.seed)
        with seeding.drawing_from(self.generator):
            self.model = build_model(s.width, s.depth, s.activation, int(self.y.max()) + 1)
        self.model.compile(
            optimizer=OPTIMIZERS[s.optimizer](lr=s.lr, weight_decay=s.l2),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        loss = self.model.evaluate(self.x, self.y)[0]
        test_loss, accuracy = self.model.evaluate(self.x_test, self.y_test)
        self.history = {"loss": [loss], "test_loss": [test_loss]}
        self.snapshots = [Snapshot(0, self.model.get_weights(), loss, test_loss, accuracy)]
        self.diverged: str | None = None

    @property
    def epoch(self) -> int:
        """Epochs trained so far."""
        return self.snapshots[-1].epoch

    @property
    def accuracy(self) -> float:
        """The latest snapshot's test accuracy, in [0, 1]."""
        return self.snapshots[-1].test_accuracy

    def train(self, epochs: int) -> Snapshot:
        """Train ``epochs`` more epochs, keep a snapshot and return it.

        Raises:
            TrainingDiverged: the loss became nan or infinite (too high a learning rate); the
                run keeps the message in ``diverged`` and refuses to train further.
        """
        if self.diverged:
            raise TrainingDiverged(self.diverged)
        try:
            with seeding.drawing_from(self.generator), np.errstate(all="ignore"):
                fitted = self.model.fit(
                    self.x,
                    self.y,
                    epochs=epochs,
                    batch_size=self.settings.batch_size,
                    validation_data=(self.x_test, self.y_test),
                    verbose=0,
                ).history
        except TrainingDiverged as error:
            self.diverged = str(error)
            raise
        self.history["loss"] += fitted["loss"]
        self.history["test_loss"] += fitted["val_loss"]
        snapshot = Snapshot(
            self.epoch + epochs,
            self.model.get_weights(),
            fitted["loss"][-1],
            fitted["val_loss"][-1],
            fitted["val_accuracy"][-1],
        )
        self.snapshots.append(snapshot)
        return snapshot

    def network_at(self, snapshot: Snapshot) -> Sequential:
        """A copy of the network holding the weights it had at ``snapshot``."""
        model = copy.deepcopy(self.model)
        model.set_weights(snapshot.weights)
        return model


def layer_outputs(model: Sequential, points: np.ndarray) -> list[np.ndarray]:
    """Every layer's output at ``points`` (m, 2): each hidden layer's activations (m, width),
    then the last layer's class probabilities (m, classes)."""
    outputs, h = [], points
    with no_grad():
        for layer in model.layers:
            h = layer(h)
            outputs.append(h.data)
    return outputs


def train_playground(epochs: int = 50, steps: int = 1, **settings: object) -> PlaygroundRun:
    """A fresh :class:`PlaygroundRun` trained ``epochs`` epochs in ``steps`` equal steps.

    Args:
        epochs: a multiple of ``steps``.
        steps: calls of :meth:`PlaygroundRun.train` (one snapshot after each).
        settings: keywords of :class:`Settings`.
    """
    if epochs % steps:
        raise ValueError(f"epochs ({epochs}) must be a multiple of steps ({steps})")
    run = PlaygroundRun(Settings(**settings))
    for _ in range(steps):
        run.train(epochs // steps)
    return run
