"""Planted submissions of a9_autograd (see tests/test_classroom.py)."""

from classroom_plants import LOOP, RAISE, Plant

PLANTS = {
    # The broadcast gradient summed over the new leading axes only, not over the axes where
    # the input has length 1: right for a bias (3,) added to (4, 3), wrong for (4, 1).
    "mistake": Plant(
        "mul",
        "return summed.sum(axis=stretched, keepdims=True)",
        "return summed",
        ("test_mul",),
    ),
    "loop": Plant(
        "backward_pass",
        "    grads = {root:",
        LOOP + "    grads = {root:",
        ("test_backward_pass",),
    ),
    "exception": Plant(
        "matmul",
        "    a, b = cache\n    da",
        RAISE + "    da",
        ("test_matmul",),
    ),
}
