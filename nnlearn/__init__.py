"""nnlearn: neural networks built from scratch on numpy, proven against PyTorch.

Importing nnlearn imports numpy only; PyTorch, matplotlib and ipywidgets are loaded by the
modules that need them (``nnlearn.parity`` and the notebooks' helpers).
"""

from nnlearn import functional
from nnlearn.display import show_source
from nnlearn.functional import concatenate
from nnlearn.seeding import rng, seed_everything
from nnlearn.tensor import (
    Function,
    Tensor,
    get_default_dtype,
    is_grad_enabled,
    no_grad,
    set_default_dtype,
)

__version__ = "0.1.0"

__all__ = [
    "Function",
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
