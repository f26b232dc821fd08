"""Data for the course (chapter 08): bundled digits, toy 2-D sets, splits, scaling, batches,
and the preparation ``fit`` makes of its data (validation split, class weights).

Everything here works offline: the digits come with scikit-learn (imported only when a
function needs it) and the 2-D sets are generated. Every loader returns ``(x, y)`` with ``x``
float64 of shape ``(n, features)`` and ``y`` int64 labels of shape ``(n,)``; a model converts
``x`` to its own dtype (float32 by default) once, when it trains.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
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
    sample_weight: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, ...]]:
    """Consecutive mini-batches ``(x_batch, y_batch)``; the last one may be smaller.

    With ``shuffle`` the examples are put in a new random order first (one permutation, so
    every example appears exactly once per pass), drawn from ``rng`` (default: nnlearn's
    generator, see :func:`nnlearn.seed_everything`). ``y`` may be None (``y_batch`` is None).
    With ``sample_weight`` (one weight per example) the batches are
    ``(x_batch, y_batch, weight_batch)``, as Keras packs them.
    """
    check_whole_number("batch_size", batch_size, minimum=1)
    if shuffle:
        order = (rng if rng is not None else default_rng()).permutation(len(x))
        # One gather per pass; the batches below are then views (no copy per batch).
        x = x[order]
        y = None if y is None else y[order]
        sample_weight = None if sample_weight is None else sample_weight[order]
    for start in range(0, len(x), batch_size):
        stop = start + batch_size
        batch = (x[start:stop], None if y is None else y[start:stop])
        yield batch if sample_weight is None else (*batch, sample_weight[start:stop])


def split_validation(
    arrays: Sequence[np.ndarray | None], validation_split: float
) -> tuple[list[np.ndarray | None], list[np.ndarray | None]]:
    """Cut each array (None stays None) into training and validation parts, as Keras's
    ``fit(validation_split=...)`` does: the *last* fraction is held out, before any shuffling,
    and the training part keeps the first ``floor(n * (1 - validation_split))`` examples."""
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
    n = len(arrays[0])
    cut = math.floor(n * (1.0 - validation_split))
    if cut in (0, n):
        raise ValueError(
            f"validation_split={validation_split} of {n} examples leaves an empty training or "
            "validation set"
        )
    train = [None if a is None else a[:cut] for a in arrays]
    return train, [None if a is None else a[cut:] for a in arrays]


def class_weight_to_sample_weight(y: np.ndarray, class_weight: dict) -> np.ndarray:
    """One weight per example from ``{class: weight}``, as Keras's ``fit(class_weight=...)``.

    An example's class is its label, the argmax of its one-hot row, or the rounded value of its
    single column; classes missing from the dict weigh 1. Shape: ``(n,)`` float64.
    """
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"class_weight must be a dict {{class: weight}}, got {type(class_weight).__name__}"
        )
    y = np.asarray(y)
    if y.ndim > 1:
        y = y[:, 0] if y.shape[-1] == 1 else y.argmax(axis=-1)
    classes = np.round(y).astype(np.int64)
    return np.array([float(class_weight.get(int(c), 1.0)) for c in classes])


# --- checks at the boundary of fit and evaluate --------------------------------------------------
FLATTEN_HINT = (
    "; a Dense layer takes one vector of features per example: flatten each example first, "
    "x.reshape(len(x), -1)"
)


def check_targets(
    y: Any, x: np.ndarray, outputs: tuple, sparse: bool, dtype: Any, where: str, first: str
) -> np.ndarray:
    """``y`` checked against the model's ``outputs`` shape for the inputs ``x``: integer labels
    (int64, one per output row) when ``sparse``, else targets of the outputs' shape in
    ``dtype``. A ValueError starting with ``where`` says what is wrong; it names ``first``
    (e.g. ``"Dense(64), the first layer,"``) when a 3-D ``x`` is the cause."""
    y = np.asarray(getattr(y, "data", y))
    if len(y) != len(x):
        raise ValueError(f"{where}: x has {len(x)} examples but y has {len(y)}")
    if sparse:
        y, expected = _labels(y, outputs[-1], where), outputs[:-1]
    else:
        y, expected = _numbers(y, where).astype(dtype), outputs
        if y.ndim == 1 and tuple(outputs[1:]) == (1,):  # Keras accepts (n,) for outputs (n, 1)
            y = y[:, None]
    if y.shape == expected:
        return y
    if x.ndim > 2:
        raise ValueError(
            f"{where}: x has shape {x.shape}, so {first} is applied to its last axis and the "
            f"model's outputs have shape {outputs}, which y of shape {y.shape} does not fit"
            + FLATTEN_HINT
        )
    raise ValueError(
        f"{where}: the model's outputs have shape {outputs}, which y of shape {y.shape} does "
        "not fit (the sparse categorical loss takes one integer label per example; the other "
        "losses a target of the outputs' shape)"
    )


def _numbers(y: np.ndarray, where: str, hint: str = "") -> np.ndarray:
    if not (np.issubdtype(y.dtype, np.number) or y.dtype == bool):
        raise ValueError(
            f"{where}: y must hold numbers, but it holds {y.dtype} values such as "
            f"{y.flat[0]!r}{hint}"
        )
    return y


def _labels(y: np.ndarray, classes: int, where: str) -> np.ndarray:
    """Integer class labels in [0, classes) as int64; a column ``(n, 1)`` flattened as Keras
    allows."""
    hint = (
        f"; the sparse categorical loss takes integer class labels 0..{classes - 1}: number the "
        "classes first, e.g. names, y = np.unique(y, return_inverse=True)"
    )
    y = _numbers(y, where, hint)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    bad = (y < 0) | (y >= classes)
    if y.dtype.kind == "f":
        bad |= y != np.round(y)
    if bad.any():
        raise ValueError(
            f"{where}: sparse labels must be integers in [0, {classes}) for {classes} classes; "
            f"got the value {y[bad].flat[0]}"
        )
    return y.astype(np.int64, copy=False)


def check_sample_weight(sample_weight: Any, n: int, dtype: Any, where: str) -> np.ndarray | None:
    """One weight per example, shape ``(n,)``, in ``dtype`` (None stays None)."""
    if sample_weight is None:
        return None
    weights = np.asarray(sample_weight, dtype=dtype)
    if weights.shape != (n,):
        raise ValueError(
            f"{where}: sample_weight must hold one weight per example, shape ({n},), "
            f"got {weights.shape}"
        )
    return weights


def check_inputs(x: Any, dtype: Any, where: str) -> np.ndarray:
    """``x`` (an array or a Tensor) as an array of ``dtype`` with shape (examples, ...)."""
    x = np.asarray(getattr(x, "data", x), dtype=dtype)
    if x.size == 0:
        raise ValueError(f"{where}: x is empty (shape {x.shape})")
    if x.ndim < 2:
        raise ValueError(
            f"{where}: x must have shape (examples, features), got {x.shape}; for a single "
            "feature use x.reshape(-1, 1)"
        )
    return x


def check_whole_number(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int >= ``minimum``, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def unpack_validation_data(data: Any) -> tuple:
    """``fit``'s ``validation_data``, ``(x, y)`` or ``(x, y, sample_weight)``, as
    ``(x, y, sample_weight or None)``."""
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight)")
    return (*data, None)[:3]
