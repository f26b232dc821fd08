"""The matplotlib helpers the chapters and the widgets share (nnlearn.plotting)."""

import numpy as np
import pytest
from widget_cases import separable_points

from nnlearn.plotting import (
    figure_to_png,
    grid_over,
    new_figure,
    plot_curves,
    plot_decision_surface,
    shade_mask,
)

pytestmark = pytest.mark.harness


def test_shade_mask_shades_each_run_of_true_values():
    x = np.arange(10.0)
    mask = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1, 0], dtype=bool)
    figure, ax = new_figure()
    shade_mask(ax, x, mask, label="saturated")
    spans = [(p.get_x(), p.get_x() + p.get_width()) for p in ax.patches]
    assert spans == [(0.0, 1.0), (4.0, 4.0), (6.0, 8.0)]
    assert [p.get_label() for p in ax.patches][0] == "saturated"


def test_grid_over_covers_the_points_with_padding():
    x = np.array([[0.0, -1.0], [2.0, 3.0]])
    xx, yy, points = grid_over(x, resolution=5, padding=0.5)
    assert xx.shape == yy.shape == (5, 5) and points.shape == (25, 2)
    assert (xx.min(), xx.max(), yy.min(), yy.max()) == (-0.5, 2.5, -1.5, 3.5)


def test_plot_decision_surface_shades_class_regions_for_class_scores():
    x, y = separable_points()
    figure, ax = new_figure()
    # two class scores: class 1 wins where x1 > 0
    plot_decision_surface(ax, lambda p: np.column_stack([-p[:, 0], p[:, 0]]), x, y)
    (filled,) = [c for c in ax.collections if hasattr(c, "levels")]
    np.testing.assert_allclose(filled.levels, [-0.5, 0.5, 1.5])
    assert figure_to_png(figure)[:4] == b"\x89PNG"


def test_plot_decision_surface_draws_the_requested_boundary_level():
    x, y = separable_points()
    figure, ax = new_figure()
    # one output column, as a Dense(1, activation="sigmoid") model predicts
    plot_decision_surface(ax, lambda p: 1 / (1 + np.exp(-p[:, :1])), x, y, boundary=0.5)
    (boundary,) = [c for c in ax.collections if list(getattr(c, "levels", [])) == [0.5]]
    vertices = np.concatenate([path.vertices for path in boundary.get_paths()])
    # sigmoid(x1) = 0.5 at x1 = 0, up to the contour's linear interpolation between grid points
    np.testing.assert_allclose(vertices[:, 0], 0.0, atol=1e-5)


def test_plot_curves_draws_one_line_per_curve():
    figure, ax = new_figure()
    plot_curves(ax, {"loss": [3, 2, 1], "accuracy": [0.1, 0.5, 0.9]}, log_y=True)
    assert [line.get_label() for line in ax.get_lines()] == ["loss", "accuracy"]
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1, 2, 3])
    assert ax.get_yscale() == "log"
