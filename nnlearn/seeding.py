"""One seed for every random number generator the course uses.

nnlearn draws its own random numbers (weight initialisation, shuffling) from one numpy
``Generator``, returned by :func:`rng`. :func:`seed_everything` reseeds it together with
Python's ``random``, numpy's global generator and torch (when installed), so two runs with
the same seed print the same numbers on one machine.
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

_generator = np.random.default_rng()


def rng() -> np.random.Generator:
    """The generator nnlearn draws from; reseeded by :func:`seed_everything`."""
    return _generator


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, numpy (global and nnlearn's generator) and torch."""
    global _generator
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (learners' own np.random calls repeat too)
    _generator = np.random.default_rng(seed)
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.manual_seed(seed)  # seeds the CPU and every CUDA device


@contextmanager
def drawing_from(generator: np.random.Generator) -> Iterator[None]:
    """Inside the block nnlearn draws from ``generator`` (initial weights, shuffles), which
    advances as it is drawn from; nnlearn's own generator is left as it was."""
    shared = rng()
    saved = shared.bit_generator.state
    shared.bit_generator.state = generator.bit_generator.state
    try:
        yield
    finally:
        generator.bit_generator.state = shared.bit_generator.state
        shared.bit_generator.state = saved
