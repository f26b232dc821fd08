"""Chapter 06: the operations of nnlearn.functional name themselves and both shapes in their
errors, and comparisons are elementwise bool Tensors. Every operation against torch, forward
and backward: tests/parity/test_functional_parity.py; for any shapes: test_properties.py."""

import numpy as np
import pytest

import nnlearn as nl

pytestmark = pytest.mark.chapter06


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (lambda a, b: a + b, r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"),
        (lambda a, b: a * b, r"mul: shapes \(2, 3\) and \(4,\)"),
        (lambda a, b: a @ b, r"matmul: shapes \(2, 3\) and \(4,\) do not match"),
        (lambda a, b: nl.concatenate([a, b]), r"concatenate: shapes \(2, 3\), \(4,\)"),
        (lambda a, b: a.reshape(4, 2), r"reshape: cannot reshape shape \(2, 3\)"),
    ],
)
def test_a_shape_mismatch_names_the_operation_and_both_shapes(expression, message):
    a, b = nl.Tensor(np.ones((2, 3))), nl.Tensor(np.ones(4))
    with pytest.raises(ValueError, match=message):
        expression(a, b)


def test_comparisons_are_elementwise_bool_tensors_outside_the_graph():
    x = nl.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    for result in (x == x, x != 2.0, x < x * 2, x <= 2, x > np.array([0.0]), x >= 2):
        assert result.dtype == np.bool_ and not result.requires_grad and result.is_leaf
    assert (x == nl.Tensor([1.0, 0.0, 3.0], dtype="float64")).numpy().tolist() == [
        True,
        False,
        True,
    ]
    with pytest.raises(ValueError, match=r"shapes \(3,\) and \(2,\)"):
        _ = x == np.ones(2)
