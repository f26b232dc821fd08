"""Chapter 01: the neuron explorer (nnlearn.widgets.neuron).

The pure functions are checked against PyTorch and closed forms; the ipywidgets wrapper is
driven by setting its controls' ``.value``, as a learner's clicks would, with no browser.
"""

import numpy as np
import pytest
from widget_cases import TORCH_ACTIVATIONS, check_frame_explorer, separable_points

from nnlearn.parity import check_function
from nnlearn.plotting import new_figure
from nnlearn.widgets.neuron import (
    BIAS_VALUES,
    NEURON_ACTIVATIONS,
    make_neuron_widget,
    neuron,
    neuron_frame,
    neuron_result,
    plot_neuron,
)

pytestmark = pytest.mark.chapter01


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "gelu"])
def test_neuron_forward_and_gradients_match_torch(name, device_dtype):
    device, dtype = device_dtype
    x, _ = separable_points(30)
    w, b = np.array([0.7, -1.3]), np.array(0.2)
    torch_f = TORCH_ACTIVATIONS[name]
    report = check_function(
        lambda x, w, b: neuron(x, w, b, name),
        lambda x, w, b: torch_f(x @ w + b),
        x,
        w,
        b,
        device=device,
        dtype=dtype,
        names=["x", "w", "b"],
    )
    report.assert_ok()


@pytest.mark.parametrize("name", NEURON_ACTIVATIONS)
def test_neuron_classifies_by_the_sign_of_the_weighted_sum(name):
    x = np.random.default_rng(1).normal(size=(500, 2))
    y = np.random.default_rng(2).integers(0, 2, 500)
    w1, w2, b = 0.8, -1.7, 0.3
    result = neuron_result(x, y, w1, w2, b, name)
    expected = np.mean((x @ np.array([w1, w2]) + b > 0) == y)
    assert result["accuracy"] == expected
    assert result["misclassified"] == round((1 - expected) * len(y))


def test_neuron_result_counts_a_hand_built_case():
    # boundary x1 = 0 (w = (1, 0), b = 0): the last point is on the class-1 side but labelled 0
    x = np.array([[-1.0, 0.0], [1.0, 5.0], [2.0, -3.0]])
    result = neuron_result(x, np.array([0, 1, 0]), 1.0, 0.0, 0.0, "sigmoid")
    assert result["accuracy"] == pytest.approx(2 / 3)
    assert result["misclassified"] == 1
    assert result["threshold"] == 0.5  # sigmoid(0)
    assert result["output_range"] == pytest.approx((1 / (1 + np.e), 1 / (1 + np.exp(-2.0))))


def test_plot_neuron_draws_the_boundary_on_the_line_and_w_perpendicular_to_it():
    x, y = separable_points()
    w1, w2, b = 1.5, -0.5, 0.75
    figure, ax = new_figure()
    result = plot_neuron(ax, x, y, w1, w2, b, "tanh")
    (line,) = [line for line in ax.get_lines() if line.get_label() == "boundary z = 0"]
    p, q = np.array(line.get_xy1()), np.array(line.get_xy2())
    w = np.array([w1, w2])
    assert p @ w + b == pytest.approx(0, abs=1e-12)
    assert q @ w + b == pytest.approx(0, abs=1e-12)
    assert (q - p) @ w == pytest.approx(0, abs=1e-12)
    assert "accuracy" in ax.get_title() and result["activation"] == "tanh"


def test_plot_neuron_with_zero_weights_draws_no_line():
    x, y = separable_points()
    figure, ax = new_figure()
    result = plot_neuron(ax, x, y, 0.0, 0.0, 1.0, "sigmoid")
    assert result["accuracy"] == y.mean()  # z = b > 0 everywhere: all class 1
    assert not [line for line in ax.get_lines() if line.get_label() == "boundary z = 0"]


def test_neuron_widget_controls_drive_result_readout_and_figure():
    x, y = separable_points()
    widget = make_neuron_widget(x, y, w1=1.0, w2=-1.0, b=0.0)
    before = (widget.result, widget.readout.value, widget.image.value)
    assert widget.image.value[:8] == b"\x89PNG\r\n\x1a\n"

    widget.controls["w1"].value, widget.controls["w2"].value = 1.0, 2.0
    widget.controls["b"].value = -0.5  # the separating line itself
    assert widget.result["accuracy"] == 1.0
    assert widget.result["w"] == (1.0, 2.0) and widget.result["b"] == -0.5
    assert widget.readout.value != before[1] and "100.0%" in widget.readout.value
    assert widget.image.value != before[2]

    widget.controls["activation"].value = "relu"  # same line, same accuracy, new shading
    assert widget.result["activation"] == "relu" and widget.result["accuracy"] == 1.0
    assert widget.result["threshold"] == 0.0


def test_neuron_widget_bias_slider_has_a_frame_per_position_and_none_stale():
    x, y = separable_points()
    widget = make_neuron_widget(x, y, w1=1.0, w2=2.0, b=0.3)
    assert widget.controls["b"].value == 0.5  # the nearest of the slider's positions
    assert widget.frames.values == list(BIAS_VALUES) and -0.5 in BIAS_VALUES
    check_frame_explorer(
        widget,
        "b",
        lambda b: neuron_frame(x, y, 1.0, 2.0, b, "tanh"),
        other="activation",
        new_value="tanh",
    )
    assert widget.result == neuron_result(x, y, 1.0, 2.0, BIAS_VALUES[-1], "tanh")
