"""A grading drill (issue 13): a class of 30 submissions over every assignment, graded twice.

The class: the reference solution and a planted mistake of every assignment in
assignments/source/, the untouched student version of two, an exception in one part of two,
and six hostile submissions of a1_neurons from tests/classroom_attacks.py (the issue's
exploit, the same tampering beside correct work, os._exit, SIGKILL, a memory hog, a huge
file). It is graded by ``scripts/classroom.py grade`` (what ``make grade`` runs) in a temporary
copy of the course, once in the sandbox and once with ``--unsandboxed``, and every submission
must get exactly its expected score both times. The attacks whose outcome depends on the
sandbox (writes outside, reading the gradebook, the network, a fork bomb as root) are left out:
without the sandbox they would touch this machine (tests/test_classroom_attacks.py proves them
in the sandbox).

Run: ``.venv/bin/python benchmarks/bench_classroom.py`` (``--threads`` is accepted for ``make
bench`` and ignored: grading starts its own processes). It prints the grading time per
submission in each mode. It takes several minutes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "scripts")]

import nbformat  # noqa: E402
from classroom_attacks import attacks  # noqa: E402
from classroom_plants import plants  # noqa: E402
from nbgrader.api import Gradebook  # noqa: E402
from test_classroom import ASSIGNMENTS, COURSE, GENERATED, classroom, submission  # noqa: E402
from test_classroom_attacks import hostile  # noqa: E402

HOSTILE = ("exploit", "honest_tamper", "exit", "kill", "memhog", "bigfile")
TIMEOUT = 15  # seconds per cell, as in the tests


def the_class(course: Path) -> dict[tuple[str, str], tuple[object, tuple[str, ...] | None]]:
    """(student, assignment) -> (notebook, grade ids it must lose; None: it must score 0)."""
    members = {}
    for assignment in ASSIGNMENTS:
        members["reference", assignment] = (submission(course, assignment, "reference"), ())
        plant = plants(assignment)["mistake"]
        members["mistake", assignment] = (submission(course, assignment, "mistake"), plant.loses)
    for assignment in ASSIGNMENTS[1:3]:
        members["blank", assignment] = (submission(course, assignment, "blank"), None)
    for assignment in ASSIGNMENTS[3:5]:
        plant = plants(assignment)["exception"]
        members["exception", assignment] = (
            submission(course, assignment, "exception"),
            plant.loses,
        )
    planned = attacks(course, ROOT, port=9, token="drill")
    for student in HOSTILE:
        attack = planned[student]
        loses = None if student == "exploit" else attack.loses
        members[student, "a1_neurons"] = (hostile(course, attack), loses)
    return members


def grade_once(unsandboxed: bool) -> tuple[float, int, list[str]]:
    """Grade the class in a fresh copy of the course: (seconds, submissions, wrong scores)."""
    with tempfile.TemporaryDirectory(prefix="nnlearn-drill-") as temporary:
        course = Path(temporary) / "course"
        shutil.copytree(COURSE, course, ignore=shutil.ignore_patterns(*GENERATED))
        classroom("generate", "--course", course)
        members = the_class(course)
        for (student, assignment), (notebook, _) in members.items():
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, folder / f"{assignment}.ipynb")
        extra = ["--unsandboxed"] if unsandboxed else []
        start = time.perf_counter()
        classroom("grade", "--course", course, f"--ExecutePreprocessor.timeout={TIMEOUT}", *extra)
        seconds = time.perf_counter() - start
        wrong = []
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
            for (student, assignment), (_, loses) in members.items():
                found = gradebook.find_submission_notebook(assignment, assignment, student)
                scores = {g.name: g.score for g in found.grades}
                expected = {
                    g.name: 0.0 if loses is None or g.name in loses else g.max_score
                    for g in found.grades
                }
                if scores != expected:
                    wrong.append(f"{student}/{assignment}: {scores}, expected {expected}")
    return seconds, len(members), wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="ignored (make bench passes it)")
    parser.parse_args()
    failures = []
    for unsandboxed in (False, True):
        mode = "without the sandbox (--unsandboxed)" if unsandboxed else "in the sandbox"
        seconds, count, wrong = grade_once(unsandboxed)
        print(f"{count} submissions graded {mode}: {seconds:.0f} s, {seconds / count:.1f} s each")
        for line in wrong:
            print(f"  WRONG SCORE {line}")
        failures += wrong
    if failures:
        sys.exit(f"{len(failures)} submissions did not get their expected score")
    print("every submission got exactly its expected score, in both modes")


if __name__ == "__main__":
    main()
