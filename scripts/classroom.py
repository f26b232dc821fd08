"""The classroom commands behind ``make assignments``, ``make grade`` and ``make feedback``.

Each runs nbgrader in the course directory (``assignments/`` unless ``--course`` says
otherwise) on every assignment at once:

* ``generate``: ``source/`` -> ``release/`` (the student versions: solutions replaced by
  ``raise NotImplementedError()``, hidden tests removed), and the assignments' records in
  ``gradebook.db``;
* ``grade``: runs every notebook under ``submitted/<student>/<assignment>/`` with the hidden
  tests put back, stores the scores in ``gradebook.db`` and writes the grades table
  ``grades.csv`` (one row per student and assignment; nbgrader gives an assignment a student
  did not submit a row with score 0, which the summary calls "not submitted");
  Test cells are restored with ``released_cells.OverwriteReleasedCells``, so nbgrader warns
  only about a test cell a student changed, not about every cell with hidden tests;
* ``feedback``: one HTML report per graded notebook, under ``feedback/<student>/<assignment>/``.

Arguments after the command go to nbgrader, for example ``--ExecutePreprocessor.timeout=10``.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
COURSE = SCRIPTS.parent / "assignments"
GRADES = "grades.csv"


def nbgrader(course: Path, *args: str) -> None:
    """Run an nbgrader command in the course directory; raise if it fails."""
    bin_dir = Path(sys.executable).parent
    # nbgrader starts `alembic` (the gradebook's migrations) by name: it must be on PATH.
    # It imports released_cells.py from here.
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": f"{SCRIPTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    subprocess.run([str(bin_dir / "nbgrader"), *args], cwd=course, env=env, check=True)


def assignments(course: Path) -> list[str]:
    """The assignments' names: the folders of ``source/``."""
    return sorted(p.name for p in (course / "source").iterdir() if p.is_dir())


def submissions(course: Path) -> list[Path]:
    """Every ``submitted/<student>/<assignment>/`` folder that holds a notebook."""
    return sorted(p.parent for p in (course / "submitted").glob("*/*/*.ipynb"))


def generate(course: Path, extra: list[str]) -> None:
    nbgrader(course, "generate_assignment", "*", "--force", *extra)
    print(f"Student versions: {course / 'release'}/<assignment>/")


def sanitize_arguments() -> list[str]:
    """nbgrader's steps before a submission runs, with OverwriteReleasedCells for OverwriteCells."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import OverwriteCells

    steps = [
        "released_cells.OverwriteReleasedCells"
        if step is OverwriteCells
        else f"{step.__module__}.{step.__name__}"
        for step in Autograde().sanitize_preprocessors
    ]
    return [f"--Autograde.sanitize_preprocessors={step}" for step in steps]


def grade(course: Path, extra: list[str]) -> None:
    if not submissions(course):
        sys.exit(f"Nothing to grade: put notebooks in {course}/submitted/<student>/<assignment>/")
    released = all((course / "release" / name).is_dir() for name in assignments(course))
    if not (released and (course / "gradebook.db").exists()):
        generate(course, [])  # the gradebook must know the assignments and their tests
    nbgrader(course, "autograde", "*", "--force", *sanitize_arguments(), *extra)
    nbgrader(course, "export", "--to", GRADES)
    with open(course / GRADES, newline="") as file:
        rows = list(csv.DictReader(file))
    print(f"\nGrades ({course / GRADES}):")
    handed_in = {(p.parent.name, p.name) for p in submissions(course)}
    for row in rows:
        score = f"{row['score']} / {row['max_score']}"
        if (row["student_id"], row["assignment"]) not in handed_in:
            score = "not submitted"  # nbgrader's row of zeros
        print(f"  {row['student_id']:<20} {row['assignment']:<20} {score}")


def feedback(course: Path, extra: list[str]) -> None:
    nbgrader(course, "generate_feedback", "*", "--force", *extra)
    print(f"Feedback: {course / 'feedback'}/<student>/<assignment>/<notebook>.html")


COMMANDS = {"generate": generate, "grade": grade, "feedback": feedback}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--course", type=Path, default=COURSE, help="the course directory")
    args, extra = parser.parse_known_args(argv)
    COMMANDS[args.command](args.course.resolve(), extra)


if __name__ == "__main__":
    main()
