"""nnlearn: neural networks built from scratch on numpy, proven against PyTorch.

Importing nnlearn imports numpy only. The chapter modules (``nl.layers``, ``nl.losses``,
``nl.optim``, ...) load on first use, so PyTorch, matplotlib, ipywidgets and scikit-learn are
imported only by the parts that need them.
"""

import importlib
from typing import Any

from nnlearn import functional
from nnlearn.autograd import is_grad_enabled, no_grad
from nnlearn.display import show_source
from nnlearn.functional import concatenate
from nnlearn.seeding import rng, seed_everything
from nnlearn.tensor import Function, Tensor, get_default_dtype, set_default_dtype

__version__ = "0.1.0"

# Modules loaded on first attribute access (PEP 562), in the order of the course; then the
# tools around the chapters.
_LAZY_MODULES = (
    "activations",  # 02
    "initializers",  # 03
    "module",
    "layers",
    "losses",  # 04
    "scalar",  # 05
    "graph_view",
    "gradcheck",
    "autograd",  # 06
    "reductions",
    "inplace",
    "update_rules",  # 07
    "schedules",
    "optim",
    "metrics",  # 08
    "data",
    "training",
    "trainer",
    "models",
    "regularizers",  # 09
    "regularization",
    "pruning",
    "augmentation",
    "tracking",  # 10
    "tuning",  # 11
    "estimators",
    "saving",  # 13
    "conv",  # 14
    "recurrent",  # 15
    "bptt",
    "clipping",
    "series",
    "attention",  # 16
    "generative",  # 17
    "cartpole",  # 18
    "policy_gradient",
    "clinical",  # 19
    "distributed",  # 20
    "parity",
    "report",
    "plotting",
    "widgets",
)
_LAZY_NAMES = {"Sequential": "models"}


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        return importlib.import_module(f"nnlearn.{name}")
    if name in _LAZY_NAMES:
        return getattr(importlib.import_module(f"nnlearn.{_LAZY_NAMES[name]}"), name)
    raise AttributeError(f"module 'nnlearn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_MODULES, *_LAZY_NAMES])


__all__ = [
    "Function",
    "Sequential",
    "Tensor",
    "concatenate",
    "functional",
    "get_default_dtype",
    "is_grad_enabled",
    "no_grad",
    "rng",
    "seed_everything",
    "set_default_dtype",
    "show_source",
]
