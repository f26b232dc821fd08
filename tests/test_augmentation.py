"""Chapter 09: shifted digits (nnlearn/augmentation.py), checked by closed forms and against
``scipy.ndimage.shift`` (nearest pixel, zero fill), which does the same for whole pixels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

import nnlearn as nl
from nnlearn.augmentation import augment_with_shifts, random_shifts, shift_images

pytestmark = pytest.mark.chapter09

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(1, 17, size=(5, 8, 8)).astype(np.float64)  # no zero pixel: fills show


def one_pixel(row: int, col: int, size: int = 8) -> np.ndarray:
    image = np.zeros((1, size, size))
    image[0, row, col] = 1.0
    return image


def test_shifting_by_nothing_is_the_identity():
    np.testing.assert_array_equal(shift_images(IMAGES, 0, 0), IMAGES)
    flat = IMAGES.reshape(5, 64)
    np.testing.assert_array_equal(shift_images(flat, 0, 0), flat)
    np.testing.assert_array_equal(random_shifts(flat, max_shift=0), flat)


@pytest.mark.parametrize("dy, dx", [(1, 0), (0, 1), (-1, 0), (0, -2), (2, -1), (-3, 3)])
def test_a_shift_moves_a_known_pixel_down_and_right(dy, dx):
    moved = shift_images(one_pixel(4, 3), dy, dx)
    np.testing.assert_array_equal(moved, one_pixel(4 + dy, 3 + dx))


def test_pixels_moved_out_are_lost_and_the_uncovered_ones_are_zero():
    down = shift_images(IMAGES, 1, 0)
    np.testing.assert_array_equal(down[:, 0, :], 0.0)  # the top row came from outside
    np.testing.assert_array_equal(down[:, 1:, :], IMAGES[:, :-1, :])
    left = shift_images(IMAGES, 0, -2)
    np.testing.assert_array_equal(left[:, :, -2:], 0.0)
    np.testing.assert_array_equal(left[:, :, :-2], IMAGES[:, :, 2:])
    np.testing.assert_array_equal(shift_images(IMAGES, 8, 0), 0.0)  # moved out entirely
    assert shift_images(one_pixel(0, 7), 0, 1).sum() == 0.0


@pytest.mark.parametrize("seed", range(5))
def test_per_image_shifts_match_scipy_ndimage_shift(seed):
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((6, 5, 7))  # not square: (n, height, width) is fine
    dy, dx = rng.integers(-4, 5, size=(2, 6))
    expected = [
        ndimage.shift(image, (a, b), order=0, mode="constant", cval=0.0)
        for image, a, b in zip(images, dy, dx, strict=True)
    ]
    np.testing.assert_array_equal(shift_images(images, dy, dx), expected)


def test_flat_digits_keep_their_shape_and_dtype_and_rows_of_eight():
    x, _ = nl.data.load_digits()
    x = x[:10].astype(np.float32)
    shifted = shift_images(x, 1, -1)
    assert shifted.shape == x.shape and shifted.dtype == np.float32
    expected = shift_images(x.reshape(10, 8, 8), 1, -1).reshape(10, 64)
    np.testing.assert_array_equal(shifted, expected)
    # The digits' pixel (row 2, column 3) lands at (3, 2): index 3 * 8 + 2 of the flat image.
    np.testing.assert_array_equal(shifted[:, 3 * 8 + 2], x[:, 2 * 8 + 3])


def test_random_shifts_are_whole_pixels_within_max_shift_and_all_occur():
    image = one_pixel(4, 4, size=9)
    images = np.repeat(image, 2000, axis=0)
    shifted = random_shifts(images, max_shift=2, rng=np.random.default_rng(1))
    assert np.all(shifted.sum(axis=(1, 2)) == 1.0), "one pixel moves, nothing is lost"
    rows, cols = np.nonzero(shifted)[1:]
    moves = set(zip((rows - 4).tolist(), (cols - 4).tolist(), strict=True))
    assert moves == {(a, b) for a in range(-2, 3) for b in range(-2, 3)}


def test_random_shifts_repeat_with_a_seed():
    first = random_shifts(IMAGES, rng=np.random.default_rng(7))
    again = random_shifts(IMAGES, rng=np.random.default_rng(7))
    other = random_shifts(IMAGES, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    nl.seed_everything(3)
    by_default = random_shifts(IMAGES)  # nnlearn's generator, seeded by seed_everything
    nl.seed_everything(3)
    np.testing.assert_array_equal(random_shifts(IMAGES), by_default)


def test_augmenting_keeps_the_originals_first_and_every_label():
    x, y = nl.data.load_digits()
    x, y = x[:50], y[:50]
    x_more, y_more = augment_with_shifts(x, y, copies=2, max_shift=1, rng=np.random.default_rng(0))
    assert x_more.shape == (150, 64) and y_more.shape == (150,)
    np.testing.assert_array_equal(x_more[:50], x)
    np.testing.assert_array_equal(y_more, np.concatenate([y, y, y]))
    # Each copy is its original moved by at most one pixel each way: one of nine candidates.
    for copy in (x_more[50:100], x_more[100:]):
        for original, shifted in zip(x, copy, strict=True):
            candidates = [
                shift_images(original[None], a, b)[0] for a in (-1, 0, 1) for b in (-1, 0, 1)
            ]
            assert any(np.array_equal(shifted, c) for c in candidates)


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: shift_images(np.zeros((2, 10)), 1, 0), ValueError, "(n, height, width)"),
        (lambda: shift_images(np.zeros(64), 1, 0), ValueError, "(n, height, width)"),
        (lambda: shift_images(IMAGES, 0.5, 0), TypeError, "whole pixels"),
        (lambda: shift_images(IMAGES, [1, 2], 0), ValueError, "one per image (5)"),
        (lambda: random_shifts(IMAGES, max_shift=-1), ValueError, "zero or positive"),
        (lambda: random_shifts(IMAGES, max_shift=1.5), TypeError, "whole number"),
        (lambda: augment_with_shifts(IMAGES, np.zeros(4)), ValueError, "one label per image"),
    ],
)
def test_bad_arguments_give_clear_errors(call, error, words):
    with pytest.raises(error) as raised:
        call()
    assert words in str(raised.value)
