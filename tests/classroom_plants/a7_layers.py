"""Planted submissions of a7_layers (see tests/test_classroom.py)."""

from classroom_plants import LOOP, RAISE, Plant

PLANTS = {
    # He normal truncated at two of sqrt(2 / fan_in)'s sigmas but not widened by 1 / 0.8796:
    # every draw in range, the visible checks pass, but the variance is 0.77 * 2 / fan_in.
    "mistake": Plant(
        "he_normal",
        "np.sqrt(2.0 / fan_in) / TRUNCATED_STD * z",
        "np.sqrt(2.0 / fan_in) * z",
        ("test_he_normal",),
    ),
    "loop": Plant(
        "activation_variances",
        "    variances = []\n",
        LOOP + "    variances = []\n",
        ("test_activation_variances",),
    ),
    # Both initialisers take their fans from fans().
    "exception": Plant(
        "fans",
        "    receptive_field = int(np.prod(shape[:-2]))\n",
        RAISE,
        ("test_fans", "test_glorot_uniform", "test_he_normal"),
    ),
}
