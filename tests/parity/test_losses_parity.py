"""Chapter 04: every loss matches torch's own, value and gradient, on every device.

nnlearn's losses are Keras's (``loss(y_true, y_pred)``, one loss per example from the
functions); the torch references compute the same thing with torch's functions in torch's
order (``F.mse_loss(input, target, reduction="none").mean(-1)``, ...). Keras clips
probabilities and divides categorical rows by their sum; torch's functions do neither, so the
probability cases stay away from 0 and 1, and a categorical loss of probabilities is compared
with ``F.cross_entropy(log p, t)``, whose log-softmax divides by the row sum exactly as Keras
does (value and gradient). Where Keras's clip matters, the reference is its torch code itself.

One line per case below: the target is closed over and converted for torch onto the device of
the prediction. Each case is also checked against numeric gradients, and a wrong formula
planted in any loss Function's forward or backward is shown to be caught.
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
from nnlearn import activations as A
from nnlearn import losses as L
from nnlearn.gradcheck import gradcheck
from nnlearn.parity import check_function, to_torch

pytestmark = pytest.mark.chapter04


def like(array: np.ndarray, t: torch.Tensor) -> torch.Tensor:
    """A target for torch on ``t``'s device: labels stay int64, floats take ``t``'s dtype."""
    if np.issubdtype(array.dtype, np.integer):
        return to_torch(array, str(t.device))
    return to_torch(array, str(t.device), dtype=str(t.dtype).removeprefix("torch."))


@dataclass(frozen=True)
class Case:
    """A loss of (y_true, y_pred) in nnlearn, torch's of (input, target), prediction, target."""

    name: str
    nn_loss: Callable
    torch_loss: Callable
    x: np.ndarray
    target: np.ndarray

    def nn_fn(self, y_pred: nl.Tensor) -> nl.Tensor:
        return self.nn_loss(self.target, y_pred)

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
ROUGH = _rng.uniform(0.1, 0.9, (N, C))  # rows not summing to 1: Keras divides by the sum
LABELS = np.array([0, 3, 1, 2, 3, 0])
ONE_HOT = np.eye(C)[LABELS]
SOFT_TARGETS = _softmax_rows(_rng.standard_normal((N, C)))
LOGITS_3D, LABELS_3D = _rng.standard_normal((2, 3, C)), _rng.integers(0, C, (2, 3))
CHANNELS_FIRST, TARGETS_FIRST = (
    _rng.standard_normal((2, C, 3)),
    _softmax_rows(_rng.standard_normal((2, 3, C))).transpose(0, 2, 1),
)
WEIGHTS = _rng.uniform(0.5, 2.0, N)
# Stability: logits in the hundreds, where exp overflows and sigmoid rounds to 0 or 1.
HUGE_LOGITS = LOGITS * 300.0
HUGE_Z = np.array([[-80.0, -30.0, 0.5], [30.0, 80.0, -0.5]])
HUGE_Y = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


def per_example(torch_loss: Callable, **options) -> Callable:
    """torch's elementwise loss (reduction none), averaged over the last axis as Keras does."""
    return lambda p, t: torch_loss(p, t, reduction="none", **options).mean(-1)


def cross_entropy_of_probabilities(p: torch.Tensor, t: torch.Tensor, **options) -> torch.Tensor:
    """Keras's cross-entropy of probabilities (rows divided by their sum), in torch: the
    log-softmax of log p is log p - log sum p."""
    return F.cross_entropy(torch.log(p), t, **options)


def keras_torch_code_bce(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Keras 3's torch backend: clip to [1e-7, 1 - 1e-7], then torch's BCE."""
    clipped = torch.clip(p, L.EPSILON, 1 - L.EPSILON)
    return F.binary_cross_entropy(clipped, y, reduction="none").mean(-1)


def keras_torch_code_cce(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Keras 3's torch backend: divide by the row sum, clip, then -sum t log."""
    rows = torch.clip(p / p.sum(-1, keepdim=True), L.EPSILON, 1 - L.EPSILON)
    return -(t * torch.log(rows)).sum(-1)


def weighted_mean(torch_loss: Callable) -> Callable:
    """Keras's "sum_over_batch_size" of per-example losses weighted by WEIGHTS, in torch."""
    return lambda p, t: (torch_loss(p, t) * like(WEIGHTS, p)).mean()


def weighted(loss: L.Loss) -> Callable:
    return lambda y_true, y_pred: loss(y_true, y_pred, sample_weight=WEIGHTS)


# Short names for the variants, so each case fits on one line.
cce_logits = partial(L.categorical_crossentropy, from_logits=True)
sparse_logits = partial(L.sparse_categorical_crossentropy, from_logits=True)
bce_logits = partial(L.binary_crossentropy, from_logits=True)
torch_mse, torch_mae = per_example(F.mse_loss), per_example(F.l1_loss)
torch_bce, torch_bce_logits = (
    per_example(F.binary_cross_entropy),
    per_example(F.binary_cross_entropy_with_logits),
)
torch_ce = partial(F.cross_entropy, reduction="none")
torch_ce_probs = partial(cross_entropy_of_probabilities, reduction="none")
huber_half, torch_huber_half = partial(L.huber, delta=0.5), per_example(F.huber_loss, delta=0.5)


# The fusion: probabilities from softmax (sigmoid) are scored from the logits they came from.
def cce_of_softmax(t, z):
    return L.categorical_crossentropy(t, A.softmax(z))


def sparse_of_softmax(t, z):
    return L.SparseCategoricalCrossentropy()(t, A.softmax(z))


def bce_of_sigmoid(t, z):
    return L.binary_crossentropy(t, A.sigmoid(z))


CASES = [
    Case("mse", L.mean_squared_error, torch_mse, PRED, TARGET),
    Case("mae", L.mean_absolute_error, torch_mae, PRED, TARGET),
    Case("huber", L.huber, per_example(F.huber_loss), PRED, TARGET),
    Case("huber_delta", huber_half, torch_huber_half, PRED, TARGET),
    Case("bce", L.binary_crossentropy, torch_bce, PROB, BINARY),
    Case("bce_soft_targets", L.binary_crossentropy, torch_bce, PROB, SOFT_BINARY),
    Case("bce_logits", bce_logits, torch_bce_logits, PRED, BINARY),
    Case("bce_logits_soft_targets", bce_logits, torch_bce_logits, PRED, SOFT_BINARY),
    Case("cce_logits", cce_logits, torch_ce, LOGITS, ONE_HOT),
    Case("cce_logits_soft_targets", cce_logits, torch_ce, LOGITS, SOFT_TARGETS),
    Case("cce_logits_axis_1", partial(cce_logits, axis=1), torch_ce, CHANNELS_FIRST, TARGETS_FIRST),
    Case("cce_probs", L.categorical_crossentropy, torch_ce_probs, PROBS, ONE_HOT),
    Case("cce_probs_soft", L.categorical_crossentropy, torch_ce_probs, PROBS, SOFT_TARGETS),
    Case("cce_rough_rows", L.categorical_crossentropy, torch_ce_probs, ROUGH, SOFT_TARGETS),
    Case("sparse_logits", sparse_logits, torch_ce, LOGITS, LABELS),
    Case(
        "sparse_logits_3d",
        sparse_logits,
        lambda z, y: torch_ce(z.movedim(-1, 1), y),
        LOGITS_3D,
        LABELS_3D,
    ),  # noqa: E501  # fmt: skip
    Case("sparse_probs", L.sparse_categorical_crossentropy, torch_ce_probs, PROBS, LABELS),
    Case("sparse_rough_rows", L.sparse_categorical_crossentropy, torch_ce_probs, ROUGH, LABELS),
    Case("softmax_then_cce", cce_of_softmax, torch_ce, LOGITS, SOFT_TARGETS),
    Case("softmax_then_sparse_class", sparse_of_softmax, F.cross_entropy, LOGITS, LABELS),
    Case("sigmoid_then_bce", bce_of_sigmoid, torch_bce_logits, PRED, SOFT_BINARY),
    Case("class_mse", L.MeanSquaredError(), F.mse_loss, PRED, TARGET),
    Case("class_mae", L.MeanAbsoluteError(), F.l1_loss, PRED, TARGET),
    Case("class_huber", L.Huber(delta=2.0), partial(F.huber_loss, delta=2.0), PRED, TARGET),
    Case("class_bce", L.BinaryCrossentropy(), F.binary_cross_entropy, PROB, BINARY),
    Case(
        "class_bce_logits",
        L.BinaryCrossentropy(True),
        F.binary_cross_entropy_with_logits,
        PRED,
        BINARY,
    ),  # noqa: E501  # fmt: skip
    Case("class_cce", L.CategoricalCrossentropy(), cross_entropy_of_probabilities, PROBS, ONE_HOT),
    Case("class_cce_logits", L.CategoricalCrossentropy(True), F.cross_entropy, LOGITS, ONE_HOT),
    Case(
        "class_sparse",
        L.SparseCategoricalCrossentropy(),
        cross_entropy_of_probabilities,
        PROBS,
        LABELS,
    ),  # noqa: E501  # fmt: skip
    Case(
        "class_sparse_logits",
        L.SparseCategoricalCrossentropy(True),
        F.cross_entropy,
        LOGITS,
        LABELS,
    ),  # noqa: E501  # fmt: skip
    Case(
        "class_mse_weighted", weighted(L.MeanSquaredError()), weighted_mean(torch_mse), PRED, TARGET
    ),  # noqa: E501  # fmt: skip
    Case(
        "class_sparse_weighted",
        weighted(L.SparseCategoricalCrossentropy(True)),
        weighted_mean(torch_ce),
        LOGITS,
        LABELS,
    ),  # noqa: E501  # fmt: skip
]
STABILITY_CASES = [
    Case("cce_huge_logits", cce_logits, torch_ce, HUGE_LOGITS, SOFT_TARGETS),
    Case("sparse_huge_logits", sparse_logits, torch_ce, HUGE_LOGITS, LABELS),
    Case("bce_huge_logits", bce_logits, torch_bce_logits, HUGE_Z, HUGE_Y),
    # Through the fusion, as confident a softmax or sigmoid as that still scores exactly.
    Case("softmax_huge_logits_then_cce", cce_of_softmax, torch_ce, HUGE_LOGITS, SOFT_TARGETS),
    Case(
        "softmax_huge_logits_then_sparse", sparse_of_softmax, F.cross_entropy, HUGE_LOGITS, LABELS
    ),  # noqa: E501  # fmt: skip
    Case("sigmoid_huge_logits_then_bce", bce_of_sigmoid, torch_bce_logits, HUGE_Z, HUGE_Y),
]


@pytest.mark.parametrize("case", CASES + STABILITY_CASES, ids=lambda c: c.name)
def test_loss_matches_torch(case, device_dtype):
    device, dtype = device_dtype
    report = check_function(case.nn_fn, case.torch_fn, case.x, device=device, dtype=dtype)
    report.assert_ok()


def test_functions_give_one_loss_per_example_and_classes_one_number():
    assert L.categorical_crossentropy(ONE_HOT, PROBS).shape == (N,)
    assert L.sparse_categorical_crossentropy(LABELS_3D, LOGITS_3D, from_logits=True).shape == (2, 3)
    assert L.mean_squared_error(TARGET, PRED).shape == (N,)
    assert L.MeanSquaredError()(TARGET, PRED).shape == ()


# Not the huge logits: there central differences lose more digits than the check allows.
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_loss_backward_matches_numeric_gradient(case):
    gradcheck(case.nn_fn, case.x).assert_ok()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_loss_keeps_float32(case):
    x = nl.Tensor(case.x.astype(np.float32), requires_grad=True)
    loss = case.nn_fn(x)
    loss.backward(np.ones(loss.shape, dtype=np.float32))
    assert loss.dtype == np.float32 and x.grad.dtype == np.float32


# --- kinks and edges: torch's at kinks, Keras's clip at probabilities 0 and 1 ---------------------
# Residuals exactly 0, +-delta and beyond (dyadic numbers: the subtraction is exact).
KINK_PRED = np.array([0.5, 1.5, -2.0, 3.0, 0.25])
RESIDUAL_1 = KINK_PRED - np.array([0.0, 1.0, -1.0, 0.0, 2.0])
RESIDUAL_HALF = KINK_PRED - np.array([0.0, 0.5, -0.5, 0.0, 1.0])
EDGE_P, EDGE_Y = np.array([0.0, 1.0, 0.0, 1.0, 0.5]), np.array([0.0, 1.0, 1.0, 0.0, 1.0])
EDGE_PROBS = np.array([[0.0, 0.25, 0.75], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
EDGE_TARGETS = np.eye(3)[[2, 2, 0]]  # a true class of probability 0: Keras's clip gives 16.1
KINK_CASES = [
    Case("mae_at_zero_residual", L.mean_absolute_error, torch_mae, KINK_PRED, RESIDUAL_1),
    Case("huber_at_0_and_delta", L.huber, per_example(F.huber_loss), KINK_PRED, RESIDUAL_1),
    Case("huber_at_0_and_half_delta", huber_half, torch_huber_half, KINK_PRED, RESIDUAL_HALF),
    Case("bce_at_p_0_and_1", L.binary_crossentropy, keras_torch_code_bce, EDGE_P, EDGE_Y),
    Case(
        "cce_at_p_0_and_1",
        L.categorical_crossentropy,
        keras_torch_code_cce,
        EDGE_PROBS,
        EDGE_TARGETS,
    ),  # noqa: E501  # fmt: skip
]


@pytest.mark.parametrize("case", KINK_CASES, ids=lambda c: c.name)
def test_value_and_gradient_at_a_kink_or_edge_match_torch(case, device_dtype):
    device, dtype = device_dtype
    check_function(case.nn_fn, case.torch_fn, case.x, device=device, dtype=dtype).assert_ok()


# --- a wrong formula anywhere is noticed ---------------------------------------------------------
FUNCTIONS = functions_defined_in(L.functions)

test_a_planted_wrong_formula_is_caught = planted_formula_test(
    FUNCTIONS, lambda: a_case_fails(CASES, lambda c: (c.x,))
)


def test_every_loss_function_is_planted():
    names = {f.__name__ for f in FUNCTIONS}
    assert names == {
        "Clip",
        "HuberError",
        "BCEFromProbabilities",
        "BCEFromLogits",
        "SoftmaxCrossEntropy",
    }
