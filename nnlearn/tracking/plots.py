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


def _unit_scale(column: Any, log: bool) -> tuple[list[float], list[str]]:
    """A column's values mapped to [0, 1] (log10 first with ``log``; text: evenly spaced in
    sorted order), and the labels of the lowest and highest value."""
    values = [json.dumps(v) if isinstance(v, list) else v for v in column]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        points = [math.log10(v) if log else float(v) for v in values]  # NaN: a run without it
        known = [v for v, p in zip(values, points, strict=True) if not math.isnan(p)]
        ends = [f"{min(known):g}", f"{max(known):g}"]
    else:
        order = sorted({str(v) for v in values})
        points, ends = [order.index(str(v)) for v in values], [order[0], order[-1]]
    low, high = min(p for p in points if p == p), max(p for p in points if p == p)
    return [(p - low) / (high - low) if high > low else 0.5 for p in points], ends


def parallel_coordinates(
    runs: Any, params: Sequence[str], metric: str, log: Iterable[str] = (), ax: Any = None
) -> Any:
    """Parallel coordinates of a :func:`list_runs` table: one vertical axis per parameter and
    one for ``metric``, each run a line across them coloured by ``metric``. Each axis runs
    from its lowest value (bottom) to its highest (top), both written on it.

    Args:
        runs: a :func:`list_runs` table.
        params, metric: column names, with or without ``params.`` / ``metrics.``.
        log: the parameters drawn on a log scale (a learning rate, say).
    """
    import matplotlib.pyplot as plt

    names = [p.removeprefix("params.") for p in params]
    columns = [f"params.{p}" for p in names] + [f"metrics.{metric.removeprefix('metrics.')}"]
    scaled = [_unit_scale(runs[c], c.removeprefix("params.") in set(log)) for c in columns]
    ax = ax or plt.subplots(figsize=(8, 3.5), layout="constrained")[1]
    colour_of = plt.get_cmap("viridis")
    result = scaled[-1][0]
    for i in range(len(runs)):
        ax.plot(range(len(columns)), [s[0][i] for s in scaled], color=colour_of(result[i]))
    for x, (_, (low, high)) in enumerate(scaled):
        ax.axvline(x, color="grey", linewidth=0.8)
        ax.annotate(low, (x, 0), xytext=(0, -14), textcoords="offset points", ha="center")
        ax.annotate(high, (x, 1), xytext=(0, 6), textcoords="offset points", ha="center")
    labels = [f"{n} (log)" if n in set(log) else n for n in names]
    ax.set_xticks(range(len(columns)), [*labels, columns[-1].removeprefix("metrics.")])
    ax.xaxis.tick_top()
    ax.xaxis.set_tick_params(pad=18)
    ax.set_yticks([])
    ax.set_ylim(-0.08, 1.08)
    ax.set_frame_on(False)
    return ax
