"""Chapter 15: SimpleRNN, LSTM and GRU match torch.nn.RNN, LSTM and GRU, on every device; and
clip_grad_norm_ matches torch.nn.utils.clip_grad_norm_.

Through the twins of nnlearn/parity/recurrent_twins.py (torch's own modules, weights
transposed, the GRU's gates z, r, h reordered to torch's r, z, n, Keras's one LSTM bias
given to torch as ``bias_ih`` with ``bias_hh`` a constant zero, the GRU's two rows as
torch's two biases): the output with ``return_sequences`` both ways, the gradient of the
input and of every weight (backpropagation through time on both sides), and the weights
after a few Adam steps. Needs only numpy, torch and pytest.
"""

import math

import numpy as np
import pytest
import torch

import nnlearn as nl
import nnlearn.parity.recurrent_twins as recurrent_twins
from nnlearn import recurrent
from nnlearn.clipping import clip_grad_norm_
from nnlearn.parity import (
    check_model,
    compare,
    to_numpy,
    to_torch,
    torch_twin,
    twin_gradients,
    twin_parameters,
)

pytestmark = pytest.mark.chapter15

B, T, F, U = 4, 7, 3, 5  # batch, time, features, units
RNG = np.random.default_rng(15)
X = RNG.standard_normal((B, T, F))
Y = RNG.standard_normal((B, 1))
LAYERS = {"SimpleRNN": recurrent.SimpleRNN, "LSTM": recurrent.LSTM, "GRU": recurrent.GRU}


def _layer(kind, dtype, seed=0, **options):
    """A built layer with random weights of order 1 (a random bias: no zero to hide behind)."""
    layer = LAYERS[kind](U, dtype=dtype, **options)
    layer.build((None, T, F))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.uniform(-0.7, 0.7, w.shape) for w in layer.get_weights()])
    return layer


@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_layer_output_every_gradient_and_adam_steps_match_torch(
    device_dtype, kind, return_sequences
):
    device, dtype = device_dtype
    layer = _layer(kind, dtype, return_sequences=return_sequences)
    report = check_model(layer, X, device=device, dtype=dtype, optimizer=nl.optim.Adam(lr=0.05))
    names = [row.name for row in report.rows]
    assert names[:5] == ["output", "d/dinput", "d/dkernel", "d/drecurrent_kernel", "d/dbias"]
    assert report.rows[0].shape == ((B, T, U) if return_sequences else (B, U))
    report.assert_ok()


@pytest.mark.parametrize("kind", LAYERS)
def test_layer_without_bias_matches_torch(device_dtype, kind):
    device, dtype = device_dtype
    layer = _layer(kind, dtype, use_bias=False, return_sequences=True)
    check_model(layer, X, device=device, dtype=dtype, optimizer="sgd").assert_ok()


def test_a_relu_simple_rnn_matches_torchs_relu_rnn(device_dtype):
    device, dtype = device_dtype
    layer = _layer("SimpleRNN", dtype, activation="relu", seed=1)
    check_model(layer, X, device=device, dtype=dtype).assert_ok()


def test_a_stacked_forecaster_trains_like_its_twin(device_dtype):
    device, dtype = device_dtype
    nl.seed_everything(0)
    model = nl.Sequential(
        [
            recurrent.LSTM(6, return_sequences=True, dtype=dtype),
            recurrent.GRU(4, return_sequences=True, dtype=dtype),
            recurrent.SimpleRNN(3, dtype=dtype),
            nl.layers.Dense(1, dtype=dtype),
        ]
    )
    report = check_model(
        model, X, Y, loss="mse", device=device, dtype=dtype, optimizer="adam", steps=4
    )
    assert "loss at each step" in [row.name for row in report.rows]
    report.assert_ok()


def test_the_twin_holds_the_weights_in_torchs_layout_and_order():
    gru = _layer("GRU", np.float64, seed=2)
    twin = torch_twin(gru, "cpu", np.float64)
    kernel, recurrent_kernel, bias = gru.get_weights()
    z, r, h = np.split(kernel, 3, axis=1)
    weight_ih = to_numpy(twin.rnn.weight_ih_l0)  # (3u, features), blocks r, z, n
    np.testing.assert_array_equal(weight_ih, np.concatenate([r, z, h], axis=1).T)
    assert dict(twin.named_buffers()).keys() == {"rnn.bias_ih_l0", "rnn.bias_hh_l0"}
    assert not any(b.any() for b in twin.buffers())  # torch's own biases: zeros, never learned
    for name, value in twin_parameters(twin).items():
        np.testing.assert_array_equal(value, dict(gru.named_parameters())[name].data)
    lstm_twin = torch_twin(_layer("LSTM", np.float64), "cpu", np.float64)
    assert [n for n, _ in lstm_twin.named_parameters()] == [
        "bias",
        "rnn.weight_ih_l0",
        "rnn.weight_hh_l0",
    ]


def test_swap_first_two_blocks_is_its_own_inverse():
    a = np.arange(24.0).reshape(2, 12)
    swapped = recurrent_twins.swap_first_two_blocks(a)
    np.testing.assert_array_equal(swapped[:, :4], a[:, 4:8])
    np.testing.assert_array_equal(recurrent_twins.swap_first_two_blocks(swapped), a)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"kind": "LSTM", "activation": "relu"}, "torch's LSTM has tanh and sigmoid fixed"),
        ({"kind": "GRU", "recurrent_activation": "tanh"}, "torch's GRU has tanh and sigmoid"),
        ({"kind": "SimpleRNN", "activation": "sigmoid"}, "nonlinearity 'tanh' or 'relu' only"),
    ],
)
def test_a_layer_torch_cannot_compute_has_no_twin(options, message):
    layer = _layer(options.pop("kind"), np.float64, **options)
    with pytest.raises(ValueError, match=message):
        torch_twin(layer)


# --- clip_grad_norm_ ---------------------------------------------------------------------------
@pytest.mark.parametrize("max_norm", [0.3, 1e3])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_matches_torch(device_dtype, max_norm, norm_type):
    device, dtype = device_dtype
    grads = [RNG.standard_normal(shape) for shape in ((3, 4), (5,), (2, 3, 2))]
    ours = [nl.Tensor(np.zeros(g.shape, dtype), requires_grad=True) for g in grads]
    theirs = [to_torch(np.zeros(g.shape), device, dtype, requires_grad=True) for g in grads]
    for p, tp, g in zip(ours, theirs, grads, strict=True):
        p.grad, tp.grad = g.astype(dtype), to_torch(g, device, dtype)
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    torch_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    actual = {"total norm": total.data} | {f"grad {i}": p.grad for i, p in enumerate(ours)}
    expected = {"total norm": to_numpy(torch_total)}
    expected |= {f"grad {i}": to_numpy(tp.grad) for i, tp in enumerate(theirs)}
    compare(actual, expected, dtype).assert_ok()


def test_clipping_a_models_gradients_matches_torch(device_dtype):
    """The use in training: backward on both sides, clip, then compare the clipped grads."""
    device, dtype = device_dtype
    layer = _layer("LSTM", dtype, seed=3)
    twin = torch_twin(layer, device, dtype)
    (layer(X.astype(dtype)) ** 2).sum().backward()
    (twin(to_torch(X, device, dtype)) ** 2).sum().backward()
    total = clip_grad_norm_(layer.parameters(), 0.5)
    torch_total = torch.nn.utils.clip_grad_norm_(twin.parameters(), 0.5)
    actual = {"total norm": total.data} | {n: p.grad for n, p in layer.named_parameters()}
    expected = {"total norm": to_numpy(torch_total)}
    expected |= twin_gradients(twin)
    compare(actual, expected, dtype).assert_ok()
