"""Chapters 01-02: the neuron and activation explorers, and the shared plotting helpers.

The pure functions are checked against PyTorch and closed forms; the ipywidgets wrappers are
driven by setting their controls' ``.value``, as a learner's clicks would, with no browser.
"""

import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nnlearn import activations
from nnlearn.parity import check_function, to_numpy, to_torch
from nnlearn.plotting import (
    figure_to_png,
    grid_over,
    new_figure,
    plot_curves,
    plot_decision_surface,
    shade_mask,
)
from nnlearn.widgets.activation_explorer import (
    FUNCTIONS,
    PARAMETERS,
    activation_curves,
    explorer_result,
    make_activation_explorer,
    plot_activation_explorer,
)
from nnlearn.widgets.neuron import (
    NEURON_ACTIVATIONS,
    make_neuron_widget,
    neuron,
    neuron_result,
    plot_neuron,
)

TORCH_ACTIVATIONS = {
    "relu": F.relu,
    "leaky_relu": F.leaky_relu,
    "elu": F.elu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": F.softplus,
    "gelu": F.gelu,
    "silu": F.silu,
    "linear": lambda t: t,
}


def _first_slider(widget):
    """The first FloatSlider in page order (depth first), the one a browser test moves."""
    for child in widget.children:
        if type(child).__name__ == "FloatSlider":
            return child
        found = _first_slider(child) if hasattr(child, "children") else None
        if found is not None:
            return found
    return None


def _data(n=120, seed=0):
    """Points labelled by the line x1 + 2 x2 - 0.5 = 0, which separates them."""
    x = np.random.default_rng(seed).uniform(-2, 2, (n, 2))
    return x, (x @ np.array([1.0, 2.0]) - 0.5 > 0).astype(int)


# --- the neuron -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "gelu"])
def test_neuron_forward_and_gradients_match_torch(name, device_dtype):
    device, dtype = device_dtype
    x, _ = _data(30)
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
    x, y = _data()
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
    x, y = _data()
    figure, ax = new_figure()
    result = plot_neuron(ax, x, y, 0.0, 0.0, 1.0, "sigmoid")
    assert result["accuracy"] == y.mean()  # z = b > 0 everywhere: all class 1
    assert not [line for line in ax.get_lines() if line.get_label() == "boundary z = 0"]


def test_neuron_widget_controls_drive_result_readout_and_figure():
    x, y = _data()
    widget = make_neuron_widget(x, y, w1=1.0, w2=-1.0, b=0.0)
    assert _first_slider(widget) is widget.controls["w1"]
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


# --- the activation explorer ----------------------------------------------------------------------
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


def test_every_explorer_function_is_an_nnlearn_activation():
    assert set(FUNCTIONS) == set(activations.NAMES) | {"softmax"}


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
    assert _first_slider(explorer) is explorer.controls["negative_slope"]
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


# --- plotting helpers ---------------------------------------------------------------------------
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
    x, y = _data()
    figure, ax = new_figure()
    # two class scores: class 1 wins where x1 > 0
    plot_decision_surface(ax, lambda p: np.column_stack([-p[:, 0], p[:, 0]]), x, y)
    (filled,) = [c for c in ax.collections if hasattr(c, "levels")]
    np.testing.assert_allclose(filled.levels, [-0.5, 0.5, 1.5])
    assert figure_to_png(figure)[:4] == b"\x89PNG"


def test_plot_decision_surface_draws_the_requested_boundary_level():
    x, y = _data()
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


def test_widgets_package_lists_the_explorers_and_imports_no_ipywidgets():
    code = (
        "import sys, nnlearn.widgets as w; "
        "print('ipywidgets' in sys.modules, 'matplotlib' in sys.modules); print(w.__doc__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, doc = out.stdout.split("\n", 1)
    assert first == "False False"
    for module in ("neuron", "activation_explorer", "optimizer_paths", "playground"):
        assert f"nnlearn.widgets.{module}" in doc
