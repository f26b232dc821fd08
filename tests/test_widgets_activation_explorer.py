"""Chapter 02: the activation explorer (nnlearn.widgets.activation_explorer).

The pure functions are checked against PyTorch and closed forms; the ipywidgets wrapper is
driven by setting its controls' ``.value``, as a learner's clicks would, with no browser.
"""

import numpy as np
import pytest
import torch
from widget_cases import TORCH_ACTIVATIONS, check_frame_explorer

from nnlearn.parity import to_numpy, to_torch
from nnlearn.plotting import new_figure
from nnlearn.widgets.activation_explorer import (
    FUNCTIONS,
    PARAMETERS,
    X_MAX_VALUES,
    activation_curves,
    activation_frame,
    explorer_result,
    make_activation_explorer,
    plot_activation_explorer,
)

pytestmark = pytest.mark.chapter02


def _torch_curves(name, x, params):
    """f and f' by torch's own function and autograd (softmax: the two-class case)."""
    t = to_torch(x, requires_grad=True)
    if name == "softmax":
        logits = torch.stack([t, torch.zeros_like(t)], dim=-1)
        f = torch.softmax(logits / params["temperature"], dim=-1)[:, 0]
    else:
        keyword = PARAMETERS.get(name)
        options = {keyword: params[keyword]} if keyword else {}
        f = TORCH_ACTIVATIONS[name](t, **options)
    f.sum().backward()
    return to_numpy(f), to_numpy(t.grad)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_activation_curves_match_torch_function_and_autograd(name):
    x = np.linspace(-6, 6, 241)  # includes 0, the kink of relu and friends
    params = {"negative_slope": 0.2, "alpha": 0.7, "temperature": 0.6}
    curves = activation_curves(name, x, params, threshold=0.1)
    f, df = _torch_curves(name, x, params)
    np.testing.assert_allclose(curves["f"], f, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(curves["df"], df, rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(curves["saturated"], np.abs(df) < 0.1)


def test_sigmoid_saturated_fraction_follows_the_closed_form():
    # sigmoid' = s (1 - s) < t  <=>  |x| > x0 with s(x0) = (1 + sqrt(1 - 4t)) / 2
    threshold, x_max = 0.05, 10.0
    s0 = (1 + np.sqrt(1 - 4 * threshold)) / 2
    x0 = np.log(s0 / (1 - s0))
    x = np.linspace(-x_max, x_max, 4001)
    result = explorer_result(["sigmoid"], x, threshold=threshold)
    fraction = result["per_function"]["sigmoid"]["saturated_fraction"]
    assert fraction == pytest.approx((x_max - x0) / x_max, abs=2 / len(x))


def test_softmax_temperature_sets_the_derivative_peak_to_one_over_4t():
    # p = sigmoid(x / T) for the logits (x, 0), so dp/dx at 0 is 1 / (4 T)
    x = np.linspace(-5, 5, 1001)
    for temperature in (0.5, 1.0, 3.0):
        result = explorer_result(["softmax"], x, {"temperature": temperature})
        low, high = result["per_function"]["softmax"]["df_range"]
        assert high == pytest.approx(1 / (4 * temperature), rel=1e-12)
        assert result["per_function"]["softmax"]["parameter"] == ("temperature", temperature)


def test_plot_activation_explorer_draws_f_and_df_per_function():
    figure, (ax_f, ax_df) = new_figure(1, 2)
    result = plot_activation_explorer(ax_f, ax_df, ["tanh", "elu"], x_max=3.0, params={"alpha": 2})
    assert result["x_range"] == (-3.0, 3.0)
    for ax in (ax_f, ax_df):
        labels = [line.get_label() for line in ax.get_lines()]
        assert "tanh" in labels and "elu, alpha = 2" in labels
    elu_df = next(line for line in ax_df.get_lines() if line.get_label() == "elu, alpha = 2")
    x, df = elu_df.get_data()
    np.testing.assert_allclose(df, np.where(x > 0, 1.0, 2 * np.exp(x)))  # elu' in closed form


def test_activation_explorer_slider_changes_readout_result_and_figure():
    explorer = make_activation_explorer(("relu", "leaky_relu", "sigmoid"))
    readout, image = explorer.readout.value, explorer.image.value

    explorer.controls["negative_slope"].value = 0.3
    info = explorer.result["per_function"]["leaky_relu"]
    assert info["parameter"] == ("negative_slope", 0.3)
    assert info["df_range"] == pytest.approx((0.3, 1.0))
    assert info["saturated_fraction"] == 0.0  # slope 0.3 > threshold 0.05 everywhere
    assert explorer.readout.value != readout and "negative_slope = 0.3" in explorer.readout.value
    assert explorer.image.value != image

    # relu is dead (f' = 0) on x <= 0: half of a symmetric range, plus the point 0
    assert explorer.result["per_function"]["relu"]["saturated_fraction"] == pytest.approx(
        0.5, abs=2 / 801
    )
    explorer.controls["threshold"].value = 0.25  # sigmoid' <= 1/4: saturated everywhere
    assert explorer.result["per_function"]["sigmoid"]["saturated_fraction"] == pytest.approx(
        1.0, abs=2 / 801
    )


def test_activation_explorer_function_choice_temperature_and_range():
    explorer = make_activation_explorer(("sigmoid",))
    explorer.controls["functions"].value = ("softmax", "gelu")
    explorer.controls["temperature"].value = 0.5
    explorer.controls["x_max"].value = 8.0
    result = explorer.result
    assert result["functions"] == ("softmax", "gelu")
    assert result["x_range"] == (-8.0, 8.0)
    assert result["per_function"]["softmax"]["df_range"][1] == pytest.approx(0.5)
    assert "temperature = 0.5" in explorer.readout.value and "gelu" in explorer.readout.value


def test_activation_explorer_range_slider_has_a_frame_per_position_and_none_stale():
    explorer = make_activation_explorer(("relu", "sigmoid"), x_max=4.5)
    assert explorer.controls["x_max"].value == 5.0  # the nearest of the slider's positions
    assert explorer.frames.values == list(X_MAX_VALUES)
    check_frame_explorer(
        explorer,
        "x_max",
        lambda x_max: activation_frame(
            ("relu", "sigmoid"), x_max, {"alpha": 1.0, "temperature": 1.0}, threshold=0.1
        ),
        other="threshold",
        new_value=0.1,
    )
    # the widest range on show: sigmoid' < 0.1 for |x| > 2.18 (s(1 - s) = 0.1), most of [-20, 20]
    assert explorer.result["x_range"] == (-20.0, 20.0)
    assert explorer.result["per_function"]["sigmoid"]["saturated_fraction"] == pytest.approx(
        (20 - 2 * np.arctanh(np.sqrt(1 - 4 * 0.1))) / 20, abs=2 / 801
    )
