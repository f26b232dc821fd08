"""Epoch time of the digits MLP (64 -> 128 -> 128 -> 10, ReLU, Adam, float32, CPU): nnlearn
vs PyTorch, at batch sizes 32 and 256.

Run: ``.venv/bin/python benchmarks/bench_digits_mlp.py [--rounds 10] [--threads N]``.
``--threads N`` gives both libraries N threads (``torch.set_num_threads`` and, for numpy's
BLAS, ``threadpoolctl``); without it each uses its default (on a busy 2-core machine both
suffer from their threads waiting on each other, so compare ``--threads 1`` too).

Both train on the same standardized training split (no metrics, no progress bar). nnlearn
runs ``model.fit(..., epochs=1)`` once per epoch; torch runs the lean hand-written loop
(randperm, slice, forward, cross-entropy on logits, zero_grad, backward, step). Epochs of the
two alternate, so a busy machine slows both alike; after one warm-up epoch each, the median
epoch time of each is reported, with the ratio nnlearn / torch.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

import nnlearn as nl
from nnlearn.data import Standardizer, load_digits, train_val_test_split

SIZES = (64, 128, 128, 10)


def digits_train_set() -> tuple[np.ndarray, np.ndarray]:
    (x, y), _, _ = train_val_test_split(*load_digits())
    return Standardizer().fit_transform(x).astype(np.float32), y


def nnlearn_trainer(x, y, batch_size: int) -> Callable[[], None]:
    """One epoch of ``model.fit`` per call."""
    nl.seed_everything(0)
    model = nl.Sequential(
        [nl.layers.Dense(SIZES[1], activation="relu", input_shape=(SIZES[0],))]
        + [nl.layers.Dense(n, activation="relu") for n in SIZES[2:-1]]
        + [nl.layers.Dense(SIZES[-1], activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return lambda: model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)


def torch_trainer(x, y, batch_size: int) -> Callable[[], None]:
    """One epoch of the usual torch loop per call."""
    torch.manual_seed(0)
    modules: list[torch.nn.Module] = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        modules += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*modules[:-1])  # logits out; the loss applies the softmax
    optimizer = torch.optim.Adam(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def epoch() -> None:
        order = torch.randperm(len(xt))
        xs, ys = xt[order], yt[order]
        for i in range(0, len(xs), batch_size):
            loss = loss_fn(model(xs[i : i + batch_size]), ys[i : i + batch_size])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return epoch


def epoch_times(x, y, batch_size: int, rounds: int) -> tuple[list[float], list[float]]:
    """Alternate one nnlearn epoch and one torch epoch, so both see the same machine load."""
    runs = nnlearn_trainer(x, y, batch_size), torch_trainer(x, y, batch_size)
    times: tuple[list[float], list[float]] = ([], [])
    for round_ in range(rounds + 1):
        for run, record in zip(runs, times, strict=True):
            start = time.perf_counter()
            run()
            if round_:  # round 0 is a warm-up
                record.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="timed epochs of each")
    parser.add_argument("--threads", type=int, default=None, help="threads for both libraries")
    args = parser.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads, user_api="blas")
    x, y = digits_train_set()
    print(f"digits MLP {' -> '.join(map(str, SIZES))}, Adam, float32, {len(x)} training examples")
    from threadpoolctl import threadpool_info

    blas = [
        f"{i['internal_api']} {i['num_threads']} threads"
        for i in threadpool_info()
        if "numpy" in i["filepath"]
    ]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}, "
        f"{', '.join(blas)}"
    )
    print(f"{'batch':>5}  {'nnlearn s/epoch':>15}  {'torch s/epoch':>13}  {'ratio':>5}")
    for batch_size in (32, 256):
        ours, theirs = map(statistics.median, epoch_times(x, y, batch_size, args.rounds))
        print(f"{batch_size:>5}  {ours:>15.4f}  {theirs:>13.4f}  {ours / theirs:>5.2f}")


if __name__ == "__main__":
    main()
