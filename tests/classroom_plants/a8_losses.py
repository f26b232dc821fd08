"""Planted submissions of a8_losses (see tests/test_classroom.py)."""

from classroom_plants import LOOP, RAISE, Plant

PLANTS = {
    # The mean's gradient divided by the first dimension, not by the number of elements: right
    # for the 1-D logits of the visible tests, wrong for the hidden tests' 2-D and 3-D ones.
    "mistake": Plant(
        "binary_cross_entropy_from_logits_grad",
        "/ logits.size",
        "/ len(logits)",
        ("test_binary_cross_entropy_from_logits_grad",),
    ),
    # The gradient's checks (numeric and torch.autograd) evaluate the loss too.
    "loop": Plant(
        "binary_cross_entropy_from_logits",
        "    losses = ",
        LOOP + "    losses = ",
        (
            "test_binary_cross_entropy_from_logits",
            "test_binary_cross_entropy_from_logits_grad",
        ),
    ),
    # The softmax cross-entropy and its gradient are built on log_softmax.
    "exception": Plant(
        "log_softmax",
        "    shifted = logits - logits.max(axis=-1, keepdims=True)\n",
        RAISE,
        ("test_log_softmax", "test_softmax_cross_entropy", "test_softmax_cross_entropy_grad"),
    ),
}
