"""Planted submissions of a3_optimizers (see tests/test_classroom.py)."""

from classroom_plants import RAISE, Plant

PLANTS = {
    # The momentum buffer as a moving average (dampening = momentum), not PyTorch's rule.
    "mistake": Plant(
        "sgd_momentum_step",
        'momentum * state["velocity"] + grad',
        'momentum * state["velocity"] + (1 - momentum) * grad',
        ("test_sgd_momentum_step",),
    ),
    # "Train until the loss is 0": it never is.
    "loop": Plant(
        "fit",
        "adam_losses = train(init_params(), x, labels, adam_step, steps=200, lr=0.05)\n",
        "params = init_params()\n"
        "adam_losses = []\n"
        "while not adam_losses or adam_losses[-1] > 0.0:\n"
        "    adam_losses += train(params, x, labels, adam_step, steps=200, lr=0.05)\n",
        ("test_fit",),
    ),
    "exception": Plant(
        "adam_step", "    beta1, beta2 = betas\n", RAISE, ("test_adam_step", "test_fit")
    ),
}
