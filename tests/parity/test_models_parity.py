"""Chapter 08: a whole Sequential MLP and a whole training run match PyTorch.

Through :mod:`nnlearn.parity`: the MLP against its ``nn.Sequential`` twin (output and every
gradient), and training (``fit`` with Adam), step by step, against the twin trained by fit's
loop (:func:`~nnlearn.parity.fit_twin`). Needs only numpy, torch and pytest.
"""

import copy

import numpy as np
import pytest

import nnlearn as nl
from nnlearn import layers
from nnlearn.parity import check_model, compare, fit_twin, torch_twin, twin_parameters

pytestmark = pytest.mark.chapter08


def _mlp(dtype, sizes=(6, 8, 7, 3), hidden=("relu", "tanh")):
    """An nnlearn MLP with lazy sizes, built, with non-zero biases."""
    nl.seed_everything(1)
    model = nl.Sequential(
        [
            layers.Dense(n, activation=a, dtype=dtype)
            for n, a in zip(sizes[1:-1], hidden, strict=True)
        ]
    )
    model.add(layers.Dense(sizes[-1], activation="softmax", dtype=dtype))
    model(np.zeros((1, sizes[0]), dtype=dtype))  # builds every layer
    for layer in model.layers:
        layer.bias.data[...] = np.linspace(-0.5, 0.5, layer.units, dtype=dtype)
    return model


def test_sequential_mlp_matches_its_torch_twin(device_dtype):
    device, dtype = device_dtype
    model = _mlp(dtype)
    x = np.random.default_rng(2).standard_normal((10, 6))
    report = check_model(model, x, device=device, dtype=dtype).assert_ok()
    params = [f"d/dlayers.{i}.{kind}" for i in range(3) for kind in ("kernel", "bias")]
    assert [row.name for row in report.rows] == ["output", "d/dinput", *params]


class _BatchLosses(nl.training.Callback):
    """Records ``logs["loss"]`` after every step (the epoch's mean so far, as in Keras)."""

    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])


@pytest.mark.parametrize("shuffle", [False, True], ids=["in-order", "shuffled"])
def test_fit_with_adam_matches_the_twin_trained_by_fits_loop_step_by_step(shuffle):
    """float64, same initial weights, same batches: the loss fit reports after every step and
    every epoch, and the final parameters, agree with the twin trained by torch.optim.Adam."""
    dtype, batch_size, epochs = np.dtype(np.float64), 16, 3
    model = _mlp(dtype)
    twin = torch_twin(model)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 6))
    y = rng.integers(0, 3, 40)

    recorder = _BatchLosses()
    model.compile(optimizer=nl.optim.Adam(lr=0.01), loss="sparse_categorical_crossentropy")
    shuffles = copy.deepcopy(nl.rng())  # the generator fit draws its orders from, as it is now
    history = model.fit(
        x, y, epochs=epochs, batch_size=batch_size, shuffle=shuffle, verbose=0, callbacks=[recorder]
    )
    twin_history = fit_twin(
        twin,
        x,
        y,
        loss=model.loss,
        optimizer=model.optimizer,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=shuffle,
        rng=shuffles,
    )

    ours = {"loss after each step": recorder.losses, "loss per epoch": history.history["loss"]}
    ours |= {name: p.data for name, p in model.named_parameters()}
    theirs = {"loss after each step": twin_history["batch_loss"]}
    theirs["loss per epoch"] = twin_history["loss"]
    theirs |= twin_parameters(twin)
    report = compare(ours, theirs, dtype, "fit vs its twin, Adam, float64").assert_ok()
    assert len(twin_history["batch_loss"]) == epochs * 3 and len(report.rows) == 2 + 6
