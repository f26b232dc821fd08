"""Chapter 14: Conv2D, the pooling layers and Flatten against Keras 3 itself.

Keras 3 on its PyTorch backend, in float64: the same layers are built in both libraries,
Keras's weights (drawn at random here, so that no bias is a trivial 0) are copied into
nnlearn with ``set_weights``, and the outputs are compared: every layer alone (Keras's
"same" padding for strides 1 and 2 included, TensorFlow's rule, which Keras's torch backend
reimplements), a CNN with Flatten before its Dense layer (Keras's channels-last order), a
few epochs of SGD on it; the weights' order, names and shapes; ``get_config``'s names.

Keras 3.15 on torch computes ``GlobalAveragePooling2D``'s mean and ``Dense``'s product in
float32 even on float64 inputs (its Dense is 2e-7 off ``x @ W + b`` in numpy's float64):
those get float32's tolerance; Keras's convolutions and poolings agree to float64's.

Where Keras's backends disagree, nnlearn follows TensorFlow and JAX: an AveragePooling2D
"same" border window that is padded unevenly averages the values it covers, while Keras on
torch repeats the edge pixels and counts them (shown below against both formulas).
"""

from __future__ import annotations

import numpy as np
import pytest
from keras_reference import LIBRARIES, floatx, keras, to_numpy

import nnlearn as nl

pytestmark = [
    pytest.mark.chapter14,
    # Keras's own variables warn under numpy 2 when turned into arrays; not nnlearn's concern.
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

EXACT = {"rtol": 1e-12, "atol": 1e-13}
FLOAT32 = {"rtol": 1e-5, "atol": 1e-6}  # Keras's float32 mean and Dense (module docstring)
RNG = np.random.default_rng(4)
X = RNG.standard_normal((2, 7, 8, 3))


@pytest.fixture(autouse=True)
def _float64():
    with floatx("float64"):
        yield


def _pair(make, input_shape=X.shape, seed=0):
    """``make(library)`` built in Keras and in nnlearn, with Keras's random weights in both."""
    pair = {}
    for name, library in LIBRARIES.items():
        pair[name] = make(library)
        pair[name].build(input_shape)
    rng = np.random.default_rng(seed)
    pair["keras"].set_weights([rng.normal(0, 0.5, w.shape) for w in pair["keras"].get_weights()])
    pair["nnlearn"].set_weights(pair["keras"].get_weights())
    return pair["keras"], pair["nnlearn"]


LAYERS = {
    "conv_valid_relu": lambda lib: lib.layers.Conv2D(4, 3, activation="relu"),
    "conv_same": lambda lib: lib.layers.Conv2D(4, 3, padding="same"),
    "conv_same_stride_2": lambda lib: lib.layers.Conv2D(4, 3, strides=2, padding="same"),
    "conv_same_even_kernel": lambda lib: lib.layers.Conv2D(2, (2, 4), padding="same"),
    "conv_same_strides_2_3": lambda lib: lib.layers.Conv2D(2, (3, 2), (2, 3), padding="same"),
    "conv_valid_stride_2_no_bias": lambda lib: lib.layers.Conv2D(3, 2, 2, use_bias=False),
    "max_pooling": lambda lib: lib.layers.MaxPooling2D(),
    "max_pooling_same_3_stride_2": lambda lib: lib.layers.MaxPooling2D(3, 2, "same"),
    "max_pooling_overlapping": lambda lib: lib.layers.MaxPooling2D(3, 1),
    "average_pooling": lambda lib: lib.layers.AveragePooling2D((2, 3)),
    "average_pooling_same_symmetric": lambda lib: lib.layers.AveragePooling2D(3, 1, "same"),
    "average_pooling_same_even": lambda lib: lib.layers.AveragePooling2D(2, padding="same"),
    "flatten": lambda lib: lib.layers.Flatten(),
    "global_average_pooling": lambda lib: lib.layers.GlobalAveragePooling2D(),
    "global_average_pooling_keepdims": lambda lib: lib.layers.GlobalAveragePooling2D(keepdims=True),
}


@pytest.mark.parametrize("name", LAYERS)
def test_each_layer_computes_what_keras_computes(name):
    theirs, ours = _pair(LAYERS[name])
    tolerance = FLOAT32 if name.startswith("global") else EXACT
    keras_out = to_numpy(theirs(X))
    assert ours.output_shape == theirs.compute_output_shape((None, *X.shape[1:]))
    np.testing.assert_allclose(ours(X).data, keras_out, **tolerance)


def test_an_unevenly_padded_same_average_follows_tensorflow_not_kerass_torch_backend():
    """7 rows, window 3, stride 2: padding (1, 1); 8 columns: (0, 1). The last column of
    windows reads columns 6, 7 and one past the end."""
    theirs, ours = _pair(lambda lib: lib.layers.AveragePooling2D(3, 2, "same"))
    x = np.pad(X, ((0, 0), (1, 1), (0, 1), (0, 0)), mode="edge")  # Keras on torch: the edge
    inside = np.pad(np.ones((1, 7, 8, 1)), ((0, 0), (1, 1), (0, 1), (0, 0)))
    zeros = np.pad(X, ((0, 0), (1, 1), (0, 1), (0, 0)))

    def window_sum(a):
        return sum(a[:, i : i + 7 : 2, j : j + 7 : 2] for i in range(3) for j in range(3))

    replicated, covered = window_sum(x) / 9, window_sum(zeros) / window_sum(inside)
    np.testing.assert_allclose(to_numpy(theirs(X)), replicated, **EXACT)
    np.testing.assert_allclose(ours(X).data, covered, **EXACT)
    assert not np.allclose(replicated, covered)


# --- weights, a model, training ------------------------------------------------------------------
def test_conv2d_weights_have_keras_names_order_and_layout():
    theirs, ours = _pair(lambda lib: lib.layers.Conv2D(5, (2, 3)))
    assert [w.name for w in theirs.weights] == [name for name, _ in ours.named_parameters()]
    assert [w.shape for w in ours.get_weights()] == [(2, 3, 3, 5), (5,)]
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, keras_weight)


def _cnn(lib):
    return lib.Sequential(
        [
            lib.layers.Conv2D(4, 3, padding="same", activation="relu"),
            lib.layers.MaxPooling2D(),
            lib.layers.Conv2D(6, 2, strides=2, activation="relu"),
            lib.layers.Flatten(),  # channels-last order: a different order breaks the Dense
            lib.layers.Dense(3, activation="softmax"),
        ]
    )


def test_a_cnn_with_flatten_infers_like_keras():
    theirs, ours = _pair(_cnn)
    np.testing.assert_allclose(ours(X).data, to_numpy(theirs(X)), **FLOAT32)  # Keras's Dense
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), **FLOAT32)
    features = nl.Sequential(ours.layers[:4])(X).data  # up to Flatten: float64's tolerance
    np.testing.assert_allclose(features, to_numpy(keras.Sequential(theirs.layers[:4])(X)), **EXACT)


def test_fit_with_sgd_on_a_cnn_ends_with_kerass_weights():
    theirs, ours = _pair(_cnn)
    x, y = RNG.standard_normal((12, 7, 8, 3)), RNG.integers(0, 3, 12)
    for model in (theirs, ours):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
    names = [f"{layer.name}/{w.name}" for layer in theirs.layers for w in layer.weights]
    for name, mine, keras_weight in zip(
        names, ours.get_weights(), theirs.get_weights(), strict=True
    ):
        np.testing.assert_allclose(mine, keras_weight, **FLOAT32, err_msg=name)


# --- get_config --------------------------------------------------------------------------------
CONFIGURED = {
    "conv": lambda lib: lib.layers.Conv2D(
        8, (3, 2), strides=2, padding="same", activation="relu", use_bias=False
    ),
    "conv_initializers": lambda lib: lib.layers.Conv2D(
        4, 3, kernel_initializer="he_normal", bias_initializer="ones"
    ),
    "max_pooling": lambda lib: lib.layers.MaxPooling2D(3, 2, "same"),
    "average_pooling_default_strides": lambda lib: lib.layers.AveragePooling2D((2, 3)),
    "global_average_pooling": lambda lib: lib.layers.GlobalAveragePooling2D(keepdims=True),
    "flatten": lambda lib: lib.layers.Flatten(),
}


@pytest.mark.parametrize("make", CONFIGURED.values(), ids=CONFIGURED.keys())
def test_get_config_uses_keras_names_and_values(make):
    ours, theirs = make(nl).get_config(), make(keras).get_config()
    assert set(ours) <= set(theirs)
    for key, value in ours.items():
        if key.endswith("_initializer"):  # Keras writes {"class_name": "HeNormal", ...}
            assert theirs[key]["class_name"].lower() == value.replace("_", "")
        elif key != "dtype":  # Keras writes its dtype policy
            assert value == (list(theirs[key]) if isinstance(theirs[key], tuple) else theirs[key])
