"""Chapter 08: data sets, splits, scaling, batches and fit's data preparation, checked against
scikit-learn and Keras 3."""

import os

import numpy as np
import pytest
import sklearn.datasets
from sklearn.preprocessing import StandardScaler

from nnlearn import data

pytestmark = pytest.mark.chapter08

LABELS = np.random.default_rng(0).integers(0, 5, 200)


# --- data sets ----------------------------------------------------------------------------------
def test_load_digits_is_sklearns_bundled_set():
    x, y = data.load_digits()
    reference = sklearn.datasets.load_digits()
    assert x.shape == (1797, 64) and x.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(x, reference.data)
    np.testing.assert_array_equal(y, reference.target)


@pytest.mark.parametrize(
    ("ours", "theirs", "options"),
    [
        (data.make_moons, sklearn.datasets.make_moons, {"noise": 0.1}),
        (data.make_circles, sklearn.datasets.make_circles, {"noise": 0.05, "factor": 0.5}),
    ],
)
def test_moons_and_circles_are_sklearns_generators(ours, theirs, options):
    x, y = ours(150, seed=3, **options)
    ref_x, ref_y = theirs(n_samples=150, random_state=3, **options)
    np.testing.assert_array_equal(x, ref_x)
    np.testing.assert_array_equal(y, ref_y)
    assert x.dtype == np.float64 and y.dtype == np.int64


def test_spirals_have_balanced_classes_on_their_arms():
    x, y = data.make_spirals(300, classes=3, noise=0.0, seed=0)
    assert x.shape == (300, 2) and np.bincount(y).tolist() == [100, 100, 100]
    radius = np.hypot(x[:, 0], x[:, 1])
    assert radius.max() <= 1.0
    # Without noise each point sits at angle 4 r + 2 pi k / 3 (measured from the y axis).
    angle = np.arctan2(x[:, 0], x[:, 1])
    expected = 4 * radius + 2 * np.pi * y / 3
    np.testing.assert_allclose(np.cos(angle - expected), 1.0, atol=1e-9)
    x_again, _ = data.make_spirals(300, classes=3, noise=0.0, seed=0)
    np.testing.assert_array_equal(x, x_again)


def test_xor_labels_are_one_where_the_signs_differ():
    x, y = data.make_xor(400, noise=0.0, seed=1)
    np.testing.assert_array_equal(y, (np.sign(x[:, 0]) != np.sign(x[:, 1])).astype(int))
    assert 150 < y.sum() < 250 and np.abs(x).max() <= 1.0
    noisy, _ = data.make_xor(400, noise=0.1, seed=1)
    assert 0 < np.abs(noisy - x).max() < 1.0


# --- splits, scaling, batches -------------------------------------------------------------------
def test_split_is_a_stratified_partition_with_the_requested_sizes():
    x, y = data.load_digits()
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = data.train_val_test_split(x, y, 0.15, 0.15)
    assert len(x_tr) + len(x_va) + len(x_te) == len(x)
    assert len(x_va) == pytest.approx(0.15 * len(x), abs=10)
    # Every example is in exactly one part, with its own label.
    rows = np.concatenate([x_tr, x_va, x_te])
    labels = np.concatenate([y_tr, y_va, y_te])
    order = np.lexsort(rows.T[::-1])
    reference = np.lexsort(x.T[::-1])
    np.testing.assert_array_equal(rows[order], x[reference])
    np.testing.assert_array_equal(labels[order], y[reference])
    # Stratified: each class's share of a part is within one example of its share overall.
    overall = np.bincount(y) / len(y)
    for part in (y_tr, y_va, y_te):
        assert np.all(np.abs(np.bincount(part, minlength=10) - overall * len(part)) <= 1.5)


def test_split_is_repeatable_and_rejects_impossible_fractions():
    x, y = data.make_moons(100)
    first = data.train_val_test_split(x, y, seed=4)
    second = data.train_val_test_split(x, y, seed=4)
    np.testing.assert_array_equal(first[0][0], second[0][0])
    with pytest.raises(ValueError, match="leave training data"):
        data.train_val_test_split(x, y, 0.5, 0.5)
    with pytest.raises(ValueError, match="x has 100 examples but y has 99"):
        data.train_val_test_split(x, y[:-1])


def test_standardizer_matches_sklearn_standard_scaler_and_handles_constant_features():
    x, _ = data.load_digits()
    train, other = x[:1000], x[1000:]
    scaler = data.Standardizer().fit(train)
    reference = StandardScaler().fit(train)  # scikit-learn also leaves constant columns at 0
    np.testing.assert_allclose(scaler.transform(other), reference.transform(other), atol=1e-12)
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(other)), other, atol=1e-12)
    with pytest.raises(RuntimeError, match="fit"):
        data.Standardizer().transform(train)


def test_batches_cover_every_example_once_and_shuffle_reproducibly():
    x, y = np.arange(10.0)[:, None], np.arange(10)
    plain = list(data.batches(x, y, 4, shuffle=False))
    assert [len(b) for b, _ in plain] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b for _, b in plain]), y)
    shuffled = [b for _, b in data.batches(x, y, 4, rng=np.random.default_rng(0))]
    again = [b for _, b in data.batches(x, y, 4, rng=np.random.default_rng(0))]
    assert sorted(np.concatenate(shuffled)) == list(range(10))
    assert all(np.array_equal(a, b) for a, b in zip(shuffled, again, strict=True))
    assert not np.array_equal(np.concatenate(shuffled), y)
    for x_batch, y_batch in data.batches(x, y, 3, rng=np.random.default_rng(1)):
        np.testing.assert_array_equal(x_batch[:, 0], y_batch)  # pairs stay together
    assert all(yb is None for _, yb in data.batches(x, None, 5))
    with pytest.raises(ValueError, match="batch_size"):
        next(data.batches(x, y, 0))


def test_batches_carry_sample_weights_with_their_examples():
    x, y, w = np.arange(10.0)[:, None], np.arange(10), np.arange(10) / 10
    for x_batch, y_batch, w_batch in data.batches(
        x, y, 4, rng=np.random.default_rng(2), sample_weight=w
    ):
        np.testing.assert_array_equal(w_batch * 10, y_batch)
        np.testing.assert_array_equal(x_batch[:, 0], y_batch)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 2.5"):
        next(data.batches(x, y, 2.5))


@pytest.mark.parametrize("n, fraction", [(10, 0.25), (10, 0.3), (100, 0.2), (7, 0.5)])
def test_split_validation_keeps_the_first_floor_n_1_minus_split_as_keras(n, fraction):
    _keras()
    from keras.src.trainers.data_adapters.array_slicing import train_validation_split

    x = np.arange(float(n))[:, None]
    (train_x, _), (val_x, _) = data.split_validation((x, None), fraction)
    (keras_train, *_), (keras_val, *_) = train_validation_split((x, None), fraction)
    np.testing.assert_array_equal(train_x, keras_train)
    np.testing.assert_array_equal(val_x, keras_val)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning")
def test_class_weight_gives_kerass_sample_weights():
    _keras()
    from keras.src.trainers.data_adapters.data_adapter_utils import (
        class_weight_to_sample_weights,
    )

    class_weight = {0: 0.5, 2: 3.0}  # class 1 missing: weight 1
    for y in (LABELS % 3, np.eye(3)[LABELS % 3], (LABELS % 3)[:, None].astype(float)):
        np.testing.assert_allclose(
            data.class_weight_to_sample_weight(y, class_weight),
            class_weight_to_sample_weights(y, class_weight),
        )


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first import of keras
    import keras

    return keras
