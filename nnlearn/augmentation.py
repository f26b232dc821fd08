"""Data augmentation (chapter 09): small random shifts of images, such as the 8x8 digits.

A digit moved by a pixel is still the same digit, so shifted copies are new training examples
for free: the model learns that the class does not depend on the exact position, and with few
examples it overfits less. Each image moves by whole pixels, rows by ``dy`` (down when
positive) and columns by ``dx`` (right when positive); pixels that move out are lost and the
uncovered ones are 0 (the digits' background)::

    out[i, r, c] = x[i, r - dy_i, c - dx_i]   where that pixel exists, else 0

which is ``scipy.ndimage.shift(x[i], (dy_i, dx_i), order=0, mode="constant", cval=0)`` for
whole-pixel shifts (the tests check it is). Images come as ``(n, height, width)`` or flat as
``(n, height * width)`` with square images (the digits' ``(n, 64)``: rows of 8 pixels, as
:func:`nnlearn.data.load_digits` returns them); the result has the shape and dtype of the
input, and the labels do not change.

Keras's ``RandomTranslation`` layer does this inside a model, but with shifts given as
fractions of the size, bilinear interpolation and reflected borders by default: a different
operation, hence plain names here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nnlearn.seeding import rng as default_rng


def _as_images(x: Any) -> tuple[np.ndarray, tuple[int, ...]]:
    """``x`` as an array of shape (n, height, width), and the shape to give back."""
    x = np.asarray(x)
    if x.ndim == 3:
        return x, x.shape
    side = math.isqrt(x.shape[1]) if x.ndim == 2 else 0
    if x.ndim != 2 or side * side != x.shape[1]:
        raise ValueError(
            f"expected images of shape (n, height, width) or square images flattened to "
            f"(n, side * side), got {x.shape}; reshape them to (n, height, width) first"
        )
    return x.reshape(len(x), side, side), x.shape


def _per_image(name: str, value: Any, n: int) -> np.ndarray:
    """A whole-pixel shift for each of ``n`` images, from one number or ``n`` of them."""
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must be whole pixels (integers), got {array.dtype} {value!r}")
    if array.shape not in ((), (n,)):
        raise ValueError(f"{name} must be one integer or one per image ({n}), got {array.shape}")
    return np.broadcast_to(array, (n,)).astype(np.int64)


def shift_images(x: Any, dy: Any, dx: Any) -> np.ndarray:
    """Each image moved by whole pixels, with zeros where nothing moved in.

    Args:
        x: images, (n, height, width), or (n, side * side) flattened row by row.
        dy: rows to move down (negative: up), one integer or one per image, shape (n,).
        dx: columns to move right (negative: left), likewise.

    Returns:
        The shifted images, with the shape and dtype of ``x``:
        ``out[i, r, c] = x[i, r - dy[i], c - dx[i]]`` when that pixel exists, else 0.
    """
    images, shape = _as_images(x)
    n, height, width = images.shape
    dy, dx = _per_image("dy", dy, n), _per_image("dx", dx, n)
    rows = np.arange(height) - dy[:, None]  # (n, height): the source row of each output row
    cols = np.arange(width) - dx[:, None]  # (n, width)
    inside = ((rows >= 0) & (rows < height))[:, :, None] & ((cols >= 0) & (cols < width))[:, None]
    # Gather from clipped indices (always valid), then zero what came from outside the image.
    source = images[
        np.arange(n)[:, None, None],
        np.clip(rows, 0, height - 1)[:, :, None],
        np.clip(cols, 0, width - 1)[:, None, :],
    ]
    return np.where(inside, source, 0).astype(images.dtype).reshape(shape)


def random_shifts(x: Any, max_shift: int = 1, rng: np.random.Generator | None = None) -> np.ndarray:
    """Each image moved by its own random whole-pixel shift, ``dy`` and ``dx`` drawn
    independently and uniformly from ``-max_shift .. max_shift`` (so (0, 0), the image
    unchanged, is one of the ``(2 * max_shift + 1)**2`` equally likely shifts).

    Args:
        x: images, (n, height, width) or (n, side * side), as :func:`shift_images` takes them.
        max_shift: the largest move in pixels along each axis (0: no change).
        rng: the numpy Generator to draw from (default: nnlearn's, :func:`nnlearn.rng`, which
            :func:`nnlearn.seed_everything` seeds); the same seed gives the same shifts.

    Returns:
        The shifted images, the shape and dtype of ``x``.
    """
    if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)):
        raise TypeError(f"max_shift must be a whole number of pixels, got {max_shift!r}")
    if max_shift < 0:
        raise ValueError(f"max_shift must be zero or positive, got {max_shift}")
    images, _ = _as_images(x)
    rng = default_rng() if rng is None else rng
    dy, dx = rng.integers(-max_shift, max_shift + 1, size=(2, len(images)))
    return shift_images(x, dy, dx)


def augment_with_shifts(
    x: Any,
    y: Any,
    copies: int = 1,
    max_shift: int = 1,
    rng: np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A training set grown by shifted copies: the originals, then ``copies`` randomly shifted
    copies of every image (:func:`random_shifts`), each with its image's label.

    Returns ``(x_more, y_more)`` with ``(copies + 1) * n`` examples, the originals first (in
    their order), then each copy in the same order, so ``y_more`` is ``y`` repeated. Shuffle
    when training (``fit`` does by default). Augment the training split only: the validation
    and test examples stay as they are, so their scores remain comparable.
    """
    if isinstance(copies, bool) or not isinstance(copies, (int, np.integer)) or copies < 0:
        raise ValueError(f"copies must be a whole number, zero or more, got {copies!r}")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}; give one label per image")
    shifted = [random_shifts(x, max_shift, rng) for _ in range(copies)]
    return np.concatenate([x, *shifted]), np.concatenate([y] * (copies + 1))
