"""Chapter 15: the bundled sunspot numbers and forecasting windows (nnlearn/series.py).

The data file is checked against what its README states (309 years, 1700-2008) and against
values published with it (the cycle maxima of 1778 and 1957, the empty year 1810); windows
against indices written out by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nnlearn as nl
from nnlearn.series import load_sunspots, windows

pytestmark = pytest.mark.chapter15


def test_load_sunspots_gives_the_309_years_and_their_numbers():
    years, numbers = load_sunspots()
    assert years.dtype == np.int64 and numbers.dtype == np.float64
    np.testing.assert_array_equal(years, np.arange(1700, 2009))
    by_year = dict(zip(years.tolist(), numbers.tolist(), strict=True))
    assert by_year[1700] == 5.0 and by_year[2008] == 2.9
    assert by_year[1957] == numbers.max() == 190.2  # the highest cycle of the record
    assert by_year[1778] == numbers[:220].max() == 154.4  # the highest before 1920
    assert by_year[1810] == 0.0 and numbers.min() == 0.0


def test_the_data_file_is_small_and_documented_in_the_package():
    folder = Path(nl.__file__).parent / "datasets"
    assert (folder / "sunspots_yearly.csv").stat().st_size < 50_000
    readme = (folder / "README.md").read_text()
    for fact in ("public domain", "statsmodels", "NGDC", "sunspots_yearly.csv"):
        assert fact in readme


def test_windows_pair_each_target_with_the_values_before_it():
    series = np.arange(10.0)
    x, y = windows(series, window=3)
    assert x.shape == (7, 3, 1) and y.shape == (7,)
    np.testing.assert_array_equal(x[0, :, 0], [0, 1, 2])
    np.testing.assert_array_equal(y, np.arange(3, 10))
    x, y = windows(series, window=3, horizon=2)  # y is two steps after the window's end
    np.testing.assert_array_equal(x[0, :, 0], [0, 1, 2])
    np.testing.assert_array_equal(y, np.arange(4, 10))
    np.testing.assert_array_equal(x[:, -1, 0] + 2, y)


def test_windows_keep_a_splits_targets_inside_it_with_inputs_from_the_past():
    series = np.arange(20.0)
    x, y = windows(series, window=4, start=12, stop=16)
    np.testing.assert_array_equal(y, [12, 13, 14, 15])
    np.testing.assert_array_equal(x[0, :, 0], [8, 9, 10, 11])  # before start: the past
    x, _ = windows(np.stack([series, -series], axis=1), window=2, stop=5)
    assert x.shape == (3, 2, 2)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"window": 0}, "window and horizon must be >= 1"),
        ({"window": 3, "start": 8, "stop": 20}, r"need 0 <= start <= stop <= 10"),
        ({"window": 9, "horizon": 2}, r"no target in \[0, 10\) has 9 values 2 step"),
    ],
)
def test_impossible_windows_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        windows(np.arange(10.0), **arguments)
