"""Chapter 00 (set-up): the package as a user meets it — light import, set-up files in step,
seeding, source display."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

import nnlearn as nl

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.chapter00

ROOT = Path(__file__).resolve().parent.parent
CONDA_NAMES = {"pytorch": "torch"}  # conda package name -> PyPI name


def test_import_nnlearn_loads_numpy_only_and_is_quick():
    heavy = ("torch", "matplotlib", "ipywidgets", "sklearn", "tqdm", "pandas", "safetensors")
    code = (
        "import sys, time; t = time.process_time(); import nnlearn; "
        "t = time.process_time() - t; "
        f"print(t, *[m for m in {heavy!r} if m in sys.modules])"
    )
    # The CPU time of the import (a busy machine stretches the wall clock, not this), the best
    # of three runs.
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        for _ in range(3)
    ]
    fields = [run.stdout.split() for run in runs]
    assert all(len(f) == 1 for f in fields), f"heavy modules imported: {fields[0][1:]}"
    assert min(float(f[0]) for f in fields) < 0.3


def _pyproject_requirements() -> dict[str, SpecifierSet]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        lines += extra
    return {Requirement(line).name.lower(): Requirement(line).specifier for line in lines}


def _conda_requirements() -> dict[str, SpecifierSet]:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    found = {}
    for entry in environment["dependencies"]:
        if isinstance(entry, dict) or entry.split(">")[0].split("=")[0] in ("python", "pip"):
            continue
        requirement = Requirement(entry)
        found[CONDA_NAMES.get(requirement.name, requirement.name).lower()] = requirement.specifier
    return found


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    assert _conda_requirements() == _pyproject_requirements()


def test_dependencies_are_ranges_not_exact_pins():
    for name, specifier in _pyproject_requirements().items():
        assert specifier, f"{name} has no version range"
        assert not any(s.operator in ("==", "===") for s in specifier), f"{name} is pinned"


def test_seed_everything_repeats_numpy_nnlearn_and_torch_draws():
    def draws():
        nl.seed_everything(7)
        legacy = np.random.rand(3)  # noqa: NPY002 (seed_everything seeds the global too)
        return legacy, nl.rng().standard_normal(3), torch.rand(3).numpy()

    first, second = draws(), draws()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    nl.seed_everything(8)
    assert not np.array_equal(first[1], nl.rng().standard_normal(3))


def test_show_source_gives_plain_text_and_highlighted_html():
    source = nl.show_source(nl.functional.MatMul)
    text = str(source)
    assert text.startswith("# nnlearn.functional.MatMul") and "def backward" in text
    html = source._repr_html_()
    assert "<span" in html and "backward" in html


def test_sequential_lives_in_models_and_layers_imports_no_later_chapter():
    assert nl.Sequential is nl.models.Sequential
    assert not hasattr(nl.layers, "Sequential")
    code = (
        "import sys, nnlearn.layers; "
        "print(*sorted(m for m in sys.modules if m.startswith('nnlearn.')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(run.stdout.split())
    later = {"nnlearn.losses", "nnlearn.optim", "nnlearn.training", "nnlearn.models"}
    assert "nnlearn.layers" in loaded and not loaded & later, sorted(loaded & later)
