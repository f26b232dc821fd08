"""Chapter 15: gradient clipping (nnlearn/clipping.py), against closed forms written here.

torch's ``clip_grad_norm_`` itself is the reference in parity/test_recurrent_parity.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import nnlearn as nl
from nnlearn.clipping import clip_grad_norm_, clip_grad_value_

pytestmark = pytest.mark.chapter15

RNG = np.random.default_rng(9)
GRADS = [RNG.standard_normal((3, 4)), RNG.standard_normal(5), RNG.standard_normal((2, 2, 2))]


def _params(grads, dtype=np.float64):
    params = [nl.Tensor(np.zeros(g.shape, dtype), requires_grad=True) for g in grads]
    for p, g in zip(params, grads, strict=True):
        p.grad = g.astype(dtype)
    return params


def _global_norm(grads, p=2.0):
    entries = np.concatenate([g.ravel() for g in grads])
    return np.abs(entries).max() if math.isinf(p) else np.sum(np.abs(entries) ** p) ** (1 / p)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf])
def test_a_large_gradient_is_scaled_to_max_norm_keeping_its_direction(norm_type):
    params = _params(GRADS)
    total = clip_grad_norm_(params, 0.5, norm_type=norm_type)
    norm = _global_norm(GRADS, norm_type)
    assert isinstance(total, nl.Tensor) and total.ndim == 0
    np.testing.assert_allclose(total.item(), norm, rtol=1e-12)
    factor = 0.5 / (norm + 1e-6)  # torch's 1e-6 keeps a zero gradient finite
    for p, g in zip(params, GRADS, strict=True):
        np.testing.assert_allclose(p.grad, g * factor, rtol=1e-12)
    np.testing.assert_allclose(_global_norm([p.grad for p in params], norm_type), 0.5, rtol=1e-5)


def test_a_small_gradient_is_left_as_it_is_and_none_gradients_are_skipped():
    params = _params(GRADS)
    params.append(nl.Tensor(np.ones(3), requires_grad=True))  # no grad: skipped
    total = clip_grad_norm_(iter(params), 100.0)
    np.testing.assert_allclose(total.item(), _global_norm(GRADS), rtol=1e-12)
    for p, g in zip(params[:-1], GRADS, strict=True):
        np.testing.assert_array_equal(p.grad, g)
    assert params[-1].grad is None


def test_one_tensor_float32_and_no_gradients_at_all():
    (p,) = _params(GRADS[:1], np.float32)
    total = clip_grad_norm_(p, 1.0)
    assert total.dtype == np.float32 and p.grad.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(p.grad), 1.0, rtol=1e-5)
    assert clip_grad_norm_([nl.Tensor(np.ones(2), requires_grad=True)], 1.0).item() == 0.0


def test_the_gradients_change_in_place():
    params = _params(GRADS)
    arrays = [p.grad for p in params]
    clip_grad_norm_(params, 0.1)
    assert all(p.grad is a for p, a in zip(params, arrays, strict=True))


def test_a_nonfinite_norm_raises_only_when_asked():
    params = _params([np.array([1.0, np.inf])])
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm .* is inf"):
        clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    assert math.isinf(clip_grad_norm_(params, 1.0).item())


@pytest.mark.parametrize("norm_type", [0, -1.0, float("nan")])
def test_orders_nnlearn_does_not_implement_are_refused(norm_type):
    with pytest.raises(ValueError, match="norm_type must be a positive number or math.inf"):
        clip_grad_norm_(_params(GRADS), 1.0, norm_type=norm_type)


def test_clip_grad_value_clips_each_entry():
    params = _params(GRADS)
    clip_grad_value_(params, 0.3)
    for p, g in zip(params, GRADS, strict=True):
        np.testing.assert_array_equal(p.grad, np.minimum(np.maximum(g, -0.3), 0.3))
