"""One training step of a variational autoencoder on digits (chapter 17): nnlearn against
PyTorch on the CPU.

The model, chapter 17's: an encoder ``Dense(128, relu) -> Dense(2 * 2)`` from the 64 pixels
of a digit (intensities / 16) to the mean and log-variance of a 2-D code, the
reparameterisation, and a decoder ``Dense(128, relu) -> Dense(64)`` to the pixels' logits. The
loss is the negative ELBO: the binary cross-entropy summed over the pixels plus the KL term,
averaged over a batch of 64; Adam (lr 1e-3, eps 1e-7); float32. One step is forward, loss,
backward and the optimizer's update:

* nnlearn: ``encoder(x)``, :func:`nnlearn.generative.sample_normal`, ``decoder(z)``,
  ``binary_crossentropy(from_logits=True)``, :func:`nnlearn.generative.kl_normal`,
  ``zero_grad``, ``backward``, ``Adam.step``;
* torch: the twins of the encoder and decoder (``nnlearn.parity.torch_twin``, same weights),
  ``mu + exp(log_var / 2) * eps``, ``binary_cross_entropy_with_logits``, the KL in closed form,
  ``zero_grad``, ``backward``, ``torch.optim.Adam``.

Both see the same batches and the same noise (a fixed set of 8, cycled). Steps of the two
alternate in blocks, in an order that turns every round, so a busy machine slows them alike;
after a warm-up, the median wall-clock and CPU time per step are reported.

Run: ``.venv/bin/python benchmarks/bench_generative.py [--rounds 30] [--threads 1]``. The last
line is ``RATIO VAE training step nnlearn/torch = <x.xx>`` (the median wall-clock ratio).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import timing  # benchmarks/timing.py: this script's folder is on sys.path
import torch
import torch.nn.functional as F

import nnlearn as nl
from nnlearn import generative
from nnlearn.layers import Dense
from nnlearn.parity import torch_twin

BATCH, PIXELS, HIDDEN, LATENT = 64, 64, 128, 2
LR, EPS = 1e-3, 1e-7
STEPS_PER_BLOCK = 20  # steps timed together: one step is about a millisecond


def data() -> list[tuple[np.ndarray, np.ndarray]]:
    """Eight batches of digits (intensities in [0, 1]) and the noise of their codes."""
    generator = np.random.default_rng(0)
    x, _ = nl.data.load_digits()
    x = (x / 16.0).astype(np.float32)
    return [
        (
            x[generator.choice(len(x), BATCH, replace=False)],
            generator.standard_normal((BATCH, LATENT)).astype(np.float32),
        )
        for _ in range(8)
    ]


def nnlearn_models() -> tuple[nl.Sequential, nl.Sequential]:
    nl.seed_everything(0)
    encoder = nl.Sequential(
        [
            Dense(HIDDEN, activation="relu", input_shape=(PIXELS,), dtype="float32"),
            Dense(2 * LATENT, dtype="float32"),
        ]
    )
    decoder = nl.Sequential(
        [
            Dense(HIDDEN, activation="relu", input_shape=(LATENT,), dtype="float32"),
            Dense(PIXELS, dtype="float32"),
        ]
    )
    return encoder, decoder


def nnlearn_trainer(batches) -> Callable[[int], None]:
    encoder, decoder = nnlearn_models()
    optimizer = nl.optim.Adam(encoder.parameters() + decoder.parameters(), lr=LR, eps=EPS)

    def steps(start: int) -> None:
        for i in range(start, start + STEPS_PER_BLOCK):
            x, eps = batches[i % len(batches)]
            h = encoder(x)
            mu, log_var = h[:, :LATENT], h[:, LATENT:]
            logits = decoder(generative.sample_normal(mu, log_var, noise=eps))
            reconstruction = nl.losses.binary_crossentropy(x, logits, from_logits=True) * PIXELS
            loss = (reconstruction + generative.kl_normal(mu, log_var)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return steps


def torch_trainer(batches) -> Callable[[int], None]:
    encoder, decoder = (torch_twin(m, dtype="float32").train() for m in nnlearn_models())
    parameters = [*encoder.parameters(), *decoder.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=LR, eps=EPS)
    tensors = [(torch.from_numpy(x), torch.from_numpy(eps)) for x, eps in batches]

    def steps(start: int) -> None:
        for i in range(start, start + STEPS_PER_BLOCK):
            x, eps = tensors[i % len(tensors)]
            h = encoder(x)
            mu, log_var = h[:, :LATENT], h[:, LATENT:]
            logits = decoder(mu + torch.exp(0.5 * log_var) * eps)
            reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="none")
            kl = 0.5 * (mu**2 + log_var.exp() - 1 - log_var).sum(-1)
            loss = (reconstruction.sum(-1) + kl).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return steps


def main() -> None:
    args = timing.arguments(__doc__, rounds=30)
    print(
        f"VAE {PIXELS} -> {HIDDEN} -> 2x{LATENT} ~> {LATENT} -> {HIDDEN} -> {PIXELS}, batch "
        f"{BATCH}, BCE + KL, Adam, float32; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numpy {np.__version__}; medians of "
        f"{args.rounds} blocks of {STEPS_PER_BLOCK} steps"
    )
    times = timing.nnlearn_versus_torch(
        nnlearn_trainer, torch_trainer, data(), args.rounds, STEPS_PER_BLOCK
    )
    timing.report(times, "VAE training step")


if __name__ == "__main__":
    main()
