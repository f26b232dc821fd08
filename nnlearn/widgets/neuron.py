"""Chapter 01: one neuron, its decision boundary, and an explorer for its weights.

A neuron with inputs :math:`x \\in \\mathbb{R}^d`, weights :math:`w \\in \\mathbb{R}^d`, bias
:math:`b` and activation :math:`f` computes

.. math::

    z = w \\cdot x + b, \\qquad a = f(z).

It says "class 1" when :math:`a > f(0)`, which for every increasing activation (and for relu,
gelu and silu, which are positive exactly when their input is) is the same as :math:`z > 0`:
the decision boundary is the straight line :math:`w \\cdot x + b = 0` whatever the activation.
The activation changes how the output grows away from the line, not where the line is.

:func:`neuron` and :func:`plot_neuron` are pure functions; :func:`make_neuron_widget` wraps
them in sliders. ipywidgets is imported only by the wrapper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from nnlearn import activations
from nnlearn.plotting import figure_to_png, plot_decision_surface
from nnlearn.tensor import Tensor
from nnlearn.widgets.layout import FRAME_DPI, frame_explorer, frame_figure, selection_slider

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# The elementwise activations, for all of which the sign rule above holds (a test checks each).
NEURON_ACTIVATIONS = activations.NAMES
# The bias slider's positions: one precomputed frame each (nine keep the page light and a redraw
# under a second); the hidden line of chapter 01, b = -0.5, is one of them.
BIAS_VALUES = tuple(np.linspace(-2.0, 2.0, 9))
FRAME_SIZE = (5.0, 4.0)  # inches at FRAME_DPI: 400 x 320 px


def _tensor(value: Any, dtype: Any) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value, dtype=dtype))


def neuron(x: Any, w: Any, b: Any, activation: str = "sigmoid") -> Tensor:
    """One neuron on a batch: ``a = f(x @ w + b)``.

    Args:
        x: inputs (n, d) (Tensor or array).
        w: weights (d,); b: bias, a number or shape (). Arrays and numbers are converted to
            Tensors of ``x``'s dtype; pass Tensors with ``requires_grad=True`` to get gradients.
        activation: a name from :data:`NEURON_ACTIVATIONS` (see ``nl.activations.get``).

    Returns:
        The activations ``a``, shape (n,).
    """
    x = _tensor(x, None)
    return activations.get(activation)(x @ _tensor(w, x.dtype) + _tensor(b, x.dtype))


def neuron_result(
    x: np.ndarray, y: np.ndarray, w1: float, w2: float, b: float, activation: str = "sigmoid"
) -> dict[str, Any]:
    """How a 2-input neuron with these weights classifies ``x`` (n, 2) with labels ``y`` (n,).

    Returns:
        ``{"accuracy", "misclassified", "w", "b", "activation", "threshold", "output_range"}``:
        the fraction classified right by the rule ``a > f(0)``, how many are wrong, the
        controls, the threshold ``f(0)`` and the smallest and largest output on the data.
    """
    x = np.asarray(x, dtype=np.float64)
    output = neuron(x, [w1, w2], b, activation).data
    threshold = float(activations.get(activation)(Tensor(np.zeros(1))).data[0])
    correct = (output > threshold).astype(int) == np.asarray(y)
    return {
        "accuracy": float(correct.mean()),
        "misclassified": int((~correct).sum()),
        "w": (float(w1), float(w2)),
        "b": float(b),
        "activation": activation,
        "threshold": threshold,
        "output_range": (float(output.min()), float(output.max())),
    }


def plot_neuron(
    ax: Axes,
    x: np.ndarray,
    y: np.ndarray,
    w1: float,
    w2: float,
    b: float,
    activation: str = "sigmoid",
) -> dict[str, Any]:
    """Draw the neuron's output over the plane, its boundary line and weight vector, and the data.

    The weight vector ``w`` is drawn from the point of the boundary nearest the origin,
    ``-b w / |w|^2``: it is perpendicular to the boundary and points to the class-1 side.

    Returns:
        :func:`neuron_result` for these controls.
    """
    result = neuron_result(x, y, w1, w2, b, activation)
    plot_decision_surface(
        ax,
        lambda points: neuron(points, [w1, w2], b, activation).data,
        np.asarray(x, dtype=np.float64),
        y,
        boundary=None,  # drawn below from z = 0: flat outputs (relu's zeros) hide the level
        center=result["threshold"],
        colorbar_label=f"output a = {activation}(z)",
    )
    w = np.array([w1, w2])
    norm2 = float(w @ w)
    if norm2 > 0:
        foot = -b * w / norm2
        along = np.array([-w2, w1])  # perpendicular to w: the direction of the line
        ax.axline(foot, foot + along, color="black", lw=2, label="boundary z = 0")
        ax.annotate(
            "",
            xy=foot + w / np.sqrt(norm2),
            xytext=foot,
            arrowprops={"arrowstyle": "->", "color": "black", "lw": 2},
        )
    # Plain text, not mathtext: parsing TeX costs a tenth of each of the explorer's frames.
    ax.set_title(
        f"{activation}({w1:.2g}·x₁ {w2:+.2g}·x₂ {b:+.2g}): accuracy {result['accuracy']:.0%}"
    )
    return result


def _readout_html(result: dict[str, Any]) -> str:
    low, high = result["output_range"]
    return (
        f"<b>accuracy {result['accuracy']:.1%}</b> ({result['misclassified']} misclassified)<br>"
        f"boundary: {result['w'][0]:.2f}&middot;x<sub>1</sub> {result['w'][1]:+.2f}&middot;"
        f"x<sub>2</sub> {result['b']:+.2f} = 0<br>"
        f"{result['activation']} output on the data: [{low:.3g}, {high:.3g}], "
        f"class 1 when above {result['threshold']:.3g}"
    )


def neuron_frame(
    x: np.ndarray,
    y: np.ndarray,
    w1: float,
    w2: float,
    b: float,
    activation: str = "sigmoid",
) -> tuple[bytes, str, dict[str, Any]]:
    """One frame of the explorer: the PNG of :func:`plot_neuron`, its readout and its result."""
    figure = frame_figure(FRAME_SIZE)
    result = plot_neuron(figure.subplots(), x, y, w1, w2, b, activation)
    return figure_to_png(figure, FRAME_DPI), _readout_html(result), result


def make_neuron_widget(
    x: np.ndarray,
    y: np.ndarray,
    w1: float = 1.0,
    w2: float = 1.0,
    b: float = 0.0,
    activation: str = "sigmoid",
):
    """A slider for the bias ``b`` (alive in the book), sliders for ``w1``, ``w2`` and a menu of
    activations (with a kernel) over the data ``(x, y)``.

    ``b`` takes the values :data:`BIAS_VALUES` (the nearest one to the ``b`` given): moving it
    slides the boundary line along ``w``, and each position's figure is drawn in advance.

    Returns:
        The explorer (see :func:`nnlearn.widgets.layout.frame_explorer`) with attributes
        ``controls`` (dict name -> widget; set ``.value`` to drive it), ``readout`` (HTML) and
        ``image`` (PNG of :func:`plot_neuron`) of the frame on show, and ``result`` (its
        :func:`neuron_result`).
    """
    import ipywidgets as widgets

    def slider(name: str, value: float) -> widgets.FloatSlider:
        return widgets.FloatSlider(
            value=value, min=-5.0, max=5.0, step=0.1, description=name, continuous_update=False
        )

    controls = {
        "b": selection_slider("b", BIAS_VALUES, b),
        "w1": slider("w1", w1),
        "w2": slider("w2", w2),
        "activation": widgets.Dropdown(
            options=NEURON_ACTIVATIONS, value=activation, description="activation"
        ),
    }

    def draw(bias: float) -> tuple[bytes, str, dict[str, Any]]:
        values = {name: control.value for name, control in controls.items() if name != "b"}
        return neuron_frame(x, y, b=bias, **values)

    return frame_explorer(controls, "b", draw, width_px=int(FRAME_SIZE[0] * FRAME_DPI))
