"""The learner's working copy (``make course``, ``make refresh``): chapters run in ``work/``,
never in ``notebooks/``, so ``git status`` stays clean and ``git pull`` always works."""

import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from browser_support import free_port
from nbclient import NotebookClient

pytestmark = pytest.mark.chapter00

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import working_copy  # noqa: E402 (a script, not a package)

# Executed for real in the clone: the tour (where every learner starts) and a chapter with an
# explorer. Every chapter is saved back through JupyterLab; all of them are executed by the
# notebook tests (nbval) anyway, and none writes files of its own.
EXECUTED = ("00_tour.ipynb", "02_activations.ipynb")


def _chapter(folder: Path, name: str, text: str) -> Path:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / name)
    return folder / name


def _text(path: Path) -> str:
    return nbformat.read(path, 4).cells[0].source


@pytest.fixture
def course(tmp_path: Path) -> Path:
    for name in ("00_tour.ipynb", "01_neuron.ipynb", "03_layers.ipynb"):
        _chapter(tmp_path / "notebooks", name, f"the course's {name}")
    return tmp_path / "notebooks"


def test_fill_copies_every_chapter_then_only_new_ones_and_keeps_edited_copies(course, tmp_path):
    work = tmp_path / "work"
    every = ["00_tour.ipynb", "01_neuron.ipynb", "03_layers.ipynb"]
    assert working_copy.fill(course, work) == every
    _chapter(work, "01_neuron.ipynb", "my notes")
    _chapter(course, "02_activations.ipynb", "a new chapter")  # after a `git pull`
    assert working_copy.fill(course, work) == ["02_activations.ipynb"]
    assert _text(work / "01_neuron.ipynb") == "my notes"
    assert _text(work / "02_activations.ipynb") == "a new chapter"


def test_refresh_one_chapter_moves_the_edited_copy_to_a_backup(course, tmp_path):
    work = tmp_path / "work"
    working_copy.fill(course, work)
    _chapter(work, "01_neuron.ipynb", "my notes on 01")
    _chapter(work, "03_layers.ipynb", "my notes on 03")
    moved = working_copy.refresh(course, work, "03")
    assert list(moved) == ["03_layers.ipynb"]
    backup = moved["03_layers.ipynb"]
    assert backup.parent.parent == work / "backups" and _text(backup) == "my notes on 03"
    assert _text(work / "03_layers.ipynb") == "the course's 03_layers.ipynb"
    assert _text(work / "01_neuron.ipynb") == "my notes on 01"  # not asked for: untouched


def test_refresh_all_backs_up_only_changed_copies_and_adds_new_chapters(course, tmp_path):
    work = tmp_path / "work"
    working_copy.fill(course, work)
    _chapter(work, "01_neuron.ipynb", "my notes")
    _chapter(course, "04_losses.ipynb", "a new chapter")
    first = working_copy.refresh(course, work)
    assert first["00_tour.ipynb"] is None and first["04_losses.ipynb"] is None
    assert _text(first["01_neuron.ipynb"]) == "my notes"
    assert _text(work / "04_losses.ipynb") == "a new chapter"
    _chapter(work, "01_neuron.ipynb", "newer notes")
    second = working_copy.refresh(course, work, "01_neuron")  # within the same second
    assert second["01_neuron.ipynb"].parent != first["01_neuron.ipynb"].parent
    assert _text(first["01_neuron.ipynb"]) == "my notes"


def test_refresh_of_an_unknown_chapter_names_the_chapters(course, tmp_path):
    with pytest.raises(SystemExit, match="00_tour, 01_neuron, 03_layers"):
        working_copy.refresh(course, tmp_path / "work", "09")


def test_make_refresh_passes_the_chapter_to_the_script():
    run = subprocess.run(
        ["make", "-n", "--no-print-directory", "refresh", "CHAPTER=03"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shlex.split(run.stdout.strip())[1:] == ["scripts/working_copy.py", "refresh", "03"]


# ---------------------------------------------------------------------------------------------
# After running the chapters in `make course`, `git status` is clean.


def _api(url: str, token: str, method: str = "GET", body: dict | None = None) -> dict:
    request = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def _wait_for(url: str, token: str, server: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            return _api(url, token)
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not answer (it exited {server.poll()})")


def test_running_chapters_in_the_course_leaves_git_status_clean(tmp_path):
    clone = tmp_path / "nnlearn"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    chapters = sorted(p.name for p in (clone / "notebooks").glob("*.ipynb"))
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_TOKEN": token}
    env.pop("DISPLAY", None)
    server = subprocess.Popen(  # what `make course` runs, in the clone
        [sys.executable, "scripts/start_course.py", f"--port={port}"],
        cwd=clone,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    contents = f"http://127.0.0.1:{port}/api/contents"
    try:
        listed = {item["name"] for item in _wait_for(contents, token, server)["content"]}
        assert set(chapters) <= listed, "the course must open on a copy of every chapter"
        for name in chapters:
            # As JupyterLab does it: load the notebook, run it, save it, make a checkpoint.
            notebook = nbformat.from_dict(_api(f"{contents}/{name}", token)["content"])
            if name in EXECUTED:
                metadata = {"metadata": {"path": str(clone / "work")}}
                NotebookClient(notebook, timeout=120, resources=metadata).execute()
            body = {"type": "notebook", "format": "json", "content": notebook}
            _api(f"{contents}/{name}", token, "PUT", body)
            _api(f"{contents}/{name}/checkpoints", token, "POST")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    for name in EXECUTED:
        saved = nbformat.read(clone / "work" / name, 4)
        assert any(cell.get("outputs") for cell in saved.cells), f"{name} was not saved in work/"
    assert (clone / "work" / ".ipynb_checkpoints").is_dir()
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    )
    assert status.stdout == "", f"running the course changed the repository:\n{status.stdout}"
