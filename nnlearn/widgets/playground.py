"""Chapter 08's explorer: a playground that trains a small network on a 2-D data set.

:func:`train_playground` is the pure function: it draws a 2-D data set from :mod:`nnlearn.data`,
builds an :class:`~nnlearn.models.Sequential` of ``depth`` hidden ``Dense(width, activation)``
layers and a softmax output, trains it with nnlearn's own ``compile``/``fit`` (Adam, sparse
categorical cross-entropy) and measures its accuracy on a fresh test sample of the same set.
:func:`plot_playground` draws the decision regions and the learning curve;
:func:`make_playground_widget` puts the controls and a Train button on top. ipywidgets is imported
only by the widget function.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nnlearn import data, layers, optim, seeding
from nnlearn.models import Sequential
from nnlearn.training import History, TrainingDiverged

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# name -> generator (n, noise, seed) -> (x (n, 2), y (n,)); each with a noise that keeps the
# classes mostly separable, so a good network can reach high accuracy.
DATASETS: dict[str, tuple[Callable[..., tuple[np.ndarray, np.ndarray]], float]] = {
    "moons": (data.make_moons, 0.15),
    "circles": (data.make_circles, 0.08),
    "xor": (data.make_xor, 0.05),
    "spirals": (data.make_spirals, 0.1),
}
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "silu", "elu", "leaky_relu", "linear")


@dataclass(frozen=True)
class PlaygroundResult:
    """A trained playground model with its data, learning history and test accuracy."""

    model: Sequential
    history: History
    accuracy: float  # on a fresh test sample of the data set, in [0, 1]
    x: np.ndarray  # training points (n, 2)
    y: np.ndarray  # their labels (n,)
    x_test: np.ndarray
    y_test: np.ndarray


def make_dataset(name: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of the 2-D data set ``name`` (a key of :data:`DATASETS`) with its noise."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {list(DATASETS)}")
    generate, noise = DATASETS[name]
    return generate(n, noise=noise, seed=seed)


def build_model(width: int, depth: int, activation: str, classes: int) -> Sequential:
    """``depth`` hidden ``Dense(width, activation)`` layers on 2 inputs, then a softmax layer."""
    hidden = [
        layers.Dense(width, activation=activation, input_shape=(2,) if i == 0 else None)
        for i in range(depth)
    ]
    first = {} if depth else {"input_shape": (2,)}
    return Sequential([*hidden, layers.Dense(classes, activation="softmax", **first)])


def train_playground(
    dataset: str = "moons",
    width: int = 16,
    depth: int = 2,
    activation: str = "tanh",
    lr: float = 0.03,
    epochs: int = 60,
    n: int = 200,
    batch_size: int = 32,
    seed: int = 0,
) -> PlaygroundResult:
    """Train a fresh network on ``n`` points of ``dataset`` and test it on ``n`` new ones.

    Args:
        dataset: a key of :data:`DATASETS`.
        width, depth: units per hidden layer and number of hidden layers (0: a linear model).
        activation: the hidden layers' activation (a name from ``nl.activations``).
        lr: Adam's learning rate.
        epochs, batch_size: passed to ``fit``.
        n: training points (the test sample has as many).
        seed: passed to :func:`nnlearn.seed_everything` (initial weights, shuffling) and to the
            data generator; the test sample uses ``seed + 1``.
    """
    x, y = make_dataset(dataset, n, seed)
    x_test, y_test = make_dataset(dataset, n, seed + 1)
    seeding.seed_everything(seed)
    model = build_model(width, depth, activation, classes=int(y.max()) + 1)
    model.compile(
        optimizer=optim.Adam(lr=lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    history = model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    accuracy = float(np.mean(model.predict(x_test).argmax(axis=1) == y_test))
    return PlaygroundResult(model, history, accuracy, x, y, x_test, y_test)


def count_parameters(model: Sequential) -> int:
    """The number of trainable numbers in ``model``."""
    return sum(p.data.size for p in model.parameters())


def plot_regions(ax: Axes, result: PlaygroundResult) -> Axes:
    """The model's decision regions over its training points, titled with the test accuracy."""
    from nnlearn.plotting import plot_decision_surface

    plot_decision_surface(ax, result.model.predict, result.x, result.y, resolution=80)
    ax.set_title(
        f"test accuracy {result.accuracy:.1%}, {count_parameters(result.model)} parameters"
    )
    ax.legend().remove()
    return ax


def plot_playground(axes: tuple[Axes, Axes], result: PlaygroundResult) -> tuple[Axes, Axes]:
    """Left: :func:`plot_regions`. Right: training loss and accuracy per epoch."""
    from nnlearn.plotting import plot_curves

    regions, curves = axes
    plot_regions(regions, result)
    history = result.history.history
    plot_curves(curves, {"loss": history["loss"], "accuracy": history["accuracy"]})
    curves.set_title("training")
    return regions, curves


def make_playground_widget(dataset: str = "moons", **settings: Any) -> Any:
    """The explorer: controls for :func:`train_playground`, a Train button and the figure.

    Args:
        dataset, settings: initial control values (keywords of :func:`train_playground`).

    Returns:
        An ``ipywidgets.HBox`` with attributes ``controls`` (dict ``dataset``, ``width``,
        ``depth``, ``activation``, ``lr``, ``epochs`` -> widget), ``train`` (the button; its
        ``click()`` trains with the current values), ``readout`` (HTML), ``image`` (PNG of the
        figure) and ``result`` (the latest :class:`PlaygroundResult`). It trains once on
        creation so the figure is never empty.
    """
    import ipywidgets as widgets

    from nnlearn.plotting import figure_to_png, new_figure

    initial = {"dataset": dataset, "width": 16, "depth": 2, "activation": "tanh", "lr": 0.03}
    initial |= {"epochs": 60, **settings}
    style = {"description_width": "initial"}
    controls = {
        "dataset": widgets.Dropdown(options=list(DATASETS), description="data set"),
        "width": widgets.IntSlider(min=1, max=64, description="width"),
        "depth": widgets.IntSlider(min=0, max=4, description="depth"),
        "activation": widgets.Dropdown(options=ACTIVATIONS, description="activation"),
        "lr": widgets.FloatLogSlider(
            base=10, min=-4, max=0, step=0.1, description="learning rate", style=style
        ),
        "epochs": widgets.IntSlider(min=1, max=300, description="epochs"),
    }
    for name, control in controls.items():
        control.value = initial[name]
    train = widgets.Button(description="Train", button_style="primary")
    readout = widgets.HTML()
    image = widgets.Image(format="png")
    box = widgets.HBox([widgets.VBox([*controls.values(), train, readout]), image])

    def update(_button: Any = None) -> None:
        train.disabled = True
        readout.value = "training ..."
        try:
            box.result = train_playground(**{k: c.value for k, c in controls.items()})
        except TrainingDiverged as error:  # too high a learning rate: say so, keep the figure
            readout.value = f"<b>training diverged</b>: {error}"
            return
        finally:
            train.disabled = False
        figure, axes = new_figure(1, 2, size=(9.0, 4.0))
        plot_playground(axes, box.result)
        image.value = figure_to_png(figure)
        history = box.result.history.history
        readout.value = (
            f"<b>test accuracy {box.result.accuracy:.1%}</b><br>"
            f"final training loss {history['loss'][-1]:.3f}<br>"
            f"{count_parameters(box.result.model)} parameters"
        )

    train.on_click(update)
    box.controls, box.train, box.readout, box.image = controls, train, readout, image
    update()
    return box
