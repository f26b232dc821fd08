"""Drawing the graph of a scalar expression with every node's value and gradient (chapter 05).

``draw_graph(output)`` draws every node leading to ``output`` as a box showing its label, its
``data`` and its ``grad``, and each operation as a small circle in front of the box it made.
An arrow runs from an input to the operation that used it, once per use, so ``a + a`` shows
two arrows into one ``+``. The layout reads left to right by *depth*: every result one
column to the right of its deepest input, every input just left of its first user, so the
arrows always point right, the way the forward pass runs (``backward()`` walks them right to
left).

The picture is plain SVG written by Python: it renders in JupyterLab and in the static book,
offline, with no Graphviz and no dependency. It works on anything shaped like
:class:`nnlearn.scalar.Value`: ``data``, ``grad``, ``children``, ``op`` and, optionally,
``label``.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any

from nnlearn.scalar import topological_order

BOX_WIDTH, BOX_HEIGHT = 104, 50  # a node's box
OP_RADIUS = 13  # an operation's circle (left of the box it made), wider for a long name
COLUMN_WIDTH = BOX_WIDTH + 100  # room for the circle and the arrows
ROW_HEIGHT = BOX_HEIGHT + 18
MARGIN = 10
MAX_SHOWN_WIDTH = 800  # pixels: JupyterLab at 1280 px with the file browser open has ~850
LEAF_FILL, NODE_FILL, OP_FILL = "#dbe9f6", "#ffffff", "#eeeeee"


@dataclass(frozen=True)
class GraphDrawing:
    """The SVG of a graph; a notebook displays it (``_repr_svg_``)."""

    svg: str
    nodes: int
    operations: int
    edges: int

    def _repr_svg_(self) -> str:
        return self.svg

    def __repr__(self) -> str:
        return (
            f"<graph: {self.nodes} nodes, {self.operations} operations, {self.edges} edges "
            f"(a notebook shows it as SVG; the picture is in .svg)>"
        )


def layout(order: list[Any]) -> dict[int, tuple[float, float]]:
    """The top-left corner of each node's box, by ``id``.

    Column: an operation's result sits one column right of its deepest input (the longest
    path from an input); an input sits just left of its first user, so its arrows stay
    short. Within a column, nodes are sorted by the mean height of their inputs (which keeps
    most arrows uncrossed), and each column is centred vertically.
    """
    depth: dict[int, int] = {}
    for node in order:  # children come first, so their depths are known
        depth[id(node)] = 1 + max((depth[id(c)] for c in node.children), default=-1)
    # An input moves right, to just left of its earliest user, so its arrows stay short.
    user_depths: dict[int, list[int]] = {}
    for node in order:
        for child in node.children:
            if not child.children:
                user_depths.setdefault(id(child), []).append(depth[id(node)])
    for key, depths in user_depths.items():
        depth[key] = min(depths) - 1
    columns: list[list[Any]] = [[] for _ in range(max(depth.values()) + 1)]
    for node in order:
        columns[depth[id(node)]].append(node)
    tallest = max(len(column) for column in columns)
    corner: dict[int, tuple[float, float]] = {}
    for d, column in enumerate(columns):
        column.sort(key=lambda n: _mean_height(n.children, corner))
        top = MARGIN + (tallest - len(column)) * ROW_HEIGHT / 2
        left = MARGIN + d * COLUMN_WIDTH  # column 0 holds inputs only: no circle
        for row, node in enumerate(column):
            corner[id(node)] = (left, top + row * ROW_HEIGHT)
    return corner


def _mean_height(children: tuple[Any, ...], corner: dict[int, tuple[float, float]]) -> float:
    """Where a node's inputs sit, on average (an input has none: it goes last)."""
    if not children:
        return float("inf")
    return sum(corner[id(child)][1] for child in children) / len(children)


def _number(x: float) -> str:
    return f"{x:.4g}"


def _op_circle(node: Any, x: float, y: float) -> tuple[float, float, float]:
    """Centre and radius of the circle of the operation that made the node boxed at (x, y)."""
    radius = max(OP_RADIUS, 3 * len(node.op) + 5)
    return x - 10 - radius, y + BOX_HEIGHT / 2, radius


def _node_svg(node: Any, x: float, y: float) -> list[str]:
    """The box of one node, and the circle of the operation that made it (if any)."""
    lines = [getattr(node, "label", ""), f"data {_number(node.data)}", f"grad {_number(node.grad)}"]
    fill = NODE_FILL if node.children else LEAF_FILL
    parts = [
        '<g class="value">',
        f'<rect x="{x}" y="{y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="5" '
        f'fill="{fill}" stroke="#333"/>',
    ]
    for i, text in enumerate(lines):
        weight = ' font-weight="bold"' if i == 0 else ""
        parts.append(f'<text x="{x + 8}" y="{y + 14 + 15 * i}"{weight}>{escape(text)}</text>')
    parts.append("</g>")
    if node.children:
        cx, cy, r = _op_circle(node, x, y)
        parts += [
            '<g class="op">',
            f'<line x1="{cx + r}" y1="{cy}" x2="{x}" y2="{cy}" stroke="#333"/>',
            f'<circle cx="{cx}" cy="{cy}" r="{r}" fill="{OP_FILL}" stroke="#333"/>',
            f'<text x="{cx}" y="{cy + 3.5}" text-anchor="middle" font-size="10">'
            f"{escape(node.op)}</text>",
            "</g>",
        ]
    return parts


def _edges_svg(node: Any, corner: dict[int, tuple[float, float]]) -> list[str]:
    """One arrow per use of each child, into the operation's circle (ends spread apart so a
    child used twice shows two arrows)."""
    cx, cy, r = _op_circle(node, *corner[id(node)])
    n = len(node.children)
    parts = []
    for i, child in enumerate(node.children):
        x1, y1 = corner[id(child)][0] + BOX_WIDTH, corner[id(child)][1] + BOX_HEIGHT / 2
        x2, y2 = cx - r, cy + (i - (n - 1) / 2) * 8
        bend = (x2 - x1) / 2
        parts.append(
            f'<path class="edge" d="M {x1} {y1} C {x1 + bend} {y1}, {x2 - bend} {y2}, {x2} {y2}" '
            'fill="none" stroke="#777" marker-end="url(#arrow)"/>'
        )
    return parts


def draw_graph(output: Any) -> GraphDrawing:
    """Draw the graph that leads to ``output`` (a Value), left to right, with each node's
    label, data and grad. Call it after ``output.backward()`` to see the gradients."""
    order = topological_order(output)
    corner = layout(order)
    width = max(x for x, _ in corner.values()) + BOX_WIDTH + MARGIN
    height = max(y for _, y in corner.values()) + BOX_HEIGHT + MARGIN
    shown = min(1.0, MAX_SHOWN_WIDTH / width)
    parts = [
        # Shown at most MAX_SHOWN_WIDTH wide (the viewBox scales the drawing), so a wide graph
        # fits JupyterLab's output area on a laptop screen instead of being cut off on the right.
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * shown:g}" '
        f'height="{height * shown:g}" viewBox="0 0 {width:g} {height:g}" '
        'font-family="monospace" font-size="11">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M 0 0 L 10 5 L 0 10 z" fill="#777"/>'
        "</marker></defs>",
    ]
    for node in order:
        parts += _edges_svg(node, corner)
    for node in order:
        parts += _node_svg(node, *corner[id(node)])
    parts.append("</svg>")
    return GraphDrawing(
        svg="\n".join(parts),
        nodes=len(order),
        operations=sum(1 for node in order if node.children),
        edges=sum(len(node.children) for node in order),
    )
