"""Chapter 16: Embedding and MultiHeadAttention against Keras 3 itself.

Keras 3 on its PyTorch backend, float64, is the reference for the Keras names: the same layer
is built in both libraries, Keras's weights (drawn at random here, biases too, so none is a
trivial 0) are copied into nnlearn with ``set_weights``, and the outputs are compared; the
weights' names, order and shapes; ``get_config``'s arguments rebuild the same Keras layer.

Precision: when Keras's MultiHeadAttention returns its attention scores it computes them with
einsum and softmax, in float64; without them (no dropout) it calls
``ops.dot_product_attention``, which on the torch backend promotes float64 to float32 (Keras's
``result_type`` maps 64-bit floats to 32-bit, as JAX does) before torch's
``scaled_dot_product_attention``. So the scores path is compared at float64's tolerance and
the plain output at float32's; a wrong formula (no 1/sqrt(d), a mask after the softmax) is far
outside either.
"""

from __future__ import annotations

import numpy as np
import pytest
from keras_reference import LIBRARIES, floatx, keras, to_numpy

import nnlearn as nl

pytestmark = [
    pytest.mark.chapter16,
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

FLOAT64 = {"rtol": 1e-9, "atol": 1e-11}
FLOAT32 = {"rtol": 1e-5, "atol": 1e-6}  # Keras's dot_product_attention path (module docstring)
RNG = np.random.default_rng(160)
B, T, S = 2, 5, 4
X = RNG.standard_normal((B, T, 6))
Z = RNG.standard_normal((B, S, 7))
PADDING = RNG.random((B, T, S)) > 0.3
PADDING[..., 0] = True


@pytest.fixture(autouse=True)
def _float64():
    with floatx("float64"):
        yield


def _pair(make, *shapes):
    """``make(library)`` built in Keras and nnlearn for ``shapes``, with Keras's weights
    redrawn at random and copied into nnlearn."""
    pair = {name: make(library) for name, library in LIBRARIES.items()}
    for layer in pair.values():
        layer.build(*shapes)
    pair["keras"].set_weights([RNG.uniform(-1, 1, w.shape) for w in pair["keras"].get_weights()])
    pair["nnlearn"].set_weights(pair["keras"].get_weights())
    return pair["keras"], pair["nnlearn"]


LAYERS = {
    "default": lambda lib: lib.layers.MultiHeadAttention(num_heads=2, key_dim=3),
    "value_dim_output_shape": lambda lib: lib.layers.MultiHeadAttention(
        num_heads=3, key_dim=2, value_dim=4, output_shape=5
    ),
    "no_bias": lambda lib: lib.layers.MultiHeadAttention(num_heads=2, key_dim=4, use_bias=False),
}
CALLS = {
    "cross": ((X, Z), {}),
    "cross_key": ((X, Z, Z[..., :3] * 2), {}),
    "causal": ((X, Z), {"use_causal_mask": True}),
    "padding": ((X, Z), {"attention_mask": PADDING}),
    "padding_and_causal": ((X, Z), {"attention_mask": PADDING, "use_causal_mask": True}),
    "self_causal": ((X, X), {"use_causal_mask": True}),
}


@pytest.mark.parametrize("call", CALLS, ids=list(CALLS))
@pytest.mark.parametrize("make", LAYERS.values(), ids=list(LAYERS))
def test_mha_with_kerass_weights_computes_what_keras_computes(make, call):
    inputs, options = CALLS[call]
    ours_keras, ours = _pair(make, *[a.shape for a in (inputs[0], inputs[1], inputs[-1])])
    keras_out, keras_scores = ours_keras(*inputs, **options, return_attention_scores=True)
    out, scores = ours(*inputs, **options, return_attention_scores=True)
    np.testing.assert_allclose(out.data, to_numpy(keras_out), **FLOAT64)
    np.testing.assert_allclose(scores.data, to_numpy(keras_scores), **FLOAT64)
    fast = ours_keras(*inputs, **options)  # Keras's float32 dot_product_attention path
    np.testing.assert_allclose(ours(*inputs, **options).data, to_numpy(fast), **FLOAT32)


def test_mha_weights_have_kerass_names_order_and_shapes():
    theirs, ours = _pair(LAYERS["value_dim_output_shape"], X.shape, Z.shape, (B, S, 3))
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.weights]
    keras_names = [w.path.split("/", 1)[1].replace("/", "_") for w in theirs.weights]
    renamed = {"attention_output_kernel": "output_kernel", "attention_output_bias": "output_bias"}
    assert [n for n, _ in ours.named_parameters()] == [renamed.get(n, n) for n in keras_names]


def test_mha_config_rebuilds_the_same_keras_layer():
    ours = nl.layers.MultiHeadAttention(4, 8, value_dim=2, dropout=0.1, output_shape=5, seed=2)
    config = {k: v for k, v in ours.get_config().items() if k != "dtype"}
    theirs = keras.layers.MultiHeadAttention(**config).get_config()
    for key, value in config.items():
        if key.endswith("initializer"):
            assert theirs[key]["class_name"] == keras.initializers.get(value).__class__.__name__
        elif key == "output_shape":
            assert list(theirs[key]) == value
        else:
            assert theirs[key] == value, key


def test_mha_dropout_is_kerass_identity_at_inference_and_drops_in_training():
    theirs, ours = _pair(
        lambda lib: lib.layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5, seed=1),
        X.shape,
        Z.shape,
    )
    np.testing.assert_allclose(ours(X, Z).data, to_numpy(theirs(X, Z)), **FLOAT64)
    assert not np.allclose(ours(X, Z, training=True).data, ours(X, Z).data)


def test_embedding_with_kerass_weights_looks_up_what_keras_looks_up():
    theirs, ours = _pair(lambda lib: lib.layers.Embedding(9, 4), (None, 3))
    tokens = np.array([[0, 8, 8], [3, 1, 0]])
    np.testing.assert_array_equal(ours(tokens).data, to_numpy(theirs(tokens)))
    assert [w.shape for w in ours.get_weights()] == [(9, 4)] == [tuple(theirs.embeddings.shape)]
    config = {k: v for k, v in ours.get_config().items() if k != "dtype"}
    rebuilt = keras.layers.Embedding(**config).get_config()
    assert {k: rebuilt[k] for k in ("input_dim", "output_dim", "mask_zero")} == {
        "input_dim": 9,
        "output_dim": 4,
        "mask_zero": False,
    }
    # Keras's "uniform" default and nnlearn's name for it are the same law, U(-0.05, 0.05).
    assert (
        rebuilt["embeddings_initializer"]
        == keras.layers.Embedding(9, 4).get_config()["embeddings_initializer"]
    )


def test_mha_kernels_are_drawn_from_kerass_glorot_law():
    """Keras 3 draws an EinsumDense kernel with the fans of its input and output axes: the
    query kernel (E, N, d) as a Dense kernel (E, N d), the output kernel (N, d, E) as
    (N d, E), so glorot_uniform's limit is sqrt(6 / (E + N d)), for nnlearn as for Keras."""
    theirs, ours = (
        lib.layers.MultiHeadAttention(num_heads=4, key_dim=8) for lib in LIBRARIES.values()
    )
    for layer in (theirs, ours):
        layer.build((None, T, 96), (None, S, 96))
    limit = np.sqrt(6 / (96 + 4 * 8))
    for kernels in ([to_numpy(theirs.weights[i]) for i in (0, 6)], ours.get_weights()[::6]):
        for weights in kernels:
            assert 0.95 * limit < np.abs(weights).max() <= limit
            assert abs(weights.std() - limit / np.sqrt(3)) < 0.05 * limit  # U(-a, a): a / sqrt(3)
