"""The classroom's nbgrader preprocessors: test cells restored quietly, and the student's code
run by the judge (issue 13).

``OverwriteReleasedCells`` is nbgrader's OverwriteCells without its false alarm on test cells
that hold hidden tests. When it grades, nbgrader puts every locked cell back as the instructor
wrote it, and warns ``Attribute 'checksum' for cell test_relu has changed!`` when the
student's cell differs. A test cell with hidden tests always differs: the student got it
without them. So nbgrader warns for every such cell of every submission, and a real change (a
student editing a test) is lost in the noise. ``OverwriteReleasedCells`` compares the
student's cell with the cell as released (the instructor's without its hidden tests) instead:
an untouched cell gets its hidden tests back silently; a changed one is still reported, and
restored, by nbgrader's own code.

``JudgedExecute`` is nbgrader's Execute with the student's cells sent to the judge.
``scripts/classroom.py grade`` uses both in place of nbgrader's.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import tamper_scan
from nbformat import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, Execute, OverwriteCells
from traitlets import Bool, Unicode


class OverwriteReleasedCells(OverwriteCells):
    def released_text(self, source: str) -> str:
        """The instructor's cell text as generate_assignment released it: hidden tests removed."""
        cell = NotebookNode(source=source)
        ClearHiddenTests(parent=self)._remove_hidden_test_region(cell)
        return cell.source

    def preprocess_cell(self, cell: NotebookNode, resources: dict, cell_index: int):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            try:
                source = self.gradebook.find_source_cell(
                    grade_id, self.notebook_id, self.assignment_id
                )
            except MissingEntry:
                source = None  # OverwriteCells reports it
            if source and source.locked and cell.source == self.released_text(source.source):
                cell.source = source.source
        return super().preprocess_cell(cell, resources, cell_index)


class JudgedExecute(Execute):
    """nbgrader's Execute with the student's code kept out of the grading kernel (issue 13).

    Before the notebook runs, each code cell that is not the instructor's (a locked cell whose
    text is the one in the gradebook) becomes ``__judge__.run_cell(index, source)``, a first
    cell makes the judge (scripts/judge.py), and a last one prints its flags. The kernel runs
    in an empty folder with the assignment's own files (a copy of ``source/<assignment>/``
    without notebooks): a module the student hands in can never be imported there. Afterwards
    the student's text is put back (the autograded notebook and the feedback show it), and
    the flags of tamper_scan and of the judge go in a first markdown cell.
    """

    sandboxed = Bool(True, help="Run the student process in the sandbox").tag(config=True)
    course_directory = Unicode("", help="Hidden from the student process").tag(config=True)

    def preprocess(self, nb, resources, km=None):
        info = resources["nbgrader"]
        course = Path(self.course_directory or os.getcwd()).resolve()
        with Gradebook(info["db_url"]) as gradebook:
            locked = {}
            for cell in nb.cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                try:
                    source = gradebook.find_source_cell(
                        grade_id, info["notebook"], info["assignment"]
                    )
                except MissingEntry:
                    continue
                if source.locked:
                    locked[grade_id] = source.source
        students, shared, instructor = {}, {}, []
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            metadata = cell.metadata.get("nbgrader", {})
            if metadata.get("grade_id") in locked:
                cell.source = locked[metadata["grade_id"]]  # nbgrader restored it already
                instructor.append(cell.source)
                if not metadata.get("grade"):
                    shared[index] = cell.source  # set-up: the student's code may use it
            else:
                students[index] = cell.source
                cell.source = f"__judge__.run_cell({index}, {cell.source!r})"
        # The judge stops a call before nbgrader interrupts the cell (and kills the kernel's
        # student process if nbgrader's interrupt comes first anyway).
        timeout = max(1, self.timeout - 5) if self.timeout and self.timeout > 0 else 25
        hide = sorted({str(course), str(Path(__file__).resolve().parent.parent / "assignments")})
        start = nbformat.v4.new_code_cell(
            f'__judge__ = __import__("judge").Judge(globals(), shared={shared!r}, '
            f"hide={hide!r}, sandboxed={self.sandboxed!r}, timeout={timeout!r}, "
            f"folder={resources['metadata']['path']!r})"
        )
        finish = nbformat.v4.new_code_cell("__judge__.finish()")
        nb.cells = [start, *nb.cells, finish]
        kernel_dir = tempfile.mkdtemp(prefix="nnlearn-judge-")
        assignment = course / "source" / info["assignment"]
        ignore = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints")
        shutil.copytree(assignment, kernel_dir, ignore=ignore, dirs_exist_ok=True)
        folder, resources["metadata"]["path"] = resources["metadata"]["path"], kernel_dir
        try:
            nb, resources = super().preprocess(nb, resources, km)
        finally:
            resources["metadata"]["path"] = folder
            shutil.rmtree(kernel_dir, ignore_errors=True)
            nb.cells = nb.cells[1:-1]
            for index, source in students.items():
                nb.cells[index].source = source
        flags = tamper_scan.scan(list(students.values()), instructor) + _judge_flags(finish)
        flags = list(dict.fromkeys(flags))  # the scan and the judge may see the same thing
        if flags:
            nb.cells.insert(0, flags_cell(flags))
        return nb, resources


FLAGS_CELL = "integrity-flags"  # the id of the first markdown cell, that lists the flags


def flags_cell(flags: list[str]):
    lines = "\n".join(f"- `{flag}`" for flag in flags)
    text = (
        "**Flagged for review by the instructor.** While grading, this submission's code was "
        f'seen to do the following (see the README, "For instructors"):\n\n{lines}\n'
    )
    cell = nbformat.v4.new_markdown_cell(text)
    cell.id = FLAGS_CELL
    return cell


def _judge_flags(finish) -> list[str]:
    """The flags the judge printed in the notebook's last cell."""
    text = "".join(o.get("text", "") for o in finish.get("outputs", []))
    for line in text.splitlines():
        if line.startswith("nnlearn-judge-flags: "):
            return json.loads(line.split(": ", 1)[1])
    return ["judge-did-not-finish"]


def read_flags(notebook) -> list[str]:
    """The flags listed in an autograded notebook's first cell (none: [])."""
    if not notebook.cells or notebook.cells[0].get("id") != FLAGS_CELL:
        return []
    return [line[3:-1] for line in notebook.cells[0].source.splitlines() if line.startswith("- `")]
