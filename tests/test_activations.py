"""Chapter 02: activations looked up by Keras name (activations.get), each checked against Keras 3
itself (values, defaults, and inside a Dense layer), the errors that say what is wrong, and the
logits softmax and sigmoid record for the fused cross-entropies. Each activation against torch,
forward and backward: tests/parity/test_activations_parity.py."""

import inspect

import numpy as np
import pytest
from keras_reference import floatx, keras, to_numpy

import nnlearn as nl
from nnlearn import activations as A

# Keras's own variables warn under numpy 2 when turned into arrays; not nnlearn's concern.
pytestmark = [
    pytest.mark.chapter02,
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]
KERAS_NAMES = sorted(A._BY_NAME)  # every name activations.get accepts
GRID = np.linspace(-8.0, 8.0, 161).reshape(7, 23)  # holds 0 and negative values; rows for softmax

# --- activations.get -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "function"),
    [
        ("relu", A.relu),
        ("leaky_relu", A.leaky_relu),
        ("elu", A.elu),
        ("sigmoid", A.sigmoid),
        ("tanh", A.tanh),
        ("softplus", A.softplus),
        ("gelu", A.gelu),
        ("silu", A.silu),
        ("swish", A.silu),
        ("softmax", A.softmax),
        ("log_softmax", A.log_softmax),
        ("linear", A.linear),
        ("ReLU", A.relu),
    ],
)
def test_activation_get_finds_each_keras_name(name, function):
    assert A.get(name) is function


def test_activation_get_of_none_is_linear_and_of_a_callable_is_itself():
    assert A.get(None) is A.linear

    def custom(x):
        return x * 2

    assert A.get(custom) is custom


def test_linear_returns_its_input_values_with_gradient_one():
    x = nl.Tensor([1.5, -2.0], requires_grad=True)
    y = A.get(None)(x)
    y.backward(np.array([3.0, 4.0], dtype=np.float32))
    assert y.data.tolist() == [1.5, -2.0] and x.grad.tolist() == [3.0, 4.0]


def test_activation_get_of_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown activation 'rellu'") as raised:
        A.get("rellu")
    for name in ("relu", "leaky_relu", "gelu", "swish", "softmax", "linear"):
        assert name in str(raised.value)


def test_names_are_the_elementwise_activations():
    assert set(A.NAMES) == {
        "relu",
        "leaky_relu",
        "elu",
        "sigmoid",
        "tanh",
        "softplus",
        "gelu",
        "silu",
        "linear",
    }


# --- Keras 3 itself as the reference for every name ----------------------------------------------
@pytest.mark.parametrize("name", KERAS_NAMES)
def test_each_name_computes_what_keras_computes(name):
    with floatx("float64"):
        expected = to_numpy(keras.activations.get(name)(GRID))
    np.testing.assert_allclose(A.get(name)(nl.Tensor(GRID)).data, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_dense_with_each_activation_gives_keras_output_from_the_same_weights(name):
    # Keras promotes float64 @ float64 to float32 for its matmul, so the inputs and weights are
    # multiples of 1/8 that float32 multiplies and adds exactly: the pre-activations agree to
    # the last bit, and any difference left is the activation's.
    x = np.random.default_rng(1).integers(-24, 25, (6, 3)) / 8
    with floatx("float64"):
        keras.utils.set_random_seed(0)
        reference = keras.layers.Dense(4, activation=name)
        reference.build((None, 3))
        kernel, _ = reference.get_weights()
        reference.set_weights([np.round(kernel * 8) / 8, np.array([-0.75, -0.25, 0.25, 0.5])])
        dense = nl.layers.Dense(4, activation=name, input_shape=(3,))
        dense.set_weights(reference.get_weights())
        expected = to_numpy(reference(x))
        np.testing.assert_allclose(dense(x).data, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", KERAS_NAMES)
def test_each_keyword_has_keras_default(name):
    """Every option nnlearn shares with ``keras.activations.<name>`` has Keras's default
    (leaky_relu's slope is 0.2, not torch's 0.01)."""
    ours = inspect.signature(A.get(name)).parameters
    theirs = inspect.signature(keras.activations.get(name)).parameters
    shared = [key for key in ours if key in theirs and key != "x"]
    assert {key: ours[key].default for key in shared} == {
        key: theirs[key].default for key in shared
    }


def test_leaky_relu_default_slope_is_keras_and_torchs_is_given_explicitly():
    x = np.array([-2.0, 0.0, 3.0])
    keras_leaky = to_numpy(keras.activations.leaky_relu(x))
    np.testing.assert_array_equal(A.leaky_relu(nl.Tensor(x)).data, keras_leaky)  # [-0.4, 0, 3]
    np.testing.assert_array_equal(
        A.leaky_relu(nl.Tensor(x), negative_slope=0.01).data, x * [0.01, 1, 1]
    )


def test_gelu_approximate_is_kerass_tanh_form():
    with floatx("float64"):
        expected = to_numpy(keras.activations.gelu(GRID, approximate=True))
    got = A.gelu(nl.Tensor(GRID), approximate=True).data
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert np.abs(got - A.gelu(nl.Tensor(GRID)).data).max() > 1e-4  # not the exact form


@pytest.mark.parametrize("option", ["negative_slope", "max_value", "threshold"])
def test_kerass_relu_options_are_refused_not_ignored(option):
    assert option in inspect.signature(keras.activations.relu).parameters
    with pytest.raises(TypeError, match=option):
        A.relu(nl.Tensor(GRID), **{option: 1.0})


def test_derivative_refuses_softmax_and_unknown_names():
    with pytest.raises(ValueError, match="'softmax' is not an elementwise activation.*Jacobian"):
        A.derivative("softmax", np.zeros(3))
    with pytest.raises(ValueError, match="choose one of relu, leaky_relu"):
        A.derivative("rellu", np.zeros(3))


def test_softmax_temperature_must_be_positive():
    with pytest.raises(ValueError, match="temperature must be positive, got 0"):
        A.softmax(nl.Tensor([1.0, 2.0]), temperature=0)


# --- the logits recorded for the fused cross-entropies -------------------------------------------
def test_softmax_over_the_last_axis_and_sigmoid_record_their_logits():
    z = nl.Tensor(np.ones((2, 3)))
    assert A.softmax(z)._softmax_logits is z
    assert A.softmax(z, axis=1)._softmax_logits is z
    assert A.sigmoid(z)._sigmoid_logits is z
    assert A.get("softmax")(z)._softmax_logits is z  # what a Dense layer's activation calls


def test_softmax_over_another_axis_or_temperature_records_nothing():
    z = nl.Tensor(np.ones((2, 3)))
    assert not hasattr(A.softmax(z, axis=0), "_softmax_logits")
    assert not hasattr(A.softmax(z, temperature=2.0), "_softmax_logits")
    assert not hasattr(A.tanh(z), "_softmax_logits")
