"""Chapter 05: draw_graph draws one box per Value, one arrow per use, values and gradients."""

import xml.etree.ElementTree as ET

import pytest

from nnlearn.graph_view import draw_graph
from nnlearn.scalar import Value

pytestmark = pytest.mark.chapter05

SVG = "{http://www.w3.org/2000/svg}"


def _neuron():
    """o = tanh(w1 x1 + w2 x2 + b), after backward: 10 Values, 5 operations, 9 edges."""
    x1, x2, w1, w2, b = (
        Value(v, label=name)
        for v, name in [(2.0, "x1"), (-1.0, "x2"), (-0.5, "w1"), (0.75, "w2"), (0.6, "b")]
    )
    o = (w1 * x1 + w2 * x2 + b).tanh()
    o.label = "o"
    o.backward()
    return o


def _parse(drawing):
    root = ET.fromstring(drawing.svg)  # raises if the SVG is not well-formed XML
    assert root.tag == f"{SVG}svg"
    return root


def _groups(root, kind):
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == kind]


def test_one_box_per_value_one_circle_per_operation_one_arrow_per_use():
    o = _neuron()
    order = o.topological_order()
    drawing = draw_graph(o)
    root = _parse(drawing)
    edges = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    assert len(_groups(root, "value")) == len(order) == drawing.nodes == 10
    assert len(_groups(root, "op")) == drawing.operations == 5
    assert len(edges) == drawing.edges == sum(len(node.children) for node in order) == 9


def test_every_box_shows_its_label_value_and_gradient():
    o = _neuron()
    boxes = [
        [t.text or "" for t in g.iter(f"{SVG}text")]
        for g in _groups(_parse(draw_graph(o)), "value")
    ]
    shown = sorted(boxes)
    expected = sorted(
        [node.label, f"data {node.data:.4g}", f"grad {node.grad:.4g}"]
        for node in o.topological_order()
    )
    assert shown == expected
    assert ["o", f"data {o.data:.4g}", "grad 1"] in shown


def test_a_value_used_twice_has_two_arrows_into_one_operation():
    a = Value(3.0, label="a")
    y = a + a
    y.backward()
    root = _parse(draw_graph(y))
    edges = [p for p in root.iter(f"{SVG}path") if p.get("class") == "edge"]
    assert len(_groups(root, "value")) == 2 and len(_groups(root, "op")) == 1
    assert len(edges) == 2
    assert edges[0].get("d") != edges[1].get("d"), "the two arrows should not overlap"
    assert ["a", "data 3", "grad 2"] in [
        [t.text or "" for t in g.iter(f"{SVG}text")] for g in _groups(root, "value")
    ]


def test_layout_runs_left_to_right():
    o = _neuron()
    root = _parse(draw_graph(o))
    left = {}
    for node, group in zip(o.topological_order(), _groups(root, "value"), strict=True):
        left[id(node)] = float(group.find(f"{SVG}rect").get("x"))
    for node in o.topological_order():
        for child in node.children:
            assert left[id(child)] < left[id(node)], f"{child} should be left of {node}"


def test_labels_are_escaped_and_a_single_value_draws():
    v = Value(1.5, label='<a & "b">')
    root = _parse(draw_graph(v))
    assert [t.text for t in root.iter(f"{SVG}text")][0] == '<a & "b">'
    assert len(_groups(root, "value")) == 1 and not _groups(root, "op")


def test_displays_as_svg_in_a_notebook():
    drawing = draw_graph(_neuron())
    assert drawing._repr_svg_() == drawing.svg
    assert "10 nodes" in repr(drawing)


def test_a_wide_graph_is_shown_scaled_down_to_fit_a_laptop_screen():
    """A long chain would be drawn far wider than JupyterLab's output area (~850 px at 1280 px
    with the file browser open): it is shown at most 800 px wide, scaled, not cut off."""
    x = Value(0.5, label="x")
    y = x
    for _ in range(12):
        y = y.tanh()
    root = _parse(draw_graph(y))
    drawn_width, drawn_height = (float(v) for v in root.get("viewBox").split()[2:])
    shown_width, shown_height = float(root.get("width")), float(root.get("height"))
    assert drawn_width > 800 and shown_width == pytest.approx(800)
    assert shown_height / shown_width == pytest.approx(drawn_height / drawn_width, rel=1e-4)
