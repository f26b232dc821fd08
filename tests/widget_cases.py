"""Shared by the tests of the widgets and of the plotting helpers.

* :data:`TORCH_ACTIVATIONS`: torch's own function for each activation the explorers draw.
* :func:`separable_points`: 2-D points and labels that a line separates.
* :func:`first_slider`: the slider a browser test moves, found as a browser would find it.
"""

import numpy as np
import torch
import torch.nn.functional as F

TORCH_ACTIVATIONS = {
    "relu": F.relu,
    # nnlearn's default slope is Keras's 0.2 (torch's F.leaky_relu defaults to 0.01)
    "leaky_relu": lambda t, negative_slope=0.2: F.leaky_relu(t, negative_slope),
    "elu": F.elu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": F.softplus,
    "gelu": F.gelu,
    "silu": F.silu,
    "linear": lambda t: t,
}


def first_slider(widget):
    """The first FloatSlider in page order (depth first), the one a browser test moves."""
    for child in widget.children:
        if type(child).__name__ == "FloatSlider":
            return child
        found = first_slider(child) if hasattr(child, "children") else None
        if found is not None:
            return found
    return None


def separable_points(n=120, seed=0):
    """Points labelled by the line x1 + 2 x2 - 0.5 = 0, which separates them."""
    x = np.random.default_rng(seed).uniform(-2, 2, (n, 2))
    return x, (x @ np.array([1.0, 2.0]) - 0.5 > 0).astype(int)
