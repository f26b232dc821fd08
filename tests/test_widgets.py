"""The widgets package (nnlearn.widgets): it lists its explorers, and importing them loads
neither ipywidgets nor matplotlib until a widget or a figure is made. Each explorer has its own
test file, test_widgets_<name>.py."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.harness


def test_widgets_package_lists_the_explorers_and_imports_no_ipywidgets():
    code = (
        "import sys, nnlearn.widgets as w; "
        "print('ipywidgets' in sys.modules, 'matplotlib' in sys.modules); print(w.__doc__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, doc = out.stdout.split("\n", 1)
    assert first == "False False"
    for module in ("neuron", "activation_explorer", "optimizer_paths", "playground"):
        assert f"nnlearn.widgets.{module}" in doc


def test_importing_the_explorers_loads_no_ipywidgets_or_matplotlib():
    code = (
        "import sys\n"
        "from nnlearn.widgets import optimizer_paths, playground\n"
        "optimizer_paths.optimizer_paths(steps=3)\n"
        "print(sorted(m for m in ('ipywidgets', 'matplotlib') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_frame_explorer_redraws_every_frame_when_another_control_changes():
    import ipywidgets as widgets

    from nnlearn.widgets.layout import frame_explorer, selection_slider

    drawn = []

    def draw(value):  # a frame is its numbers: the slider's value times the factor
        drawn.append(value)
        product = value * controls["factor"].value
        return str(product).encode(), f"<b>{product}</b>", {"product": product}

    controls = {
        "x": selection_slider("x", (1.0, 2.0, 5.0), 2.4),
        "factor": widgets.IntSlider(value=10, description="factor"),
    }
    explorer = frame_explorer(controls, "x", draw, width_px=300)
    assert controls["x"].value == 2.0 and explorer.result == {"product": 20.0}
    assert drawn == [2.0, 1.0, 5.0]  # the frame on show first
    assert controls["x"].continuous_update  # a move only switches frames: follow the drag
    assert explorer.frames.images[0].layout.max_width == "300px"

    drawn.clear()
    controls["factor"].value = 3
    assert drawn == [2.0, 1.0, 5.0]
    assert [image.value for image in explorer.frames.images] == [b"3.0", b"6.0", b"15.0"]
    controls["x"].value = 5.0
    assert explorer.frames.stack.selected_index == 2 and explorer.result == {"product": 15.0}
    assert explorer.readout.value == "<b>15.0</b>" and explorer.image.value == b"15.0"
    assert drawn == [2.0, 1.0, 5.0]  # moving the main slider draws nothing
    assert "<i>factor</i>" in explorer.children[0].children[-1].value


def test_frame_explorer_with_only_its_main_slider_has_no_kernel_note():
    from nnlearn.widgets.layout import frame_explorer, selection_slider

    slider = selection_slider("x", (1.0, 2.0), 1.0)
    explorer = frame_explorer({"x": slider}, "x", lambda x: (b"png", "", x))
    assert explorer.children[0].children == (slider,)  # everything responds in the book


def test_readout_table_is_left_aligned_with_one_row_per_entry():
    from nnlearn.widgets.layout import readout_table

    html = readout_table(
        ("optimizer", "final loss"), [("SGD", "0.14"), ("Adam", "diverged")], "lr 0.1"
    )
    assert "margin: 0" in html  # the book's theme would centre it
    assert html.count("<tr>") == 3 and html.count("text-align: left") == 6
    assert html.index("SGD") < html.index("0.14") < html.index("Adam") < html.index("diverged")
    assert html.index("</table>") < html.index("lr 0.1")
