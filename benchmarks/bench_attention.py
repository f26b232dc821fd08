"""One training step of a small character transformer (chapter 16): nnlearn against PyTorch.

The model is chapter 16's language model with one block: token and position ``Embedding``
(96 characters, context 32, width 64), a pre-LayerNorm transformer block (``x +
MultiHeadAttention(LN(x), causal)`` with 4 heads of 16, then ``x + Dense(64)(Dense(256,
relu)(LN(x)))``), a final LayerNorm and ``Dense(96)`` logits; a batch of 32 sequences, the
cross-entropy of the next character, Adam (lr 1e-3, eps 1e-7), float32, on the CPU. One step
is forward, loss, backward and the optimizer's update:

* nnlearn: the layers called as a Module would, ``sparse_categorical_crossentropy(...,
  from_logits=True)``, ``zero_grad``, ``backward``, ``Adam.step``;
* torch: the same model written the usual way (``nn.Embedding``, ``nn.LayerNorm(eps=1e-3)``,
  a plain ``nn.MultiheadAttention(batch_first=True)`` with a boolean causal mask,
  ``nn.Linear``, ``F.cross_entropy``, ``torch.optim.Adam``) holding the same weights
  (:mod:`nnlearn.parity.attention_twins` packs the attention's).

Both see the same batches (a fixed set of 8, cycled). Blocks of steps of the two alternate, in
an order that turns every round, so a busy machine slows them alike; after a warm-up, the median
wall-clock and CPU time per step are reported.

Run: ``.venv/bin/python benchmarks/bench_attention.py [--rounds 15] [--threads 1]``. The last
line is ``RATIO transformer block training step nnlearn/torch = <x.xx>`` (median wall clock).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import timing  # benchmarks/timing.py: this script's folder is on sys.path
import torch

import nnlearn as nl
from nnlearn import layers
from nnlearn.losses import sparse_categorical_crossentropy
from nnlearn.module import Module
from nnlearn.parity import torch_twin
from nnlearn.parity.attention_twins import multihead_attention

VOCABULARY, CONTEXT, WIDTH, HEADS, BATCH = 96, 32, 64, 4, 32
LR, EPS = 1e-3, 1e-7
STEPS_PER_BLOCK = 5  # steps timed together: one step is some milliseconds


class CharacterTransformer(Module):
    """Embeddings, one pre-LayerNorm block, LayerNorm, logits (module docstring)."""

    def __init__(self) -> None:
        make = {"dtype": "float32"}
        self.tokens = layers.Embedding(VOCABULARY, WIDTH, **make)
        self.positions = layers.Embedding(CONTEXT, WIDTH, **make)
        self.norm_1 = layers.LayerNormalization(**make)
        self.attention = layers.MultiHeadAttention(HEADS, WIDTH // HEADS, **make)
        self.norm_2 = layers.LayerNormalization(**make)
        self.grow = layers.Dense(4 * WIDTH, activation="relu", **make)
        self.shrink = layers.Dense(WIDTH, **make)
        self.norm_3 = layers.LayerNormalization(**make)
        self.head = layers.Dense(VOCABULARY, **make)

    def forward(self, tokens: np.ndarray) -> nl.Tensor:
        x = self.tokens(tokens) + self.positions(np.arange(tokens.shape[1]))
        h = self.norm_1(x)
        x = x + self.attention(h, h, use_causal_mask=True)
        x = x + self.shrink(self.grow(self.norm_2(x)))
        return self.head(self.norm_3(x))


class TorchCharacterTransformer(torch.nn.Module):
    """The same model in PyTorch, with the nnlearn model's weights."""

    def __init__(self, model: CharacterTransformer) -> None:
        super().__init__()
        self.tokens, self.positions = torch_twin(model.tokens), torch_twin(model.positions)
        self.norm_1, self.norm_2 = torch_twin(model.norm_1), torch_twin(model.norm_2)
        self.attention = multihead_attention(model.attention)
        self.grow, self.shrink = torch_twin(model.grow), torch_twin(model.shrink)
        self.norm_3, self.head = torch_twin(model.norm_3), torch_twin(model.head)
        self.register_buffer("future", ~torch.ones(CONTEXT, CONTEXT, dtype=torch.bool).tril())

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tokens(tokens) + self.positions(torch.arange(tokens.shape[1]))
        h = self.norm_1(x)
        x = x + self.attention(h, h, h, attn_mask=self.future, need_weights=False)[0]
        x = x + self.shrink(self.grow(self.norm_2(x)))
        return self.head(self.norm_3(x))


def data() -> list[tuple[np.ndarray, np.ndarray]]:
    """Eight batches of random "text" (inputs, next characters); only the speed matters."""
    generator = np.random.default_rng(0)
    text = generator.integers(0, VOCABULARY, (8, BATCH, CONTEXT + 1))
    return [(chunk[:, :-1], chunk[:, 1:]) for chunk in text]


def nnlearn_model() -> CharacterTransformer:
    nl.seed_everything(0)
    model = CharacterTransformer()
    model(data()[0][0])  # builds every layer
    return model


def nnlearn_trainer(batches) -> Callable[[int], None]:
    model = nnlearn_model()
    optimizer = nl.optim.Adam(model.parameters(), lr=LR, eps=EPS)

    def steps(start: int) -> None:
        for i in range(start, start + STEPS_PER_BLOCK):
            x, y = batches[i % len(batches)]
            loss = sparse_categorical_crossentropy(y, model(x), from_logits=True).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return steps


def torch_trainer(batches) -> Callable[[int], None]:
    model = TorchCharacterTransformer(nnlearn_model()).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, eps=EPS)
    tensors = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]

    def steps(start: int) -> None:
        for i in range(start, start + STEPS_PER_BLOCK):
            x, y = tensors[i % len(tensors)]
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCABULARY), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    return steps


def first_losses() -> tuple[float, float]:
    """Both models' loss on the first batch: the same model, so the same number."""
    x, y = data()[0]
    ours = sparse_categorical_crossentropy(y, nnlearn_model()(x), from_logits=True).mean()
    logits = TorchCharacterTransformer(nnlearn_model())(torch.from_numpy(x))
    theirs = torch.nn.functional.cross_entropy(
        logits.reshape(-1, VOCABULARY), torch.from_numpy(y).reshape(-1)
    )
    return ours.item(), theirs.item()


def main() -> None:
    args = timing.arguments(__doc__, rounds=15)
    print(
        f"character transformer, 1 block: vocabulary {VOCABULARY}, context {CONTEXT}, width "
        f"{WIDTH}, {HEADS} heads, batch {BATCH}, Adam, float32; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), numpy {np.__version__}; medians of "
        f"{args.rounds} blocks of {STEPS_PER_BLOCK} steps"
    )
    ours, theirs = first_losses()
    print(f"first loss on the same batch: nnlearn {ours:.6f}, torch {theirs:.6f}")
    assert abs(ours - theirs) < 1e-4, "the two models must be the same model"
    times = timing.nnlearn_versus_torch(
        nnlearn_trainer, torch_trainer, data(), args.rounds, STEPS_PER_BLOCK
    )
    timing.report(times, "transformer block training step")


if __name__ == "__main__":
    main()
