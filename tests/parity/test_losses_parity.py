"""Chapter 04: every loss matches torch's own, value and gradient, on every device.

One line per case below: targets and labels are closed over, converted for torch onto the
device of the prediction. Each case is also checked against numeric gradients, and a wrong
formula planted in any loss Function's forward or backward is shown to be caught.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from planting import a_case_fails, functions_defined_in, planted_formula_test

import nnlearn as nl
from nnlearn import losses as L
from nnlearn.gradcheck import gradcheck
from nnlearn.parity import check_function, to_torch


def like(array: np.ndarray, t: torch.Tensor) -> torch.Tensor:
    """A target for torch on ``t``'s device: labels stay int64, floats take ``t``'s dtype."""
    if np.issubdtype(array.dtype, np.integer):
        return to_torch(array, str(t.device))
    return to_torch(array, str(t.device), dtype=str(t.dtype).removeprefix("torch."))


@dataclass(frozen=True)
class Case:
    """A loss of (y_pred, y_true) in nnlearn and in torch, the prediction, and the target."""

    name: str
    nn_loss: Callable
    torch_loss: Callable
    x: np.ndarray
    target: np.ndarray

    def nn_fn(self, y_pred: nl.Tensor) -> nl.Tensor:
        return self.nn_loss(y_pred, self.target)

    def torch_fn(self, y_pred: torch.Tensor) -> torch.Tensor:
        return self.torch_loss(y_pred, like(self.target, y_pred))


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_rng = np.random.default_rng(4)
N, C = 6, 4
PRED, TARGET = _rng.standard_normal((N, 3)) * 2, _rng.standard_normal((N, 3))
PROB = _rng.uniform(0.05, 0.95, (N, 3))
BINARY = _rng.integers(0, 2, (N, 3)).astype(np.float64)
SOFT_BINARY = _rng.uniform(0.0, 1.0, (N, 3))
LOGITS = _rng.standard_normal((N, C)) * 2
PROBS = _softmax_rows(_rng.standard_normal((N, C)))
LABELS = np.array([0, 3, 1, 2, 3, 0])
ONE_HOT = np.eye(C)[LABELS]
SOFT_TARGETS = _softmax_rows(_rng.standard_normal((N, C)))
LOGITS_3D, LABELS_3D = _rng.standard_normal((2, 3, C)), _rng.integers(0, C, (2, 3))
# Stability: logits in the hundreds, where exp overflows and sigmoid rounds to 0 or 1.
HUGE_LOGITS = LOGITS * 300.0
HUGE_Z = np.array([[-80.0, -30.0, 0.5], [30.0, 80.0, -0.5]])
HUGE_Y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


def nll_of_log(p: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """torch's cross-entropy of probabilities and labels: the NLL of log(p)."""
    return F.nll_loss(torch.log(p), labels)


def expected_neg_log(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """torch's cross-entropy of probabilities and target distributions: -E_t[log p] per row."""
    return -(t * torch.log(p)).sum(-1).mean()


def flat_cross_entropy(z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """torch's cross-entropy with the classes last: rows (..., C) flattened to (N, C)."""
    return F.cross_entropy(z.reshape(-1, z.shape[-1]), labels.reshape(-1))


# Short names for the variants, so each case fits on one line.
cce_from_logits = partial(L.categorical_crossentropy, from_logits=True)
sparse_from_logits = partial(L.sparse_categorical_crossentropy, from_logits=True)
bce_from_logits = partial(L.binary_crossentropy, from_logits=True)
torch_bce_logits = F.binary_cross_entropy_with_logits
huber_half, torch_huber_half = partial(L.huber, delta=0.5), partial(F.huber_loss, delta=0.5)

CASES = [
    Case("mse", L.mean_squared_error, F.mse_loss, PRED, TARGET),
    Case("mae", L.mean_absolute_error, F.l1_loss, PRED, TARGET),
    Case("huber", L.huber, F.huber_loss, PRED, TARGET),
    Case("huber_delta", huber_half, torch_huber_half, PRED, TARGET),
    Case("bce", L.binary_crossentropy, F.binary_cross_entropy, PROB, BINARY),
    Case("bce_soft_targets", L.binary_crossentropy, F.binary_cross_entropy, PROB, SOFT_BINARY),
    Case("bce_logits", L.binary_crossentropy_with_logits, torch_bce_logits, PRED, BINARY),
    Case("bce_from_logits_flag", bce_from_logits, torch_bce_logits, PRED, SOFT_BINARY),
    Case("cce_logits", cce_from_logits, F.cross_entropy, LOGITS, ONE_HOT),
    Case("cce_logits_soft_targets", cce_from_logits, F.cross_entropy, LOGITS, SOFT_TARGETS),
    Case("cce_probs", L.categorical_crossentropy, expected_neg_log, PROBS, ONE_HOT),
    Case("cce_probs_soft", L.categorical_crossentropy, expected_neg_log, PROBS, SOFT_TARGETS),
    Case("sparse_logits", sparse_from_logits, F.cross_entropy, LOGITS, LABELS),
    Case("sparse_logits_3d", sparse_from_logits, flat_cross_entropy, LOGITS_3D, LABELS_3D),
    Case("sparse_probs", L.sparse_categorical_crossentropy, nll_of_log, PROBS, LABELS),
    Case("class_mse", L.MeanSquaredError(), F.mse_loss, PRED, TARGET),
    Case("class_mae", L.MeanAbsoluteError(), F.l1_loss, PRED, TARGET),
    Case("class_huber", L.Huber(delta=2.0), partial(F.huber_loss, delta=2.0), PRED, TARGET),
    Case("class_bce", L.BinaryCrossentropy(), F.binary_cross_entropy, PROB, BINARY),
    Case("class_bce_logits", L.BinaryCrossentropy(True), torch_bce_logits, PRED, BINARY),
    Case("class_cce", L.CategoricalCrossentropy(), expected_neg_log, PROBS, ONE_HOT),
    Case("class_cce_logits", L.CategoricalCrossentropy(True), F.cross_entropy, LOGITS, ONE_HOT),
    Case("class_sparse", L.SparseCategoricalCrossentropy(), nll_of_log, PROBS, LABELS),
    Case(
        "class_sparse_logits",
        L.SparseCategoricalCrossentropy(True),
        F.cross_entropy,
        LOGITS,
        LABELS,
    ),
    Case("get_by_keras_name", L.get("sparse_categorical_crossentropy"), nll_of_log, PROBS, LABELS),
]
STABILITY_CASES = [
    Case("cce_huge_logits", cce_from_logits, F.cross_entropy, HUGE_LOGITS, SOFT_TARGETS),
    Case("sparse_huge_logits", sparse_from_logits, F.cross_entropy, HUGE_LOGITS, LABELS),
    Case("bce_huge_logits", L.binary_crossentropy_with_logits, torch_bce_logits, HUGE_Z, HUGE_Y),
]


@pytest.mark.parametrize("case", CASES + STABILITY_CASES, ids=lambda c: c.name)
def test_loss_matches_torch(case, device_dtype):
    device, dtype = device_dtype
    report = check_function(case.nn_fn, case.torch_fn, case.x, device=device, dtype=dtype)
    report.assert_ok()
    assert report.rows[0].shape == ()  # a scalar, like torch's mean reduction


# Not the huge logits: there central differences lose more digits than the check allows.
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_loss_backward_matches_numeric_gradient(case):
    gradcheck(case.nn_fn, case.x).assert_ok()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_loss_keeps_float32(case):
    x = nl.Tensor(case.x.astype(np.float32), requires_grad=True)
    loss = case.nn_fn(x)
    loss.backward()
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32


# --- kinks and edges follow PyTorch --------------------------------------------------------------
# Residuals exactly 0, +-delta and beyond (dyadic numbers: the subtraction is exact).
KINK_PRED = np.array([0.5, 1.5, -2.0, 3.0, 0.25])
RESIDUAL_1 = KINK_PRED - np.array([0.0, 1.0, -1.0, 0.0, 2.0])
RESIDUAL_HALF = KINK_PRED - np.array([0.0, 0.5, -0.5, 0.0, 1.0])
EDGE_P, EDGE_Y = np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([0.0, 1.0, 1.0, 0.0, 1.0])
KINK_CASES = [
    Case("mae_at_zero_residual", L.mean_absolute_error, F.l1_loss, KINK_PRED, RESIDUAL_1),
    Case("huber_at_0_and_delta", L.huber, F.huber_loss, KINK_PRED, RESIDUAL_1),
    Case("huber_at_0_and_half_delta", huber_half, torch_huber_half, KINK_PRED, RESIDUAL_HALF),
    Case("bce_at_p_0_and_1", L.binary_crossentropy, F.binary_cross_entropy, EDGE_P, EDGE_Y),
]


@pytest.mark.parametrize("case", KINK_CASES, ids=lambda c: c.name)
def test_value_and_gradient_at_a_kink_match_torch(case, device_dtype):
    device, dtype = device_dtype
    check_function(case.nn_fn, case.torch_fn, case.x, device=device, dtype=dtype).assert_ok()


def test_bce_of_certain_wrong_answers_is_clamped_at_100_like_torch():
    p = nl.Tensor(np.array([0.0, 1.0]), requires_grad=True)
    loss = L.binary_crossentropy(p, [1.0, 0.0])
    loss.backward()
    torch_p = torch.tensor([0.0, 1.0], dtype=torch.float64, requires_grad=True)
    expected = F.binary_cross_entropy(torch_p, torch.tensor([1.0, 0.0], dtype=torch.float64))
    expected.backward()
    assert loss.item() == expected.item() == 100.0
    np.testing.assert_array_equal(p.grad, torch_p.grad.numpy())


def test_probability_crossentropy_ignores_zero_probabilities_of_other_classes():
    # Closed form: L = -mean_n log p[n, label_n]; dL/dp[n, label_n] = -1 / (N p), 0 elsewhere.
    # (torch's log(p) would give 0 * inf = nan in the gradient of the zero entries.)
    probs = np.array([[0.0, 0.25, 0.75], [0.5, 0.5, 0.0]])
    p = nl.Tensor(probs, requires_grad=True)
    loss = L.sparse_categorical_crossentropy(p, [2, 0])
    loss.backward()
    assert loss.item() == pytest.approx(-(np.log(0.75) + np.log(0.5)) / 2, rel=1e-15)
    np.testing.assert_allclose(
        p.grad, [[0.0, 0.0, -1 / (2 * 0.75)], [-1 / (2 * 0.5), 0.0, 0.0]], rtol=1e-15
    )


# --- a wrong formula anywhere is noticed ---------------------------------------------------------
FUNCTIONS = functions_defined_in(L)

test_a_planted_wrong_formula_is_caught = planted_formula_test(
    FUNCTIONS, lambda: a_case_fails(CASES, lambda c: (c.x,))
)


def test_the_fused_functions_are_among_those_planted():
    names = {f.__name__ for f in FUNCTIONS}
    assert {"SoftmaxCrossEntropy", "BCEFromLogits", "BCEFromProbabilities", "HuberError"} <= names
