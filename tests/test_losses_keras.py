"""Chapter 04 against Keras 3 itself (torch backend): every Keras-named loss, function and class.

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

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the import: Keras reads it once
import keras  # noqa: E402

import nnlearn as nl  # noqa: E402
from nnlearn import activations as A  # noqa: E402
from nnlearn import losses as L  # noqa: E402

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
