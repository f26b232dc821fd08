"""Epoch time of the digits MLP (64 -> 128 -> 128 -> 10, ReLU, Adam, float32, CPU): nnlearn's
``fit`` against a hand-written numpy loop (the limit for a numpy engine), against nnlearn's
engine driven without ``fit`` and against PyTorch, at batch sizes 32 and 256.

Run: ``.venv/bin/python benchmarks/bench_digits_mlp.py [--rounds 20] [--threads 1]``.
``--threads N`` gives every contender N threads (``torch.set_num_threads``, and for numpy's
BLAS ``OPENBLAS_NUM_THREADS``: see :func:`timing.limit_threads`); without it each uses its default
(on a busy 2-core machine threads wait on each other, so compare ``--threads 1`` too).

The four start from the same weights (nnlearn's Glorot draw with seed 0), see the same
batches (one permutation per epoch from ``np.random.default_rng(SHUFFLE_SEED)``) and compute
the loss's value every batch (as ``fit`` must, to stop a diverging run), so they follow one
trajectory up to rounding. That matters for speed: float32 values decaying towards zero (the
Adam moments of a unit that stopped learning) turn subnormal after some hundreds of steps,
and arithmetic on subnormal numbers is many times slower, so two runs on different
trajectories can differ in speed for that reason alone.

* nnlearn: ``model.fit(..., epochs=1, verbose=0)`` once per epoch, compiled with
  ``optimizer="adam"`` (Keras's defaults: lr 1e-3, betas 0.9/0.999, eps 1e-7).
* numpy: no autograd, what a person would write by hand: forward, the fused softmax +
  cross-entropy (value and gradient ``(p - t) / N``), the backward by hand, and torch's Adam
  formula updated in place in preallocated buffers (eps 1e-7).
* engine: nnlearn's engine written as the torch loop is, without the Keras layer (no
  ``Sequential``, no ``fit``, no loss object, logits instead of probabilities): ``Affine`` and
  ``relu`` on Tensors, the cross-entropy from logits, ``backward()``, ``nl.optim.Adam``. Its
  time against ``fit``'s is what the Keras API costs; against the numpy loop's, the engine's.
* torch: the lean usual loop (permute, slice, forward, cross-entropy on logits, zero_grad,
  backward, ``torch.optim.Adam(eps=1e-7)``).

Epochs of the four alternate, in an order that turns every round, so a busy machine slows
them alike; after one warm-up epoch each, the median wall-clock time (and the median CPU time,
``time.process_time``, less sensitive to other processes) of each is reported, with the
ratios nnlearn / numpy, engine / numpy and nnlearn / torch. Where the time goes, before and
after the speed work: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import timing  # benchmarks/timing.py: this script's folder is on sys.path
import torch

import nnlearn as nl
from nnlearn.data import Standardizer, load_digits, train_val_test_split
from nnlearn.layers import Affine

SIZES = (64, 128, 128, 10)
LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-7  # compile("adam"): Keras 3's defaults
SHUFFLE_SEED = 1  # every contender shuffles with np.random.default_rng(SHUFFLE_SEED)


def digits_train_set() -> tuple[np.ndarray, np.ndarray]:
    (x, y), _, _ = train_val_test_split(*load_digits())
    return Standardizer().fit_transform(x).astype(np.float32), y


def nnlearn_model() -> nl.Sequential:
    """The MLP in nnlearn, its weights drawn with seed 0 (the others copy them)."""
    nl.seed_everything(0)
    model = nl.Sequential(
        [nl.layers.Dense(SIZES[1], activation="relu", input_shape=(SIZES[0],))]
        + [nl.layers.Dense(n, activation="relu") for n in SIZES[2:-1]]
        + [nl.layers.Dense(SIZES[-1], activation="softmax")]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def nnlearn_trainer(x, y, batch_size: int) -> Callable[[], None]:
    """One epoch of ``model.fit`` per call; its shuffling draws from nnlearn's generator,
    seeded with ``SHUFFLE_SEED``, so its batches are the other two's."""
    model = nnlearn_model()
    nl.seed_everything(SHUFFLE_SEED)
    return lambda: model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)


class NumpyMLP:
    """The same MLP trained by hand in numpy: no graph, every gradient written out.

    Shapes: ``x`` (N, 64); layer ``i`` has kernel ``W_i`` (in, out) and bias ``b_i`` (out,);
    hidden activations ``h_i = relu(h_{i-1} W_i + b_i)``; logits ``z`` (N, 10).
    """

    def __init__(self, weights: list[np.ndarray]) -> None:
        self.params = [w.copy() for w in weights]  # [W_1, b_1, W_2, b_2, W_3, b_3], float32
        # Adam's state and one scratch array per parameter, allocated once.
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.scratch = [np.empty_like(p) for p in self.params]
        self.t = 0
        self.generator = np.random.default_rng(SHUFFLE_SEED)

    def loss_and_gradients(self, x: np.ndarray, y: np.ndarray) -> tuple[float, list[np.ndarray]]:
        """The mean cross-entropy of softmax(z) and the gradient of every parameter."""
        activations, loss, grad_z = self.forward_and_loss(x, y)
        return loss, self.backward(activations, grad_z)

    def forward_and_loss(self, x: np.ndarray, y: np.ndarray):
        """The inputs of every layer, the loss and its gradient dL/dz on the logits."""
        kernels, biases = self.params[0::2], self.params[1::2]
        activations = [x]
        for kernel, bias in zip(kernels[:-1], biases[:-1], strict=True):
            h = activations[-1] @ kernel
            h += bias
            np.maximum(h, 0, out=h)
            activations.append(h)
        z = activations[-1] @ kernels[-1]
        z += biases[-1]
        # Fused softmax + cross-entropy: l = log sum_j e^{z_j - max} - (z_y - max).
        rows = np.arange(len(x))
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        sums = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(sums[:, 0]) - z[rows, y]))
        grad = e / sums  # dL/dz = (softmax(z) - onehot(y)) / N
        grad[rows, y] -= 1.0
        grad /= len(x)
        return activations, loss, grad

    def backward(self, activations: list[np.ndarray], grad: np.ndarray) -> list[np.ndarray]:
        """The gradients [dW_1, db_1, ...] from dL/dz, layer by layer from the last."""
        kernels = self.params[0::2]
        grads: list[np.ndarray] = [None] * len(self.params)  # type: ignore[list-item]
        for i in reversed(range(len(kernels))):
            h = activations[i]
            grads[2 * i] = h.T @ grad
            grads[2 * i + 1] = grad.sum(axis=0)
            if i:
                grad = grad @ kernels[i].T
                grad *= h > 0  # relu'(z) = [h > 0]
        return grads

    def adam_step(self, grads: list[np.ndarray]) -> None:
        """torch's Adam, in place: p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""
        beta1, beta2 = BETAS
        self.t += 1
        step_size = LR / (1 - beta1**self.t)
        root_correction = np.sqrt(1 - beta2**self.t)
        for p, g, m, v, s in zip(self.params, grads, self.m, self.v, self.scratch, strict=True):
            m *= beta1
            np.multiply(g, 1 - beta1, out=s)
            m += s
            v *= beta2
            np.multiply(g, g, out=s)
            s *= 1 - beta2
            v += s
            np.sqrt(v, out=s)
            s /= root_correction
            s += EPS
            np.divide(m, s, out=s)
            s *= step_size
            p -= s

    def epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
        order = self.generator.permutation(len(x))
        xs, ys = x[order], y[order]
        for i in range(0, len(xs), batch_size):
            loss, grads = self.loss_and_gradients(xs[i : i + batch_size], ys[i : i + batch_size])
            if not np.isfinite(loss):
                raise RuntimeError("diverged")
            self.adam_step(grads)


def numpy_trainer(x, y, batch_size: int) -> Callable[[], None]:
    """One epoch of the hand-written numpy loop per call."""
    model = NumpyMLP(nnlearn_model().get_weights())
    return lambda: model.epoch(x, y, batch_size)


def engine_trainer(x, y, batch_size: int) -> Callable[[], None]:
    """One epoch per call of nnlearn's engine in a loop written like the torch one below."""
    params = [nl.Tensor(w, requires_grad=True) for w in nnlearn_model().get_weights()]
    optimizer = nl.optim.Adam(params, lr=LR, betas=BETAS, eps=EPS)
    layers = list(zip(params[0::2], params[1::2], strict=True))
    generator = np.random.default_rng(SHUFFLE_SEED)

    def epoch() -> None:
        order = generator.permutation(len(x))
        xs, ys = x[order], y[order]
        for i in range(0, len(xs), batch_size):
            h = nl.Tensor(xs[i : i + batch_size])
            for kernel, bias in layers[:-1]:
                h = nl.activations.relu(Affine.apply(h, kernel, bias))
            logits = Affine.apply(h, *layers[-1])
            labels = ys[i : i + batch_size]
            loss = nl.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
            loss = loss.mean()
            if not np.isfinite(loss.item()):
                raise RuntimeError("diverged")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return epoch


def torch_trainer(x, y, batch_size: int) -> Callable[[], None]:
    """One epoch of the usual torch loop per call (numpy's permutation, for the same batches)."""
    modules: list[torch.nn.Module] = []
    for n_in, n_out in zip(SIZES[:-1], SIZES[1:], strict=True):
        modules += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    model = torch.nn.Sequential(*modules[:-1])  # logits out; the loss applies the softmax
    weights = iter(nnlearn_model().get_weights())
    with torch.no_grad():
        for linear in model[::2]:
            linear.weight.copy_(torch.from_numpy(next(weights).T))  # torch keeps W^T
            linear.bias.copy_(torch.from_numpy(next(weights)))
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, betas=BETAS, eps=EPS)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    generator = np.random.default_rng(SHUFFLE_SEED)

    def epoch() -> None:
        order = torch.from_numpy(generator.permutation(len(xt)))
        xs, ys = xt[order], yt[order]
        for i in range(0, len(xs), batch_size):
            loss = loss_fn(model(xs[i : i + batch_size]), ys[i : i + batch_size])
            if not torch.isfinite(loss):
                raise RuntimeError("diverged")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return epoch


TRAINERS = {
    "nnlearn": nnlearn_trainer,
    "numpy": numpy_trainer,
    "engine": engine_trainer,
    "torch": torch_trainer,
}


def epoch_times(x, y, batch_size: int, rounds: int) -> dict[str, tuple[list, list]]:
    """Alternate one epoch of each trainer, so all see the same machine load; per trainer the
    wall-clock and the CPU times of the timed epochs.

    The order turns every round: an epoch that follows torch's starts with caches and a heap
    torch has just used, so always following torch would handicap one contender.
    """
    runs = list((name, make(x, y, batch_size)) for name, make in TRAINERS.items())
    times: dict[str, tuple[list, list]] = {name: ([], []) for name, _ in runs}
    for round_ in range(rounds + 1):
        for name, run in runs[round_ % len(runs) :] + runs[: round_ % len(runs)]:
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            if round_:  # round 0 is a warm-up
                times[name][0].append(time.perf_counter() - wall)
                times[name][1].append(time.process_time() - cpu)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="timed epochs of each")
    parser.add_argument("--threads", type=int, default=None, help="threads for every contender")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256])
    args = parser.parse_args()
    if args.threads:
        timing.limit_threads(args.threads)
    from threadpoolctl import threadpool_info  # installed with scikit-learn

    x, y = digits_train_set()
    print(f"digits MLP {' -> '.join(map(str, SIZES))}, Adam, float32, {len(x)} training examples")
    blas = [
        f"{i['internal_api']} {i['num_threads']} threads"
        for i in threadpool_info()
        if "numpy" in i["filepath"]
    ]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}, "
        f"{', '.join(blas)}; medians of {args.rounds} interleaved epochs, ms per epoch"
    )
    print(
        f"{'batch':>5} {'clock':>5}  {'nnlearn':>8} {'numpy':>8} {'engine':>8} {'torch':>8}  "
        f"{'nnlearn/numpy':>13} {'engine/numpy':>12} {'nnlearn/torch':>13}"
    )
    ratios = []
    for batch_size in args.batch_sizes:
        times = epoch_times(x, y, batch_size, args.rounds)
        for clock, column in (("wall", 0), ("cpu", 1)):
            ours, numpy_, engine, torch_ = (
                1e3 * statistics.median(times[name][column]) for name in TRAINERS
            )
            print(
                f"{batch_size:>5} {clock:>5}  {ours:>8.1f} {numpy_:>8.1f} {engine:>8.1f} "
                f"{torch_:>8.1f}  {ours / numpy_:>13.2f} {engine / numpy_:>12.2f} "
                f"{ours / torch_:>13.2f}"
            )
        # cpu clock: the last row
        ratios.append((batch_size, ours / numpy_, engine / numpy_, ours / torch_))
    # The summary `make bench` collects from every benchmark.
    for batch_size, to_numpy, engine_to_numpy, to_torch in ratios:
        name = f"RATIO digits MLP epoch, batch {batch_size}"
        print(f"{name} nnlearn fit/numpy loop = {to_numpy:.2f}")
        print(f"{name} nnlearn engine without fit/numpy loop = {engine_to_numpy:.2f}")
        print(f"{name} nnlearn fit/torch = {to_torch:.2f}")


if __name__ == "__main__":
    main()
