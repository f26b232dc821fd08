"""Planted submissions of a5_convolution (see tests/test_classroom.py)."""

from classroom_plants import LOOP, RAISE, Plant

PLANTS = {
    # Overlapping windows: the gradient of an input that is the largest of several windows
    # overwritten by the last one, not summed.
    "mistake": Plant(
        "maxpool_backward",
        "] += dout[:, i, j, :]",
        "] = dout[:, i, j, :]",
        ("test_maxpool_backward",),
    ),
    "loop": Plant(
        "block_forward",
        "    conv, conv_cache",
        LOOP + "    conv, conv_cache",
        ("test_block",),
    ),
    "exception": Plant(
        "conv2d_backward",
        "    x, w, (sh, sw) = cache\n",
        RAISE,
        ("test_conv2d_backward", "test_block"),
    ),
}
