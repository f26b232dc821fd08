"""Shared by the tests of the widgets and of the plotting helpers.

* :data:`TORCH_ACTIVATIONS`: torch's own function for each activation the explorers draw.
* :func:`separable_points`: 2-D points and labels that a line separates.
* :func:`check_frame_explorer`: the layout and frame rules every explorer built by
  ``nnlearn.widgets.layout.frame_explorer`` keeps.
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


def separable_points(n=120, seed=0):
    """Points labelled by the line x1 + 2 x2 - 0.5 = 0, which separates them."""
    x = np.random.default_rng(seed).uniform(-2, 2, (n, 2))
    return x, (x @ np.array([1.0, 2.0]) - 0.5 > 0).astype(int)


def check_frame_explorer(explorer, main, fresh_frame, other, new_value):
    """Check an explorer made by ``frame_explorer`` with main slider ``controls[main]``.

    ``fresh_frame(value)`` draws the frame for main-slider ``value`` from scratch (the pure
    function, with the other controls' current values); ``controls[other]`` is set to
    ``new_value`` to check that no frame is left stale afterwards.
    """
    controls, frames = explorer.controls, explorer.frames
    column, figure = explorer.children
    # the layout: class names the browser tests look for, the main slider first, every control
    # as wide as its column
    assert "nnlearn-explorer" in explorer._dom_classes
    assert "nnlearn-controls" in column._dom_classes
    assert figure is frames.stack
    assert {"nnlearn-figure", "nnlearn-frames"} <= set(figure._dom_classes)
    assert column.children[0] is controls[main] is frames.slider
    for name, control in controls.items():
        assert control in column.children, name
        assert control.layout.width == "100%", name
    note = column.children[-1].value
    assert controls[main].description in note and controls[other].description in note
    # the browser switches frames by itself: slider.index -> stack.selected_index
    assert frames.link.source == (controls[main], "index")
    assert frames.link.target == (frames.stack, "selected_index")
    assert len(frames.stack.children) == len(controls[main].options) == len(frames.images)

    controls[other].value = new_value
    for i, value in enumerate(frames.values):
        png, readout, _ = fresh_frame(value)
        assert frames.images[i].value == png, f"frame {i} ({value}) is stale"
        assert frames.readouts[i].value == readout, f"readout {i} ({value}) is stale"

    last = len(frames.values) - 1
    controls[main].value = frames.values[last]
    assert frames.stack.selected_index == last
    assert explorer.image is frames.images[last] and explorer.readout is frames.readouts[last]
    assert explorer.readout.value == fresh_frame(frames.values[last])[1]
