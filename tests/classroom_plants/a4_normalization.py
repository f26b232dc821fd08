"""Planted submissions of a4_normalization (see tests/test_classroom.py)."""

from classroom_plants import LOOP, RAISE, Plant

PLANTS = {
    # The running variance from the biased batch variance (Keras's), not PyTorch's unbiased.
    "mistake": Plant(
        "batchnorm_update_running",
        "x.var(axis=0, ddof=1)",
        "x.var(axis=0)",
        ("test_batchnorm_update_running",),
    ),
    "loop": Plant(
        "block_forward",
        "    normalized, bn_cache",
        LOOP + "    normalized, bn_cache",
        ("test_block",),
    ),
    "exception": Plant(
        "batchnorm_backward",
        "    x_hat, gamma, inv_std = cache\n",
        RAISE,
        ("test_batchnorm_backward", "test_block"),
    ),
}
