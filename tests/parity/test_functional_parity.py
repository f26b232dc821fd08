"""Chapter 06: every Tensor operation (the table in op_cases.py: nnlearn.functional and
nnlearn.reductions) matches torch's own, forward and backward, on every device; its backward
agrees with numeric gradients (central differences); and a wrong formula planted in any of
their Functions is caught."""

import pytest
from op_cases import OP_CASES
from planting import a_case_fails, functions_defined_in, planted_formula_test

from nnlearn import functional, reductions
from nnlearn.gradcheck import gradcheck
from nnlearn.parity import check_function

pytestmark = pytest.mark.chapter06


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: c.name)
def test_operation_matches_torch(case, device_dtype):
    device, dtype = device_dtype
    report = check_function(case.nn_fn, case.torch_fn, *case.inputs(), device=device, dtype=dtype)
    report.assert_ok()
    assert len(report.rows) == 1 + len(case.shapes)


# A maximum with ties has no derivative, so the tie case is checked against torch only.
DIFFERENTIABLE_CASES = [case for case in OP_CASES if case.values != "ties"]


@pytest.mark.parametrize("case", DIFFERENTIABLE_CASES, ids=lambda c: c.name)
def test_backward_matches_numeric_gradient(case):
    report = gradcheck(case.nn_fn, *case.inputs(seed=1))
    report.assert_ok()
    assert all(row.max_rel_error < 1e-6 for row in report.rows)


# A wrong formula in any Function of nnlearn.functional or nnlearn.reductions is noticed.
test_a_planted_wrong_formula_is_caught = planted_formula_test(
    functions_defined_in(functional), lambda: a_case_fails(OP_CASES, lambda c: c.inputs())
)
test_a_planted_wrong_reduction_is_caught = planted_formula_test(
    functions_defined_in(reductions), lambda: a_case_fails(OP_CASES, lambda c: c.inputs())
)
