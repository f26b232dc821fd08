"""Where one training step of the digits MLP spends its time: nnlearn's ``fit`` step taken
apart phase by phase, beside the hand-written numpy loop of ``bench_digits_mlp.py``.

Run: ``.venv/bin/python benchmarks/step_breakdown.py [--batch-size 32] [--steps 2000]``
(one BLAS thread). Each phase is timed around the same calls ``Sequential._train_step`` and
``_train_epoch`` make, with ``time.perf_counter`` (no system call, unlike the CPU-time
clocks, whose calls on a virtual machine disturb what they measure); the table gives, per
phase, the 10th percentile (a quiet moment of a busy machine) and the median microseconds per
step, the two loops' steps interleaved so both see the same machine load.

``--tiny`` shrinks the MLP to 4 -> 4 -> 4 -> 3 on random data: the arithmetic then costs next
to nothing, so each phase's time is its Python and numpy-call overhead, which is what separates
``fit`` from the hand-written loop at batch 32 (and a quantity a busy machine disturbs less).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections import defaultdict

import bench_digits_mlp
import numpy as np
from bench_digits_mlp import NumpyMLP, digits_train_set, nnlearn_model
from threadpoolctl import threadpool_limits

from nnlearn.metrics import EpochMeans


class Clock:
    """Accumulates the time since the last ``tick`` under the phase named."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = defaultdict(list)
        self.last = time.perf_counter()

    def start(self) -> None:
        self.last = time.perf_counter()

    def tick(self, phase: str) -> None:
        now = time.perf_counter()
        self.times[phase].append(now - self.last)
        self.last = now


def nnlearn_step(model, x, y, means: EpochMeans, clock: Clock) -> None:
    """``Sequential._train_step`` and the bookkeeping of ``_train_epoch``, phase by phase."""
    clock.start()
    y_pred = model(x)
    clock.tick("forward (model(x))")
    loss = model.loss(y, y_pred, None)
    value = float(loss.data)
    assert math.isfinite(value)
    clock.tick("loss (value included)")
    model.optimizer.zero_grad()
    loss.backward()
    clock.tick("backward")
    model.optimizer.step()
    clock.tick("optimizer step")
    means.update(value, y, y_pred.data)
    means.result()
    clock.tick("running means, logs")


def numpy_step(model: NumpyMLP, x, y, clock: Clock) -> None:
    clock.start()
    activations, loss, grad_z = model.forward_and_loss(x, y)
    assert math.isfinite(loss)
    clock.tick("forward and loss")
    grads = model.backward(activations, grad_z)
    clock.tick("backward")
    model.adam_step(grads)
    clock.tick("Adam step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--tiny", action="store_true", help="4-4-4-3 MLP: overhead only")
    args = parser.parse_args()
    threadpool_limits(1, user_api="blas")
    if args.tiny:
        bench_digits_mlp.SIZES = (4, 4, 4, 3)  # nnlearn_model reads it when called
        generator = np.random.default_rng(0)
        x = generator.standard_normal((1024, 4)).astype(np.float32)
        y = generator.integers(0, 3, len(x))
    else:
        x, y = digits_train_set()
    model = nnlearn_model()
    reference = NumpyMLP(model.get_weights())
    model.optimizer.add_params(model.parameters())  # as fit does first
    ours, theirs = Clock(), Clock()
    means = EpochMeans({})
    batches = [
        (x[i : i + args.batch_size], y[i : i + args.batch_size])
        for i in range(0, len(x) - args.batch_size + 1, args.batch_size)
    ]
    for step in range(args.steps):
        xb, yb = batches[step % len(batches)]
        nnlearn_step(model, xb, yb, means, ours)
        numpy_step(reference, xb, yb, theirs)
    sizes = " -> ".join(map(str, bench_digits_mlp.SIZES))
    print(f"{sizes}, batch {args.batch_size}, microseconds per step: 10th percentile, median")
    for name, clock in (("nnlearn", ours), ("numpy", theirs)):
        rows = {
            phase: (1e6 * np.percentile(t, 10), 1e6 * statistics.median(t))
            for phase, t in clock.times.items()
        }
        rows["sum"] = tuple(map(sum, zip(*rows.values(), strict=True)))
        print(name)
        for phase, (low, middle) in rows.items():
            print(f"  {phase:<28} {low:7.1f} {middle:7.1f}")


if __name__ == "__main__":
    np.seterr(over="ignore", invalid="ignore")
    main()
