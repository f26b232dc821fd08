"""Comparing runs in figures (chapter 10): one metric's curves, and parallel coordinates of
parameters against a result. matplotlib is imported when a figure is drawn.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from nnlearn.tracking.runs import ROOT, Run, load_run


def _as_runs(runs: Any, root: str | Path | None) -> list[Run]:
    """Runs from a :func:`list_runs` table, run ids or Run objects."""
    if hasattr(runs, "columns"):  # a DataFrame
        root = root or runs.attrs.get("root", ROOT)
        runs = list(runs["run_id"])
    return [r if isinstance(r, Run) else load_run(r, root or ROOT) for r in runs]


def plot_metric(
    runs: Any, key: str, ax: Any = None, root: str | Path | None = None, **plot_kwargs: Any
) -> Any:
    """One curve per run of the metric ``key`` against its step, labelled by run name.

    ``runs``: a :func:`list_runs` table (or rows of it), run ids (under ``root``) or Runs.
    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(7, 3.5), layout="constrained")[1]
    for run in _as_runs(runs, root):
        values = run.metrics().query("key == @key").sort_values("step", kind="stable")
        ax.plot(values["step"], values["value"], label=run.name, **plot_kwargs)
    ax.set_xlabel("step")
    ax.set_ylabel(key)
    ax.legend(fontsize="small")
    return ax


MIN_GAP = 0.09  # the least distance between two labels of an axis, as a fraction of its height


def _unit_scale(column: Any, log: bool, every: bool) -> tuple[list[float], dict[float, str]]:
    r"""A column's values mapped to [0, 1], :math:`u = (v - v_{min}) / (v_{max} - v_{min})`
    (after :math:`\log_{10}` with ``log``; text values evenly spaced in sorted order; NaN, a run
    without the value, stays NaN), and the axis's labels ``{u: text}``: the lowest and the
    highest value, and with ``every`` the values between that are at least ``MIN_GAP`` from a
    label already placed (so that close learning rates do not write over each other)."""
    values = [json.dumps(v) if isinstance(v, list) else v for v in column]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        points = [math.log10(v) if log else float(v) for v in values]
        texts = [f"{v:.4g}" for v in values]
    else:
        order = sorted({str(v) for v in values})
        points, texts = [float(order.index(str(v))) for v in values], [str(v) for v in values]
    known = sorted({(p, t) for p, t in zip(points, texts, strict=True) if not math.isnan(p)})
    low, high = known[0][0], known[-1][0]

    def unit(point: float) -> float:
        return (point - low) / (high - low) if high > low else 0.5

    shown = {unit(low): known[0][1], unit(high): known[-1][1]}
    for point, text in known[1:-1] if every else []:
        if min(abs(unit(point) - placed) for placed in shown) >= MIN_GAP:
            shown[unit(point)] = text
    return [unit(p) for p in points], shown


def parallel_coordinates(
    runs: Any, params: Sequence[str], metric: str, log: Iterable[str] = (), ax: Any = None
) -> Any:
    """Parallel coordinates of a :func:`~nnlearn.tracking.list_runs` table: one vertical axis
    per parameter and one for ``metric``, each run a line across them coloured by ``metric``
    (a colour bar gives the scale). Each axis runs from its lowest value (bottom) to its highest
    (top); a parameter's axis names each of its values, the metric's its lowest and highest.

    Args:
        runs: a :func:`~nnlearn.tracking.list_runs` table.
        params, metric: column names, with or without ``params.`` / ``metrics.``.
        log: the parameters drawn on a log scale (a learning rate, say).
        ax: the Axes to draw on (default: a new figure's).
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    names = [p.removeprefix("params.") for p in params]
    metric = metric.removeprefix("metrics.")
    columns = [f"params.{p}" for p in names] + [f"metrics.{metric}"]
    last = len(columns) - 1
    scaled = [
        _unit_scale(runs[c], c.removeprefix("params.") in set(log), i < last)
        for i, c in enumerate(columns)
    ]
    ax = ax or plt.subplots(figsize=(8, 3.5), layout="constrained")[1]
    colours = ScalarMappable(Normalize(runs[columns[-1]].min(), runs[columns[-1]].max()), "viridis")
    for i, result in enumerate(runs[columns[-1]]):
        ax.plot(range(len(columns)), [s[0][i] for s in scaled], color=colours.to_rgba(result))
    for x, (_, labels) in enumerate(scaled):
        ax.axvline(x, color="grey", linewidth=0.8)
        for y, text in labels.items():
            ax.annotate(text, (x, y), xytext=(-4, 0), textcoords="offset points", ha="right",
                        va="center", fontsize="small")  # fmt: skip
    labels = [f"{n} (log)" if n in set(log) else n for n in names]
    ax.set_xticks(range(len(columns)), [*labels, metric])
    ax.set_xlim(-0.35, last + 0.1)
    ax.set_yticks([])
    ax.set_frame_on(False)
    ax.figure.colorbar(colours, ax=ax, label=metric)
    return ax
