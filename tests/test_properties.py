"""Property tests: broadcasting gradients, reductions and shape operations agree with torch for
any shapes and dims."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes

import nnlearn as nl
from nnlearn.parity import check_function

pytestmark = pytest.mark.chapter06

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
    reduction=st.sampled_from(["sum", "mean", "amax", "amin"]),
)
def test_reductions_over_any_axes_match_torch(shape, data, keepdims, reduction):
    axes = tuple(
        sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1), label="axes"))
    )
    x = _values(shape, len(shape))
    report = check_function(
        lambda t: getattr(t, reduction)(axis=axes, keepdims=keepdims),
        lambda t: getattr(t, reduction)(dim=axes, keepdim=keepdims),
        x,
        device="cpu",
    )
    report.assert_ok()


@settings(max_examples=40, deadline=None)
@given(shape=array_shapes(min_dims=1, max_dims=4, max_side=4), data=st.data())
def test_max_and_min_along_any_dim_match_torch_values_indices_and_gradient(shape, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    keepdim, which = (
        data.draw(st.booleans(), label="keepdim"),
        data.draw(st.sampled_from(["max", "min"])),
    )
    ties = np.random.default_rng(len(shape)).integers(-1, 2, shape).astype(np.float64)
    check_function(
        lambda t: getattr(t, which)(dim, keepdim).values,
        lambda t: getattr(t, which)(dim, keepdim).values,
        ties,
        device="cpu",
    ).assert_ok()
    indices = getattr(nl.Tensor(ties), which)(dim, keepdim).indices
    expected = getattr(torch.tensor(ties), which)(dim, keepdim).indices
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices.numpy(), expected.numpy())


SHAPE_OPS = {
    "transpose": lambda t, dims: t.transpose(dims[0], dims[-1]),
    "permute": lambda t, dims: t.permute(*dims),
    "unsqueeze": lambda t, dims: t.unsqueeze(dims[0]),
    "squeeze": lambda t, dims: t.squeeze(dims[0]),
    "flatten": lambda t, dims: t.flatten(min(dims[0], dims[-1]), max(dims[0], dims[-1])),
}


@settings(max_examples=60, deadline=None)
@given(
    shape=array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3),
    op=st.sampled_from(sorted(SHAPE_OPS)),
    data=st.data(),
)
def test_shape_operations_match_torch_for_any_shape_and_dims(shape, op, data):
    dims = data.draw(st.permutations(range(len(shape))), label="dims")
    x = _values(shape, len(shape))
    function = SHAPE_OPS[op]
    check_function(
        lambda t: function(t, dims), lambda t: function(t, dims), x, device="cpu"
    ).assert_ok()


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
