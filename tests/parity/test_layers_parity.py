"""Chapter 03: Dense matches PyTorch.

Through :mod:`nnlearn.parity`: a Dense layer against its torch twin (``torch.nn.Linear`` with
``weight = kernel.T``, then the activation): the output and the gradients of the input, kernel
and bias; a planted wrong forward or backward is caught. A whole MLP and a training run:
test_models_parity.py. Needs only numpy, torch and pytest.
"""

import numpy as np
import pytest

import nnlearn as nl
from nnlearn import layers
from nnlearn.parity import check_model

pytestmark = pytest.mark.chapter03


def _dense(dtype, use_bias=True, activation=None):
    nl.seed_everything(0)
    dense = layers.Dense(5, activation=activation, input_shape=(4,), use_bias=use_bias, dtype=dtype)
    if use_bias:  # a non-zero bias, so a forward that ignored it would be caught
        dense.bias.data[...] = np.linspace(-1, 1, dense.units, dtype=dtype)
    return dense


def dense_report(device, dtype, use_bias=True, activation=None):
    x = np.random.default_rng(0).standard_normal((6, 4))
    return check_model(_dense(dtype, use_bias, activation), x, device=device, dtype=dtype)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
def test_dense_forward_and_gradients_match_torch_linear(device_dtype, use_bias, activation):
    device, dtype = device_dtype
    report = dense_report(device, dtype, use_bias, activation).assert_ok()
    expected = ["output", "d/dinput", "d/dkernel"] + ["d/dbias"] * use_bias
    assert [row.name for row in report.rows] == expected


def test_a_planted_wrong_dense_backward_is_caught(monkeypatch):
    original = layers.Affine.backward

    def slightly_wrong(self, g):  # the kernel gradient 1 % off, a slip the eye would miss
        grad_x, grad_kernel, *rest = original(self, g)
        return (grad_x, grad_kernel * 1.01, *rest)

    monkeypatch.setattr(layers.Affine, "backward", slightly_wrong)
    report = dense_report("cpu", np.dtype(np.float64))
    assert [row.name for row in report.rows if not row.ok] == ["d/dkernel"]


def test_a_planted_wrong_dense_forward_is_caught(monkeypatch):
    original = layers.Affine.forward
    monkeypatch.setattr(
        layers.Affine, "forward", lambda self, x, k, b=None: original(self, x, k, None)
    )  # forgets the bias
    report = dense_report("cpu", np.dtype(np.float64))
    assert [row.name for row in report.rows if not row.ok] == ["output"]
