"""Chapter 08: metrics checked against scikit-learn and Keras 3."""

import os

import numpy as np
import pytest
import sklearn.metrics

import nnlearn as nl
from nnlearn import metrics

pytestmark = pytest.mark.chapter08


RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 5, 200)
PREDICTED = np.where(RNG.random(200) < 0.7, LABELS, RNG.integers(0, 5, 200))
SCORES = RNG.standard_normal((200, 5))


# --- metrics vs scikit-learn --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("y_true", "y_pred", "true_labels", "pred_labels"),
    [
        (LABELS, PREDICTED, LABELS, PREDICTED),
        (LABELS, SCORES, LABELS, SCORES.argmax(1)),
        (np.eye(5)[LABELS], SCORES, LABELS, SCORES.argmax(1)),
        (LABELS[:, None], PREDICTED, LABELS, PREDICTED),
        (LABELS % 2, RNG.random(200), LABELS % 2, None),
        (LABELS % 2, RNG.random((200, 1)), LABELS % 2, None),
    ],
    ids=["labels", "scores", "one-hot", "column-labels", "probabilities", "column-probabilities"],
)
def test_accuracy_matches_sklearn_accuracy_score(y_true, y_pred, true_labels, pred_labels):
    if pred_labels is None:  # one probability of class 1 per example
        pred_labels = (np.ravel(y_pred) > 0.5).astype(int)
    expected = sklearn.metrics.accuracy_score(true_labels, pred_labels)
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(expected)


def test_accuracy_accepts_tensors_and_rejects_mismatched_lengths():
    assert metrics.accuracy(nl.Tensor(np.eye(3)), np.arange(3)) == 1.0
    with pytest.raises(ValueError, match="y_true has 3 examples but y_pred has 2"):
        metrics.accuracy([0, 1, 2], [0, 1])


def test_confusion_matrix_matches_sklearn():
    expected = sklearn.metrics.confusion_matrix(LABELS, SCORES.argmax(1), labels=range(5))
    np.testing.assert_array_equal(metrics.confusion_matrix(LABELS, SCORES), expected)
    assert metrics.confusion_matrix(LABELS, PREDICTED).trace() == np.sum(LABELS == PREDICTED)


def test_confusion_matrix_with_num_classes_pads_unseen_classes_and_checks_range():
    matrix = metrics.confusion_matrix([0, 1], [1, 1], num_classes=4)
    expected = sklearn.metrics.confusion_matrix([0, 1], [1, 1], labels=range(4))
    np.testing.assert_array_equal(matrix, expected)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        metrics.confusion_matrix([0, 3], [0, 1], num_classes=2)


# --- Keras's metric functions vs Keras ------------------------------------------------------------
BINARY = (LABELS % 2).astype(np.float32)
PROBABILITY = RNG.random(200).astype(np.float32)
REAL = RNG.standard_normal((200, 3)).astype(np.float32)
KERAS_METRIC_CASES = [
    ("binary_accuracy", BINARY, PROBABILITY[:, None]),  # labels (n,), a sigmoid column
    ("binary_accuracy", BINARY[:, None], PROBABILITY[:, None]),
    ("binary_accuracy", BINARY[:, None], PROBABILITY),
    ("categorical_accuracy", np.eye(5)[LABELS], SCORES),
    ("sparse_categorical_accuracy", LABELS, SCORES),
    ("sparse_categorical_accuracy", LABELS[:, None], SCORES),
    ("mean_absolute_error", REAL, REAL[::-1]),
    ("mean_absolute_error", REAL[:, 0], REAL[:, :1]),  # targets (n,), outputs (n, 1)
    ("mean_squared_error", REAL, REAL[::-1]),
    ("mean_squared_error", REAL[:, :1], REAL[:, 1]),
]


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")
@pytest.mark.parametrize(
    ("name", "y_true", "y_pred"),
    KERAS_METRIC_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(KERAS_METRIC_CASES)],
)
def test_metric_functions_give_kerass_values_per_example(name, y_true, y_pred):
    keras = _keras()
    expected = keras.ops.convert_to_numpy(getattr(keras.metrics, name)(y_true, y_pred))
    result = getattr(metrics, name)(y_true, y_pred)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, rtol=1e-6, atol=1e-7)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")
def test_accuracy_in_compile_picks_keras_accuracy_from_the_shapes():
    """Keras's compile maps "accuracy" to the binary, sparse or categorical accuracy."""
    keras = _keras()
    for y_true, y_pred, keras_metric in [
        (BINARY, PROBABILITY[:, None], keras.metrics.binary_accuracy),
        (LABELS, SCORES, keras.metrics.sparse_categorical_accuracy),
        (LABELS[:, None], SCORES, keras.metrics.sparse_categorical_accuracy),
        (np.eye(5)[LABELS], SCORES, keras.metrics.categorical_accuracy),
    ]:
        expected = keras.ops.convert_to_numpy(keras_metric(y_true, y_pred))
        np.testing.assert_array_equal(metrics.get("accuracy")[1](y_true, y_pred), expected)


def test_mean_weighs_values_as_keras_mean():
    mean = metrics.Mean()
    mean.update_state([1.0, 2.0, 3.0])
    mean.update_state(10.0, sample_weight=2.0)
    assert mean.result() == pytest.approx((1 + 2 + 3 + 20) / 5)
    assert metrics.Mean().result() == 0.0  # Keras's divide_no_nan


def test_metrics_get_knows_keras_names_and_keeps_the_spelling_given():
    assert metrics.get("acc") == ("acc", metrics.auto_accuracy)
    assert metrics.get("mae") == ("mae", metrics.mean_absolute_error)
    assert metrics.get("mean_squared_error") == ("mean_squared_error", metrics.mean_squared_error)
    assert metrics.get(metrics.confusion_matrix)[0] == "confusion_matrix"
    assert metrics.higher_is_better(metrics.binary_accuracy) is True
    assert metrics.higher_is_better(metrics.mean_squared_error) is False
    assert metrics.higher_is_better(metrics.confusion_matrix) is None
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.get("f1")


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first import of keras
    import keras

    return keras
