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

ipywidgets is imported inside the functions: ``import nnlearn.widgets.layout`` imports nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# The controls' column: never narrower than a slider with its readout, never so wide that the
# figure has to go below it on a normal screen.
CONTROLS_MIN_WIDTH = "260px"
CONTROLS_MAX_WIDTH = "380px"
# The figure goes below the controls when less than this is left beside them.
FIGURE_MIN_WIDTH = "320px"


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
        ),
    )


def kernel_note(live: str, others: Sequence[str]) -> Any:
    """A note under the controls: ``live`` responds in the book, ``others`` need a kernel."""
    import ipywidgets as widgets

    listed = ", ".join(f"<i>{name}</i>" for name in others)
    return widgets.HTML(
        f"<small>In the book only <i>{live}</i> responds; {listed} "
        "redraw when the notebook runs in JupyterLab (a kernel).</small>",
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
    # Class names the browser tests look for (tests/test_browser.py).
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
