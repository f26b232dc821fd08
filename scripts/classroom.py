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
  only about a test cell a student changed, not about every cell with hidden tests. The
  students' code never runs in the grading kernel: ``released_cells.JudgedExecute`` sends it
  to a student process in the sandbox (scripts/judge.py, scripts/sandbox.py), and grading
  refuses to start where the sandbox cannot run unless ``--unsandboxed`` (``make grade
  UNSANDBOXED=1``) says so. Submissions that tried to tamper are flagged: a ``flags`` column
  in ``grades.csv``, and a first cell in the autograded notebook (and so in the feedback);
* ``feedback``: one HTML report per graded notebook, under ``feedback/<student>/<assignment>/``.

Arguments after the command go to nbgrader, for example ``--ExecutePreprocessor.timeout=10``.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import sandbox

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


def natural(name: str) -> list:
    """Sort key that puts a2 before a10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def assignments(course: Path) -> list[str]:
    """The assignments' names: the folders of ``source/``, a1 to a10 in order."""
    return sorted((p.name for p in (course / "source").iterdir() if p.is_dir()), key=natural)


def submissions(course: Path) -> list[Path]:
    """Every ``submitted/<student>/<assignment>/`` folder that holds a notebook."""
    return sorted(p.parent for p in (course / "submitted").glob("*/*/*.ipynb"))


def generate(course: Path, extra: list[str]) -> None:
    nbgrader(course, "generate_assignment", "*", "--force", *extra)
    print(f"Student versions: {course / 'release'}/<assignment>/")


def autograde_arguments(course: Path, sandboxed: bool) -> list[str]:
    """nbgrader's autograde steps, with OverwriteReleasedCells for OverwriteCells and
    JudgedExecute (the student's code in the sandbox, see scripts/judge.py) for Execute."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute, OverwriteCells

    ours = {
        OverwriteCells: "released_cells.OverwriteReleasedCells",
        Execute: "released_cells.JudgedExecute",
    }
    arguments = []
    for name in ("sanitize_preprocessors", "autograde_preprocessors"):
        for step in getattr(Autograde(), name):
            arguments.append(
                f"--Autograde.{name}={ours.get(step, f'{step.__module__}.{step.__name__}')}"
            )
    arguments.append(f"--JudgedExecute.course_directory={course}")
    return [*arguments, f"--JudgedExecute.sandboxed={sandboxed}"]


def refuse_without_sandbox(reason: str) -> None:
    sys.exit(
        f"make grade: the students' code cannot be sandboxed here: {reason}.\n"
        "On Linux, install bubblewrap (Debian/Ubuntu: sudo apt-get install bubblewrap) and run "
        "make grade again.\nOr grade without the sandbox: make grade UNSANDBOXED=1 "
        "(classroom.py grade --unsandboxed). The judge still keeps each student's code from "
        "changing the tests and their scores, and the resource limits still hold where the "
        "system has them, but the students' code then runs with your rights: it can read and "
        "change your files (the gradebook, the other students' work, your home directory) and "
        "use the network. Do that only for submissions you trust."
    )


def flag_grades(course: Path) -> dict[tuple[str, str], str]:
    """The flags of each autograded submission, as grades.csv's `flags` column: (student,
    assignment) -> "flag; flag"."""
    from released_cells import read_flags

    flags = {}
    for path in sorted((course / "autograded").glob("*/*/*.ipynb")):
        found = read_flags(nbformat.read(path, 4))
        key = (path.parent.parent.name, path.parent.name)
        flags[key] = "; ".join(filter(None, [flags.get(key, ""), *found]))
    return flags


def grade(course: Path, extra: list[str], unsandboxed: bool = False) -> None:
    if not submissions(course):
        sys.exit(f"Nothing to grade: put notebooks in {course}/submitted/<student>/<assignment>/")
    reason = sandbox.unavailable_reason()
    if reason is not None and not unsandboxed:
        refuse_without_sandbox(reason)
    if unsandboxed:
        print(
            "Grading WITHOUT the sandbox (--unsandboxed): the students' code runs with your rights."
        )
    released = all((course / "release" / name).is_dir() for name in assignments(course))
    if not (released and (course / "gradebook.db").exists()):
        generate(course, [])  # the gradebook must know the assignments and their tests
    arguments = autograde_arguments(course, sandboxed=not unsandboxed)
    nbgrader(course, "autograde", "*", "--force", *arguments, *extra)
    nbgrader(course, "export", "--to", GRADES)
    with open(course / GRADES, newline="") as file:
        rows = list(csv.DictReader(file))
    flags = flag_grades(course)
    for row in rows:
        row["flags"] = flags.get((row["student_id"], row["assignment"]), "")
    with open(course / GRADES, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else ["flags"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"\nGrades ({course / GRADES}):")
    handed_in = {(p.parent.name, p.name) for p in submissions(course)}
    for row in rows:
        score = f"{row['score']} / {row['max_score']}"
        if (row["student_id"], row["assignment"]) not in handed_in:
            score = "not submitted"  # nbgrader's row of zeros
        flagged = f"  FLAGGED: {row['flags']}" if row["flags"] else ""
        print(f"  {row['student_id']:<20} {row['assignment']:<20} {score}{flagged}")


def feedback(course: Path, extra: list[str]) -> None:
    nbgrader(course, "generate_feedback", "*", "--force", *extra)
    print(f"Feedback: {course / 'feedback'}/<student>/<assignment>/<notebook>.html")


COMMANDS = {"generate": generate, "grade": grade, "feedback": feedback}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--course", type=Path, default=COURSE, help="the course directory")
    parser.add_argument(
        "--unsandboxed",
        action="store_true",
        help="grade: run the students' code without the sandbox (it gets your rights)",
    )
    args, extra = parser.parse_known_args(argv)
    if args.command == "grade":
        grade(args.course.resolve(), extra, unsandboxed=args.unsandboxed)
    else:
        COMMANDS[args.command](args.course.resolve(), extra)


if __name__ == "__main__":
    main()
