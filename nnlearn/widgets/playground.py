"""Chapter 08's explorer: a playground, after TensorFlow Playground, that trains while you watch.

The training itself is the pure core in :mod:`nnlearn.widgets.playground_run` (its names are
importable from here too). This module draws a run and puts it behind controls.

**One frame per training step.** A run trains its ``epochs`` in :data:`STEPS` equal steps. Each
step's :class:`~nnlearn.widgets.playground_run.Snapshot` is drawn as one frame
(:func:`draw_frame`): the decision regions over the training points, the training and test loss
so far, and, for a small network, every hidden unit's activation over the plane. The frames sit
in a :class:`~nnlearn.widgets.layout.FrameStack` under an "epoch" slider.

**Live in JupyterLab, recorded in the book.** Moving the epoch slider to a step not trained yet
trains up to it, one step (and one frame) at a time, so the figure updates while training runs;
the ▶ button (an ``ipywidgets.Play``, linked to the slider in the browser) moves it a step a
second (slower when a step takes longer), and the kernel stays free between steps. Changing
any other control starts a new run at epoch 0, as TensorFlow Playground does; "new seed" draws
new data and new initial weights. The static book has no kernel: it shows the frames of the run
trained when the notebook was executed: the slider scrubs through them and ▶ plays them.

ipywidgets and matplotlib are imported inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from nnlearn.training import TrainingDiverged
from nnlearn.widgets.playground_run import ACTIVATIONS as ACTIVATIONS
from nnlearn.widgets.playground_run import DATASETS as DATASETS
from nnlearn.widgets.playground_run import OPTIMIZERS as OPTIMIZERS
from nnlearn.widgets.playground_run import PlaygroundRun as PlaygroundRun
from nnlearn.widgets.playground_run import Settings as Settings
from nnlearn.widgets.playground_run import Snapshot as Snapshot
from nnlearn.widgets.playground_run import count_parameters as count_parameters
from nnlearn.widgets.playground_run import layer_outputs
from nnlearn.widgets.playground_run import train_playground as train_playground

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

STEPS = 10  # a run's epochs are trained in this many steps: STEPS + 1 frames with epoch 0
MAX_UNIT_MAPS = 16  # hidden units drawn one by one; more would be too small to read
MAPS_PER_ROW = 8
MAP_GAP = 12  # white grid points above each unit map (room for the layer labels)
RESOLUTION = 48  # grid points per side for the regions and the unit maps
FIGURE_WIDTH, TOP_HEIGHT, MAP_ROW_HEIGHT = 6.4, 2.8, 0.85  # inches
DPI = 80  # a frame is 512 px wide
PLAY_MS = 1000  # ▶'s time between two steps, at least
PNG_COLOURS = 128  # a frame's PNG keeps this many colours: a third of the bytes (the book embeds
# every frame), with gradients that stay smooth enough


def plane_grid(run: PlaygroundRun) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The grid the pictures are computed on: points (RESOLUTION**2, 2) covering every point
    of the run, and its extent ``(x_min, x_max, y_min, y_max)`` for ``imshow``."""
    everything = np.concatenate([run.x, run.x_test])
    low, high = everything.min(axis=0) - 0.3, everything.max(axis=0) + 0.3
    xx, yy = np.meshgrid(*(np.linspace(low[i], high[i], RESOLUTION) for i in range(2)))
    return np.column_stack([xx.ravel(), yy.ravel()]), (low[0], high[0], low[1], high[1])


def region_colors(probabilities: np.ndarray) -> np.ndarray:
    """RGB (m, 3): each point in its most likely class's colour, faded to white as the model
    grows unsure (white where every class is equally likely), from probabilities (m, k)."""
    from matplotlib.colors import to_rgb

    from nnlearn.plotting import CLASS_COLORS

    k = probabilities.shape[1]
    colours = np.array([to_rgb(c) for c in CLASS_COLORS[:k]])
    confidence = (probabilities.max(axis=1) - 1 / k) / (1 - 1 / k)  # 0 unsure ... 1 sure
    return 1.0 - 0.6 * confidence[:, None] * (1.0 - colours[probabilities.argmax(axis=1)])


def plot_regions(ax: Axes, run: PlaygroundRun, snapshot: Snapshot | None = None) -> Axes:
    """The network's decision regions at ``snapshot`` (default: the latest) over the training
    points, titled with the epoch and the test accuracy."""
    from nnlearn.plotting import plot_points

    snapshot = snapshot or run.snapshots[-1]
    points, extent = plane_grid(run)
    probabilities = layer_outputs(run.network_at(snapshot), points)[-1]
    ax.imshow(
        region_colors(probabilities).reshape(RESOLUTION, RESOLUTION, 3),
        extent=extent,
        origin="lower",
        interpolation="bilinear",
        aspect="auto",
    )
    plot_points(ax, run.x, run.y, size=10)
    ax.set_xticks([])  # the coordinates say nothing here, and every label costs drawing time
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_title(f"epoch {snapshot.epoch}: test accuracy {snapshot.test_accuracy:.0%}")
    return ax


def plot_losses(ax: Axes, run: PlaygroundRun, epoch: int, last_epoch: int) -> Axes:
    """Training and test loss from epoch 0 to ``epoch``, on axes fixed to ``last_epoch`` and
    the run's largest loss so far, so that frames of one run line up."""
    for key, label in (("loss", "training"), ("test_loss", "test")):
        ax.plot(np.arange(epoch + 1), run.history[key][: epoch + 1], label=label)
    largest = max(max(run.history["loss"]), max(run.history["test_loss"]))
    ax.set_xlim(0, last_epoch)
    ax.set_ylim(0, 1.05 * largest if math.isfinite(largest) else None)
    ax.set_xlabel("epoch")
    ax.set_title("loss")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    return ax


def unit_count(settings: Settings) -> int:
    """Hidden units in the network ``settings`` describe."""
    return settings.width * settings.depth


def unit_mosaic(hidden: list[np.ndarray]) -> tuple[np.ndarray, list[int]]:
    """Every hidden unit's activation over the plane as one RGB picture: a tile per unit (red
    above 0, blue below, white at 0, each on its own scale), a row of at most MAPS_PER_ROW
    tiles per layer (a wider layer takes several rows).

    Args:
        hidden: each hidden layer's activations at the grid points (RESOLUTION**2, width).

    Returns:
        The picture (rows * TILE, MAPS_PER_ROW * TILE, 3), TILE = MAP_GAP + RESOLUTION (a white
        gap above each tile), and the row where each layer starts.
    """
    from matplotlib import colormaps

    tile = MAP_GAP + RESOLUTION
    starts = np.cumsum([0] + [math.ceil(a.shape[1] / MAPS_PER_ROW) for a in hidden])
    picture = np.ones((starts[-1] * tile, MAPS_PER_ROW * tile, 3))
    for start, activations in zip(starts[:-1], hidden, strict=True):
        scales = np.maximum(np.abs(activations).max(axis=0), 1e-9)  # (width,)
        colours = colormaps["RdBu_r"](0.5 + 0.5 * activations / scales)[..., :3]  # (m, width, 3)
        for unit in range(activations.shape[1]):
            top = (start + unit // MAPS_PER_ROW) * tile + MAP_GAP
            left = (unit % MAPS_PER_ROW) * tile
            # The grid's first row is the plane's bottom: flip it, as imshow's origin="lower".
            image = colours[:, unit].reshape(RESOLUTION, RESOLUTION, 3)[::-1]
            picture[top : top + RESOLUTION, left : left + RESOLUTION] = image
    return picture, list(starts[:-1])


def plot_unit_maps(ax: Axes, hidden: list[np.ndarray]) -> Axes:
    """:func:`unit_mosaic` in one Axes (an Axes per unit costs a second a frame), each layer's
    first row labelled "layer l" (its units from the left: 1, 2, ...)."""
    picture, starts = unit_mosaic(hidden)
    ax.imshow(picture, interpolation="bilinear")
    for layer, start in enumerate(starts, start=1):
        ax.text(0, start * (MAP_GAP + RESOLUTION) + MAP_GAP - 1, f"layer {layer}", fontsize=8)
    ax.set_axis_off()
    return ax


def draw_frame(run: PlaygroundRun, snapshot: Snapshot, last_epoch: int) -> Figure:
    """One frame: regions and losses at ``snapshot``, and below them the hidden units' maps
    when the network has at most MAX_UNIT_MAPS of them."""
    from matplotlib.figure import Figure

    width = run.settings.width
    show_maps = 0 < unit_count(run.settings) <= MAX_UNIT_MAPS
    map_rows = run.settings.depth * math.ceil(width / MAPS_PER_ROW) if show_maps else 0
    height = TOP_HEIGHT + map_rows * MAP_ROW_HEIGHT
    figure = Figure(figsize=(FIGURE_WIDTH, height), dpi=DPI)
    # Fixed margins in inches (a constrained layout costs as much as the drawing itself).
    top = 1 - 0.3 / height
    bottom = 1 - (TOP_HEIGHT - 0.45) / height
    regions, losses = figure.subplots(1, 2, gridspec_kw={"wspace": 0.3})
    figure.subplots_adjust(left=0.02, right=0.98, top=top, bottom=bottom)
    plot_regions(regions, run, snapshot)
    plot_losses(losses, run, snapshot.epoch, last_epoch)
    if show_maps:
        points, _ = plane_grid(run)
        hidden = layer_outputs(run.network_at(snapshot), points)[:-1]
        maps = figure.add_axes((0.01, 0.01, 0.98, (map_rows * MAP_ROW_HEIGHT - 0.1) / height))
        plot_unit_maps(maps, hidden)
    return figure


def frame_png(figure: Figure) -> bytes:
    """The figure as a PNG of at most PNG_COLOURS colours."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    picture = Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3])
    buffer = io.BytesIO()
    picture.quantize(PNG_COLOURS).save(buffer, format="png")
    return buffer.getvalue()


def frame_readout(run: PlaygroundRun, snapshot: Snapshot) -> str:
    """The numbers of one frame, as HTML, and why the unit maps are missing if they are."""
    units = unit_count(run.settings)
    maps = (
        f"<br>hidden-unit maps: shown for at most {MAX_UNIT_MAPS} units (this network has "
        f"{units}; make it narrower or shallower)"
        if units > MAX_UNIT_MAPS
        else ""
    )
    return (
        f"<b>epoch {snapshot.epoch}</b>: test accuracy <b>{snapshot.test_accuracy:.1%}</b>, "
        f"loss training {snapshot.loss:.3f}, test {snapshot.test_loss:.3f}; "
        f"{count_parameters(run.model)} parameters{maps}"
    )


def numbers_slider(description: str, options: list[float], value: float, label: str = "g") -> Any:
    """A ``SelectionSlider`` over the numbers ``options`` and ``value``, labelled by ``label``.

    Not a FloatSlider: a browser rounds a float slider's value to its step (0.03 on a log slider
    of step 0.1 comes back as 0.0316) and sends it to the kernel, which would start a new run.
    """
    import ipywidgets as widgets

    numbers = sorted({*options, value})
    return widgets.SelectionSlider(
        options=[(format(x, label), x) for x in numbers], value=value, description=description
    )


def playground_controls(settings: Settings, epochs: int) -> dict[str, Any]:
    """A widget for each of ``settings``'s fields (but ``n`` and ``seed``) and for ``epochs``,
    at those values, in the order they are shown."""
    import ipywidgets as widgets

    s = settings
    noise = DATASETS[s.dataset][1] if s.noise is None else s.noise
    controls = {
        "dataset": widgets.Dropdown(options=list(DATASETS), description="data set"),
        "noise": numbers_slider("noise", [i / 20 for i in range(11)], noise),
        "ratio": numbers_slider("training data", [i / 10 for i in range(1, 10)], s.ratio, ".0%"),
        "width": widgets.IntSlider(min=1, max=32, description="width"),
        "depth": widgets.IntSlider(min=0, max=4, description="depth"),
        "activation": widgets.Dropdown(options=ACTIVATIONS, description="activation"),
        "optimizer": widgets.Dropdown(options=list(OPTIMIZERS), description="optimizer"),
        # TensorFlow Playground's learning rates and L2 rates
        "lr": numbers_slider(
            "learning rate", [1e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1, 3, 10], s.lr
        ),
        "l2": numbers_slider("L2 λ", [0.0, 1e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1], s.l2),
        "batch_size": widgets.IntSlider(min=1, max=64, description="batch size"),
        "epochs": widgets.IntSlider(min=STEPS, max=20 * STEPS, step=STEPS, description="epochs"),
    }
    for name in ("dataset", "width", "depth", "activation", "optimizer", "batch_size"):
        controls[name].value = getattr(s, name)
    controls["epochs"].value = epochs
    return controls


def epoch_options(epochs: int) -> list[tuple[str, int]]:
    """The epoch slider's options: the epoch after each step as the label, the step as value."""
    return [(str(step * epochs // STEPS), step) for step in range(STEPS + 1)]


class _Explorer:
    """The widget's state and its callbacks: the run on show and the frames drawn of it."""

    def __init__(self, epochs: int, first: Settings) -> None:
        import ipywidgets as widgets

        from nnlearn.widgets.layout import FrameStack, explorer_box, fill_width, kernel_note

        self.n, self.seed = first.n, first.seed
        self.controls = playground_controls(first, epochs)
        self.slider = widgets.SelectionSlider(options=epoch_options(epochs), description="epoch")
        self.slider.index = STEPS  # the book opens on the trained network
        self.play = widgets.Play(min=0, max=STEPS, value=STEPS, interval=PLAY_MS, show_repeat=False)
        self.new_seed = widgets.Button(description="new seed", tooltip="new data, new weights")
        self.run = PlaygroundRun(first)
        with contextlib.suppress(TrainingDiverged):  # the frames left say so (see draw)
            for _ in range(STEPS):  # the whole first run: every frame shows something
                self.run.train(epochs // STEPS)
        self.pictures: dict[int, bytes] = {}  # the run's frames drawn so far, by step
        self.frames = FrameStack(self.slider, self.draw, width_px=round(FIGURE_WIDTH * DPI))
        # ▶ moves the slider in the browser, in the book too. One way: a slider moved by hand
        # leaves ▶ where it was, and ▶ replays the run from its start.
        self.play_link = widgets.jsdlink((self.play, "value"), (self.slider, "index"))
        self.slider.observe(self.advance, names="index")
        for control in self.controls.values():
            control.observe(self.restart, names="value")
        self.new_seed.on_click(self.reseed)
        for control in [self.slider, *self.controls.values()]:
            fill_width(control)
        others = [control.description for control in self.controls.values()]
        self.box = explorer_box(
            [
                widgets.HBox([self.play, self.new_seed]),
                self.slider,
                *self.controls.values(),
                kernel_note("epoch (and ▶)", [*others, "new seed"]),
            ],
            self.frames.stack,
        )
        self.box.controls = {"epoch": self.slider, **self.controls}
        self.box.play, self.box.play_link = self.play, self.play_link
        self.box.new_seed, self.box.frames = self.new_seed, self.frames
        self.show()

    def draw(self, step: int) -> tuple[bytes, str]:
        """The frame of ``step`` (FrameStack's ``draw``); until it is trained, the latest."""
        run = self.run
        if step >= len(run.snapshots):
            # What a learner sees between a step of ▶ and its frame coming from the kernel.
            why = (
                f"epoch {self.slider.options[step][0]}: <i>not trained yet</i> (▶ or the epoch "
                "slider trains every step it reaches, while the notebook runs)"
            )
            if run.diverged:
                why = f"<b>training diverged</b> after epoch {run.epoch}: {run.diverged}"
            return self.draw(len(run.snapshots) - 1)[0], why
        if step not in self.pictures:
            figure = draw_frame(run, run.snapshots[step], self.controls["epochs"].value)
            self.pictures[step] = frame_png(figure)
        return self.pictures[step], frame_readout(run, run.snapshots[step])

    def redraw(self, steps: Any) -> None:
        for step in steps:
            self.frames.images[step].value, self.frames.readouts[step].value = self.draw(step)

    def show(self) -> None:
        """The box's attributes for the frame on show and the run."""
        index = self.slider.index
        self.box.image, self.box.readout = self.frames.images[index], self.frames.readouts[index]
        self.box.result, self.box.seed = self.run, self.seed

    def advance(self, _change: Any = None) -> None:
        """Train up to the step on show, one step and one frame at a time."""
        run = self.run
        while len(run.snapshots) <= self.slider.index and not run.diverged:
            try:
                start = time.perf_counter()
                run.train(self.controls["epochs"].value // STEPS)
                self.redraw([len(run.snapshots) - 1])
                # ▶ steps no faster than the kernel trains (a slow machine, small batches).
                seconds = time.perf_counter() - start
                self.play.interval = max(PLAY_MS, round(1500 * seconds))
            except TrainingDiverged:  # the run keeps the message; the frames left show it
                self.redraw(range(len(run.snapshots), STEPS + 1))
        self.show()

    def restart(self, _change: Any = None) -> None:
        """A new run at epoch 0 with the controls' values: ▶ trains it."""
        values = {name: control.value for name, control in self.controls.items()}
        epochs = values.pop("epochs")
        self.run = PlaygroundRun(Settings(**values, n=self.n, seed=self.seed))
        self.pictures.clear()
        self.play.value = 0  # ▶ goes on from the new run's start
        self.slider.index = 0  # first: the new options then find nothing to train
        self.slider.options = epoch_options(epochs)
        self.redraw(range(STEPS + 1))
        self.show()

    def reseed(self, _button: Any = None) -> None:
        self.seed += 1
        self.restart()


def make_playground_widget(epochs: int = 50, **settings: Any) -> Any:
    """The explorer (see the module's docstring): the settings' controls, ▶, "new seed" and the
    frames of the run.

    Args:
        epochs: the run's length, a multiple of STEPS.
        settings: the controls' first values, keywords of
            :class:`~nnlearn.widgets.playground_run.Settings`.

    Returns:
        An :func:`~nnlearn.widgets.layout.explorer_box` with attributes ``controls`` (dict name
        -> widget: ``epoch``, the frame slider, whose value is the step 0..STEPS, then one per
        field of Settings but ``n`` and ``seed``, and ``epochs``), ``play`` (▶, linked to the
        epoch slider in the browser), ``new_seed`` (a button) and ``seed``, ``frames`` (the
        FrameStack), ``result`` (the :class:`PlaygroundRun` on show), and ``image`` and
        ``readout`` of the frame on show. Its first run is trained through, so that every
        frame shows something, in the book too.
    """
    if epochs % STEPS or epochs <= 0:
        raise ValueError(f"epochs must be a positive multiple of {STEPS} (one frame a step)")
    return _Explorer(epochs, Settings(**settings)).box
