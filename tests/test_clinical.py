"""Chapter 19: the clinical metrics, calibration and the weighted loss (nnlearn/clinical.py).

References, none of them the code under test: scikit-learn's ``roc_curve``, ``roc_auc_score``,
``precision_recall_curve``, ``average_precision_score``, ``brier_score_loss``,
``calibration_curve``, ``recall_score`` on random and on heavily tied scores; the AUC as the
share of (positive, negative) pairs ranked right; the required-sensitivity threshold and the
ECE by brute force; the fitted temperature against a fine grid of a numpy NLL and against
PyTorch's L-BFGS; numeric gradients and planted wrong formulas for the fused ``BCEWithLogits``
(on the parity cases of ``parity/test_clinical_parity.py``); and Keras-style ``fit`` with
``class_weight`` against ``fit`` with the ``pos_weight`` loss.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from parity.planting import a_case_fails, functions_defined_in, planted_formula_test
from parity.test_clinical_parity import CLINICAL_CASES
from sklearn import calibration, metrics
from sklearn.exceptions import UndefinedMetricWarning

import nnlearn as nl
from nnlearn import clinical
from nnlearn.gradcheck import gradcheck

pytestmark = [pytest.mark.chapter19, pytest.mark.usefixtures("float64_default")]


def _draw(seed: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels with both classes and scores: continuous, tied (5 levels) or mostly one value."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 80))
    y = rng.integers(0, 2, n)
    y[:2] = 0, 1
    if kind == "continuous":
        s = rng.random(n) + 0.3 * y
    elif kind == "tied":
        s = rng.integers(0, 5, n) / 4
    else:  # almost every score the same
        s = np.where(rng.random(n) < 0.8, 0.5, rng.random(n))
    return y, s


DRAWS = [(seed, kind) for seed in range(8) for kind in ("continuous", "tied", "few_values")]


# --- ranking: against scikit-learn -------------------------------------------------------------
@pytest.mark.parametrize("seed, kind", DRAWS)
def test_curves_and_areas_are_scikit_learns(seed, kind):
    y, s = _draw(seed, kind)
    for drop in (True, False):
        for ours, theirs in [
            (
                clinical.roc_curve(y, s, drop_intermediate=drop),
                metrics.roc_curve(y, s, drop_intermediate=drop),
            ),
            (
                clinical.precision_recall_curve(y, s, drop_intermediate=drop),
                metrics.precision_recall_curve(y, s, drop_intermediate=drop),
            ),
        ]:
            for a, b in zip(ours, theirs, strict=True):
                np.testing.assert_array_equal(a, b)
    assert clinical.roc_auc_score(y, s) == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-15)
    expected_ap = metrics.average_precision_score(y, s)
    assert clinical.average_precision_score(y, s) == pytest.approx(expected_ap, abs=1e-15)


@pytest.mark.parametrize("seed, kind", DRAWS[:9])
def test_auc_is_the_share_of_pairs_ranked_right_ties_counting_half(seed, kind):
    y, s = _draw(seed, kind)
    pos, neg = s[y == 1][:, None], s[y == 0][None, :]
    pairs = np.mean((pos > neg) + 0.5 * (pos == neg))
    assert clinical.roc_auc_score(y, s) == pytest.approx(pairs, rel=1e-12)


def test_labels_and_scores_may_be_lists_bools_columns_or_float32():
    y, s = _draw(3, "continuous")
    expected = metrics.roc_curve(y, s.astype(np.float32))
    for labels, scores in [
        (y.astype(bool), s.astype(np.float32)),
        (list(y), list(s.astype(np.float32))),
        (y[:, None].astype(np.float64), s.astype(np.float32)[:, None]),
    ]:
        for a, b in zip(clinical.roc_curve(labels, scores), expected, strict=True):
            np.testing.assert_array_equal(a, b)


# --- an operating point ------------------------------------------------------------------------
@pytest.mark.parametrize("seed, kind", DRAWS[:12])
def test_sensitivity_and_specificity_are_the_recalls_of_each_class(seed, kind):
    y, s = _draw(seed, kind)
    for threshold in (*np.unique(s)[:4], 0.5, 2.0, -1.0):
        called = (s >= threshold).astype(int)
        sensitivity, specificity = clinical.sensitivity_specificity(y, s, threshold)
        assert sensitivity == metrics.recall_score(y, called, pos_label=1)
        assert specificity == metrics.recall_score(y, called, pos_label=0)


@pytest.mark.parametrize("seed, kind", DRAWS[:12])
@pytest.mark.parametrize("required", [0.5, 0.8, 0.95, 1.0])
def test_threshold_for_sensitivity_is_the_highest_that_reaches_it(seed, kind, required):
    y, s = _draw(seed, kind)
    reaching = [t for t in np.unique(s) if np.mean(s[y == 1] >= t) >= required]
    assert clinical.threshold_for_sensitivity(y, s, required) == max(reaching)


def test_threshold_for_sensitivity_reaches_an_exact_share():
    y = np.array([1] * 20 + [0] * 5)
    s = np.r_[np.linspace(1.0, 0.05, 20), np.full(5, 0.5)]
    threshold = clinical.threshold_for_sensitivity(y, s, 0.95)  # 19 of 20: exactly 0.95
    assert threshold == s[18]
    assert clinical.sensitivity_specificity(y, s, threshold)[0] == 0.95


def test_threshold_for_sensitivity_refuses_an_impossible_requirement():
    y, s = _draw(0, "continuous")
    for required in (0.0, 1.01, -0.5):
        with pytest.raises(ValueError, match=r"sensitivity must be in \(0, 1\]"):
            clinical.threshold_for_sensitivity(y, s, required)


# --- calibration -------------------------------------------------------------------------------
def _probabilities(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.random(60)
    p[:6] = 0.0, 1.0, 0.2, 0.4, 0.5, 0.6  # on the edges of the bins
    p[6:12] = np.round(p[6:12], 1)
    return (rng.random(60) < p).astype(int), p


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
@pytest.mark.parametrize("n_bins", [1, 3, 5, 10])
def test_calibration_curve_is_scikit_learns(seed, strategy, n_bins):
    y, p = _probabilities(seed)
    ours = clinical.calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
    theirs = calibration.calibration_curve(y, p, n_bins=n_bins, strategy=strategy)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_calibration_curve_defaults_are_scikit_learns():
    y, p = _probabilities(9)
    for a, b in zip(
        clinical.calibration_curve(y, p), calibration.calibration_curve(y, p), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_brier_score_is_scikit_learns(seed):
    y, p = _probabilities(seed)
    assert clinical.brier_score_loss(y, p) == pytest.approx(
        metrics.brier_score_loss(y, p), rel=1e-14
    )


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
def test_ece_is_the_weighted_gap_of_the_reliability_diagram(seed, n_bins):
    y, p = _probabilities(seed)
    edges = np.linspace(0, 1, n_bins + 1)  # right edges included; the first bin also takes 0
    counts = [
        np.sum((p > lo) & (p <= hi) | ((k == 0) & (p == 0)))
        for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    ]
    counts = np.array([c for c in counts if c])
    prob_true, prob_pred = calibration.calibration_curve(y, p, n_bins=n_bins)
    expected = np.sum(counts / len(y) * np.abs(prob_true - prob_pred))
    assert counts.sum() == len(y)
    assert clinical.expected_calibration_error(y, p, n_bins=n_bins) == pytest.approx(
        expected, rel=1e-12
    )


def test_ece_is_zero_for_bins_that_come_true_exactly_and_one_when_all_wrong():
    p = np.array([0.25] * 4 + [0.75] * 4)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert clinical.expected_calibration_error(y, p) == pytest.approx(0.0, abs=1e-15)
    assert clinical.expected_calibration_error([1, 0], [0.0, 1.0]) == 1.0


# --- single classes and bad inputs -------------------------------------------------------------
@pytest.mark.parametrize("only", [0, 1])
@pytest.mark.parametrize(
    "metric",
    [
        clinical.roc_curve,
        clinical.roc_auc_score,
        clinical.precision_recall_curve,
        clinical.average_precision_score,
        lambda y, s: clinical.sensitivity_specificity(y, s, 0.5),
        lambda y, s: clinical.threshold_for_sensitivity(y, s, 0.9),
    ],
)
def test_one_class_only_raises_where_scikit_learn_returns_nan(metric, only):
    y, s = np.full(6, only), np.linspace(0, 1, 6)
    with pytest.warns(UndefinedMetricWarning):  # scikit-learn's answer: a warning and nan
        assert np.isnan(metrics.roc_auc_score(y, s))
    missing = "positive" if only == 0 else "negative"
    with pytest.raises(ValueError, match=f"no {missing}"):
        metric(y, s)


@pytest.mark.parametrize("only", [0, 1])
def test_calibration_accepts_one_class_as_scikit_learn_does(only):
    y, p = np.full(6, only), np.linspace(0, 1, 6)
    assert clinical.brier_score_loss(y, p) == pytest.approx(metrics.brier_score_loss(y, p))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for a, b in zip(
            clinical.calibration_curve(y, p), calibration.calibration_curve(y, p), strict=True
        ):
            np.testing.assert_allclose(a, b)


@pytest.mark.parametrize(
    "labels, match",
    [
        ([0, 2, 1], "labels must be 0 or 1"),
        ([-1, 1, 1], "labels must be 0 or 1"),
        (["benign", "malignant", "benign"], "labels must be 0 or 1"),
        (np.zeros((3, 2)), "1-D"),
    ],
)
def test_labels_other_than_0_and_1_are_refused_with_a_remedy(labels, match):
    with pytest.raises(ValueError, match=match):
        clinical.roc_auc_score(labels, [0.1, 0.2, 0.3])


def test_scores_of_another_length_nan_or_probabilities_outside_0_1_are_refused():
    with pytest.raises(ValueError, match="shape"):
        clinical.roc_curve([0, 1, 1], [0.1, 0.2])
    with pytest.raises(ValueError, match="nan or inf"):
        clinical.roc_auc_score([0, 1], [0.1, np.nan])
    for metric in (
        metrics.brier_score_loss,
        clinical.brier_score_loss,
        clinical.expected_calibration_error,
    ):
        with pytest.raises(ValueError):
            metric([0, 1], [0.2, 1.5])
    with pytest.raises(ValueError, match="strategy"):
        clinical.calibration_curve([0, 1], [0.2, 0.5], strategy="kmeans")


# --- temperature scaling -----------------------------------------------------------------------
def _logits(seed: int, n: int = 150) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return 4.0 * (2 * y - 1) + 3.0 * rng.standard_normal(n), y


def _nll(z: np.ndarray, y: np.ndarray, temperature: np.ndarray) -> np.ndarray:
    """-mean[y log s(z/T) + (1 - y) log(1 - s(z/T))] for each T: numpy, written out."""
    u = z[None, :] / temperature[:, None]
    return np.mean(np.logaddexp(0, -u) * y + np.logaddexp(0, u) * (1 - y), axis=1)


@pytest.mark.parametrize("seed", range(2))
def test_fitted_temperature_is_the_minimum_on_a_fine_grid(seed):
    z, y = _logits(seed)
    coarse = np.geomspace(0.05, 50, 2001)
    best = coarse[np.argmin(_nll(z, y, coarse))]
    fine = np.linspace(best * 0.995, best * 1.005, 5001)  # steps of 2e-6 * best
    on_grid = fine[np.argmin(_nll(z, y, fine))]
    assert clinical.fit_temperature(z, y) == pytest.approx(on_grid, rel=3e-6)
    assert clinical.temperature_nll(z, y, 1.3).item() == pytest.approx(
        _nll(z, y, np.array([1.3]))[0], rel=1e-13
    )


def test_fitted_temperature_is_where_pytorchs_newton_steps_converge():
    z, y = _logits(5)  # Newton on log T, both derivatives by torch's autograd
    logits, labels = torch.tensor(z), torch.tensor(y, dtype=torch.float64)
    log_t = torch.zeros((), dtype=torch.float64)
    for _ in range(30):
        log_t.requires_grad_(True)
        nll = F.binary_cross_entropy_with_logits(logits / log_t.exp(), labels)
        (slope,) = torch.autograd.grad(nll, log_t, create_graph=True)
        (curvature,) = torch.autograd.grad(slope, log_t)
        log_t = (log_t - slope / curvature).detach()
    assert abs(slope.item()) < 1e-12
    assert clinical.fit_temperature(z, y) == pytest.approx(log_t.exp().item(), rel=1e-9)


def test_temperature_follows_the_logits_scale():
    z, y = _logits(1)
    assert clinical.fit_temperature(3.0 * z, y) == pytest.approx(
        3.0 * clinical.fit_temperature(z, y), rel=1e-9
    )


def test_temperature_refuses_useless_or_separating_logits():
    z, y = _logits(2)
    with pytest.raises(ValueError, match="no better than chance"):
        clinical.fit_temperature(-z, y)
    with pytest.raises(ValueError, match="separate the classes perfectly"):
        clinical.fit_temperature(2 * y - 1.0, y)


# --- the weighted loss: numeric gradients, planted formulas, class_weight ----------------------
@pytest.mark.parametrize("case", CLINICAL_CASES, ids=lambda c: c.name)
def test_weighted_bce_backward_passes_a_numeric_gradient_check(case):
    gradcheck(case.nn_fn, *case.inputs(), names=["logits"]).assert_ok()


test_a_planted_wrong_formula_is_caught = planted_formula_test(
    functions_defined_in(clinical), lambda: a_case_fails(CLINICAL_CASES, lambda c: c.inputs())
)


def test_every_function_is_planted():
    assert {f.__name__ for f in functions_defined_in(clinical)} == {"BCEWithLogits"}


def _model(seed: int) -> nl.Sequential:
    nl.seed_everything(seed)
    return nl.Sequential([nl.layers.Dense(4, "tanh", input_shape=(3,)), nl.layers.Dense(1)])


def test_class_weight_in_fit_trains_as_the_pos_weight_loss():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3))
    y = (x[:, 0] + 0.5 * rng.standard_normal(40) > 0.7).astype(np.float64)
    w = float((y == 0).sum() / (y == 1).sum())  # negatives per positive, about 3
    weighted = _model(1).compile("adam", nl.losses.BinaryCrossentropy(from_logits=True))
    nl.seed_everything(2)
    weighted.fit(x, y, batch_size=8, epochs=5, class_weight={0: 1.0, 1: w}, verbose=0)

    def pos_weight_loss(y_true, logits):
        return clinical.binary_cross_entropy_with_logits(logits, y_true, pos_weight=w)

    by_loss = _model(1).compile("adam", pos_weight_loss)
    nl.seed_everything(2)
    by_loss.fit(x, y, batch_size=8, epochs=5, verbose=0)
    unweighted = _model(1).compile("adam", nl.losses.BinaryCrossentropy(from_logits=True))
    nl.seed_everything(2)
    unweighted.fit(x, y, batch_size=8, epochs=5, verbose=0)
    for a, b, c in zip(
        weighted.get_weights(), by_loss.get_weights(), unweighted.get_weights(), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        assert not np.allclose(a, c, rtol=1e-3)  # the weighting changed the training


def test_class_weight_and_pos_weight_differ_for_soft_targets():
    z, y = np.array([[0.3], [-1.2]]), np.array([[0.9], [0.2]])
    keras_weighted = nl.losses.BinaryCrossentropy(from_logits=True)(
        y, z, sample_weight=np.where(y > 0.5, 3.0, 1.0)
    )
    ours = clinical.binary_cross_entropy_with_logits(z, y, pos_weight=3.0)
    assert abs(keras_weighted.item() - ours.item()) > 0.1
    hard = np.array([[1.0], [0.0]])
    keras_hard = nl.losses.BinaryCrossentropy(from_logits=True)(
        hard, z, sample_weight=np.array([3.0, 1.0])
    )
    assert keras_hard.item() == pytest.approx(
        clinical.binary_cross_entropy_with_logits(z, hard, pos_weight=3.0).item(), rel=1e-14
    )
