"""Convolutions (chapter 14): nnlearn against PyTorch on the CPU, float32, two cases.

* ``conv 64x28x28 1-32-64 3x3 fwd+bwd`` (issue 11's case): a batch of 64 images 28x28x1
  through ``Conv2D(32, 3)`` and ``Conv2D(64, 3)`` ("valid", no activation), then the backward
  pass of a fixed upstream gradient: the gradients of both kernels and biases and of the first
  layer's output (not of the images). nnlearn works channels-last with its ``Conv2D`` layers;
  torch channels-first, ``torch.nn.functional.conv2d``, its native layout, on the same
  weights.
* ``CNN training step``: chapter 14's digits network (8x8x1 images, ``Conv2D(32, 3, "same",
  relu)``, ``MaxPooling2D``, ``Conv2D(64, 3, "same", relu)``, ``MaxPooling2D``, ``Flatten``,
  ``Dense(10, softmax)``), one step on a batch of 64: forward, sparse cross-entropy,
  backward, Adam (lr 3e-3, eps 1e-7). torch: the same network written channels-first
  (``Conv2d``, ``ReLU``, ``MaxPool2d``, ``Flatten``, ``Linear``, ``cross_entropy`` on the
  logits), its Linear weight's columns reordered once from Keras's channels-last flattening.

Both start from the same weights (checked: the same loss, the same gradients). The two
contenders alternate blocks of calls, in an order that turns every round, so a busy machine
slows them alike; after a warm-up round, the median wall-clock and CPU time per call are
reported. ``--threads N`` gives both N threads (numpy's BLAS through the environment, set
before numpy loads: the script starts itself again, as benchmarks/bench_digits_mlp.py
explains); without it each uses its default.

Run: ``.venv/bin/python benchmarks/bench_conv.py [--rounds 10] [--threads 1]``. The last lines
are ``RATIO <case> nnlearn/torch = <x.xx>``, one per case (median wall-clock ratios).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
import timing  # benchmarks/timing.py: this script's folder is on sys.path
import torch

import nnlearn as nl
from nnlearn.losses import sparse_categorical_crossentropy
from nnlearn.parity.conv_twins import hwio_to_oihw

LR, EPS = 3e-3, 1e-7
Contender = Callable[[], None]


# --- case 1: two convolutions, forward and backward ----------------------------------------------
def conv_case() -> dict[str, Contender]:
    """nnlearn's and torch's forward + backward of Conv2D(32, 3) -> Conv2D(64, 3)."""
    nl.seed_everything(0)
    rng = np.random.default_rng(0)
    images = rng.random((64, 28, 28, 1), dtype=np.float32)
    upstream = rng.standard_normal((64, 24, 24, 64), dtype=np.float32)
    first = nl.layers.Conv2D(32, 3, input_shape=(28, 28, 1), dtype="float32")
    second = nl.layers.Conv2D(64, 3, input_shape=(26, 26, 32), dtype="float32")
    layers = (first, second)

    def ours() -> None:
        for p in (*first.parameters(), *second.parameters()):
            p.zero_grad()
        hidden = first(images)
        hidden.retain_grad()
        second(hidden).backward(upstream)
        ours.grads = [hidden.grad, *(p.grad for layer in layers for p in layer.parameters())]

    weights = [
        torch.from_numpy(array).requires_grad_()
        for layer in layers
        for array in (hwio_to_oihw(layer.kernel.data).copy(), layer.bias.data.copy())
    ]
    t_images = torch.from_numpy(images.transpose(0, 3, 1, 2).copy())
    t_upstream = torch.from_numpy(upstream.transpose(0, 3, 1, 2).copy())

    def theirs() -> None:
        for w in weights:
            w.grad = None
        hidden = torch.nn.functional.conv2d(t_images, weights[0], weights[1])
        hidden.retain_grad()
        torch.nn.functional.conv2d(hidden, weights[2], weights[3]).backward(t_upstream)
        theirs.grads = [hidden.grad.permute(0, 2, 3, 1), *(w.grad for w in weights)]

    ours()
    theirs()
    hidden, kernel_1, bias_1, kernel_2, bias_2 = ours.grads  # the same, in torch's layouts:
    mine = [hidden, hwio_to_oihw(kernel_1), bias_1, hwio_to_oihw(kernel_2), bias_2]
    for ours_, theirs_ in zip(mine, theirs.grads, strict=True):  # float32 sums of 36,864 terms
        np.testing.assert_allclose(ours_, theirs_.numpy(), rtol=1e-3, atol=1e-4 * abs(ours_).max())
    return {"nnlearn": ours, "torch": theirs}


# --- case 2: a training step of the digits CNN ---------------------------------------------------
def digits_batch() -> tuple[np.ndarray, np.ndarray]:
    x, y = nl.data.load_digits()
    return (x[:64] / 16.0).reshape(-1, 8, 8, 1).astype(np.float32), y[:64]


def digits_cnn() -> nl.Sequential:
    """Chapter 14's network, seeded."""
    nl.seed_everything(0)
    conv = {"kernel_size": 3, "padding": "same", "activation": "relu", "dtype": "float32"}
    return nl.Sequential(
        [
            nl.layers.Conv2D(32, input_shape=(8, 8, 1), **conv),
            nl.layers.MaxPooling2D(dtype="float32"),
            nl.layers.Conv2D(64, **conv),
            nl.layers.MaxPooling2D(dtype="float32"),
            nl.layers.Flatten(dtype="float32"),
            nl.layers.Dense(10, activation="softmax", dtype="float32"),
        ]
    )


def torch_cnn(model: nl.Sequential) -> torch.nn.Sequential:
    """The same network channels-first, with ``model``'s weights. Keras flattens (2, 2, 64)
    channels-last; torch's Flatten gives (64, 2, 2): the Linear weight's columns follow."""
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(32, 64, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(256, 10),
    )
    first, second, dense = (model.layers[i] for i in (0, 2, 5))
    kernel = dense.kernel.data.reshape(2, 2, 64, 10).transpose(2, 0, 1, 3).reshape(256, 10)
    arrays = [hwio_to_oihw(first.kernel.data), first.bias.data]
    arrays += [hwio_to_oihw(second.kernel.data), second.bias.data, kernel.T, dense.bias.data]
    with torch.no_grad():
        for parameter, array in zip(net.parameters(), arrays, strict=True):
            parameter.copy_(torch.from_numpy(np.ascontiguousarray(array)))
    return net


def cnn_case() -> dict[str, Contender]:
    x, y = digits_batch()
    model = digits_cnn()
    optimizer = nl.optim.Adam(model.parameters(), lr=LR, eps=EPS)
    net = torch_cnn(model)
    t_optimizer = torch.optim.Adam(net.parameters(), lr=LR, eps=EPS)
    t_x, t_y = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)

    def ours() -> None:
        loss = sparse_categorical_crossentropy(y, model(x, training=True)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        ours.loss = loss.item()

    def theirs() -> None:
        loss = torch.nn.functional.cross_entropy(net(t_x), t_y)
        t_optimizer.zero_grad()
        loss.backward()
        t_optimizer.step()
        theirs.loss = loss.item()

    ours()
    theirs()
    assert abs(ours.loss - theirs.loss) < 1e-5 * abs(theirs.loss), (ours.loss, theirs.loss)
    return {"nnlearn": ours, "torch": theirs}


CASES = {
    "conv 64x28x28 1-32-64 3x3 fwd+bwd": (conv_case, 3),
    "CNN training step": (cnn_case, 10),  # calls per timed block: a step is a few ms
}


def call_times(contenders: dict[str, Contender], calls: int, rounds: int) -> dict[str, tuple]:
    """Alternate blocks of ``calls`` calls of each contender; per contender the wall-clock
    and CPU seconds per call of each timed block (round 0 is a warm-up)."""
    runs = list(contenders.items())
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in contenders}
    for round_ in range(rounds + 1):
        for name, run in runs[round_ % 2 :] + runs[: round_ % 2]:
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls):
                run()
            if round_:
                times[name][0].append((time.perf_counter() - wall) / calls)
                times[name][1].append((time.process_time() - cpu) / calls)
    return times


def main() -> None:
    args = timing.arguments(__doc__, rounds=10)
    from threadpoolctl import threadpool_info  # installed with scikit-learn

    blas = [
        f"{i['internal_api']} {i['num_threads']} threads"
        for i in threadpool_info()
        if "numpy" in i["filepath"]
    ]
    print(
        f"float32, CPU; torch {torch.__version__} ({torch.get_num_threads()} threads), numpy "
        f"{np.__version__} ({blas[0] if blas else 'BLAS unknown'}); medians of {args.rounds} "
        f"interleaved blocks"
    )
    print(f"{'case':<36} {'clock':>5}  {'nnlearn ms':>10} {'torch ms':>10}  {'nnlearn/torch':>13}")
    ratios = {}
    for case, (make, calls) in CASES.items():
        times = call_times(make(), calls, args.rounds)
        for clock, column in (("wall", 0), ("cpu", 1)):
            ours, theirs = (1e3 * statistics.median(times[name][column]) for name in times)
            ratios.setdefault(case, ours / theirs)  # the wall-clock ratio
            print(f"{case:<36} {clock:>5}  {ours:>10.2f} {theirs:>10.2f}  {ours / theirs:>13.2f}")
    for case, ratio in ratios.items():  # the summary `make bench` collects
        print(f"RATIO {case} nnlearn/torch = {ratio:.2f}")


if __name__ == "__main__":
    main()
