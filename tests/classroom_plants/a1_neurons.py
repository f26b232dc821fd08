"""Planted submissions of a1_neurons (see tests/test_classroom.py)."""

from classroom_plants import LOOP, RAISE, Plant

PLANTS = {
    # relu'(0) taken as 1, not 0 as PyTorch: only the hidden tests at the kink see it.
    "mistake": Plant("relu", "(x > 0).astype", "(x >= 0).astype", ("test_relu",)),
    "loop": Plant(
        "softplus", "    return sigmoid(x)", LOOP + "    return sigmoid(x)", ("test_softplus",)
    ),
    "exception": Plant(
        "leaky_relu",
        "    return np.where(x > 0, x,",
        RAISE + "    return np.where(x > 0, x,",
        ("test_leaky_relu",),
    ),
}
