"""Chapter 19: the clinical losses match PyTorch, on every device.

* :data:`CLINICAL_CASES`: one line per case of the weighted binary cross-entropy
  (:func:`nnlearn.clinical.binary_cross_entropy_with_logits`, the fused ``BCEWithLogits``)
  against ``torch.nn.BCEWithLogitsLoss(pos_weight=..., weight=..., reduction=...)``: value and
  gradient. The same cases are checked against numeric gradients and planted wrong formulas in
  ``tests/test_clinical.py``.
* Temperature scaling's NLL and its gradient (with respect to the logits and to T) against
  torch's autograd through ``binary_cross_entropy_with_logits(z / T, y)``.

Needs only numpy, torch and pytest.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from parity.op_cases import OpCase

from nnlearn import clinical
from nnlearn.parity import check_function

pytestmark = pytest.mark.chapter19

_draw = np.random.default_rng(19)
TARGETS = (_draw.random((6, 3)) < 0.4).astype(np.float64)  # 0/1 labels, a few per column
SOFT = _draw.random((6, 3))  # targets in [0, 1] (label smoothing, averaged labels)
COLUMN_WEIGHTS = np.array([0.5, 2.0, 4.0])  # a pos_weight per column, broadcast along rows
ROW_WEIGHTS = _draw.uniform(0.2, 3.0, (6, 1))  # torch's `weight`, broadcast along columns


def _torch(array, like):
    return None if array is None else torch.as_tensor(array, dtype=like.dtype, device=like.device)


def bce_case(name, target=TARGETS, pos_weight=None, weight=None, reduction="mean", scale=1.0):
    """A case: nnlearn's function beside ``torch.nn.BCEWithLogitsLoss`` with the same options,
    on logits ``scale * N(0, 1)`` of shape (6, 3)."""

    def nn_fn(z):
        return clinical.binary_cross_entropy_with_logits(
            z * scale, target, weight=weight, reduction=reduction, pos_weight=pos_weight
        )

    def torch_fn(z):
        loss = torch.nn.BCEWithLogitsLoss(
            weight=_torch(weight, z), reduction=reduction, pos_weight=_torch(pos_weight, z)
        )
        return loss(z * scale, _torch(target, z))

    return OpCase(name, nn_fn, torch_fn, ((6, 3),))


CLINICAL_CASES = [
    bce_case("bce_no_pos_weight"),
    bce_case("bce_pos_weight_scalar", pos_weight=np.array(1.7)),
    bce_case("bce_pos_weight_per_column", pos_weight=COLUMN_WEIGHTS),
    bce_case("bce_pos_weight_sum", pos_weight=COLUMN_WEIGHTS, reduction="sum"),
    bce_case("bce_pos_weight_none", pos_weight=COLUMN_WEIGHTS, reduction="none"),
    bce_case("bce_pos_weight_and_weight", pos_weight=COLUMN_WEIGHTS, weight=ROW_WEIGHTS),
    bce_case("bce_pos_weight_soft_targets", target=SOFT, pos_weight=COLUMN_WEIGHTS),
]


@pytest.mark.parametrize("case", CLINICAL_CASES, ids=lambda c: c.name)
def test_weighted_bce_matches_torch_bce_with_logits_loss(case, device_dtype):
    device, dtype = device_dtype
    report = check_function(
        case.nn_fn, case.torch_fn, *case.inputs(), device=device, dtype=dtype, names=["logits"]
    )
    report.assert_ok()


def test_weighted_bce_stays_finite_and_exact_at_huge_logits(device_dtype):
    device, dtype = device_dtype  # e^{1000} overflows: the stable form never computes it
    logits = np.array([[-1000.0, 1000.0, -30.0, 30.0, 0.0]])
    target = np.array([[1.0, 0.0, 0.0, 1.0, 1.0]])
    for reduction in ("none", "mean"):
        check_function(
            lambda z, r=reduction: clinical.binary_cross_entropy_with_logits(
                z, target, reduction=r, pos_weight=np.array(2.5)
            ),
            lambda z, r=reduction: torch.nn.BCEWithLogitsLoss(
                reduction=r, pos_weight=_torch(np.array(2.5), z)
            )(z, _torch(target, z)),
            logits,
            device=device,
            dtype=dtype,
        ).assert_ok()


def test_weighted_bce_refuses_a_target_of_another_shape_as_torch_does():
    z, y = np.zeros((4, 1)), np.zeros(4)
    with pytest.raises(ValueError, match="same as input size"):
        torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(2.0))(torch.tensor(z), torch.tensor(y))
    with pytest.raises(ValueError, match="same as input size"):
        clinical.binary_cross_entropy_with_logits(z, y, pos_weight=2.0)


def test_temperature_nll_and_its_gradients_match_torch_autograd(device_dtype):
    device, dtype = device_dtype
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 40)
    logits = 3.0 * (2 * y - 1) + 2.0 * rng.standard_normal(40)

    def torch_nll(z, temperature):
        return F.binary_cross_entropy_with_logits(z / temperature, _torch(y, z))

    for temperature in (0.4, 1.0, 2.5):
        check_function(
            lambda z, t: clinical.temperature_nll(z, y, t),
            torch_nll,
            logits,
            np.array(temperature),
            device=device,
            dtype=dtype,
            names=["logits", "T"],
        ).assert_ok()
