"""Time series for forecasting (chapter 15): the bundled sunspot numbers, and windows.

* :func:`load_sunspots`: the yearly mean sunspot numbers 1700-2008 (309 values, public
  domain, shipped in ``nnlearn/datasets/``; its README says where they come from).
* :func:`windows`: a series as supervised pairs, the ``window`` values up to time ``t``
  (inputs) and the value ``horizon`` steps later (the target).

**No leakage.** A forecaster is judged on the future, so the splits are by time: the
training targets come first, then the validation targets, then the test targets, and every
statistic used to prepare the data (a mean, a standard deviation) is computed on the
training part alone. :func:`windows` takes ``start`` and ``stop`` to keep a split's
targets inside it; its inputs may reach back into the previous part, which is the past
and known at forecasting time.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

__all__ = ["load_sunspots", "windows"]


def load_sunspots() -> tuple[np.ndarray, np.ndarray]:
    """The yearly mean sunspot numbers: ``years`` (309,) int64, 1700..2008, and ``numbers``
    (309,) float64, from 0 (1810) to 190.2 (1957), with a cycle of about 11 years.

    Read from ``nnlearn/datasets/sunspots_yearly.csv``, shipped with the package (no
    download).
    """
    text = resources.files("nnlearn").joinpath("datasets", "sunspots_yearly.csv").read_text()
    table = np.loadtxt(text.splitlines(), delimiter=",", skiprows=1)
    return table[:, 0].astype(np.int64), table[:, 1]


def windows(
    series: np.ndarray, window: int, horizon: int = 1, start: int = 0, stop: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets for forecasting ``horizon`` steps ahead from ``window`` values.

    Args:
        series: the values, shape (time,) or (time, features).
        window: how many consecutive values one input holds.
        horizon: the target is this many steps after an input's last value (1: the next).
        start, stop: only targets ``series[t]`` with ``start <= t < stop`` (default: to the
            end); the inputs of the first ones may begin before ``start``.

    Returns:
        ``x`` (n, window, features) and ``y`` (n, features), or ``x`` (n, window, 1) and
        ``y`` (n,) for a 1-D series (one feature per step, as recurrent layers take it):
        ``x[j] = series[t - horizon - window + 1 : t - horizon + 1]``, ``y[j] = series[t]``
        for the j-th target time ``t``.
    """
    series = np.asarray(series)
    if window < 1 or horizon < 1:
        raise ValueError(f"windows: window and horizon must be >= 1, got {window}, {horizon}")
    stop = len(series) if stop is None else stop
    if not 0 <= start <= stop <= len(series):
        raise ValueError(
            f"windows: need 0 <= start <= stop <= {len(series)} (the series' length), got "
            f"start={start}, stop={stop}"
        )
    first = max(start, window + horizon - 1)  # the first target with a whole window before
    if first >= stop:
        raise ValueError(
            f"windows: no target in [{start}, {stop}) has {window} values {horizon} step(s) "
            f"before it in a series of length {len(series)}"
        )
    targets = np.arange(first, stop)
    steps = targets[:, None] - horizon - window + 1 + np.arange(window)  # (n, window)
    x, y = series[steps], series[targets]
    if series.ndim == 1:
        return x[:, :, None], y
    return x, y
