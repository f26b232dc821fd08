"""Chapter 04: every Keras-named loss, function and class, against Keras 3 itself (torch
backend); then lookups by name (losses.get, as_loss) and the errors that say what is wrong.
Each loss against torch, forward and backward: tests/parity/test_losses_parity.py.

Each case runs the same call, ``name(y_true, y_pred, **options)``, in Keras and in nnlearn,
in float64, and compares the values and the gradients with respect to ``y_pred`` (Keras's
through torch's autograd, backpropagating the same random upstream gradient).

Keras's floatx is float64 here, but its torch backend still computes ``ops.mean`` in float32
(its dtype rules follow JAX without 64-bit mode), so values agree to float32's precision:
``rtol=1e-6``, far tighter than any wrong formula.
"""

from __future__ import annotations

import inspect
import os
import re

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the import: Keras reads it once
import keras  # noqa: E402

import nnlearn as nl  # noqa: E402
from nnlearn import activations as A  # noqa: E402
from nnlearn import losses as L  # noqa: E402

pytestmark = pytest.mark.chapter04

RTOL, ATOL = 1e-6, 1e-9


@pytest.fixture(autouse=True)
def keras_in_float64():
    old = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield
    keras.config.set_floatx(old)


def _softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


RNG = np.random.default_rng(8)
N, C = 6, 4
Y2, P2 = RNG.standard_normal((2, N, 3))
Y3, P3 = RNG.standard_normal((2, 2, 3, 5))
Y1, P_COLUMN = RNG.standard_normal(N), RNG.standard_normal((N, 1))
BINARY = RNG.integers(0, 2, (N, 3)).astype(float)
PROB = RNG.uniform(0, 1, (N, 3))
PROB[0, :2] = [0.0, 1.0]  # clipped to 1e-7 and 1 - 1e-7
BINARY_COLUMN, PROB_COLUMN = BINARY[:, :1], PROB[:, :1]
LOGITS = RNG.standard_normal((N, C)) * 2
LABELS = RNG.integers(0, C, N)
ONE_HOT = np.eye(C)[LABELS]
PROBS = _softmax(RNG.standard_normal((N, C)))
ROUGH = RNG.uniform(0, 1, (N, C))  # rows that do not sum to 1: Keras divides by the sum
ROUGH[0, LABELS[0]] = 0.0  # and a true class of probability 0: Keras clips it at 1e-7
SOFT = _softmax(RNG.standard_normal((N, C)))
LOGITS_3D, LABELS_3D = RNG.standard_normal((2, 3, C)), RNG.integers(0, C, (2, 3))
PROBS_3D, ONE_HOT_3D = _softmax(LOGITS_3D), np.eye(C)[LABELS_3D]
FIRST = RNG.standard_normal((2, C, 3))  # classes on axis 1
FIRST_LABELS = RNG.integers(0, C, (2, 3))
WEIGHTS = RNG.uniform(0, 2, N)

# (name, options, y_true, y_pred): the same name in keras.losses and nnlearn.losses.
FUNCTION_CASES = [
    ("mean_squared_error", {}, Y2, P2),
    ("mean_squared_error", {}, Y3, P3),
    ("mean_squared_error", {}, Y1, P_COLUMN),  # (n,) targets meet (n, 1) predictions
    ("mean_squared_error", {}, P_COLUMN, Y1),
    ("mean_absolute_error", {}, Y2, P2),
    ("mean_absolute_error", {}, Y1, P_COLUMN),
    ("huber", {}, Y2, P2 * 2),
    ("huber", {"delta": 0.5}, Y3, P3),
    ("binary_crossentropy", {}, BINARY, PROB),
    ("binary_crossentropy", {}, PROB, PROB[::-1].copy()),
    ("binary_crossentropy", {"from_logits": True}, BINARY, P2 * 3),
    ("binary_crossentropy", {"label_smoothing": 0.2}, BINARY, PROB),
    ("binary_crossentropy", {"axis": 0}, BINARY, PROB),
    ("binary_crossentropy", {}, BINARY_COLUMN, PROB_COLUMN),
    ("categorical_crossentropy", {}, ONE_HOT, PROBS),
    ("categorical_crossentropy", {}, SOFT, ROUGH),
    ("categorical_crossentropy", {"from_logits": True}, SOFT, LOGITS),
    ("categorical_crossentropy", {"label_smoothing": 0.1}, ONE_HOT, PROBS),
    ("categorical_crossentropy", {"label_smoothing": 0.1, "from_logits": True}, ONE_HOT, LOGITS),
    ("categorical_crossentropy", {}, ONE_HOT_3D, PROBS_3D),
    ("categorical_crossentropy", {"axis": 1, "from_logits": True}, _softmax(FIRST, 1), FIRST),
    ("sparse_categorical_crossentropy", {}, LABELS, PROBS),
    ("sparse_categorical_crossentropy", {}, LABELS, ROUGH),
    ("sparse_categorical_crossentropy", {}, LABELS[:, None], PROBS),
    ("sparse_categorical_crossentropy", {}, LABELS.astype(float), PROBS),
    ("sparse_categorical_crossentropy", {"from_logits": True}, LABELS, LOGITS),
    ("sparse_categorical_crossentropy", {"from_logits": True}, LABELS_3D, LOGITS_3D),
    ("sparse_categorical_crossentropy", {"from_logits": True, "axis": 1}, FIRST_LABELS, FIRST),
]
CLASS_OF = {
    "mean_squared_error": "MeanSquaredError",
    "mean_absolute_error": "MeanAbsoluteError",
    "huber": "Huber",
    "binary_crossentropy": "BinaryCrossentropy",
    "categorical_crossentropy": "CategoricalCrossentropy",
    "sparse_categorical_crossentropy": "SparseCategoricalCrossentropy",
}
# The classes also take (n,) targets for (n, 1) predictions in the cross-entropies.
CLASS_CASES = [(CLASS_OF[name], *rest) for name, *rest in FUNCTION_CASES] + [
    ("BinaryCrossentropy", {}, BINARY_COLUMN[:, 0], PROB_COLUMN),
    ("BinaryCrossentropy", {"from_logits": True}, BINARY_COLUMN[:, 0], P_COLUMN),
]


def case_id(case) -> str:
    name, options, y_true, y_pred = case
    settings = ",".join(f"{k}={v}" for k, v in options.items())
    return f"{name}[{settings}]{y_true.shape}-{y_pred.shape}"


def keras_run(loss, y_true, y_pred, upstream, **kwargs):
    """Keras's value, and its gradient with respect to y_pred through torch's autograd."""
    p = torch.tensor(y_pred, requires_grad=True)
    out = loss(y_true, p, **kwargs)
    out.backward(torch.as_tensor(upstream, device=out.device))
    return keras.ops.convert_to_numpy(out), p.grad.numpy()


def nnlearn_run(loss, y_true, y_pred, upstream, **kwargs):
    p = nl.Tensor(y_pred.copy(), requires_grad=True)
    out = loss(y_true, p, **kwargs)
    out.backward(upstream)
    return out.data, p.grad


def assert_same(mine, theirs):
    (value, grad), (keras_value, keras_grad) = mine, theirs
    assert value.shape == keras_value.shape
    np.testing.assert_allclose(value, keras_value, rtol=RTOL, atol=ATOL, err_msg="value")
    np.testing.assert_allclose(grad, keras_grad, rtol=RTOL, atol=ATOL, err_msg="gradient")


@pytest.mark.parametrize("case", FUNCTION_CASES, ids=case_id)
def test_loss_function_gives_kerass_per_example_losses_and_gradient(case):
    name, options, y_true, y_pred = case
    shape = keras.ops.shape(getattr(keras.losses, name)(y_true, y_pred, **options))
    upstream = RNG.standard_normal(tuple(shape))
    theirs = keras_run(getattr(keras.losses, name), y_true, y_pred, upstream, **options)
    mine = nnlearn_run(getattr(L, name), y_true, y_pred, upstream, **options)
    assert_same(mine, theirs)


def sample_weights(kind: str, shape: tuple[int, ...]):
    """Weights for per-example losses of ``shape``: one per loss, one per row, or a number."""
    if kind == "per_loss":
        return RNG.uniform(0, 2, shape)
    if kind == "per_row":  # (n, 1) for losses (n,): Keras expands the losses to match
        return RNG.uniform(0, 2, (shape[0], 1) if len(shape) == 1 else shape[:1] + (1,))
    return {"none": None, "scalar": 0.7}[kind]


@pytest.mark.parametrize("weights", ["none", "per_loss", "per_row", "scalar"])
@pytest.mark.parametrize("case", CLASS_CASES, ids=case_id)
def test_loss_class_gives_kerass_number_and_gradient(case, weights):
    name, options, y_true, y_pred = case
    unreduced = getattr(keras.losses, name)(**options, reduction=None)(y_true, y_pred)
    sample_weight = sample_weights(weights, tuple(keras.ops.shape(unreduced)))
    keras_loss = getattr(keras.losses, name)(**options, dtype="float64")
    theirs = keras_run(keras_loss, y_true, y_pred, 1.0, sample_weight=sample_weight)
    mine = nnlearn_run(
        getattr(L, name)(**options), y_true, y_pred, 1.0, sample_weight=sample_weight
    )
    assert_same(mine, theirs)


@pytest.mark.parametrize("reduction", ["sum", "mean", "mean_with_sample_weight", None, "none"])
def test_reductions_are_kerass(reduction):
    upstream = np.ones(() if reduction in ("sum", "mean", "mean_with_sample_weight") else N)
    theirs = keras_run(
        keras.losses.Huber(reduction=reduction, dtype="float64"),
        Y2,
        P2,
        upstream,
        sample_weight=WEIGHTS,
    )
    mine = nnlearn_run(L.Huber(reduction=reduction), Y2, P2, upstream, sample_weight=WEIGHTS)
    assert_same(mine, theirs)


def test_a_custom_loss_that_defines_only_call_works_as_in_keras():
    class KerasCubed(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return keras.ops.mean(keras.ops.abs(y_pred - y_true) ** 3, axis=-1)

    class Cubed(L.Loss):
        def call(self, y_true, y_pred):
            return ((y_pred - y_true).abs() ** 3).mean(axis=-1)

    theirs = keras_run(KerasCubed(dtype="float64"), Y2, P2, 1.0, sample_weight=WEIGHTS)
    mine = nnlearn_run(Cubed(), Y2, P2, 1.0, sample_weight=WEIGHTS)
    assert_same(mine, theirs)
    assert Cubed().name == "cubed" and KerasCubed().name.startswith("keras_cubed")


@pytest.mark.parametrize("cls", L.CLASSES, ids=lambda c: c.__name__)
def test_loss_class_takes_kerass_arguments_in_kerass_order_and_has_its_name(cls):
    theirs = getattr(keras.losses, cls.__name__)
    # not Keras's dtype: nnlearn computes in y_pred's dtype
    expected = [name for name in inspect.signature(theirs).parameters if name != "dtype"]
    assert list(inspect.signature(cls).parameters) == expected
    assert cls().name == theirs().name


@pytest.mark.parametrize(
    "name",
    ["mse", "MSE", "mae", "bce", "huber", "categorical_crossentropy", "MeanSquaredError", "Huber"],
)
def test_loss_get_returns_what_keras_get_returns(name):
    mine, theirs = L.get(name), keras.losses.get(name)
    if inspect.isfunction(theirs):
        assert mine.__name__ == theirs.__name__
    else:  # Keras's classes are LossFunctionWrappers around the function of the same options
        assert isinstance(mine, L.LossFunctionWrapper)
        assert mine.fn.__name__ == theirs.fn.__name__ and mine.options == theirs._fn_kwargs


def test_the_issues_example_gives_kerass_1_18():
    """The issue: (y_pred, y_true) order gave 47.5 where Keras gives 1.18."""
    y_true = np.array([[0, 1, 0], [0, 0, 1]])
    y_pred = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])
    expected = keras.losses.CategoricalCrossentropy(dtype="float64")(y_true, y_pred)
    loss = L.CategoricalCrossentropy()(y_true, y_pred)
    assert loss.item() == pytest.approx(float(expected), rel=RTOL)
    assert loss.item() == pytest.approx(1.1769392, rel=1e-6)


# --- the fusion: probabilities from softmax or sigmoid --------------------------------------------
@pytest.mark.parametrize(
    ("name", "activation", "y_true", "logits"),
    [
        ("categorical_crossentropy", "softmax", SOFT, LOGITS),
        ("sparse_categorical_crossentropy", "softmax", LABELS, LOGITS),
        ("categorical_crossentropy", "softmax", ONE_HOT_3D, LOGITS_3D),
        ("binary_crossentropy", "sigmoid", BINARY, P2 * 3),
    ],
)
def test_fused_loss_of_an_activation_output_equals_kerass_in_the_normal_regime(
    name, activation, y_true, logits
):
    """Keras (torch backend) takes the clipped log of the probabilities; nnlearn scores the
    logits the activation recorded. Away from the clip, value and logits' gradient agree."""
    upstream = RNG.standard_normal(logits.shape[:-1])
    z = torch.tensor(logits, requires_grad=True)
    expected = getattr(keras.losses, name)(y_true, getattr(keras.activations, activation)(z))
    expected.backward(torch.as_tensor(upstream, device=expected.device))
    x = nl.Tensor(logits, requires_grad=True)
    loss = getattr(L, name)(y_true, getattr(A, activation)(x))
    loss.backward(upstream)
    operations = {t.grad_fn.name for t in loss.topological_order() if t.grad_fn}
    assert "Clip" not in operations  # scored from the logits, not the probabilities
    assert_same((loss.data, x.grad), (keras.ops.convert_to_numpy(expected), z.grad.numpy()))


def test_fused_loss_inside_a_model_follows_kerass_formula_too():
    kernel = RNG.standard_normal((3, C))
    x = RNG.standard_normal((N, 3))
    probabilities = A.softmax(nl.Tensor(x) @ nl.Tensor(kernel))
    expected = keras.losses.SparseCategoricalCrossentropy(dtype="float64")(
        LABELS, _softmax(x @ kernel)
    )
    loss = L.SparseCategoricalCrossentropy()(LABELS, probabilities)
    assert loss.item() == pytest.approx(float(expected), rel=RTOL)


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
