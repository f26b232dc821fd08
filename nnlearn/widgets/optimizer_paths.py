"""Chapter 07's explorer: optimizer paths on 2-D loss surfaces.

The pure function :func:`optimizer_paths` runs nnlearn's real optimizers (``nnlearn.optim``) on
a two-element :class:`~nnlearn.layers.Parameter` :math:`\\theta = (x, y)`, feeding them the
surface's analytic gradient at each step, and returns every visited point and the final losses.
:func:`plot_paths` draws a result over the surface's contours; :func:`make_optimizer_paths_widget`
puts them behind controls: a learning-rate slider whose every position is drawn in advance (it
responds in the static book), the steps, an optimizer multi-select and a surface menu.
ipywidgets is imported only by the widget function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nnlearn import optim
from nnlearn.layers import Parameter
from nnlearn.widgets.layout import (
    FRAME_DPI,
    frame_explorer,
    frame_figure,
    readout_table,
    selection_slider,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Gradient = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Surface:
    """A loss surface :math:`f(x, y)` with its analytic gradient.

    ``loss`` and ``gradient`` work elementwise on arrays of any (equal) shape, so one formula
    serves the optimizers (scalars) and the contour plots (grids).
    """

    name: str
    loss: Callable[[np.ndarray, np.ndarray], np.ndarray]
    gradient: Gradient
    start: tuple[float, float]
    minimum: tuple[float, float]
    extent: tuple[float, float, float, float]  # x_min, x_max, y_min, y_max of the plots
    default_lr: float
    log_contours: bool  # steep valleys read better with log-spaced contour levels


# f = (x^2 + 20 y^2) / 2: curvature 1 along x, 20 along y, so plain gradient descent must pick
# a learning rate below 2/20 for y and then crawls along x (the condition number is 20).
BOWL = Surface(
    name="elongated bowl",
    loss=lambda x, y: 0.5 * (x**2 + 20.0 * y**2),
    gradient=lambda x, y: (x, 20.0 * y),
    start=(-4.0, 1.0),
    minimum=(0.0, 0.0),
    extent=(-4.5, 1.5, -1.5, 1.5),
    default_lr=0.02,
    log_contours=False,
)

# Rosenbrock's banana: f = (1 - x)^2 + 100 (y - x^2)^2, a curved, narrow valley with its
# minimum at (1, 1); easy to find the valley, slow to follow it.
ROSENBROCK = Surface(
    name="rosenbrock",
    loss=lambda x, y: (1.0 - x) ** 2 + 100.0 * (y - x**2) ** 2,
    gradient=lambda x, y: (-2.0 * (1.0 - x) - 400.0 * x * (y - x**2), 200.0 * (y - x**2)),
    start=(-1.2, 1.0),
    minimum=(1.0, 1.0),
    extent=(-2.0, 2.0, -1.0, 3.0),
    default_lr=1e-3,
    log_contours=True,
)

SURFACES: dict[str, Surface] = {s.name: s for s in (BOWL, ROSENBROCK)}

# The explorer's learning rates, one precomputed frame each; every surface's default_lr is one.
LEARNING_RATES = (1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0)
FRAME_SIZE = (5.2, 4.2)  # inches at FRAME_DPI: 416 x 336 px

# Each entry builds a configured nnlearn optimizer for the given parameters and learning rate.
OPTIMIZERS: dict[str, Callable[[list[Parameter], float], optim.Optimizer]] = {
    "SGD": lambda params, lr: optim.SGD(params, lr=lr),
    "Momentum": lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9),
    "Nesterov": lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True),
    "AdaGrad": lambda params, lr: optim.Adagrad(params, lr=lr),
    "RMSProp": lambda params, lr: optim.RMSprop(params, lr=lr),
    "Adam": lambda params, lr: optim.Adam(params, lr=lr),
    "AdamW": lambda params, lr: optim.AdamW(params, lr=lr),
}

# A path that leaves this many plot widths from the minimum has diverged; stop it there.
_DIVERGED_SPAN = 1e3


@dataclass(frozen=True)
class Path:
    """Where one optimizer went: ``points`` (k, 2) from the start, ``losses`` (k,)."""

    optimizer: str
    points: np.ndarray
    losses: np.ndarray
    diverged: bool

    @property
    def final_loss(self) -> float:
        """The loss at the last point (inf when the path diverged)."""
        return float("inf") if self.diverged else float(self.losses[-1])


@dataclass(frozen=True)
class PathsResult:
    """Every optimizer's :class:`Path` on one surface, with the settings that produced them."""

    surface: Surface
    paths: dict[str, Path]
    lr: dict[str, float]
    steps: int

    @property
    def final_losses(self) -> dict[str, float]:
        return {name: path.final_loss for name, path in self.paths.items()}


def _surface(surface: str | Surface) -> Surface:
    if isinstance(surface, Surface):
        return surface
    if surface not in SURFACES:
        raise ValueError(f"unknown surface {surface!r}; choose one of {sorted(SURFACES)}")
    return SURFACES[surface]


def run_optimizer(
    name: str, surface: str | Surface, lr: float, steps: int, start: Sequence[float] | None = None
) -> Path:
    """Take ``steps`` steps of optimizer ``name`` (a key of :data:`OPTIMIZERS`) on ``surface``.

    The parameter is a float64 :class:`Parameter` of shape (2,); before each ``step()`` its
    ``grad`` is set to the surface's analytic gradient at the current point, exactly as
    ``backward()`` would leave it.
    """
    surface = _surface(surface)
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose from {list(OPTIMIZERS)}")
    theta = Parameter(np.array(surface.start if start is None else start, dtype=np.float64))
    optimizer = OPTIMIZERS[name]([theta], lr)
    span = _DIVERGED_SPAN * max(surface.extent[1] - surface.extent[0], 1.0)
    points = [theta.data.copy()]
    diverged = False
    for _ in range(steps):
        theta.grad = np.array(surface.gradient(*theta.data), dtype=np.float64)
        optimizer.step()
        if not np.all(np.abs(theta.data - surface.minimum) < span):
            diverged = True  # also catches nan: comparisons with nan are False
            break
        points.append(theta.data.copy())
    xy = np.array(points)
    return Path(name, xy, surface.loss(xy[:, 0], xy[:, 1]), diverged)


def optimizer_paths(
    surface: str | Surface = "elongated bowl",
    optimizers: Sequence[str] = ("SGD", "Momentum", "Adam"),
    lr: float | Mapping[str, float] | None = None,
    steps: int = 100,
    start: Sequence[float] | None = None,
) -> PathsResult:
    """Run several optimizers from the same start on one surface.

    Args:
        surface: a name in :data:`SURFACES` or a :class:`Surface`.
        optimizers: names in :data:`OPTIMIZERS`.
        lr: one learning rate for all, a dict name -> learning rate, or None for the surface's
            default.
        steps: optimizer steps per path.
        start: the starting point (default: the surface's).
    """
    surface = _surface(surface)
    if lr is None:
        lr = surface.default_lr
    rates = {name: float(lr[name] if isinstance(lr, Mapping) else lr) for name in optimizers}
    paths = {name: run_optimizer(name, surface, rates[name], steps, start) for name in optimizers}
    return PathsResult(surface, paths, rates, steps)


def plot_paths(ax: Axes, result: PathsResult, resolution: int = 200) -> Axes:
    """Contours of the surface, each optimizer's path, the start and the minimum."""
    surface = result.surface
    x0, x1, y0, y1 = surface.extent
    xx, yy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    zz = surface.loss(xx, yy)
    if surface.log_contours:
        levels = np.logspace(-1, np.log10(zz.max()), 20)
    else:
        levels = np.linspace(0.0, np.sqrt(zz.max()), 20)[1:] ** 2  # evenly spaced ellipses
    ax.contour(xx, yy, zz, levels=levels, cmap="Greys", linewidths=0.7, alpha=0.8)
    for path in result.paths.values():
        shown = path.points
        final = "diverged" if path.diverged else f"{path.final_loss:.2g}"
        label = f"{path.optimizer} (lr {result.lr[path.optimizer]:g}): {final}"
        ax.plot(shown[:, 0], shown[:, 1], marker=".", markersize=3, linewidth=1.2, label=label)
    ax.plot(*surface.start, marker="o", color="black", markersize=6, linestyle="none")
    ax.plot(*surface.minimum, marker="*", color="gold", markeredgecolor="black", markersize=14)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("$x$")
    ax.set_ylabel("$y$")
    ax.set_title(f"{surface.name}, {result.steps} steps (legend: final loss)")
    ax.legend(fontsize=8, loc="upper right")
    return ax


def _readout_html(result: PathsResult) -> str:
    rows = [
        (name, "diverged" if path.diverged else f"{path.final_loss:.3g}")
        for name, path in result.paths.items()
    ]
    rates = ", ".join(f"{rate:g}" for rate in sorted(set(result.lr.values())))
    note = f"lr {rates}, {result.steps} steps on the {result.surface.name}"
    return readout_table(("optimizer", "final loss"), rows, note)


def paths_frame(
    surface: str | Surface, optimizers: Sequence[str], lr: float, steps: int
) -> tuple[bytes, str, PathsResult]:
    """One frame of the explorer: the PNG of :func:`plot_paths`, its readout and its result."""
    from nnlearn.plotting import figure_to_png

    result = optimizer_paths(surface, optimizers, lr, steps)
    figure = frame_figure(FRAME_SIZE, left=0.14, bottom=0.12, top=0.92)
    plot_paths(figure.subplots(), result, resolution=120)
    return figure_to_png(figure, FRAME_DPI), _readout_html(result), result


def make_optimizer_paths_widget(
    surface: str = "elongated bowl",
    optimizers: Sequence[str] = ("SGD", "Momentum", "Nesterov", "Adam"),
    lr: float | None = None,
    steps: int = 100,
) -> Any:
    """The explorer: controls for :func:`optimizer_paths` and the figure of :func:`plot_paths`.

    The learning rate (alive in the book) takes the values :data:`LEARNING_RATES`, the one
    nearest ``lr`` (default: the surface's ``default_lr``); the surface, the optimizers and the
    number of steps need a kernel.

    Returns:
        The explorer (see :func:`nnlearn.widgets.layout.frame_explorer`) with attributes
        ``controls`` (dict ``lr``, ``surface``, ``optimizers``, ``steps`` -> widget; setting a
        ``.value`` reruns the optimizers; a new surface also moves ``lr`` to the surface's
        ``default_lr``), and ``readout`` (final losses, HTML), ``image`` (PNG of the figure)
        and ``result`` (its :class:`PathsResult`) of the frame on show.
    """
    import ipywidgets as widgets

    controls = {
        "lr": selection_slider("learning rate", LEARNING_RATES, lr or _surface(surface).default_lr),
        "surface": widgets.Dropdown(options=list(SURFACES), value=surface, description="surface"),
        "optimizers": widgets.SelectMultiple(
            options=list(OPTIMIZERS),
            value=tuple(optimizers),
            rows=len(OPTIMIZERS),
            description="optimizers",
        ),
        "steps": widgets.IntSlider(
            value=steps, min=1, max=1000, description="steps", continuous_update=False
        ),
    }

    def draw(rate: float) -> tuple[bytes, str, PathsResult]:
        return paths_frame(
            controls["surface"].value, controls["optimizers"].value, rate, controls["steps"].value
        )

    box = frame_explorer(controls, "lr", draw, width_px=int(FRAME_SIZE[0] * FRAME_DPI))

    def new_surface(change: dict[str, Any]) -> None:
        # Each surface has its own sensible learning rate (Rosenbrock is far steeper); the
        # frames were redrawn for the new surface already, so this only shows another one.
        controls["lr"].value = SURFACES[change["new"]].default_lr

    controls["surface"].observe(new_surface, names="value")
    return box
