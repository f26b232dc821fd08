"""Data for the course (chapter 08): bundled digits, toy 2-D sets, splits, scaling, batches.

Everything here works offline: the digits come with scikit-learn (imported only when a
function needs it) and the 2-D sets are generated. Every loader returns ``(x, y)`` with ``x``
float64 of shape ``(n, features)`` and ``y`` int64 labels of shape ``(n,)``; a model converts
``x`` to its own dtype (float32 by default) once, when it trains.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from nnlearn.seeding import rng as default_rng

Split = tuple[np.ndarray, np.ndarray]


# --- bundled and generated data sets ----------------------------------------------------------
def load_digits() -> Split:
    """scikit-learn's 8x8 handwritten digits (bundled, no download): 1797 examples.

    Returns ``x`` (1797, 64) float64 pixel intensities 0..16 (row by row) and ``y`` (1797,)
    labels 0..9.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    return digits.data.astype(np.float64), digits.target.astype(np.int64)


def make_moons(n: int = 200, noise: float = 0.1, seed: int = 0) -> Split:
    """Two interleaving half circles (scikit-learn's generator): x (n, 2), y (n,) in {0, 1}."""
    from sklearn.datasets import make_moons as sklearn_moons

    x, y = sklearn_moons(n_samples=n, noise=noise, random_state=seed)
    return x.astype(np.float64), y.astype(np.int64)


def make_circles(n: int = 200, noise: float = 0.05, factor: float = 0.5, seed: int = 0) -> Split:
    """A small circle (class 1, radius ``factor``) inside a large one (class 0, radius 1)."""
    from sklearn.datasets import make_circles as sklearn_circles

    x, y = sklearn_circles(n_samples=n, noise=noise, factor=factor, random_state=seed)
    return x.astype(np.float64), y.astype(np.int64)


def make_spirals(n: int = 300, classes: int = 3, noise: float = 0.2, seed: int = 0) -> Split:
    """``classes`` interleaved spiral arms, ``n`` points in all (as even as possible).

    Arm ``k`` at radius ``r`` in [0, 1] has angle ``4 r + 2 pi k / classes`` (about two thirds
    of a turn), plus normal noise of standard deviation ``noise`` on the angle. No straight
    line separates the arms: a classic test of a hidden layer.
    """
    generator = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    radius = generator.uniform(0.0, 1.0, n)
    angle = 4.0 * radius + 2.0 * np.pi * labels / classes + noise * generator.standard_normal(n)
    x = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    order = np.argsort(labels, kind="stable")
    return x[order], labels[order].astype(np.int64)


def make_xor(n: int = 200, noise: float = 0.1, seed: int = 0) -> Split:
    """The XOR problem: points in [-1, 1]^2, class 1 where the two coordinates' signs differ.

    Labels come from the clean points; ``noise`` (a standard deviation) then jitters them, so
    a few points end up across the axes. No single line separates the classes.
    """
    generator = np.random.default_rng(seed)
    clean = generator.uniform(-1.0, 1.0, (n, 2))
    y = ((clean[:, 0] > 0) != (clean[:, 1] > 0)).astype(np.int64)
    return clean + noise * generator.standard_normal((n, 2)), y


# --- splits, scaling, batches -------------------------------------------------------------------
def train_val_test_split(
    x: Any,
    y: Any,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[Split, Split, Split]:
    """Shuffle and cut ``(x, y)`` into ``(x_train, y_train), (x_val, y_val), (x_test, y_test)``.

    With ``stratify`` each class is cut separately, so every part keeps the class
    proportions of the whole (each part gets ``round(fraction * class size)`` of a class).
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}")
    if val_fraction < 0 or test_fraction < 0 or val_fraction + test_fraction >= 1:
        raise ValueError(
            f"fractions must be >= 0 and leave training data: val_fraction={val_fraction}, "
            f"test_fraction={test_fraction}"
        )
    generator = np.random.default_rng(seed)
    groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(len(y))]
    parts: tuple[list[np.ndarray], ...] = ([], [], [])
    for group in groups:
        group = generator.permutation(group)
        n_val = round(val_fraction * len(group))
        n_test = round(test_fraction * len(group))
        for part, indices in zip(
            parts, np.split(group, [len(group) - n_val - n_test, len(group) - n_test]), strict=True
        ):
            part.append(indices)
    splits = []
    for part in parts:
        indices = generator.permutation(np.concatenate(part))
        splits.append((x[indices], y[indices]))
    return splits[0], splits[1], splits[2]


class Standardizer:
    """Rescale each feature to mean 0 and standard deviation 1, using training statistics.

    ``fit`` on the training set only: the validation and test sets must be transformed with
    the training mean and std, or information about them leaks into training. Features that
    are constant in training (std 0, e.g. the border pixels of the digits) are only centred.

    .. math:: x' = (x - \\mu_{train}) / \\sigma_{train}
    """

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, x: Any) -> Standardizer:
        x = np.asarray(x)
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.std = np.where(std > 0, std, 1.0).astype(std.dtype)
        return self

    def transform(self, x: Any) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("Standardizer: call fit(x_train) before transform")
        return (np.asarray(x) - self.mean) / self.std

    def fit_transform(self, x: Any) -> np.ndarray:
        return self.fit(x).transform(x)

    def inverse_transform(self, x: Any) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("Standardizer: call fit(x_train) before inverse_transform")
        return np.asarray(x) * self.std + self.mean


def batches(
    x: np.ndarray,
    y: np.ndarray | None,
    batch_size: int,
    shuffle: bool = True,
    rng: np.random.Generator | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Consecutive mini-batches ``(x_batch, y_batch)``; the last one may be smaller.

    With ``shuffle`` the examples are put in a new random order first (one permutation, so
    every example appears exactly once per pass), drawn from ``rng`` (default: nnlearn's
    generator, see :func:`nnlearn.seed_everything`). ``y`` may be None (``y_batch`` is None).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    if shuffle:
        order = (rng if rng is not None else default_rng()).permutation(len(x))
        # One gather per pass; the batches below are then views (no copy per batch).
        x = x[order]
        y = None if y is None else y[order]
    for start in range(0, len(x), batch_size):
        stop = start + batch_size
        yield x[start:stop], None if y is None else y[start:stop]
