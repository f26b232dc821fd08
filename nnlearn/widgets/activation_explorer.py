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
from nnlearn.plotting import CLASS_COLORS, figure_to_png, new_figure, shade_mask
from nnlearn.tensor import Tensor

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# name -> the keyword argument its slider sets
PARAMETERS = {"leaky_relu": "negative_slope", "elu": "alpha", "softmax": "temperature"}
DEFAULT_PARAMS = {"negative_slope": 0.1, "alpha": 1.0, "temperature": 1.0}
FUNCTIONS = (
    "relu",
    "leaky_relu",
    "elu",
    "sigmoid",
    "tanh",
    "softplus",
    "gelu",
    "silu",
    "softmax",
    "linear",
)


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
    ax_df.axhspan(-threshold, threshold, color="0.3", alpha=0.15, label=f"|f'| < {threshold:g}")
    for ax, title in ((ax_f, "f(x)"), (ax_df, "f'(x)  (shaded: saturating inputs)")):
        ax.axhline(0, color="0.6", lw=0.8)
        ax.axvline(0, color="0.6", lw=0.8)
        ax.set_xlabel("x")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    ax_f.legend(fontsize="small")
    ax_df.legend(fontsize="small")
    return result


def _parameter_text(info: dict[str, Any]) -> str:
    """``"negative_slope = 0.1"`` for a function with a parameter, else ``""``."""
    if info["parameter"] is None:
        return ""
    keyword, value = info["parameter"]
    return f"{keyword} = {value:.3g}"


def _readout_html(result: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{name}</td><td>{_parameter_text(info)}</td>"
        f"<td>[{info['df_range'][0]:.4g}, {info['df_range'][1]:.4g}]</td>"
        f"<td>{info['saturated_fraction']:.1%}</td></tr>"
        for name, info in result["per_function"].items()
    )
    low, high = result["x_range"]
    return (
        "<table style='border-collapse: separate; border-spacing: 14px 2px'>"
        "<tr><th>function</th><th>parameter</th><th>f' range</th><th>saturated</th></tr>"
        f"{rows}</table>"
        f"<small>x in [{low:.3g}, {high:.3g}]; saturated: |f'(x)| &lt; {result['threshold']:g}"
        f"</small>"
    )


def make_activation_explorer(
    names: Sequence[str] = ("relu", "leaky_relu", "sigmoid"), x_max: float = 5.0
):
    """Pick activations, move their parameters, see f, f' and where they saturate.

    Returns:
        An ``ipywidgets.VBox`` with attributes ``controls`` (dict: ``functions`` a
        SelectMultiple, ``negative_slope``, ``alpha``, ``temperature``, ``x_max`` and
        ``threshold`` FloatSliders; set ``.value`` to drive it), ``readout`` (HTML table of
        the numbers), ``image`` (PNG of the figure) and ``result`` (the latest
        :func:`explorer_result`).
    """
    import ipywidgets as widgets

    def slider(name: str, value: float, low: float, high: float, step: float):
        return widgets.FloatSlider(
            value=value,
            min=low,
            max=high,
            step=step,
            description=name,
            continuous_update=False,
            style={"description_width": "initial"},
        )

    controls = {
        "functions": widgets.SelectMultiple(
            options=FUNCTIONS, value=tuple(names), rows=len(FUNCTIONS), description="functions"
        ),
        "negative_slope": slider("leaky_relu slope", DEFAULT_PARAMS["negative_slope"], 0, 1, 0.01),
        "alpha": slider("elu alpha", DEFAULT_PARAMS["alpha"], 0.1, 3.0, 0.1),
        "temperature": slider("softmax temperature", DEFAULT_PARAMS["temperature"], 0.1, 5, 0.1),
        "x_max": slider("x range ±", x_max, 1.0, 20.0, 0.5),
        "threshold": slider("saturation below", 0.05, 0.01, 0.25, 0.01),
    }
    readout = widgets.HTML()
    image = widgets.Image(format="png")
    box = widgets.VBox(
        [
            widgets.HBox([widgets.VBox(list(controls.values())[1:]), controls["functions"]]),
            readout,
            image,
        ]
    )

    def update(_change: Any = None) -> None:
        figure, (ax_f, ax_df) = new_figure(1, 2, size=(10.0, 3.8))
        values = {k: c.value for k, c in controls.items()}
        box.result = plot_activation_explorer(
            ax_f,
            ax_df,
            values["functions"],
            x_max=values["x_max"],
            params={k: values[k] for k in DEFAULT_PARAMS},
            threshold=values["threshold"],
        )
        image.value = figure_to_png(figure)
        readout.value = _readout_html(box.result)

    for control in controls.values():
        control.observe(update, names="value")
    box.controls, box.readout, box.image = controls, readout, image
    update()
    return box
