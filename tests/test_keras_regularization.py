"""Chapter 09: Dropout, BatchNormalization and LayerNormalization against Keras 3 itself.

Keras 3 on its PyTorch backend, in float64, is the reference for the Keras names: the same
layers are built in both libraries, Keras's weights (drawn at random here, so that no weight
is a trivial 0 or 1) are copied into nnlearn with ``set_weights``, and the outputs are
compared: at inference; BatchNormalization's training-mode output and moving statistics
after calls with ``training=True`` (a frozen layer infers, Keras 3's rule); the weights'
order, names, shapes and trainability; a few epochs of SGD on a model with batch norm; and
``get_config``'s argument names. Dropout's masks are random in both: the identity at
inference and the ``1 / (1 - rate)`` scale of kept entries are compared.
"""

from __future__ import annotations

import numpy as np
import pytest
from keras_reference import LIBRARIES, floatx, keras, to_numpy

import nnlearn as nl

pytestmark = [
    pytest.mark.chapter09,
    # Keras's own variables warn under numpy 2 when turned into arrays; not nnlearn's concern.
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

# Keras 3 computes its normalizations in float32 even on float64 inputs (it promotes with
# backend.result_type(x.dtype, "float32"), and its promotion maps 64-bit types to 32-bit, as
# JAX does), then casts back: float32's tolerance, though both sides hold float64. A wrong
# formula is far outside it (torch's unbiased variance on 8 examples: 7 % off).
TOL = {"rtol": 1e-5, "atol": 1e-6}
N, F = 8, 4
RNG = np.random.default_rng(3)
# Offsets of the order of the spread: Keras's float32 E[x^2] - E[x]^2 would lose digits
# to a large offset (the parity tests against torch take large ones).
X = RNG.standard_normal((N, F)) * RNG.uniform(0.5, 3, F) + RNG.uniform(-1, 1, F)
BATCHES = [X, RNG.standard_normal((N, F)) * 2 - 1, RNG.standard_normal((N, F)) + 3]
X3 = RNG.standard_normal((N, 3, F))


@pytest.fixture(autouse=True)
def _float64():
    with floatx("float64"):
        yield


def _random_weights(shapes, seed=0):
    """Weights for any layer: positive where a variance or a scale may be (all are)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.5, 2.0, shape) for shape in shapes]


def _pair(make, input_shape=(None, F), seed=0):
    """``make(library)`` built in Keras and in nnlearn, with the same random weights."""
    pair = {}
    for name, library in LIBRARIES.items():
        pair[name] = make(library)
        pair[name].build(input_shape)
    weights = _random_weights([w.shape for w in pair["keras"].get_weights()], seed)
    pair["keras"].set_weights(weights)
    pair["nnlearn"].set_weights(pair["keras"].get_weights())
    return pair["keras"], pair["nnlearn"]


NORMALIZATIONS = {
    "batch_norm": lambda lib: lib.layers.BatchNormalization(),
    "batch_norm_momentum_0.9_eps_1e-5": lambda lib: lib.layers.BatchNormalization(
        momentum=0.9, epsilon=1e-5
    ),
    "batch_norm_no_center": lambda lib: lib.layers.BatchNormalization(center=False),
    "batch_norm_no_scale": lambda lib: lib.layers.BatchNormalization(scale=False),
    "layer_norm": lambda lib: lib.layers.LayerNormalization(),
    "layer_norm_no_center_no_scale": lambda lib: lib.layers.LayerNormalization(
        center=False, scale=False
    ),
}


# --- weights -------------------------------------------------------------------------------------
@pytest.mark.parametrize("make", NORMALIZATIONS.values(), ids=NORMALIZATIONS.keys())
def test_weights_have_keras_order_names_shapes_and_trainability(make):
    theirs, ours = _pair(make)
    assert [w.name for w in theirs.weights] == [name for name, _ in ours.named_parameters()]
    assert [w.shape for w in theirs.get_weights()] == [w.shape for w in ours.get_weights()]
    assert [w.trainable for w in theirs.weights] == [p.trainable for p in ours.weights]
    assert len(theirs.trainable_weights) == len(ours.trainable_weights)


# --- inference ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make", NORMALIZATIONS.values(), ids=NORMALIZATIONS.keys())
def test_inference_matches_keras(make):
    theirs, ours = _pair(make)
    np.testing.assert_allclose(ours(X).data, to_numpy(theirs(X, training=False)), **TOL)


def test_layer_norm_over_several_axes_matches_keras():
    theirs, ours = _pair(lambda lib: lib.layers.LayerNormalization(axis=[1, 2]), (None, 3, F))
    np.testing.assert_allclose(ours(X3).data, to_numpy(theirs(X3)), **TOL)
    theirs, ours = _pair(lambda lib: lib.layers.BatchNormalization(axis=1), (None, 3, F))
    keras_out = to_numpy(theirs(X3, training=True))
    np.testing.assert_allclose(ours(X3, training=True).data, keras_out, **TOL)
    np.testing.assert_allclose(ours.moving_variance.data, to_numpy(theirs.moving_variance), **TOL)


def test_a_model_with_every_layer_infers_like_keras():
    def layers(lib):
        return [
            lib.layers.Dense(6, activation="relu"),
            lib.layers.BatchNormalization(),
            lib.layers.Dropout(0.5),
            lib.layers.Dense(5),
            lib.layers.LayerNormalization(),
            lib.layers.Dense(3, activation="softmax"),
        ]

    theirs, ours = _pair(lambda lib: lib.Sequential(layers(lib)))
    np.testing.assert_allclose(ours(X).data, to_numpy(theirs(X, training=False)), **TOL)
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), **TOL)


# --- BatchNormalization while training -----------------------------------------------------------
@pytest.mark.parametrize("momentum", [0.99, 0.9])
def test_batch_norm_training_output_and_moving_statistics_match_keras(momentum):
    theirs, ours = _pair(lambda lib: lib.layers.BatchNormalization(momentum=momentum))
    start = ours.moving_mean.data.copy()
    for x in BATCHES:
        keras_out = to_numpy(theirs(x, training=True))
        np.testing.assert_allclose(ours(x, training=True).data, keras_out, **TOL)
        for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_allclose(mine, keras_weight, **TOL)
    assert not np.allclose(ours.moving_mean.data, start)  # the statistics moved


def test_a_frozen_batch_norm_infers_while_training_like_keras_3():
    theirs, ours = _pair(NORMALIZATIONS["batch_norm"])
    theirs.trainable = ours.trainable = False
    start = theirs.get_weights()
    keras_out = to_numpy(theirs(X, training=True))
    np.testing.assert_allclose(keras_out, to_numpy(theirs(X, training=False)), **TOL)
    np.testing.assert_allclose(ours(X, training=True).data, keras_out, **TOL)
    for mine, keras_weight, first in zip(
        ours.get_weights(), theirs.get_weights(), start, strict=True
    ):
        np.testing.assert_array_equal(keras_weight, first)
        np.testing.assert_array_equal(mine, first)


def test_fit_with_sgd_on_a_batch_norm_model_ends_with_keras_weights():
    def layers(lib):
        return [
            lib.layers.Dense(5, activation="tanh"),
            lib.layers.BatchNormalization(momentum=0.9),
            lib.layers.Dense(1),
        ]

    theirs, ours = _pair(lambda lib: lib.Sequential(layers(lib)))
    x = np.concatenate(BATCHES)
    y = np.sin(x).sum(axis=1, keepdims=True)
    for model in (theirs, ours):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    names = [f"{layer.name}/{w.name}" for layer in theirs.layers for w in layer.weights]
    pairs = zip(names, ours.get_weights(), theirs.get_weights(), strict=True)
    for name, mine, keras_weight in pairs:
        np.testing.assert_allclose(mine, keras_weight, **TOL, err_msg=name)


# --- Dropout --------------------------------------------------------------------------------------
def test_dropout_is_the_identity_at_inference_in_both():
    for library in LIBRARIES.values():
        np.testing.assert_array_equal(to_numpy(library.layers.Dropout(0.5)(X)), X)


@pytest.mark.parametrize("rate", [0.2, 0.6])
def test_dropout_scales_kept_entries_by_one_over_one_minus_rate_like_keras(rate):
    x = np.ones((100, 100))
    outputs = {
        name: to_numpy(library.layers.Dropout(rate, seed=1)(x, training=True))
        for name, library in LIBRARIES.items()
    }
    for name, y in outputs.items():
        kept = y != 0
        np.testing.assert_allclose(y[kept], 1 / (1 - rate), rtol=1e-15, err_msg=name)
        assert abs(1 - kept.mean() - rate) < 0.03, name  # 10,000 draws: sd 0.005


# --- get_config ----------------------------------------------------------------------------------
CONFIGURED = {
    "dropout": lambda lib: lib.layers.Dropout(0.3, noise_shape=(None, 1), seed=5),
    "batch_norm": lambda lib: lib.layers.BatchNormalization(
        momentum=0.9, epsilon=1e-4, center=False
    ),
    "layer_norm": lambda lib: lib.layers.LayerNormalization(axis=[1, 2], scale=False),
}


@pytest.mark.parametrize("make", CONFIGURED.values(), ids=CONFIGURED.keys())
def test_get_config_uses_keras_names_and_values(make):
    ours, theirs = make(nl).get_config(), make(keras).get_config()
    assert set(ours) <= set(theirs)
    for key, value in ours.items():
        if key.endswith("_initializer"):  # Keras writes {"class_name": "Zeros", ...}
            assert theirs[key]["class_name"].lower() == value.replace("_", "")
        elif key != "dtype":  # Keras writes its dtype policy
            assert value == (list(theirs[key]) if isinstance(theirs[key], tuple) else theirs[key])
