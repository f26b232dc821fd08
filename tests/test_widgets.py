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
