"""Chapter 05: numeric gradients by central differences, the relative error that judges them,
and gradcheck catching a wrong backward. Every operation's backward against numeric gradients:
tests/parity/test_functional_parity.py."""

import numpy as np
import pytest

import nnlearn as nl
from nnlearn.gradcheck import gradcheck, numeric_gradient, relative_error

pytestmark = pytest.mark.chapter05


def test_relative_error_follows_its_formula():
    # |1 - 1.1| / (|1| + |1.1|) = 0.1 / 2.1, the largest of the elementwise errors
    assert relative_error(np.array([1.0, 3.0]), np.array([1.1, 3.0])) == pytest.approx(0.1 / 2.1)
    # two zeros: the denominator is clamped at 1e-8 instead of dividing by zero
    assert relative_error(np.zeros(2), np.zeros(2)) == 0.0
    assert relative_error(np.array([0.0]), np.array([1e-9])) == pytest.approx(1e-9 / 1e-8)


def test_numeric_gradient_of_a_square_is_twice_the_input():
    x = np.array([[-1.5, 0.25], [2.0, 3.0]])
    upstream = np.ones((2, 2))
    (grad,) = numeric_gradient(lambda t: t * t, [x], upstream)
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-8)


def test_gradcheck_catches_a_wrong_backward(monkeypatch):
    monkeypatch.setattr(nl.functional.Exp, "backward", lambda self, g: g)  # forgets * exp(a)
    report = gradcheck(lambda a: a.exp(), np.array([0.3, -1.2, 2.0]))
    assert not report.ok
    with pytest.raises(AssertionError, match="d/dx0"):
        report.assert_ok()
