"""Chapter 13: ``get_config`` means what it means in Keras 3, checked against Keras itself.

nnlearn's config of a Dense or Activation layer uses Keras's keys (those nnlearn has), and Keras,
given nnlearn's config, builds the layer Keras builds from the same arguments: the same config,
and (with the same weights) the same outputs. nnlearn's round trip,
``type(layer)(**layer.get_config())``, is in test_saving.py's load_model tests and here.
"""

import numpy as np
import pytest
from keras_reference import keras, to_numpy

import nnlearn as nl
from nnlearn.regularizers import L1L2, L2

pytestmark = [
    pytest.mark.chapter13,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning"),
]

CASES = {
    "dense": lambda lib: lib.layers.Dense(4, dtype="float64"),
    "dense-relu-he": lambda lib: lib.layers.Dense(
        3, activation="relu", kernel_initializer="he_normal", use_bias=False, dtype="float64"
    ),
    "dense-regularized": lambda lib: lib.layers.Dense(
        2,
        activation="swish",
        kernel_regularizer=lib.regularizers.L2(0.25),
        bias_regularizer=lib.regularizers.L1L2(l1=0.5, l2=0.125),
        dtype="float64",
    ),
    "activation": lambda lib: lib.layers.Activation("tanh", dtype="float64"),
}
NNLEARN = type("nnlearn", (), {"layers": nl.layers, "regularizers": nl.regularizers})


def keras_config(layer) -> dict:
    """Keras's config without the keys nnlearn has no constructor argument for (``name``,
    ``trainable``: saved beside the config; constraints, quantization), and with its
    serialised objects reduced to what identifies them."""
    config = layer.get_config()
    for key in ("name", "trainable", "kernel_constraint", "bias_constraint", "quantization_config"):
        config.pop(key, None)
    for key, value in config.items():
        if isinstance(value, dict):
            config[key] = {"class_name": value["class_name"], "config": value["config"]}
    return config


@pytest.mark.parametrize("case", CASES)
def test_keras_builds_from_nnlearn_config_the_layer_it_builds_itself(case):
    ours, theirs = CASES[case](NNLEARN), CASES[case](keras)
    config = ours.get_config()
    assert set(config) <= set(theirs.get_config())
    from_ours = type(theirs)(**config)
    assert keras_config(from_ours) == keras_config(theirs)
    # nnlearn's own round trip: the same config, and with the same weights the same outputs
    again = type(ours)(**config)
    assert again.get_config() == config
    x = np.random.default_rng(0).standard_normal((5, 6))
    ours(x)
    again(x)
    from_ours.build((None, 6))
    again.set_weights(ours.get_weights())
    from_ours.set_weights(ours.get_weights())
    np.testing.assert_array_equal(again(x).data, ours(x).data)
    # Keras 3's torch backend multiplies float64 matrices in float32 (its ops.matmul takes
    # result_type(float64, float64) to be float32), hence float32's tolerance
    np.testing.assert_allclose(ours(x).data, to_numpy(from_ours(x)), rtol=1e-5, atol=1e-6)


def test_regularizers_are_written_in_keras_form():
    """What Keras writes for a regularizer (less its module fields) is what nnlearn writes."""
    ours = nl.layers.Dense(2, kernel_regularizer=L2(0.5), bias_regularizer=L1L2(0.25, 0.0))
    theirs = keras.layers.Dense(
        2,
        kernel_regularizer=keras.regularizers.L2(0.5),
        bias_regularizer=keras.regularizers.L1L2(0.25, 0.0),
    )
    for key in ("kernel_regularizer", "bias_regularizer"):
        assert ours.get_config()[key] == keras_config(theirs)[key]
