"""One training step of a small LSTM forecaster (chapter 15): nnlearn against PyTorch on the CPU.

The model: ``LSTM(32)`` on sequences of 20 steps of 1 feature, then ``Dense(1)``; a batch of
32, the mean squared error, Adam (lr 1e-3, eps 1e-7), float32. One step is forward, loss,
backward and the optimizer's update:

* nnlearn: ``model(x, training=True)``, ``mean_squared_error``, ``zero_grad``, ``backward``,
  ``Adam.step`` (what ``fit`` does per batch, without its bookkeeping);
* torch: its twin (``nnlearn.parity.torch_twin``: ``torch.nn.LSTM(batch_first=True)`` plus
  ``Linear``, with the same weights), ``mse_loss``, ``zero_grad``, ``backward``,
  ``torch.optim.Adam``.

Both see the same batches (a fixed set of 8, cycled), from the same weights. Steps of the two
alternate in blocks, in an order that turns every round, so a busy machine slows them alike;
after a warm-up, the median wall-clock and CPU time per step are reported.

Run: ``.venv/bin/python benchmarks/bench_rnn.py [--rounds 20] [--threads 1]``. The last line
is ``RATIO LSTM training step nnlearn/torch = <x.xx>`` (the median wall-clock ratio).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import timing  # benchmarks/timing.py: this script's folder is on sys.path
import torch

import nnlearn as nl
import nnlearn.parity.recurrent_twins  # noqa: F401 (registers the recurrent twins)
from nnlearn import recurrent
from nnlearn.losses import mean_squared_error
from nnlearn.parity import torch_twin

BATCH, TIME, FEATURES, UNITS = 32, 20, 1, 32
LR, EPS = 1e-3, 1e-7
STEPS_PER_BLOCK = 20  # steps timed together: one step is about a millisecond


def data() -> list[tuple[np.ndarray, np.ndarray]]:
    """Eight batches of noisy sine waves and the value one step after each."""
    generator = np.random.default_rng(0)
    batches = []
    for _ in range(8):
        phase = generator.uniform(0, 2 * np.pi, (BATCH, 1))
        t = np.arange(TIME + 1) * 0.3 + phase
        wave = np.sin(t) + 0.1 * generator.standard_normal(t.shape)
        batches.append((wave[:, :-1, None].astype(np.float32), wave[:, -1:].astype(np.float32)))
    return batches


def nnlearn_model() -> nl.Sequential:
    nl.seed_everything(0)
    return nl.Sequential(
        [
            recurrent.LSTM(UNITS, input_shape=(TIME, FEATURES), dtype="float32"),
            nl.layers.Dense(1, dtype="float32"),
        ]
    )


def nnlearn_trainer(batches) -> Callable[[int], None]:
    model = nnlearn_model()
    optimizer = nl.optim.Adam(model.parameters(), lr=LR, eps=EPS)

    def steps(start: int) -> None:
        for i in range(start, start + STEPS_PER_BLOCK):
            x, y = batches[i % len(batches)]
            loss = mean_squared_error(y, model(x, training=True)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return steps


def torch_trainer(batches) -> Callable[[int], None]:
    twin = torch_twin(nnlearn_model(), dtype="float32").train()
    optimizer = torch.optim.Adam(twin.parameters(), lr=LR, eps=EPS)
    tensors = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]

    def steps(start: int) -> None:
        for i in range(start, start + STEPS_PER_BLOCK):
            x, y = tensors[i % len(tensors)]
            loss = torch.nn.functional.mse_loss(twin(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return steps


def main() -> None:
    args = timing.arguments(__doc__, rounds=20)
    print(
        f"LSTM({UNITS}) on (batch {BATCH}, time {TIME}, features {FEATURES}) -> Dense(1), MSE, "
        f"Adam, float32; torch {torch.__version__} ({torch.get_num_threads()} threads), numpy "
        f"{np.__version__}; medians of {args.rounds} blocks of {STEPS_PER_BLOCK} steps"
    )
    times = timing.nnlearn_versus_torch(
        nnlearn_trainer, torch_trainer, data(), args.rounds, STEPS_PER_BLOCK
    )
    timing.report(times, "LSTM training step")


if __name__ == "__main__":
    main()
