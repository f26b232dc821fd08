"""Planted submissions of a2_backprop (see tests/test_classroom.py)."""

from classroom_plants import LOOP, RAISE, Plant

PLANTS = {
    # The gradient skips the ReLU on its way back to the first layer.
    "mistake": Plant(
        "two_layer_net",
        "da = relu_backward(dh, relu_cache)",
        "da = dh",
        ("test_two_layer_net",),
    ),
    "loop": Plant(
        "two_layer_net",
        "    a, dense1_cache",
        LOOP + "    a, dense1_cache",
        ("test_two_layer_net",),
    ),
    "exception": Plant(
        "softmax_cross_entropy",
        "    n = logits.shape[0]\n",
        RAISE,
        ("test_softmax_cross_entropy", "test_two_layer_net"),
    ),
}
