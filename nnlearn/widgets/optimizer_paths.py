"""Chapter 07's explorer: optimizer paths on 2-D loss surfaces.

The pure function :func:`optimizer_paths` runs nnlearn's real optimizers (``nnlearn.optim``) on
a two-element :class:`~nnlearn.layers.Parameter` :math:`\\theta = (x, y)`, feeding them the
surface's analytic gradient at each step, and returns every visited point and the final losses.
:func:`plot_paths` draws a result over the surface's contours; :func:`make_optimizer_paths_widget`
puts sliders (learning rate, steps), an optimizer multi-select and a surface menu on top.
ipywidgets is imported only by the widget function.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from nnlearn import optim
from nnlearn.layers import Parameter

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
    default_lr=0.04,
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
    rows = "".join(
        f"<tr><td>{name}</td><td>{result.lr[name]:.2g}</td>"
        f"<td>{'diverged' if path.diverged else f'{path.final_loss:.3g}'}</td></tr>"
        for name, path in result.paths.items()
    )
    return f"<table><tr><th>optimizer</th><th>lr</th><th>final loss</th></tr>{rows}</table>"


def make_optimizer_paths_widget(
    surface: str = "elongated bowl",
    optimizers: Sequence[str] = ("SGD", "Momentum", "Nesterov", "Adam"),
    lr: float | None = None,
    steps: int = 100,
) -> Any:
    """The explorer: controls for :func:`optimizer_paths` and the figure of :func:`plot_paths`.

    Returns:
        An ``ipywidgets.HBox`` with attributes ``controls`` (dict ``surface``, ``optimizers``,
        ``lr``, ``steps`` -> widget; setting a ``.value`` reruns the optimizers; a new surface
        also resets ``lr`` to the surface's ``default_lr``), ``readout``
        (final losses, HTML), ``image`` (PNG of the figure) and ``result`` (the latest
        :class:`PathsResult`).
    """
    import ipywidgets as widgets

    from nnlearn.plotting import figure_to_png, new_figure

    style = {"description_width": "initial"}
    controls = {
        "surface": widgets.Dropdown(options=list(SURFACES), value=surface, description="surface"),
        "optimizers": widgets.SelectMultiple(
            options=list(OPTIMIZERS),
            value=tuple(optimizers),
            rows=len(OPTIMIZERS),
            description="optimizers",
        ),
        "lr": widgets.FloatLogSlider(
            value=lr or _surface(surface).default_lr,
            base=10,
            min=-4,
            max=0,
            step=0.1,
            description="learning rate",
            readout_format=".1e",
            continuous_update=False,
            style=style,
        ),
        "steps": widgets.IntSlider(
            value=steps, min=1, max=1000, description="steps", continuous_update=False
        ),
    }
    readout = widgets.HTML()
    image = widgets.Image(format="png")
    box = widgets.HBox([widgets.VBox([*controls.values(), readout]), image])

    def update(_change: Any = None) -> None:
        box.result = optimizer_paths(**{k: c.value for k, c in controls.items()})
        figure, ax = new_figure(size=(6.5, 4.8))
        plot_paths(ax, box.result)
        image.value = figure_to_png(figure)
        readout.value = _readout_html(box.result)

    def new_surface(change: dict[str, Any]) -> None:
        # Each surface has its own sensible learning rate (Rosenbrock is far steeper).
        default = SURFACES[change["new"]].default_lr
        if np.isclose(controls["lr"].value, default):
            update()
        else:
            controls["lr"].value = default  # whose observer redraws

    controls["surface"].observe(new_surface, names="value")
    for name in ("optimizers", "lr", "steps"):
        controls[name].observe(update, names="value")
    box.controls, box.readout, box.image = controls, readout, image
    update()
    return box
