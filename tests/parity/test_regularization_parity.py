"""Chapter 09: Dropout, BatchNormalization and LayerNormalization match PyTorch, on every device.

Through the torch twins (nnlearn/parity/regularization_twins.py, where the conversions are
spelled out):

* Dropout: torch draws its own masks, so the mask is recovered from nnlearn's output (its
  zeros) and applied in torch as ``x * mask / (1 - p)``; torch's own ``nn.Dropout`` is
  compared where it is comparable: the scale of the entries both keep, and inference.
* BatchNormalization in training mode for a few steps (outputs, every gradient, the running
  statistics: the means exactly, the variances through :func:`keras_moving_variance`,
  since torch moves ``running_var`` toward the unbiased variance), then in inference mode.
* LayerNormalization; and a model mixing Dense, BatchNormalization, Dropout and LayerNorm.

Needs only numpy, torch and pytest.
"""

import numpy as np
import pytest
import torch

import nnlearn as nl
from nnlearn import layers
from nnlearn.parity import (
    check_model,
    compare,
    exact_float32,
    fit_twin,
    to_numpy,
    to_torch,
    tolerances,
    torch_twin,
    twin_gradients,
    twin_parameters,
)
from nnlearn.parity.regularization_twins import keras_moving_variance

pytestmark = pytest.mark.chapter09

N, F = 8, 4  # batch size, features
RNG = np.random.default_rng(11)
# Three batches, each feature with its own scale and offset.
BATCHES = [RNG.standard_normal((N, F)) * RNG.uniform(0.5, 3, F) + RNG.normal(0, 2, F)]
BATCHES += [RNG.standard_normal((N, F)) * 2 - 1, RNG.standard_normal((N, F)) + 3]
UPSTREAM = RNG.standard_normal((N, F))
# Away from 0, so that a zero in dropout's output means "dropped".
NONZERO = RNG.uniform(0.5, 2.0, (N, F)) * RNG.choice([-1.0, 1.0], (N, F))


def _batch_norm(dtype, **options):
    bn = layers.BatchNormalization(input_shape=(F,), dtype=dtype, **options)
    rng = np.random.default_rng(0)
    bn.set_weights([rng.uniform(0.5, 2, F), rng.standard_normal(F), np.zeros(F), np.ones(F)])
    return bn


def _nn_step(layer, x, dtype, training):
    """Forward and backward of ``sum(y * UPSTREAM)``: (output, {name: gradient})."""
    layer.zero_grad()
    inputs = nl.Tensor(x.astype(dtype), requires_grad=True)
    out = layer(inputs, training=training)
    out.backward(UPSTREAM.astype(dtype))
    grads = {"d/dinput": inputs.grad}
    grads |= {f"d/d{n}": p.grad for n, p in layer.named_parameters() if p.grad is not None}
    return out.data, grads


def _torch_step(twin, x, device, dtype):
    twin.zero_grad()
    inputs = to_torch(x, device, dtype, requires_grad=True)
    with exact_float32():
        out = twin(inputs)
        out.backward(to_torch(UPSTREAM, device, dtype))
    grads = {"d/dinput": to_numpy(inputs.grad)}
    grads |= {f"d/d{n}": g for n, g in twin_gradients(twin).items() if not n.startswith("moving")}
    return to_numpy(out), grads


# --- Dropout -------------------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [0.25, 0.5])
def test_dropout_matches_torch_under_the_same_mask(device_dtype, rate):
    device, dtype = device_dtype
    layer = layers.Dropout(rate, seed=0, dtype=dtype)
    nn_out, nn_grads = _nn_step(layer, NONZERO, dtype, training=True)
    mask = to_torch((nn_out != 0).astype(dtype), device)  # the mask nnlearn drew
    assert 0 < (nn_out == 0).sum() < nn_out.size
    inputs = to_torch(NONZERO, device, dtype, requires_grad=True)
    out = inputs * mask / (1 - rate)
    out.backward(to_torch(UPSTREAM, device, dtype))
    expected = {"output": to_numpy(out), "d/dinput": to_numpy(inputs.grad)}
    compare({"output": nn_out, **nn_grads}, expected, dtype).assert_ok()


def test_dropout_keeps_torchs_scale_and_is_its_identity_at_inference(device_dtype):
    device, dtype = device_dtype
    rate, x = 0.4, np.ones((200, 50))
    layer = layers.Dropout(rate, seed=1, dtype=dtype)
    ours = layer(x.astype(dtype), training=True).data  # the first call builds the layer
    twin = torch_twin(layer, device, dtype, training=True)
    assert isinstance(twin, torch.nn.Dropout) and twin.p == rate and twin.training
    theirs = to_numpy(twin(to_torch(x, device, dtype)))
    both = (ours != 0) & (theirs != 0)
    assert both.sum() > 0.2 * x.size  # each keeps about 60 %
    compare({"kept entries": ours[both]}, {"kept entries": theirs[both]}, dtype).assert_ok()
    for kept in (ours != 0, theirs != 0):  # 10,000 draws: the fraction within 4.5 sd
        assert abs(kept.mean() - (1 - rate)) < 0.025
    check_model(layer, NONZERO, device=device, dtype=dtype).assert_ok()  # eval(): the identity


# --- BatchNormalization ------------------------------------------------------------------------
@pytest.mark.parametrize("momentum", [0.99, 0.9])
def test_batch_norm_training_steps_match_torch_with_the_variance_converted(device_dtype, momentum):
    device, dtype = device_dtype
    bn = _batch_norm(dtype, momentum=momentum)
    twin = torch_twin(bn, device, dtype, training=True)
    assert isinstance(twin, torch.nn.BatchNorm1d) and twin.training
    assert twin.momentum == pytest.approx(1 - momentum) and twin.eps == bn.epsilon
    expected_variance = bn.moving_variance.data.astype(np.float64)
    for step, x in enumerate(BATCHES, start=1):
        before = to_numpy(twin.running_var).astype(np.float64)
        nn_out, nn_grads = _nn_step(bn, x, dtype, training=True)
        t_out, t_grads = _torch_step(twin, x, device, dtype)
        after = to_numpy(twin.running_var).astype(np.float64)
        expected_variance = keras_moving_variance(expected_variance, before, after, N, momentum)
        actual = {"output": nn_out, **nn_grads, "moving_mean": bn.moving_mean.data}
        actual["moving_variance"] = bn.moving_variance.data
        expected = {"output": t_out, **t_grads, "moving_mean": to_numpy(twin.running_mean)}
        expected["moving_variance"] = expected_variance
        title = f"BatchNormalization, training step {step}, vs torch on {device}, {dtype}"
        compare(actual, expected, dtype, title).assert_ok()
    # Unconverted, torch's running variance is not Keras's: it moved toward s^2 n / (n - 1).
    tol = tolerances(dtype)
    assert not np.allclose(bn.moving_variance.data, to_numpy(twin.running_var), **tol)


def test_batch_norm_inference_after_training_matches_a_fresh_twin(device_dtype):
    device, dtype = device_dtype
    bn = _batch_norm(dtype)
    for x in BATCHES:
        bn(x.astype(dtype), training=True)
    twin = torch_twin(bn, device, dtype)  # eval() mode, with nnlearn's moving statistics
    assert not twin.training
    check_model(bn, BATCHES[0], device=device, dtype=dtype).assert_ok()
    parameters = twin_parameters(twin)
    compare(parameters, {n: p.data for n, p in bn.named_parameters()}, dtype).assert_ok()


def test_a_frozen_batch_norms_twin_stays_in_eval_mode(device_dtype):
    device, dtype = device_dtype
    bn = _batch_norm(dtype)
    bn(BATCHES[0].astype(dtype), training=True)  # moving statistics away from their start
    bn.trainable = False
    twin = torch_twin(bn, device, dtype, training=True)
    assert not twin.training
    nn_out, nn_grads = _nn_step(bn, BATCHES[1], dtype, training=True)
    t_out, t_grads = _torch_step(twin, BATCHES[1], device, dtype)
    expected = {"output": t_out, "d/dinput": t_grads["d/dinput"]}
    compare({"output": nn_out, "d/dinput": nn_grads["d/dinput"]}, expected, dtype).assert_ok()
    assert nn_grads.keys() == {"d/dinput"}  # frozen: no gradient for gamma and beta


# --- LayerNormalization and a whole model --------------------------------------------------------
@pytest.mark.parametrize("epsilon", [1e-3, 1e-5])
def test_layer_norm_matches_torch(device_dtype, epsilon):
    device, dtype = device_dtype
    ln = layers.LayerNormalization(epsilon=epsilon, input_shape=(F,), dtype=dtype)
    rng = np.random.default_rng(1)
    ln.set_weights([rng.uniform(0.5, 2, F), rng.standard_normal(F)])
    report = check_model(ln, BATCHES[0], device=device, dtype=dtype, optimizer="sgd")
    assert [row.name for row in report.rows][:4] == ["output", "d/dinput", "d/dgamma", "d/dbeta"]
    report.assert_ok()


def test_layer_norm_over_the_last_two_axes_matches_torch(device_dtype):
    device, dtype = device_dtype
    ln = layers.LayerNormalization(axis=[1, 2], dtype=dtype)
    x = np.random.default_rng(2).standard_normal((3, 4, 5))
    ln.build(x.shape)
    rng = np.random.default_rng(3)
    ln.set_weights([rng.uniform(0.5, 2, (4, 5)), rng.standard_normal((4, 5))])
    check_model(ln, x, device=device, dtype=dtype).assert_ok()


def test_a_model_with_every_layer_matches_its_twin_at_inference_and_under_sgd(device_dtype):
    device, dtype = device_dtype
    nl.seed_everything(0)
    model = nl.Sequential(
        [
            layers.Dense(6, activation="relu", input_shape=(F,), dtype=dtype),
            layers.BatchNormalization(dtype=dtype),
            layers.Dropout(0.5, dtype=dtype),
            layers.Dense(5, dtype=dtype),
            layers.LayerNormalization(dtype=dtype),
            layers.Dense(3, activation="softmax", dtype=dtype),
        ]
    )
    for x in BATCHES:
        model(x.astype(dtype), training=True)
    labels = np.random.default_rng(4).integers(0, 3, N)
    check_model(
        model,
        BATCHES[0],
        labels,
        loss="sparse_categorical_crossentropy",
        optimizer="sgd",
        device=device,
        dtype=dtype,
    ).assert_ok()


def _normalized_model(dtype):
    nl.seed_everything(0)
    return nl.Sequential(
        [
            layers.Dense(6, activation="relu", input_shape=(F,), dtype=dtype),
            layers.BatchNormalization(momentum=0.9, dtype=dtype),
            layers.Dense(3, activation="softmax", dtype=dtype),
        ]
    )


def test_check_model_in_training_mode_uses_the_batch_statistics_on_both_sides(device_dtype):
    device, dtype = device_dtype
    model, labels = _normalized_model(dtype), np.random.default_rng(4).integers(0, 3, N)
    options = {"loss": "sparse_categorical_crossentropy", "device": device, "dtype": dtype}
    check_model(model, BATCHES[2], labels, optimizer="sgd", training=True, **options).assert_ok()
    # The same batch in inference mode is another function (moving statistics): the two
    # modes are really different, so agreeing in training mode is not agreeing by accident.
    trained = model(BATCHES[2].astype(dtype), training=True).data
    assert not np.allclose(trained, model(BATCHES[2].astype(dtype)).data, atol=1e-3)


def test_fit_twin_trains_the_twin_in_training_mode_like_fit(device_dtype):
    import copy

    device, dtype = device_dtype
    model = _normalized_model(dtype)
    x = np.concatenate(BATCHES).astype(dtype)
    y = np.random.default_rng(5).integers(0, 3, len(x))
    model.compile(optimizer=nl.optim.SGD(lr=0.1), loss="sparse_categorical_crossentropy")
    twin = torch_twin(model, device, dtype)
    order = copy.deepcopy(nl.rng())
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    theirs = fit_twin(
        twin, x, y, loss=model.loss, optimizer=model.optimizer, epochs=2, batch_size=8, rng=order
    )
    assert not twin.training  # back in the mode it was made in
    moving = {n: p.data for n, p in model.named_parameters() if "moving_mean" in n}
    expected = {n: v for n, v in twin_parameters(twin).items() if n in moving}
    compare(
        {"loss": history.history["loss"], **moving},
        {"loss": theirs["loss"], **expected},
        np.dtype(dtype),
        "fit vs fit_twin with BatchNormalization",
    ).assert_ok()
