"""Chapter 02: the activation explorer, f and f' side by side with saturation marked.

For each chosen activation :math:`f` the explorer draws :math:`f(x)` and :math:`f'(x)` over an
input range and shades where the activation *saturates*, :math:`|f'(x)| <` a threshold: there
almost no gradient flows back through the unit, and through many such units the gradient
vanishes. Values and derivatives come from :mod:`nnlearn.activations` (``f'`` from each
activation's own ``backward`` via ``derivative``), so the picture is the package itself.

Parameters on sliders: leaky relu's ``negative_slope``, elu's ``alpha`` and softmax's
``temperature``. Softmax maps a vector to probabilities, so it is drawn as the two-class case:
the probability of the first of the logits :math:`(x, 0)`,
:math:`p(x) = e^{x/T} / (e^{x/T} + e^{0})`, and its derivative :math:`dp/dx`.

:func:`activation_curves` and :func:`plot_activation_explorer` are pure functions;
:func:`make_activation_explorer` wraps them in controls (ipywidgets is imported only there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nnlearn import activations
from nnlearn.plotting import CLASS_COLORS, figure_to_png, shade_mask
from nnlearn.tensor import Tensor
from nnlearn.widgets.layout import (
    FRAME_DPI,
    frame_explorer,
    frame_figure,
    readout_table,
    selection_slider,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# name -> the keyword argument its slider sets
PARAMETERS = {"leaky_relu": "negative_slope", "elu": "alpha", "softmax": "temperature"}
DEFAULT_PARAMS = {"negative_slope": 0.1, "alpha": 1.0, "temperature": 1.0}
# The input range's positions on the explorer's main slider, one precomputed frame each.
X_MAX_VALUES = (1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0)
FRAME_SIZE = (5.0, 5.6)  # inches at FRAME_DPI: f above f', 400 x 448 px
FUNCTIONS = (*activations.NAMES, "softmax")  # the elementwise ones, and softmax


def _softmax_curve(x: np.ndarray, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    """p = softmax((x, 0) / T)[0] and dp/dx, by nnlearn's softmax and its backward."""
    logits = Tensor(np.column_stack([x, np.zeros_like(x)]), requires_grad=True)
    p = activations.softmax(logits, axis=-1, temperature=temperature)[:, 0]
    p.sum().backward()  # each row depends on its own x only, so this gives dp/dx per row
    return p.data, logits.grad[:, 0]


def activation_curves(
    name: str, x: np.ndarray, params: Mapping[str, float] | None = None, threshold: float = 0.05
) -> dict[str, np.ndarray]:
    """``f(x)``, ``f'(x)`` and the saturation mask ``|f'(x)| < threshold`` for one activation.

    Args:
        name: one of :data:`FUNCTIONS`.
        x: inputs (n,), float64.
        params: slider values (see :data:`PARAMETERS`); only the one ``name`` uses is read.
        threshold: the derivative size below which the unit counts as saturated.

    Returns:
        ``{"f": (n,), "df": (n,), "saturated": (n,) bool}``.
    """
    params = {**DEFAULT_PARAMS, **(params or {})}
    x = np.asarray(x, dtype=np.float64)
    keyword = PARAMETERS.get(name)
    if name == "softmax":
        f, df = _softmax_curve(x, params["temperature"])
        # saturation_mask's rule, which takes elementwise names only
        return {"f": f, "df": df, "saturated": np.abs(df) < threshold}
    options = {keyword: params[keyword]} if keyword else {}
    f = getattr(activations, name)(Tensor(x), **options).data
    df = activations.derivative(name, x, **options)
    return {
        "f": f,
        "df": df,
        "saturated": activations.saturation_mask(name, x, threshold, **options),
    }


def explorer_result(
    names: Sequence[str],
    x: np.ndarray,
    params: Mapping[str, float] | None = None,
    threshold: float = 0.05,
) -> dict[str, Any]:
    """The numbers the explorer shows, without drawing.

    Returns:
        ``{"functions", "params", "x_range", "threshold", "per_function"}`` where
        ``per_function[name]`` holds ``"parameter"`` ((keyword, value) or None), ``"df_range"``
        (min and max of f' over ``x``) and ``"saturated_fraction"`` (share of ``x`` where
        ``|f'| < threshold``), plus the curves ``"x"``, ``"f"``, ``"df"``, ``"saturated"``.
    """
    params = {**DEFAULT_PARAMS, **(params or {})}
    per_function = {}
    for name in names:
        curves = activation_curves(name, x, params, threshold)
        keyword = PARAMETERS.get(name)
        per_function[name] = {
            "parameter": (keyword, params[keyword]) if keyword else None,
            "df_range": (float(curves["df"].min()), float(curves["df"].max())),
            "saturated_fraction": float(curves["saturated"].mean()),
            "x": x,
            **curves,
        }
    return {
        "functions": tuple(names),
        "params": params,
        "x_range": (float(x[0]), float(x[-1])),
        "threshold": threshold,
        "per_function": per_function,
    }


def plot_activation_explorer(
    ax_f: Axes,
    ax_df: Axes,
    names: Sequence[str],
    x_max: float = 5.0,
    params: Mapping[str, float] | None = None,
    threshold: float = 0.05,
    points: int = 801,
) -> dict[str, Any]:
    """Draw f on ``ax_f`` and f' on ``ax_df`` over ``[-x_max, x_max]``, saturation shaded.

    Returns:
        :func:`explorer_result` for these controls.
    """
    x = np.linspace(-x_max, x_max, points)
    result = explorer_result(names, x, params, threshold)
    for i, (name, info) in enumerate(result["per_function"].items()):
        colour = CLASS_COLORS[i % len(CLASS_COLORS)]
        label = name if info["parameter"] is None else f"{name}, {_parameter_text(info)}"
        ax_f.plot(x, info["f"], color=colour, lw=2, label=label)
        ax_df.plot(x, info["df"], color=colour, lw=2, label=label)
        shade_mask(ax_df, x, info["saturated"], color=colour, alpha=0.12)
    ax_df.axhspan(-threshold, threshold, color="0.3", alpha=0.15)
    titles = ("f(x)", f"f'(x); shaded where |f'(x)| < {threshold:g} (saturating)")
    for ax, title in zip((ax_f, ax_df), titles, strict=True):
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.set_xlabel("x")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    ax_f.legend(fontsize="small")  # one legend: the colours are the same in both
    return result


def _parameter_text(info: dict[str, Any]) -> str:
    """``"negative_slope = 0.1"`` for a function with a parameter, else ``""``."""
    if info["parameter"] is None:
        return ""
    keyword, value = info["parameter"]
    return f"{keyword} = {value:.3g}"


def _readout_html(result: dict[str, Any]) -> str:
    rows = [
        (
            name,
            _parameter_text(info),
            f"[{info['df_range'][0]:.3g}, {info['df_range'][1]:.3g}]",
            f"{info['saturated_fraction']:.1%}",
        )
        for name, info in result["per_function"].items()
    ]
    low, high = result["x_range"]
    note = f"x in [{low:.3g}, {high:.3g}]; saturated: |f'(x)| &lt; {result['threshold']:g}"
    return readout_table(("function", "parameter", "f' range", "saturated"), rows, note)


def activation_frame(
    names: Sequence[str],
    x_max: float = 5.0,
    params: Mapping[str, float] | None = None,
    threshold: float = 0.05,
) -> tuple[bytes, str, dict[str, Any]]:
    """One frame of the explorer: the PNG of :func:`plot_activation_explorer` (f above f'),
    its readout and its result."""
    figure = frame_figure(FRAME_SIZE, left=0.13, bottom=0.08, top=0.95, hspace=0.35)
    ax_f, ax_df = figure.subplots(2, 1)
    result = plot_activation_explorer(ax_f, ax_df, names, x_max, params, threshold)
    return figure_to_png(figure, FRAME_DPI), _readout_html(result), result


def make_activation_explorer(
    names: Sequence[str] = ("relu", "leaky_relu", "sigmoid"), x_max: float = 5.0
):
    """Move the input range (alive in the book); with a kernel, pick activations, move their
    parameters and the saturation threshold; see f, f' and where they saturate.

    The range takes the values :data:`X_MAX_VALUES` (the nearest one to ``x_max``): the wider
    the inputs spread, the larger the share where sigmoid-like units saturate.

    Returns:
        The explorer (see :func:`nnlearn.widgets.layout.frame_explorer`) with attributes
        ``controls`` (dict: ``x_max`` a SelectionSlider, ``functions`` a SelectMultiple,
        ``negative_slope``, ``alpha``, ``temperature`` and ``threshold`` FloatSliders; set
        ``.value`` to drive it), ``readout`` (HTML table of the numbers) and ``image`` (PNG of
        the figure) of the frame on show, and ``result`` (its :func:`explorer_result`).
    """
    import ipywidgets as widgets

    def slider(name: str, value: float, low: float, high: float, step: float):
        return widgets.FloatSlider(
            value=value, min=low, max=high, step=step, description=name, continuous_update=False
        )

    controls = {
        "x_max": selection_slider("x range ±", X_MAX_VALUES, x_max),
        "functions": widgets.SelectMultiple(
            options=FUNCTIONS, value=tuple(names), rows=len(FUNCTIONS), description="functions"
        ),
        "negative_slope": slider("leaky_relu slope", DEFAULT_PARAMS["negative_slope"], 0, 1, 0.01),
        "alpha": slider("elu alpha", DEFAULT_PARAMS["alpha"], 0.1, 3.0, 0.1),
        "temperature": slider("softmax temperature", DEFAULT_PARAMS["temperature"], 0.1, 5, 0.1),
        "threshold": slider("saturation below", 0.05, 0.01, 0.25, 0.01),
    }

    def draw(value: float) -> tuple[bytes, str, dict[str, Any]]:
        return activation_frame(
            controls["functions"].value,
            x_max=value,
            params={name: controls[name].value for name in DEFAULT_PARAMS},
            threshold=controls["threshold"].value,
        )

    return frame_explorer(controls, "x_max", draw, width_px=int(FRAME_SIZE[0] * FRAME_DPI))
