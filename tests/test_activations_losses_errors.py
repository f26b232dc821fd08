"""Chapters 02 and 04 at the boundary: lookups by Keras name, and errors that say what is wrong."""

import re

import numpy as np
import pytest

import nnlearn as nl
from nnlearn import activations as A
from nnlearn import losses as L

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


# --- losses.get ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("mse", L.MeanSquaredError),
        ("mean_squared_error", L.MeanSquaredError),
        ("mae", L.MeanAbsoluteError),
        ("mean_absolute_error", L.MeanAbsoluteError),
        ("huber", L.Huber),
        ("binary_crossentropy", L.BinaryCrossentropy),
        ("categorical_crossentropy", L.CategoricalCrossentropy),
        ("sparse_categorical_crossentropy", L.SparseCategoricalCrossentropy),
        ("MSE", L.MeanSquaredError),
    ],
)
def test_loss_get_finds_each_keras_name(name, cls):
    loss = L.get(name)
    assert type(loss) is cls
    assert getattr(loss, "from_logits", False) is False  # Keras's default: probabilities


def test_loss_get_returns_loss_objects_and_functions_as_they_are():
    loss = L.SparseCategoricalCrossentropy(from_logits=True)
    assert L.get(loss) is loss
    assert L.get(L.huber) is L.huber
    assert repr(loss) == "SparseCategoricalCrossentropy(from_logits=True)"
    assert loss.name == "sparse_categorical_crossentropy"


def test_loss_get_of_an_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown loss 'msee'") as raised:
        L.get("msee")
    for name in ("mse", "mae", "huber", "binary_crossentropy", "sparse_categorical_crossentropy"):
        assert name in str(raised.value)


# --- shape mismatches name the loss and both shapes ----------------------------------------------
SAME_SHAPE_LOSSES = [
    L.mean_squared_error,
    L.mean_absolute_error,
    L.huber,
    L.binary_crossentropy,
    L.binary_crossentropy_with_logits,
    L.categorical_crossentropy,
]


@pytest.mark.parametrize("loss", SAME_SHAPE_LOSSES, ids=lambda f: f.__name__)
def test_a_shape_mismatch_names_the_loss_and_both_shapes(loss):
    y_pred = nl.Tensor(np.full((4, 3), 0.5))
    message = re.escape(
        f"{loss.__name__}: y_pred has shape (4, 3) but y_true has shape (4, 2); they must be equal"
    )
    with pytest.raises(ValueError, match=message):
        loss(y_pred, np.zeros((4, 2)))


def test_a_shape_mismatch_of_equal_size_suggests_the_reshape():
    with pytest.raises(ValueError, match=re.escape("(32,); they must be equal (reshape y_true")):
        L.MeanSquaredError()(nl.Tensor(np.zeros((32, 1))), np.zeros(32))


def test_sparse_labels_of_the_wrong_shape_name_both_shapes():
    message = re.escape("y_pred has shape (4, 3), so the labels need shape (4,)")
    with pytest.raises(ValueError, match=message + r".*have shape \(5,\)"):
        L.sparse_categorical_crossentropy(nl.Tensor(np.zeros((4, 3))), np.zeros(5, dtype=int))


def test_sparse_labels_may_have_a_trailing_axis_of_one_like_keras():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 1.0, 3.0]])
    flat = L.sparse_categorical_crossentropy(logits, [0, 2], from_logits=True)
    column = L.sparse_categorical_crossentropy(logits, [[0], [2]], from_logits=True)
    assert flat.item() == column.item()


# --- labels must be integers in [0, classes) -----------------------------------------------------
@pytest.mark.parametrize(
    ("labels", "shown"),
    [
        ([0, 3, 1], "got 3"),
        ([0, -1, 1], "got -1"),
        ([0.0, 1.5, 2.0], "got 1.5"),
        ([0.0, np.nan, 1.0], "got nan"),
        (nl.Tensor([2.0, 7.0, 0.0]), "got 7.0"),
    ],
)
@pytest.mark.parametrize("from_logits", [True, False])
def test_a_bad_sparse_label_names_the_range_and_the_value(labels, shown, from_logits):
    probs = nl.Tensor(np.full((3, 3), 1 / 3))
    message = re.escape(f"labels must be integers in [0, 3) for 3 classes, {shown}")
    with pytest.raises(ValueError, match=f"^sparse_categorical_crossentropy: {message}$"):
        L.sparse_categorical_crossentropy(probs, labels, from_logits=from_logits)


def test_integral_float_labels_are_accepted():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 1.0, 3.0]])
    as_ints = L.sparse_categorical_crossentropy(logits, np.array([1, 2]), from_logits=True)
    as_floats = L.sparse_categorical_crossentropy(logits, nl.Tensor([1.0, 2.0]), from_logits=True)
    assert as_ints.item() == pytest.approx(as_floats.item(), rel=1e-6)


# --- other misuse --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "loss",
    [L.binary_crossentropy, L.categorical_crossentropy],
    ids=lambda f: f.__name__,
)
def test_probability_losses_reject_logits_and_point_to_from_logits(loss):
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\], got values from -2 to 3.*"):
        loss(nl.Tensor([[-2.0, 3.0]]), [[0.0, 1.0]])
    with pytest.raises(ValueError, match="use from_logits=True"):
        loss(nl.Tensor([[-2.0, 3.0]]), [[0.0, 1.0]])


def test_huber_delta_must_be_positive():
    with pytest.raises(ValueError, match="huber: delta must be positive, got 0"):
        L.huber(nl.Tensor([1.0]), [0.0], delta=0)


def test_crossentropy_needs_an_axis_of_classes():
    with pytest.raises(ValueError, match="categorical_crossentropy: y_pred needs a last axis"):
        L.categorical_crossentropy(nl.Tensor(0.5), 1.0)


def test_targets_of_another_dtype_are_refused_like_any_mixed_operation():
    with pytest.raises(TypeError, match="cannot mix float32 and float64"):
        L.mean_squared_error(nl.Tensor([1.0]), nl.Tensor(np.array([1.0])))
