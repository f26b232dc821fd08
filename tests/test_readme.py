"""The README says what is true: its chapter list is the tour's course map, its commands are the
Makefile's targets and CI's, and its picture is there and small."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.chapter00

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
sys.path.insert(0, str(ROOT / "scripts"))
import readme_chapters  # noqa: E402 (a script, not a package)


def _make_targets() -> set[str]:
    """Every target the Makefile defines (make's own database, not a regex over the file)."""
    run = subprocess.run(
        ["make", "-p", "-n", "-f", "Makefile", ".DEFAULT"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return set(re.findall(r"^([a-z][\w-]*):", run.stdout, flags=re.MULTILINE))


def test_readme_chapter_list_is_the_course_map_of_the_tour():
    block = readme_chapters.readme_block()
    assert "notebooks/00_tour.ipynb" in block and "notebooks/08_training.ipynb" in block
    assert readme_chapters.current_block() == block, (
        "README's chapter list differs from the course map in notebooks/00_tour.ipynb: "
        "run `python3 scripts/readme_chapters.py`"
    )


def test_the_two_commands_are_make_targets_and_ci_runs_the_test_command():
    commands = re.search(r"## Two commands.*?```bash\n(.*?)```", README, flags=re.DOTALL)
    lines = [line.split("#")[0].strip() for line in commands.group(1).splitlines()]
    assert lines == ["make course", "make test"]
    assert {"course", "test"} <= _make_targets()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert ci[-1] == "make test", "CI must run the README's test command, last"


def test_every_make_command_the_readme_names_is_a_target():
    named = set(re.findall(r"`make ([a-z][\w-]*)", README))
    assert {"course", "refresh", "test", "book"} <= named
    assert named <= _make_targets(), f"not in the Makefile: {named - _make_targets()}"


def test_readme_picture_is_a_small_png_of_a_chapter():
    assert "](docs/screenshot.png)" in README
    picture = ROOT / "docs" / "screenshot.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert picture.stat().st_size < 150_000


CPU_ONLY = "torch --index-url https://download.pytorch.org/whl/cpu"


@pytest.mark.parametrize("spec", [CPU_ONLY, "torch>=2.2,<3", "torch==2.13.0"])
def test_torch_spec_reaches_pip_as_separate_arguments(tmp_path, spec):
    """TORCH_SPEC may carry pip's options (the README's CPU-only route) and version ranges."""
    assert f'make course TORCH_SPEC="{CPU_ONLY}"' in README
    venv = tmp_path / "venv"
    run = subprocess.run(
        ["make", "-n", "-B", f"VENV={venv}", f"TORCH_SPEC={spec}", f"{venv}/course.stamp"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    installs = [line for line in run.stdout.splitlines() if "pip install --quiet" in line]
    [line] = [line for line in installs if " -e " not in line and "--upgrade" not in line]
    assert shlex.split(line)[-len(spec.split()) :] == spec.split()
    assert shlex.split(line)[-len(spec.split()) - 1] == "--quiet"
