"""Property tests: broadcasting gradients and reductions agree with torch for any shapes."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

from nnlearn.parity import check_function

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
}


def _values(shape, seed, away_from_zero=False):
    rng = np.random.default_rng(seed)
    if away_from_zero:
        return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    return rng.standard_normal(shape)


@settings(max_examples=60, deadline=None)
@given(
    op=st.sampled_from(sorted(BINARY)),
    shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4),
    seed=st.integers(0, 2**16),
)
def test_broadcast_gradients_sum_back_to_each_input_shape(op, shapes, seed):
    shape_a, shape_b = shapes.input_shapes
    a, b = _values(shape_a, seed), _values(shape_b, seed + 1, away_from_zero=op == "div")
    report = check_function(*BINARY[op], a, b, device="cpu")
    report.assert_ok()
    assert report.rows[1].shape == shape_a and report.rows[2].shape == shape_b


@settings(max_examples=40, deadline=None)
@given(
    shape=array_shapes(min_dims=1, max_dims=4, max_side=4),
    data=st.data(),
    keepdims=st.booleans(),
    reduction=st.sampled_from(["sum", "mean", "max"]),
)
def test_reductions_over_any_axes_match_torch(shape, data, keepdims, reduction):
    axes = tuple(
        sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1), label="axes"))
    )
    torch_reduction = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax}[reduction]
    x = _values(shape, len(shape))
    report = check_function(
        lambda t: getattr(t, reduction)(axis=axes, keepdims=keepdims),
        lambda t: torch_reduction(t, dim=axes, keepdim=keepdims),
        x,
        device="cpu",
    )
    report.assert_ok()


@settings(max_examples=40, deadline=None)
@given(
    batch=mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3),
    m=st.integers(1, 4),
    n=st.integers(1, 4),
    k=st.integers(1, 4),
)
def test_batched_matmul_gradients_match_torch(batch, m, n, k):
    batch_a, batch_b = batch.input_shapes
    a, b = _values((*batch_a, m, n), m), _values((*batch_b, n, k), k)
    check_function(lambda x, y: x @ y, lambda x, y: x @ y, a, b, device="cpu").assert_ok()
