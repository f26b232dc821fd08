"""Chapter 15: SimpleRNN, LSTM and GRU against Keras 3 itself; gradient clipping against
Keras's ``global_clipnorm`` (and not its ``clipnorm``).

Keras 3 on its PyTorch backend, in float64: each layer is built in both libraries, Keras's
weights (redrawn at random, so that no bias is a trivial 0) are copied into nnlearn
**unchanged** with ``set_weights``, and the outputs compared; also the weights' names,
shapes and initial laws, ``get_config``'s arguments, and a model trained a few epochs by
both ``fit`` s.

Precision. Keras 3.15's ``ops.matmul`` on the torch backend computes float64 operands in
float32 (its type promotion maps 64-bit types to 32-bit, as JAX does) and casts back; its
SimpleRNN cell and its Dense layer multiply with it, so those comparisons take float32's
tolerance. Its LSTM and GRU run their own loop with torch's matrix products and agree to
float64's. A wrong formula is far outside either (a gate read from the wrong block moves the
outputs by tenths).
"""

from __future__ import annotations

import numpy as np
import pytest
from keras_reference import LIBRARIES, floatx, keras, to_numpy

import nnlearn as nl
from nnlearn.clipping import clip_grad_norm_

pytestmark = [
    pytest.mark.chapter15,
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

TOL64 = {"rtol": 1e-7, "atol": 1e-9}
TOL32 = {"rtol": 1e-5, "atol": 1e-6}
TOLERANCE = {"SimpleRNN": TOL32, "LSTM": TOL64, "GRU": TOL64}
B, T, F, U = 4, 6, 3, 5
RNG = np.random.default_rng(21)
X = RNG.standard_normal((B, T, F))


@pytest.fixture(autouse=True)
def _float64():
    with floatx("float64"):
        yield


def _pair(make, input_shape=(None, T, F), seed=0):
    """``make(library)`` built in Keras and nnlearn; Keras's weights redrawn at random, then
    copied into nnlearn as they are."""
    pair = {}
    for name, library in LIBRARIES.items():
        pair[name] = make(library)
        pair[name].build(input_shape)
    rng = np.random.default_rng(seed)
    pair["keras"].set_weights(
        [rng.uniform(-0.7, 0.7, w.shape) for w in pair["keras"].get_weights()]
    )
    pair["nnlearn"].set_weights(pair["keras"].get_weights())
    return pair["keras"], pair["nnlearn"]


@pytest.mark.parametrize("kind", TOLERANCE)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_keras_weights_load_unchanged_and_give_kerass_outputs(kind, return_sequences):
    ours_k, ours = _pair(
        lambda lib: getattr(lib.layers, kind)(U, return_sequences=return_sequences)
    )
    assert [v.name for v in ours_k.weights] == [name for name, _ in ours.named_parameters()]
    assert [w.shape for w in ours_k.get_weights()] == [w.shape for w in ours.get_weights()]
    np.testing.assert_allclose(ours(X).data, to_numpy(ours_k(X)), **TOLERANCE[kind])


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_relu_candidates_and_no_bias_match_keras(kind):
    keras_layer, layer = _pair(lambda lib: getattr(lib.layers, kind)(U, activation="relu"))
    np.testing.assert_allclose(layer(X).data, to_numpy(keras_layer(X)), **TOL64)
    keras_layer, layer = _pair(lambda lib: getattr(lib.layers, kind)(U, use_bias=False))
    np.testing.assert_allclose(layer(X).data, to_numpy(keras_layer(X)), **TOL64)


def test_initial_biases_and_recurrent_kernels_follow_kerass_laws():
    keras.utils.set_random_seed(0)
    for kind, unit_forget_bias in (("LSTM", True), ("LSTM", False), ("GRU", None)):
        options = {} if unit_forget_bias is None else {"unit_forget_bias": unit_forget_bias}
        layers = [getattr(lib.layers, kind)(U, **options) for lib in LIBRARIES.values()]
        for layer in layers:
            layer.build((None, T, F))
        keras_bias, our_bias = (layer.get_weights()[2] for layer in layers)
        np.testing.assert_array_equal(our_bias, keras_bias)  # zeros, the forget block ones
        for layer in layers:  # orthogonal: orthonormal rows
            u = layer.get_weights()[1]
            np.testing.assert_allclose(u @ u.T, np.eye(U), atol=1e-6)


@pytest.mark.parametrize("kind", TOLERANCE)
def test_get_config_uses_kerass_names_and_values(kind):
    keras_layer = getattr(keras.layers, kind)(U, return_sequences=True)
    ours = getattr(nl.layers, kind)(U, return_sequences=True).get_config()
    theirs = keras_layer.get_config()
    assert set(ours) <= set(theirs)
    for key, value in ours.items():
        if key.endswith("_initializer"):  # Keras writes a class: GlorotUniform, Orthogonal
            assert keras.initializers.get(value).__class__.__name__ == theirs[key]["class_name"]
        elif key != "dtype":
            assert value == theirs[key], key


def test_a_stacked_model_trains_as_in_keras():
    def layers(lib):
        return [
            lib.layers.LSTM(6, return_sequences=True),
            lib.layers.GRU(4, return_sequences=True),
            lib.layers.SimpleRNN(3),
            lib.layers.Dense(1),
        ]

    models = {name: lib.Sequential(layers(lib)) for name, lib in LIBRARIES.items()}
    for model in models.values():
        model.build((None, T, F))
    rng = np.random.default_rng(1)
    weights = [rng.uniform(-0.5, 0.5, w.shape) for w in models["keras"].get_weights()]
    y = RNG.standard_normal((B, 1))
    histories = {}
    for name, model in models.items():
        model.set_weights(weights)
        optimizer = {"keras": keras.optimizers.SGD, "nnlearn": nl.optim.SGD}[name]
        lr = {"keras": {"learning_rate": 0.1}, "nnlearn": {"lr": 0.1}}[name]
        model.compile(optimizer=optimizer(**lr), loss="mse")
        histories[name] = model.fit(X, y, epochs=4, batch_size=B, shuffle=False, verbose=0)
    np.testing.assert_allclose(
        histories["nnlearn"].history["loss"], histories["keras"].history["loss"], **TOL32
    )
    for ours, theirs in zip(
        models["nnlearn"].get_weights(), models["keras"].get_weights(), strict=True
    ):
        np.testing.assert_allclose(ours, theirs, **TOL32)


# --- gradient clipping -----------------------------------------------------------------------
GRADS = [RNG.standard_normal((3, 4)) * 20, RNG.standard_normal(5) * 20]


def _keras_sgd_step(**clipping):
    """One step of Keras's SGD (learning rate 1) from zeros: minus the clipped gradients."""
    variables = [keras.Variable(np.zeros(g.shape)) for g in GRADS]
    optimizer = keras.optimizers.SGD(learning_rate=1.0, **clipping)
    tensors = [keras.ops.convert_to_tensor(g) for g in GRADS]
    optimizer.apply_gradients(zip(tensors, variables, strict=True))
    return [-to_numpy(v.value) for v in variables]


def test_global_clipnorm_is_clip_grad_norm_and_clipnorm_is_not():
    params = [nl.Tensor(np.zeros(g.shape), requires_grad=True) for g in GRADS]
    for p, g in zip(params, GRADS, strict=True):
        p.grad = g.copy()
    clip_grad_norm_(params, 1.0)
    # torch's factor is 1 / (norm + 1e-6), Keras's 1 / norm: 1e-6 / 70 apart, relatively
    for ours, theirs in zip(params, _keras_sgd_step(global_clipnorm=1.0), strict=True):
        np.testing.assert_allclose(ours.grad, theirs, **TOL32)
    # clipnorm clips each variable to norm 1 on its own: another length and direction
    each = _keras_sgd_step(clipnorm=1.0)
    for g, theirs in zip(GRADS, each, strict=True):
        np.testing.assert_allclose(theirs, g / np.linalg.norm(g), **TOL32)
    together = np.concatenate([a.ravel() for a in each])
    assert abs(np.linalg.norm(together) - np.sqrt(2)) < 1e-5  # not 1
