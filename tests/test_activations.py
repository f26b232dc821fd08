"""Chapter 02: activations looked up by Keras name (activations.get), the errors that say what is
wrong, and the logits softmax and sigmoid record for the fused cross-entropies. Each
activation against torch, forward and backward: tests/parity/test_activations_parity.py."""

import numpy as np
import pytest

import nnlearn as nl
from nnlearn import activations as A

pytestmark = pytest.mark.chapter02

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
