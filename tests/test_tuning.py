"""Chapter 11: the training recipe's checks (nnlearn.tuning), each against an independent
reference: torch's cross-entropy and twin, the closed form of gradient descent on a quadratic,
hand-written numpy backpropagation, and direct counts."""

import subprocess
import sys

import numpy as np
import pytest
import torch

import nnlearn as nl
from nnlearn import tuning
from nnlearn.parity import (
    fit_twin,
    to_torch,
    torch_twin,
    twin_gradients,
    twin_loss,
    twin_parameters,
)

pytestmark = pytest.mark.chapter11

RNG = np.random.default_rng(0)
X = RNG.standard_normal((48, 6))  # (48, 6), standardized-like inputs
Y = (X @ RNG.standard_normal((6, 4))).argmax(axis=1)  # (48,) labels 0..3 from a linear teacher


def classifier(*widths, kernel_initializer="glorot_uniform", lr=1e-2, seed=0, optimizer=None):
    """A float64 relu classifier of 4 classes on 6 inputs, compiled with Adam(lr)."""
    nl.seed_everything(seed)
    stack = [
        nl.layers.Dense(
            w,
            "relu",
            input_shape=(6,) if i == 0 else None,
            dtype="float64",
            kernel_initializer=kernel_initializer,
        )
        for i, w in enumerate(widths)
    ]
    out = nl.layers.Dense(4, "softmax", kernel_initializer=kernel_initializer, dtype="float64")
    model = nl.Sequential([*stack, out])
    return model.compile(optimizer or nl.optim.Adam(lr=lr), "sparse_categorical_crossentropy")


# --- 1. the initial loss ---------------------------------------------------------------------
@pytest.mark.parametrize("classes", [2, 4, 10, 1000])
def test_expected_initial_loss_is_torch_cross_entropy_of_uniform_outputs(classes):
    labels = torch.arange(7) % classes
    uniform = torch.nn.functional.cross_entropy(
        torch.zeros(7, classes, dtype=torch.float64), labels
    )
    assert tuning.expected_initial_loss(classes) == pytest.approx(uniform.item(), rel=1e-15)


def test_initial_loss_is_torch_twins_loss_and_zero_weights_give_exactly_log_c():
    model = classifier(16)
    twin = torch_twin(model)
    expected = torch.nn.functional.cross_entropy(
        torch.log(twin(to_torch(X))), torch.as_tensor(Y)
    ).item()
    assert tuning.initial_loss(model, X, Y) == pytest.approx(expected, rel=1e-12)
    zeros = classifier(16, kernel_initializer="zeros")  # every output uniform: exactly log 4
    assert tuning.initial_loss(zeros, X, Y) == pytest.approx(np.log(4), rel=1e-14)


def test_check_initial_loss_passes_a_healthy_model_and_catches_a_wrong_output_scale():
    model = classifier(64, 64)
    assert tuning.check_initial_loss(model, X, Y) == tuning.initial_loss(model, X, Y)
    model.layers[-1].kernel.data *= 30  # planted: a last layer initialised far too large
    with pytest.raises(tuning.RecipeCheckFailed, match=r"initial loss is .* log\(4\) = 1.386"):
        tuning.check_initial_loss(model, X, Y)
    with pytest.raises(tuning.RecipeCheckFailed, match="standardized"):  # unscaled inputs
        tuning.check_initial_loss(classifier(64, 64), 40 * X + 20, Y)


def test_expected_initial_loss_refuses_fewer_than_two_classes():
    with pytest.raises(ValueError, match="at least 2 classes"):
        tuning.expected_initial_loss(1)


# --- 2. overfit one batch ----------------------------------------------------------------------
def test_overfit_one_batch_losses_are_torch_twins_and_a_healthy_net_memorises_the_batch():
    model = classifier(32, lr=0.03)
    twin = torch_twin(model)
    losses = tuning.overfit_one_batch(model, X[:16], Y[:16], steps=60)
    reference = fit_twin(
        twin,
        X[:16],
        Y[:16],
        loss=model.loss,
        optimizer=model.optimizer,
        epochs=60,
        batch_size=16,
        shuffle=False,
    )["loss"]
    np.testing.assert_allclose(losses, reference, rtol=1e-9, atol=1e-12)
    assert losses.shape == (60,) and losses[-1] < 0.02 * losses[0]


def test_overfit_one_batch_catches_weights_that_cannot_break_symmetry():
    # All-zero kernels: every unit of a layer computes the same thing and gets the same
    # gradient forever, so the net cannot memorise 16 examples of 4 classes.
    losses = tuning.overfit_one_batch(
        classifier(32, kernel_initializer="zeros"), X[:16], Y[:16], 60
    )
    assert losses[-1] > 0.5 * losses[0]


# --- 3. the learning-rate range test -----------------------------------------------------------
def quadratic_problem():
    """Least squares with a linear model and full-batch SGD: gradient descent on a quadratic,
    which converges for lr < 2 / lambda_max of the Hessian 2/n X^T X and diverges above."""
    x = np.random.default_rng(1).standard_normal((64, 5)) * [1.0, 1.0, 2.0, 3.0, 0.5]
    y = x @ np.arange(1.0, 6.0)[:, None] + 0.1  # (64, 1); the 0.1 no weight can fit

    def factory():
        nl.seed_everything(0)
        model = nl.Sequential(
            [nl.layers.Dense(1, use_bias=False, input_shape=(5,), dtype="float64")]
        )
        return model.compile(nl.optim.SGD(lr=1e-3), "mse")

    threshold = 2 / np.linalg.eigvalsh(2 / len(x) * x.T @ x).max()
    return factory, x, y, threshold


def test_lr_range_test_stops_where_gradient_descent_on_a_quadratic_diverges():
    factory, x, y, threshold = quadratic_problem()
    lrs = np.geomspace(1e-4, 10, 200)
    result = tuning.lr_range_test(factory, x, y, lrs=lrs, batch_size=len(x))
    assert result.diverged
    # Below the threshold every step shrinks the loss (each eigen-component of the error shrinks
    # by |1 - lr lambda| < 1), so the loss first rises, and the test stops, above it. How far
    # above depends on how small the top component had become (around lr = 1/lambda_max one
    # step removes it), since it then grows from that size by |1 - lr lambda| per step.
    rises = np.diff(result.losses) > 1e-9 * result.losses[:-1]
    assert rises.any() and result.lrs[np.argmax(rises)] > threshold
    assert threshold < result.lrs[-1] < 10 * threshold
    assert result.suggestion < threshold
    np.testing.assert_array_equal(result.lrs, lrs[: len(result.losses)])


def test_lr_range_test_runs_every_rate_when_none_diverges():
    factory, x, y, threshold = quadratic_problem()
    lrs = np.geomspace(1e-4, 0.5 * threshold, 30)
    result = tuning.lr_range_test(factory, x, y, lrs=lrs, batch_size=len(x))
    assert not result.diverged and len(result.losses) == 30
    assert np.all(np.diff(result.losses) < 0)  # gradient descent below the threshold: monotone


def test_smooth_is_the_bias_corrected_moving_average():
    values = [4.0, 2.0, 3.0]
    beta = 0.5
    m1, m2, m3 = 0.5 * 4, 0.25 * 4 + 0.5 * 2, 0.125 * 4 + 0.25 * 2 + 0.5 * 3
    expected = [m1 / 0.5, m2 / 0.75, m3 / 0.875]
    np.testing.assert_allclose(tuning.smooth(values, beta), expected, rtol=1e-15)


# --- 4. activations, gradients, updates ----------------------------------------------------------
def test_layer_statistics_match_a_hand_written_numpy_forward_and_backward_pass():
    model = classifier(8, 5)
    stats = tuning.layer_statistics(model, X, Y)
    (w1, b1), (w2, b2), (w3, b3) = [layer.get_weights() for layer in model.layers]
    z1 = X @ w1 + b1
    h1 = np.maximum(z1, 0)
    z2 = h1 @ w2 + b2
    h2 = np.maximum(z2, 0)
    logits = h2 @ w3 + b3
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    d_logits = (p - np.eye(4)[Y]) / len(X)  # mean softmax cross-entropy
    d_h2 = d_logits @ w3.T
    d_h1 = (d_h2 * (z2 > 0)) @ w2.T
    assert [s.name for s in stats] == [f"{i}: {model.layers[i]!r}" for i in (0, 1)]
    for s, a, g in zip(stats, [h1, h2], [d_h1, d_h2], strict=True):
        np.testing.assert_allclose(s.activations, a, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(s.gradients, g, rtol=1e-10, atol=1e-15)
    assert all(p.grad is None for p in model.parameters())  # left clean


def test_histogram_counts_every_value_once_in_its_bin():
    stats = tuning.layer_statistics(classifier(8, 5), X, Y)
    for s in stats:
        for kind in ("activations", "gradients"):
            values = getattr(s, kind).ravel()
            counts, edges = s.histogram(kind, bins=7)
            inside = [
                (values >= lo) & (values < hi)
                for lo, hi in zip(edges[:-2], edges[1:-1], strict=True)
            ]
            direct = [m.sum() for m in inside] + [
                ((values >= edges[-2]) & (values <= edges[-1])).sum()
            ]
            np.testing.assert_array_equal(counts, direct)
            assert counts.sum() == values.size == len(X) * s.activations.shape[1]


def test_summary_counts_dead_and_saturated_units():
    s = tuning.LayerStatistics(
        "x", np.array([[0.0, 0.5, -0.99], [0.98, 0.0, 0.1]]), np.zeros((2, 3))
    )
    summary = s.summary()
    assert summary["zero"] == 2 / 6 and summary["saturated"] == 2 / 6
    assert summary["mean"] == pytest.approx(np.mean([0, 0.5, -0.99, 0.98, 0, 0.1]), rel=1e-15)


def test_update_ratio_is_lr_times_gradient_norm_over_weight_norm_by_torch():
    # Plain SGD: W_t - W_{t-1} = -lr * grad, so the ratio is lr * ||grad|| / ||W_{t-1}||, with
    # the gradient computed by PyTorch on the model's twin, step after step.
    lr = 0.05
    model = classifier(8, optimizer=nl.optim.SGD(lr=lr))
    twin = torch_twin(model)
    ratios = tuning.UpdateRatio()
    model.fit(X, Y, batch_size=len(X), epochs=3, shuffle=False, verbose=0, callbacks=[ratios])
    torch_loss = twin_loss(model.loss)
    expected = {"layers.0.kernel": [], "layers.1.kernel": []}
    for _ in range(3):
        twin.zero_grad()
        torch_loss(twin(to_torch(X)), torch.as_tensor(Y)).backward()
        before, grads = twin_parameters(twin), twin_gradients(twin)
        for name, values in expected.items():
            values.append(lr * np.linalg.norm(grads[name]) / np.linalg.norm(before[name]))
        with torch.no_grad():
            for p in twin.parameters():
                p -= lr * p.grad
    assert set(ratios.ratios) == set(expected)  # kernels only: biases start at 0
    for name, values in expected.items():
        np.testing.assert_allclose(ratios.ratios[name], values, rtol=1e-9)


def test_update_ratio_tracks_the_learning_rate():
    medians = {}
    for lr in (1e-5, 1e-3, 1e-1):
        ratios = tuning.UpdateRatio()
        classifier(16, lr=lr).fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[ratios])
        medians[lr] = np.median(ratios.ratios["layers.0.kernel"])
    assert medians[1e-5] < 1e-3 * medians[1e-1] and medians[1e-5] < medians[1e-3] < medians[1e-1]


def test_plots_draw_one_line_per_layer_and_matplotlib_is_imported_by_them_only():
    import matplotlib

    matplotlib.use("Agg")
    stats = tuning.layer_statistics(classifier(8, 5), X, Y)
    assert len(tuning.plot_histograms(stats, "gradients").lines) == 2
    ratios = {"a": [1e-3, 2e-3], "b": [1e-2, 1e-2]}
    ax = tuning.plot_update_ratios(ratios)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), np.log10([1e-3, 2e-3]))
    factory, x, y, _ = quadratic_problem()
    assert tuning.lr_range_test(factory, x, y, batch_size=len(x)).plot().get_xscale() == "log"
    code = (
        "import sys, nnlearn.tuning, nnlearn.tuning_optuna; "
        "print(sorted(m for m in ('matplotlib', 'optuna', 'sklearn', 'torch') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_update_ratio_of_an_all_zero_matrix_is_nan_without_a_warning():
    ratios = tuning.UpdateRatio()
    model = classifier(8, kernel_initializer="zeros", optimizer=nl.optim.SGD(lr=0.1))
    model.fit(X, Y, batch_size=len(X), epochs=2, verbose=0, callbacks=[ratios])
    # All kernels zero: every hidden output is relu(0) = 0 and passes no gradient (relu'(0) = 0),
    # so no kernel ever moves from 0 and every ratio is undefined; filterwarnings turns a
    # division warning from nnlearn into an error, so none was raised either.
    assert all(np.isnan(r) for values in ratios.ratios.values() for r in values)
    assert [len(values) for values in ratios.ratios.values()] == [2, 2]
