"""Chapter 06: every Tensor operation matches torch's own, forward and backward, on every device."""

import pytest
from op_cases import OP_CASES
from planting import a_case_fails, functions_defined_in, planted_formula_test

from nnlearn import reductions
from nnlearn.parity import check_function


@pytest.mark.parametrize("case", OP_CASES, ids=lambda c: c.name)
def test_operation_matches_torch(case, device_dtype):
    device, dtype = device_dtype
    report = check_function(case.nn_fn, case.torch_fn, *case.inputs(), device=device, dtype=dtype)
    report.assert_ok()
    assert len(report.rows) == 1 + len(case.shapes)


# The Functions of nnlearn.functional are planted in test_harness.py; these are the reductions'.
test_a_planted_wrong_reduction_is_caught = planted_formula_test(
    functions_defined_in(reductions), lambda: a_case_fails(OP_CASES, lambda c: c.inputs())
)
