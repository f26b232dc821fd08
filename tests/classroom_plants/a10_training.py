"""Planted submissions of a10_training (see tests/test_classroom.py)."""

from classroom_plants import LOOP, RAISE, Plant

PLANTS = {
    # Every batch weighed as a full one in the epoch's mean loss: right until the last batch
    # is smaller, as in every hidden test, where fit's History and PyTorch disagree with it.
    "mistake": Plant(
        "train",
        "total += loss * len(x_batch)",
        "total += loss * batch_size",
        ("test_train", "test_train_early_stopping"),
    ),
    "loop": Plant(
        "train_early_stopping",
        "    losses, val_losses = [], []\n",
        LOOP + "    losses, val_losses = [], []\n",
        ("test_train_early_stopping",),
    ),
    "exception": Plant(
        "sgd_update",
        "    for name, param in params.items():\n        param -= lr * grads[name]",
        RAISE,
        ("test_sgd_update", "test_train", "test_train_early_stopping"),
    ),
}
