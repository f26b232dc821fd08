"""How every explorer is laid out, and how its main slider keeps working in the static book.

**Responsive layout.** :func:`explorer_box` puts the controls beside the figure when there is
room and above it when there is not (a wrapping flex row): in JupyterLab at 1280 px with the file
browser open, in the book's content column, and on a phone. Controls stretch to their column's
width (so slider readouts and dropdown texts stay visible), and the figure scales down to the
width it gets, never above the size it was drawn at.

**Alive in the book.** The book is a static page: no Python runs when a reader drags a slider.
:class:`FrameStack` therefore draws one frame (figure and readout) for *every* position of the
explorer's main slider ahead of time and puts them in an ``ipywidgets.Stack``; the slider's
``index`` is linked to the stack's ``selected_index`` in the browser (``jslink``), so moving it
shows another frame without a kernel. The main slider is a ``SelectionSlider`` because only an
integer index can select a frame. The other controls need a running notebook: the explorer says
so under them (:func:`kernel_note`), and when one of them changes in a kernel every frame is
redrawn (the current one first), so the frames a saved notebook or the book carries always agree
with the controls shown.

:func:`frame_explorer` puts these together: an explorer is its controls (the main slider first),
a ``draw(value)`` for one frame, and nothing else. Frames are drawn by :func:`frame_figure` at
:data:`FRAME_DPI`, a few hundred px wide and a few tens of KB each, so a chapter's page carries
its frames lightly and a redraw of them all stays near a second.

ipywidgets is imported inside the functions: ``import nnlearn.widgets.layout`` imports nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

# The controls' column: never narrower than a slider with its readout, never so wide that the
# figure has to go below it on a normal screen.
CONTROLS_MIN_WIDTH = "260px"
CONTROLS_MAX_WIDTH = "380px"
# The figure goes below the controls when less than this is left beside them.
FIGURE_MIN_WIDTH = "320px"

# Frames are drawn at this resolution (pixels per inch of the figure's size): a 5-inch figure
# is 400 px wide, which fits beside the controls in the book's content column.
FRAME_DPI = 80
# Figure margins (fractions of the figure) that leave room for tick labels, axis labels and a
# title; an explorer passes its own where it needs more.
FRAME_MARGINS = {"left": 0.12, "right": 0.97, "bottom": 0.12, "top": 0.9}


def frame_figure(size: tuple[float, float], **margins: float) -> Any:
    """A matplotlib ``Figure`` of ``size`` inches with fixed ``margins`` (see FRAME_MARGINS).

    Not ``new_figure``'s constrained layout: it costs as much as the drawing itself, and a frame
    is drawn for every position of the main slider each time another control changes.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=FRAME_DPI)  # saved at the dpi it is laid out at: no rescaling
    figure.subplots_adjust(**{**FRAME_MARGINS, **margins})
    return figure


def fill_width(control: Any) -> Any:
    """Make ``control`` as wide as its column, with its description on one line above nothing.

    A slider or dropdown keeps its default 300 px otherwise and is cut at the column's edge.
    """
    control.layout.width = "100%"
    control.layout.min_width = "0"
    control.style.description_width = "initial"
    return control


def figure_image(width_px: int | None = None) -> Any:
    """An empty PNG ``ipywidgets.Image`` that scales down to the width it is given.

    Args:
        width_px: the width the figure is drawn at; it is never shown wider (no blur).
    """
    import ipywidgets as widgets

    return widgets.Image(
        format="png",
        layout=widgets.Layout(
            width="100%",
            height="auto",
            max_width=f"{width_px}px" if width_px else "100%",
            object_fit="contain",
            margin="0",  # ipywidgets' default 2 px margin would overflow a 100 % width
        ),
    )


def selection_slider(description: str, options: Sequence[float], value: float) -> Any:
    """A full-width ``SelectionSlider`` over ``options`` (numbers), at the option nearest ``value``.

    It is an explorer's main control (see :class:`FrameStack`): it moves while dragged
    (``continuous_update``), since a move only switches to a frame drawn in advance.
    """
    import ipywidgets as widgets

    values = [float(option) for option in options]
    nearest = min(values, key=lambda option: abs(option - value))
    return fill_width(
        widgets.SelectionSlider(
            options=[(f"{option:g}", option) for option in values],
            value=nearest,
            description=description,
            continuous_update=True,
        )
    )


def readout_table(header: Sequence[str], rows: Sequence[Sequence[str]], note: str = "") -> str:
    """A readout's HTML table: compact, left-aligned cells with room between the columns, and
    a ``note`` under it in the same small size.

    Styled inline, as the book's theme would centre a table and pad it for a page of text.
    """
    cell = "style='padding: 1px 8px 1px 0; text-align: left'"

    def row(cells: Sequence[str], tag: str) -> str:
        return "<tr>" + "".join(f"<{tag} {cell}>{text}</{tag}>" for text in cells) + "</tr>"

    return (
        "<table style='border-collapse: collapse; margin: 0; font-size: 90%; line-height: 1.3'>"
        + row(header, "th")
        + "".join(row(cells, "td") for cells in rows)
        + "</table>"
        + f"<div style='font-size: 85%; line-height: 1.3'>{note}</div>"
    )


def kernel_note(live: str, others: Sequence[str]) -> Any:
    """A note under the controls: ``live`` responds in the book, ``others`` need a kernel."""
    import ipywidgets as widgets

    listed = ", ".join(f"<i>{name}</i>" for name in others)
    return widgets.HTML(
        f"<div style='font-size: 85%; line-height: 1.35'>In the book only <i>{live}</i> "
        f"responds; {listed} redraw when the notebook runs in JupyterLab (a kernel).</div>",
        layout=widgets.Layout(width="100%"),
    )


def explorer_box(controls: Sequence[Any], figure: Any) -> Any:
    """Controls (and readouts) in a column beside ``figure``, or above it when narrow.

    Args:
        controls: widgets stacked top to bottom in the left column; each is stretched to it.
        figure: the figure widget (an :func:`figure_image` or a :class:`FrameStack`'s stack).

    Returns:
        An ``ipywidgets.Box`` whose children wrap: ``[column, figure]``.
    """
    import ipywidgets as widgets

    for control in controls:
        control.layout.max_width = "100%"
    column = widgets.VBox(
        list(controls),
        layout=widgets.Layout(
            flex=f"1 1 {CONTROLS_MIN_WIDTH}",
            min_width=CONTROLS_MIN_WIDTH,
            max_width=CONTROLS_MAX_WIDTH,
            overflow="visible",
        ),
    )
    figure.layout.flex = f"1000 1 {FIGURE_MIN_WIDTH}"  # takes all the room the column leaves
    figure.layout.min_width = "0"
    # Class names the browser tests look for (tests/explorer_check.js, test_browser_*.py).
    column.add_class("nnlearn-controls")
    figure.add_class("nnlearn-figure")
    box = widgets.Box(
        [column, figure],
        layout=widgets.Layout(
            display="flex",
            flex_flow="row wrap",
            align_items="flex-start",
            width="100%",
            grid_gap="8px",
        ),
    )
    box.add_class("nnlearn-explorer")
    return box


class FrameStack:
    """One precomputed frame (a figure and a readout) per position of a ``SelectionSlider``.

    Args:
        slider: the explorer's main control; its options are the positions.
        draw: ``draw(value) -> (png_bytes, readout_html)`` for one slider value (the other
            controls' values are read by ``draw`` itself).
        width_px: the width the figures are drawn at (see :func:`figure_image`).

    Attributes:
        stack: the ``ipywidgets.Stack`` of frames, each a VBox of an Image and an HTML readout,
            its ``selected_index`` linked to ``slider.index`` in the browser.
        images, readouts: the frames' widgets, in the slider's order.
    """

    def __init__(
        self,
        slider: Any,
        draw: Callable[[Any], tuple[bytes, str]],
        width_px: int | None = None,
    ) -> None:
        import ipywidgets as widgets

        self.slider, self.draw = slider, draw
        values = [option[1] if isinstance(option, tuple) else option for option in slider.options]
        self.values = values
        self.images = [figure_image(width_px) for _ in values]
        self.readouts = [widgets.HTML() for _ in values]
        frames = [
            widgets.VBox([readout, image], layout=widgets.Layout(width="100%"))
            for readout, image in zip(self.readouts, self.images, strict=True)
        ]
        self.stack = widgets.Stack(frames, selected_index=slider.index)
        self.stack.add_class("nnlearn-frames")
        # Client-side: the book has no kernel, so the browser itself switches the frame.
        self.link = widgets.jslink((slider, "index"), (self.stack, "selected_index"))
        # Server-side too, so that Python's view of the stack follows a slider set from code.
        slider.observe(self._select, names="index")
        self.redraw()

    def _select(self, change: dict[str, Any]) -> None:
        self.stack.selected_index = change["new"]

    def redraw(self, _change: Any = None) -> None:
        """Draw every frame again (after another control changed), the one on show first."""
        shown = self.slider.index
        for i in [shown, *(j for j in range(len(self.values)) if j != shown)]:
            self.images[i].value, self.readouts[i].value = self.draw(self.values[i])


def frame_explorer(
    controls: Mapping[str, Any],
    main: str,
    draw: Callable[[Any], tuple[bytes, str, Any]],
    width_px: int | None = None,
) -> Any:
    """An explorer whose ``controls[main]`` (a ``SelectionSlider``) responds in the static book.

    Args:
        controls: name -> widget, shown in this order (put the main slider first: it is the
            one a reader of the book can move); each is stretched to the column.
        main: the name of the slider whose every position gets a precomputed frame.
        draw: ``draw(value) -> (png_bytes, readout_html, result)`` for the main slider's
            ``value`` and the other controls' current values (read by ``draw`` itself).
        width_px: the width the figures are drawn at.

    Returns:
        The :func:`explorer_box`, with attributes ``controls``, ``frames`` (the
        :class:`FrameStack`), and ``image``, ``readout`` and ``result`` of the frame on show
        (updated whenever the main slider moves or the frames are redrawn).
    """
    results: dict[Any, Any] = {}

    def draw_frame(value: Any) -> tuple[bytes, str]:
        png, readout, results[value] = draw(value)
        return png, readout

    for control in controls.values():
        fill_width(control)
    slider = controls[main]
    frames = FrameStack(slider, draw_frame, width_px)
    others = [control.description for name, control in controls.items() if name != main]
    notes = [kernel_note(slider.description, others)] if others else []
    box = explorer_box([*controls.values(), *notes], frames.stack)

    def show(_change: Any = None) -> None:
        i = slider.index
        box.image, box.readout = frames.images[i], frames.readouts[i]
        box.result = results[frames.values[i]]

    def redraw(_change: Any = None) -> None:
        frames.redraw()
        show()

    slider.observe(show, names="index")
    for name, control in controls.items():
        if name != main:
            control.observe(redraw, names="value")
    box.controls, box.frames = dict(controls), frames
    show()
    return box
