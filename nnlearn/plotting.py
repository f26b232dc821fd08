"""Matplotlib helpers shared by the chapters and the widgets.

Every ``plot_*`` function draws on an Axes it is given and returns it, so a notebook can place
it in any figure and a widget can redraw it. :func:`new_figure` makes a figure without pyplot
(no global state, nothing left open when a widget redraws), and :func:`figure_to_png` turns it
into the bytes an ``ipywidgets.Image`` shows. matplotlib is imported here, never by
``import nnlearn``.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Class colours (colour-blind safe: blue, orange, green, ...) and markers, so classes stay
# distinguishable in print too.
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
CLASS_MARKERS = ("o", "s", "^", "D", "v", "P")


def new_figure(nrows: int = 1, ncols: int = 1, size: tuple[float, float] = (6.0, 4.0)):
    """A figure and its axes (an array when there are several), made without pyplot.

    Returns:
        ``(figure, axes)`` like ``plt.subplots``; the figure is not registered with pyplot, so
        it is garbage-collected like any object once a widget replaces it.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=True)
    return figure, axes


def figure_to_png(figure: Figure, dpi: int = 90) -> bytes:
    """The figure rendered as PNG bytes (for ``ipywidgets.Image(format="png")``)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def plot_points(ax: Axes, x: np.ndarray, y: np.ndarray, size: float = 18.0) -> Axes:
    """Scatter 2-D points ``x`` (n, 2) coloured and marked by their integer class ``y`` (n,)."""
    x, y = np.asarray(x), np.asarray(y).astype(int)
    for label in np.unique(y):
        at = y == label
        ax.scatter(
            x[at, 0],
            x[at, 1],
            s=size,
            c=CLASS_COLORS[label % len(CLASS_COLORS)],
            marker=CLASS_MARKERS[label % len(CLASS_MARKERS)],
            edgecolors="white",
            linewidths=0.5,
            label=f"class {label}",
            zorder=3,
        )
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return ax


def grid_over(x: np.ndarray, resolution: int = 120, padding: float = 0.5):
    """A regular grid covering the points ``x`` (n, 2) plus ``padding`` on each side.

    Returns:
        ``(xx, yy, points)``: the two (resolution, resolution) coordinate arrays and the grid
        as (resolution**2, 2) points to feed to a model.
    """
    x = np.asarray(x)
    low, high = x.min(axis=0) - padding, x.max(axis=0) + padding
    xx, yy = np.meshgrid(
        np.linspace(low[0], high[0], resolution), np.linspace(low[1], high[1], resolution)
    )
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def plot_decision_surface(
    ax: Axes,
    score: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    boundary: float | None = 0.5,
    resolution: int = 120,
    padding: float = 0.5,
    cmap: str = "RdBu_r",
    center: float | None = None,
    colorbar_label: str | None = None,
) -> Axes:
    """Shade a model's output over the plane, draw its decision boundary, scatter the data.

    Args:
        ax: where to draw.
        score: maps grid points (m, 2) to one score each, (m,) or (m, 1) (e.g. a
            probability), or to class scores (m, k), in which case each region is shaded by its
            argmax class.
        x, y: the data, (n, 2) points and (n,) integer labels.
        boundary: for a one-score model, the score level drawn as the boundary line (0.5 for a
            probability); None draws no line.
        resolution, padding: the grid (see :func:`grid_over`).
        cmap, colorbar_label: colouring of a one-score model's output.
        center: the score shown white, the middle of ``cmap`` (e.g. a neuron's threshold);
            None centres nothing.
    """
    xx, yy, points = grid_over(x, resolution, padding)
    scores = np.asarray(score(points))
    if scores.ndim == 2 and scores.shape[1] == 1:  # one output unit, e.g. a sigmoid
        scores = scores[:, 0]
    if scores.ndim == 2:
        from matplotlib.colors import ListedColormap

        classes = scores.argmax(axis=1).reshape(xx.shape)
        k = scores.shape[1]
        colours = ListedColormap(CLASS_COLORS[:k])
        ax.contourf(xx, yy, classes, levels=np.arange(k + 1) - 0.5, cmap=colours, alpha=0.25)
    elif np.ptp(scores) > 0:  # a constant output (all weights 0) has nothing to shade
        surface = scores.reshape(xx.shape)
        norm = None
        if center is not None:
            from matplotlib.colors import TwoSlopeNorm

            # A flat side (relu's zeros) sits exactly at the centre: widen by a hair to keep
            # vmin < center < vmax, which TwoSlopeNorm needs.
            eps = 1e-6 * (1.0 + float(np.ptp(surface)))
            low, high = min(surface.min(), center - eps), max(surface.max(), center + eps)
            norm = TwoSlopeNorm(vcenter=center, vmin=low, vmax=high)
        filled = ax.contourf(xx, yy, surface, levels=20, cmap=cmap, alpha=0.35, norm=norm)
        ax.figure.colorbar(filled, ax=ax, shrink=0.8, label=colorbar_label)
        if boundary is not None and surface.min() < boundary < surface.max():
            ax.contour(xx, yy, surface, levels=[boundary], colors="black", linewidths=2)
    plot_points(ax, x, y)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    return ax


def shade_mask(
    ax: Axes, x: np.ndarray, mask: np.ndarray, color: str = "0.5", alpha: float = 0.15, label=None
) -> Axes:
    """Shade the stretches of the x axis where ``mask`` is True (e.g. saturating inputs).

    Args:
        x: increasing sample positions (n,); mask: (n,) booleans at those positions.
        label: legend text, attached to the first shaded stretch only.
    """
    x, mask = np.asarray(x), np.asarray(mask, dtype=bool)
    # Runs of True: where the mask switches on and off (padding with False closes the ends).
    edges = np.flatnonzero(np.diff(np.concatenate([[False], mask, [False]]).astype(int)))
    for i, (start, stop) in enumerate(zip(edges[::2], edges[1::2], strict=True)):
        ax.axvspan(
            x[start], x[stop - 1], color=color, alpha=alpha, lw=0, label=label if i == 0 else None
        )
    return ax


def plot_curves(
    ax: Axes,
    curves: Mapping[str, Sequence[float]],
    xlabel: str = "epoch",
    ylabel: str = "",
    log_y: bool = False,
    x: Sequence[float] | None = None,
) -> Axes:
    """One line per named sequence (losses, mistakes, gradient sizes ...), with a legend."""
    for name, values in curves.items():
        ax.plot(np.arange(1, len(values) + 1) if x is None else x, values, marker=".", label=name)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax
