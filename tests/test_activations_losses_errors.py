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


# --- losses.get and as_loss, as keras.losses.get and compile ------------------------------------
@pytest.mark.parametrize(
    ("name", "function"),
    [
        ("mse", L.mean_squared_error),
        ("MSE", L.mean_squared_error),
        ("mean_squared_error", L.mean_squared_error),
        ("mae", L.mean_absolute_error),
        ("MAE", L.mean_absolute_error),
        ("mean_absolute_error", L.mean_absolute_error),
        ("huber", L.huber),
        ("bce", L.binary_crossentropy),
        ("binary_crossentropy", L.binary_crossentropy),
        ("categorical_crossentropy", L.categorical_crossentropy),
        ("sparse_categorical_crossentropy", L.sparse_categorical_crossentropy),
    ],
)
def test_loss_get_of_a_function_name_is_the_function_like_keras(name, function):
    assert L.get(name) is function


@pytest.mark.parametrize("cls", L.CLASSES, ids=lambda c: c.__name__)
def test_loss_get_of_a_class_name_or_class_is_a_new_object_with_kerass_defaults(cls):
    for identifier in (cls.__name__, cls):
        loss = L.get(identifier)
        assert type(loss) is cls
        assert getattr(loss, "from_logits", False) is False  # Keras's default: probabilities
        assert loss.reduction == "sum_over_batch_size"


def test_loss_get_returns_loss_objects_functions_and_none_as_they_are():
    loss = L.SparseCategoricalCrossentropy(from_logits=True)
    assert L.get(loss) is loss
    assert L.get(L.huber) is L.huber
    assert L.get(None) is None
    assert (
        repr(loss) == "SparseCategoricalCrossentropy(from_logits=True, ignore_class=None, axis=-1)"
    )
    assert loss.name == "sparse_categorical_crossentropy"


def test_loss_get_of_an_unknown_name_lists_the_known_ones_and_is_case_sensitive():
    for name in ("msee", "Mse"):
        with pytest.raises(ValueError, match=f"unknown loss '{name}' .names are case-sensitive"):
            L.get(name)
    with pytest.raises(ValueError) as raised:
        L.get("msee")
    for name in ("mse", "mae", "huber", "binary_crossentropy", "SparseCategoricalCrossentropy"):
        assert name in str(raised.value)
    with pytest.raises(ValueError, match="could not interpret the loss"):
        L.get({"class_name": "Huber"})


def test_as_loss_wraps_a_function_so_it_reduces_and_takes_sample_weight():
    y_true, y_pred = np.array([[0.0, 1.0], [2.0, 2.0]]), np.array([[1.0, 1.0], [2.0, 4.0]])
    loss = L.as_loss("mse")
    assert isinstance(loss, L.LossFunctionWrapper) and loss.name == "mse"
    assert repr(loss) == "LossFunctionWrapper(mean_squared_error)"
    # per-example losses 0.5 and 2: weighted 0.5 * 1 + 2 * 3, over 2 examples
    assert loss(y_true, y_pred, sample_weight=[1.0, 3.0]).item() == 3.25
    assert L.as_loss(L.huber).name == "huber"
    huber = L.Huber()
    assert L.as_loss(huber) is huber
    with pytest.raises(ValueError, match="give a loss"):
        L.as_loss(None)


def test_a_loss_subclass_without_call_or_with_an_unknown_reduction_says_so():
    class Forgot(L.Loss):
        pass

    with pytest.raises(NotImplementedError, match="Forgot must define call.self, y_true, y_pred"):
        Forgot()([1.0], [1.0])
    with pytest.raises(ValueError, match="reduction must be one of"):
        L.MeanSquaredError(reduction="average")


def test_sample_weight_that_does_not_broadcast_names_both_shapes():
    message = re.escape("sample_weight has shape (3,), which does not broadcast against the")
    with pytest.raises(ValueError, match=f"^mean_squared_error: {message}.*shape \\(4,\\)"):
        L.MeanSquaredError()(np.zeros((4, 2)), np.ones((4, 2)), sample_weight=np.ones(3))


# --- shapes: Keras's rule, and clear errors where Keras's would be unclear or silent -------------
def test_targets_of_shape_n_meet_predictions_of_shape_n_1_as_in_keras():
    losses = L.mean_squared_error(np.array([1.0, 2.0, 3.0]), np.array([[1.0], [2.0], [5.0]]))
    assert losses.data.tolist() == [0.0, 0.0, 4.0]  # never broadcast to (3, 3)


@pytest.mark.parametrize(
    "loss", [L.mean_squared_error, L.mean_absolute_error, L.huber], ids=lambda f: f.__name__
)
def test_regression_targets_must_fit_the_predictions(loss):
    message = re.escape(
        f"{loss.__name__}: y_true has shape (4, 2) but y_pred has shape (4, 3); y_true must "
        "have y_pred's shape"
    )
    with pytest.raises(ValueError, match=message):
        loss(np.zeros((4, 2)), nl.Tensor(np.zeros((4, 3))))
    with pytest.raises(ValueError, match=re.escape("(4, 1) but y_pred has shape (1, 4)")):
        loss(np.zeros((4, 1)), nl.Tensor(np.zeros((1, 4))))  # would broadcast to (4, 4)


@pytest.mark.parametrize(
    "loss", [L.binary_crossentropy, L.categorical_crossentropy], ids=lambda f: f.__name__
)
def test_crossentropy_functions_need_equal_shapes_like_keras(loss):
    message = re.escape(
        f"{loss.__name__}: y_true has shape (4,) but y_pred has shape (4, 1); they must be "
        "equal (reshape y_true to (4, 1))"
    )
    with pytest.raises(ValueError, match=message):
        loss(np.zeros(4), nl.Tensor(np.full((4, 1), 0.5)))


def test_sparse_labels_of_the_wrong_shape_name_both_shapes():
    message = re.escape("y_pred has shape (4, 3), so the labels need shape (4,)")
    with pytest.raises(ValueError, match=message + r".*have shape \(5,\)"):
        L.sparse_categorical_crossentropy(np.zeros(5, dtype=int), nl.Tensor(np.zeros((4, 3))))


def test_sparse_labels_may_have_a_trailing_axis_of_one_like_keras():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 1.0, 3.0]])
    flat = L.sparse_categorical_crossentropy([0, 2], logits, from_logits=True)
    column = L.sparse_categorical_crossentropy([[0], [2]], logits, from_logits=True)
    np.testing.assert_array_equal(flat.data, column.data)


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
        L.sparse_categorical_crossentropy(labels, probs, from_logits=from_logits)


def test_string_labels_say_to_map_class_names_to_integers():
    message = "labels must be integers; map class names to 0..C-1 first"
    with pytest.raises(ValueError, match=message):
        L.SparseCategoricalCrossentropy()(["cat", "dog"], nl.Tensor(np.full((2, 2), 0.5)))


def test_integral_float_labels_are_accepted():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 1.0, 3.0]])
    as_ints = L.sparse_categorical_crossentropy(np.array([1, 2]), logits, from_logits=True)
    as_floats = L.sparse_categorical_crossentropy(nl.Tensor([1.0, 2.0]), logits, from_logits=True)
    np.testing.assert_allclose(as_ints.data, as_floats.data, rtol=1e-6)


def test_ignore_class_is_refused_with_what_to_do_instead():
    with pytest.raises(NotImplementedError, match="does not support ignore_class.*sample_weight"):
        L.SparseCategoricalCrossentropy(ignore_class=0)([0, 1], np.full((2, 2), 0.5))


# --- probabilities or logits ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "loss",
    [L.binary_crossentropy, L.categorical_crossentropy],
    ids=lambda f: f.__name__,
)
def test_probability_losses_reject_logits_and_point_to_from_logits(loss):
    message = r"probabilities in \[0, 1\], got values from -2 to 3.*use from_logits=True"
    with pytest.raises(ValueError, match=message):
        loss([[0.0, 1.0]], nl.Tensor([[-2.0, 3.0]]))


@pytest.mark.parametrize(
    ("loss", "activation"),
    [(L.CategoricalCrossentropy, A.softmax), (L.BinaryCrossentropy, A.sigmoid)],
    ids=["softmax", "sigmoid"],
)
def test_from_logits_on_an_activations_probabilities_is_refused(loss, activation):
    probabilities = activation(nl.Tensor([[2.0, -1.0]]))
    message = f"the output of {activation.__name__}.*but from_logits=True"
    with pytest.raises(ValueError, match=message):
        loss(from_logits=True)([[0.0, 1.0]], probabilities)


def operations(loss: nl.Tensor) -> set[str]:
    return {t.grad_fn.name for t in loss.topological_order() if t.grad_fn}


def test_the_fusion_scores_the_logits_and_only_on_the_axis_softmax_normalised():
    z = nl.Tensor(np.array([[2.0, -1.0, 0.5], [0.0, 1.0, 3.0]]), requires_grad=True)
    fused = L.categorical_crossentropy(np.eye(3)[[0, 2]], A.softmax(z))
    assert "SoftmaxCrossEntropy" in operations(fused) and "Clip" not in operations(fused)
    columns = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])  # one class per column
    across_rows = L.categorical_crossentropy(columns, A.softmax(z, axis=0), axis=0)
    assert "Clip" in operations(across_rows)
    assert "Clip" in operations(L.categorical_crossentropy(np.eye(3)[[0, 2]], A.softmax(z) * 1))


def test_huber_delta_must_be_positive():
    with pytest.raises(ValueError, match="huber: delta must be positive, got 0"):
        L.huber([0.0], nl.Tensor([1.0]), delta=0)


def test_losses_need_an_axis_to_reduce_over():
    with pytest.raises(ValueError, match="categorical_crossentropy: y_pred needs a last axis"):
        L.categorical_crossentropy(1.0, nl.Tensor(0.5))
    with pytest.raises(ValueError, match="mean_squared_error: y_pred needs a last axis"):
        L.mean_squared_error(1.0, nl.Tensor(0.5))


def test_targets_of_another_dtype_are_refused_like_any_mixed_operation():
    with pytest.raises(TypeError, match="cannot mix float32 and float64"):
        L.mean_squared_error(nl.Tensor(np.array([1.0])), nl.Tensor([1.0]))
