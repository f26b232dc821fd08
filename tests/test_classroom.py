"""The classroom: nbgrader assignments whose hidden tests check students' work against PyTorch.

For speed, a copy of the course is generated once per session, and every planted submission
of every assignment (the reference solution, the untouched student version, a planted
mistake, an infinite loop, an exception) is autograded in one ``scripts/classroom.py grade``
call, the command behind ``make grade``: the students' code in the sandbox, run by the judge
(scripts/judge.py). Each test then reads its scores from the gradebook. The hostile
submissions are graded in tests/test_classroom_attacks.py.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from classroom_plants import plants
from nbgrader.api import Gradebook
from traitlets.config.loader import PyFileConfigLoader

pytestmark = pytest.mark.classroom

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "assignments"
# Every assignment in the course (a folder of source/), a1 to a10 in order, each with its
# planted submissions.
ASSIGNMENTS = tuple(
    sorted(
        (p.name for p in (COURSE / "source").iterdir() if p.is_dir()),
        key=lambda name: [
            int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)
        ],
    )
)
GENERATED = ("release", "submitted", "autograded", "feedback", "gradebook.db", "grades.csv")
# Seconds per cell while grading here: far above any real cell (a few seconds at most, the
# first `import torch` included, which took 10 s on a 2-core machine while the book was being
# built beside the tests), below the course's 30 s, so a loop costs little time.
TIMEOUT = 15


PLANTS = {assignment: plants(assignment) for assignment in ASSIGNMENTS}
STUDENTS = ("reference", "blank", "mistake", "loop", "exception")
# One more student hands in a1_neurons only, with the visible checks of one test cell deleted.
TAMPERED_CELL = "test_relu"
MARKERS = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


@dataclass
class Course:
    path: Path
    scores: dict[tuple[str, str], dict[str, float]]  # (assignment, student) -> grade id -> score
    max_scores: dict[str, dict[str, float]]  # assignment -> grade id -> points
    output: str  # what `make grade` printed
    flags: dict[tuple[str, str], str]  # (assignment, student) -> grades.csv's flags


def classroom(*args: str | Path) -> str:
    """Run scripts/classroom.py (what make assignments/grade/feedback run); its output."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "classroom.py"), *map(str, args)],
        capture_output=True,
        text=True,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-5000:]
    return output


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def _what_the_student_writes(text: str) -> str:
    """A reference solution cell as a student would hand it in: without nbgrader's markers."""
    return "\n".join(line for line in text.splitlines() if not MARKERS.match(line))


def submission(course: Path, assignment: str, student: str):
    """The released notebook, filled in with the reference solution, changed by the plant."""
    notebook = nbformat.read(course / "release" / assignment / f"{assignment}.ipynb", 4)
    if student == "blank":
        return notebook
    source = nbformat.read(course / "source" / assignment / f"{assignment}.ipynb", 4)
    solutions = {
        _nbgrader(c)["grade_id"]: c.source for c in source.cells if _nbgrader(c).get("solution")
    }
    plant = PLANTS[assignment].get(student)
    for cell in notebook.cells:
        grade_id = _nbgrader(cell).get("grade_id")
        if grade_id in solutions:
            cell.source = _what_the_student_writes(solutions[grade_id])
            if plant and plant.cell == grade_id:
                assert cell.source.count(plant.old) == 1, f"plant {student} does not fit"
                cell.source = cell.source.replace(plant.old, plant.new)
    return notebook


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    """A copy of the course with the student versions generated."""
    course = tmp_path_factory.mktemp("classroom") / "course"
    shutil.copytree(COURSE, course, ignore=shutil.ignore_patterns(*GENERATED, ".nbgrader.log"))
    classroom("generate", "--course", course)
    return course


@pytest.fixture(scope="session")
def graded(generated: Path) -> Course:
    """Every planted submission of every assignment, autograded in one call."""
    for assignment in ASSIGNMENTS:
        for student in STUDENTS:
            folder = generated / "submitted" / student / assignment
            folder.mkdir(parents=True)
            nbformat.write(
                submission(generated, assignment, student), folder / f"{assignment}.ipynb"
            )
    tampered = submission(generated, "a1_neurons", "reference")
    for cell in tampered.cells:
        if _nbgrader(cell).get("grade_id") == TAMPERED_CELL:
            cell.source = "# the checks I did not like are gone"
    folder = generated / "submitted" / "tamper" / "a1_neurons"
    folder.mkdir(parents=True)
    nbformat.write(tampered, folder / "a1_neurons.ipynb")
    output = classroom("grade", "--course", generated, f"--ExecutePreprocessor.timeout={TIMEOUT}")
    scores, max_scores = {}, {}
    with Gradebook(f"sqlite:///{generated / 'gradebook.db'}") as gradebook:
        for assignment in ASSIGNMENTS:
            for student in STUDENTS:
                notebook = gradebook.find_submission_notebook(assignment, assignment, student)
                scores[assignment, student] = {g.name: g.score for g in notebook.grades}
                max_scores[assignment] = {g.name: g.max_score for g in notebook.grades}
        notebook = gradebook.find_submission_notebook("a1_neurons", "a1_neurons", "tamper")
        scores["a1_neurons", "tamper"] = {g.name: g.score for g in notebook.grades}
    return Course(generated, scores, max_scores, output, grade_flags(generated))


def grade_flags(course: Path) -> dict[tuple[str, str], str]:
    """grades.csv's flags column: (assignment, student) -> flags."""
    with open(course / "grades.csv", newline="") as file:
        return {(r["assignment"], r["student_id"]): r["flags"] for r in csv.DictReader(file)}


def _expected(course: Course, assignment: str, loses: tuple[str, ...]) -> dict[str, float]:
    points = course.max_scores[assignment]
    assert set(loses) <= set(points)
    return {name: 0.0 if name in loses else full for name, full in points.items()}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_solution_scores_full_marks(graded, assignment):
    assert graded.scores[assignment, "reference"] == graded.max_scores[assignment]


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_unmodified_student_version_scores_zero(graded, assignment):
    assert set(graded.scores[assignment, "blank"].values()) == {0.0}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_planted_mistake_loses_exactly_the_points_of_its_test(graded, assignment):
    expected = _expected(graded, assignment, PLANTS[assignment]["mistake"].loses)
    assert graded.scores[assignment, "mistake"] == expected


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_infinite_loop_is_stopped_by_the_time_limit_and_the_rest_is_graded(graded, assignment):
    expected = _expected(graded, assignment, PLANTS[assignment]["loop"].loses)
    assert graded.scores[assignment, "loop"] == expected
    executed = nbformat.read(
        graded.path / "autograded" / "loop" / assignment / f"{assignment}.ipynb", 4
    )
    errors = [o.ename for c in executed.cells for o in c.get("outputs", []) if "ename" in o]
    # The judge stops the student's call before nbgrader's cell timeout would (StudentTimeout;
    # nbgrader's own interrupt is the fallback: tests/test_classroom_attacks.py).
    assert "StudentTimeout" in errors, f"no cell was stopped by the time limit: {errors}"
    assert "timeout" in graded.flags[assignment, "loop"].split("; ")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_honest_submissions_are_not_flagged_and_show_their_own_code(graded, assignment):
    for student in ("reference", "blank", "mistake", "exception"):
        assert graded.flags[assignment, student] == "", (student, graded.flags)
    executed = nbformat.read(
        graded.path / "autograded" / "reference" / assignment / f"{assignment}.ipynb", 4
    )
    handed_in = submission(graded.path, assignment, "reference")
    assert len(executed.cells) == len(handed_in.cells), "the judge's own cells are gone"
    solutions = [c.source for c in executed.cells if _nbgrader(c).get("solution")]
    expected = [c.source for c in handed_in.cells if _nbgrader(c).get("solution")]
    assert solutions == expected and "__judge__" not in "".join(solutions)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_exception_in_one_part_leaves_the_other_parts_graded(graded, assignment):
    expected = _expected(graded, assignment, PLANTS[assignment]["exception"].loses)
    assert graded.scores[assignment, "exception"] == expected


def test_a_changed_test_cell_is_restored_and_the_only_one_nbgrader_warns_about(graded):
    # Every test cell has hidden tests, so nbgrader's own check warned for all of them.
    warned = re.findall(r"Attribute 'checksum' for cell (\w+) has changed", graded.output)
    assert warned == [TAMPERED_CELL]
    assert graded.scores["a1_neurons", "tamper"] == graded.max_scores["a1_neurons"]


def test_grades_table_has_a_row_per_student_and_assignment(graded):
    with open(graded.path / "grades.csv", newline="") as file:
        rows = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(file)}
    assert set(rows) == {(a, s) for a in ASSIGNMENTS for s in (*STUDENTS, "tamper")}
    for assignment in ASSIGNMENTS[1:]:  # not handed in: nbgrader's zero row
        assert float(rows[assignment, "tamper"]["score"]) == 0.0
        assert re.search(rf"tamper\s+{assignment}\s+not submitted", graded.output)
    assert re.search(r"tamper\s+a1_neurons\s+\d", graded.output)
    for assignment in ASSIGNMENTS:
        full = sum(graded.max_scores[assignment].values())
        assert float(rows[assignment, "reference"]["score"]) == full
        assert float(rows[assignment, "reference"]["max_score"]) == full
        assert float(rows[assignment, "blank"]["score"]) == 0.0


def test_feedback_is_an_html_report_per_graded_notebook(graded):
    # One student's reports are enough to prove it, and quicker than all of them.
    classroom("feedback", "--course", graded.path, "--CourseDirectory.student_id=mistake")
    for assignment in ASSIGNMENTS:
        report = graded.path / "feedback" / "mistake" / assignment / f"{assignment}.html"
        assert report.is_file(), f"no feedback for mistake/{assignment}"
    text = (graded.path / "feedback" / "mistake" / "a1_neurons" / "a1_neurons.html").read_text()
    assert "Score:" in text and "Parity with PyTorch" in text  # the failing check's table


def _region_lines(notebook) -> tuple[set[str], set[str]]:
    """Stripped lines inside solution and hidden-test regions, and the lines outside them."""
    inside, outside, in_region = set(), set(), False
    for cell in notebook.cells:
        for line in cell.source.splitlines():
            marker = MARKERS.match(line)
            if marker:
                in_region = marker.group(1) == "BEGIN"
            elif line.strip():
                (inside if in_region else outside).add(line.strip())
    return inside, outside


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_student_version_has_no_solution_and_no_hidden_test_text(generated, assignment):
    source = nbformat.read(generated / "source" / assignment / f"{assignment}.ipynb", 4)
    release = nbformat.read(generated / "release" / assignment / f"{assignment}.ipynb", 4)
    inside, outside = _region_lines(source)
    secret = inside - outside
    released = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    assert len(secret) > 20, "the source notebook has solutions and hidden tests"
    assert not secret & released, f"leaked into the student version: {secret & released}"
    text = "\n".join(cell.source for cell in release.cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    stubs = [c for c in release.cells if _nbgrader(c).get("solution")]
    assert stubs and all("raise NotImplementedError()" in c.source for c in stubs)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_test_cell_has_points_and_hidden_tests_against_torch(assignment):
    source = nbformat.read(COURSE / "source" / assignment / f"{assignment}.ipynb", 4)
    graded_cells = [c for c in source.cells if _nbgrader(c).get("grade")]
    assert len(graded_cells) >= 4
    for cell in graded_cells:
        hidden = cell.source.split("### BEGIN HIDDEN TESTS")[-1]
        assert _nbgrader(cell)["points"] > 0 and _nbgrader(cell)["locked"]
        assert "### BEGIN HIDDEN TESTS" in cell.source and "import torch" in hidden
        assert "for seed in range(" in hidden, "hidden tests draw random cases from seeds"
    assert all(not c.get("outputs") for c in source.cells), "commit notebooks without outputs"


def test_course_config_limits_each_cell_to_30_seconds():
    config = PyFileConfigLoader("nbgrader_config.py", path=str(COURSE)).load_config()
    assert config.ExecutePreprocessor.timeout == 30
    assert config.ExecutePreprocessor.interrupt_on_timeout is True


def test_generated_folders_are_ignored_by_git_pytest_and_ruff():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests", "notebooks"]
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    excluded = pyproject["tool"]["ruff"]["extend-exclude"]
    for name in GENERATED:
        assert f"assignments/{name}" in excluded or name.endswith((".db", ".csv"))
        assert f"assignments/{name}" in {line.rstrip("/") for line in ignored}
