"""nbgrader's OverwriteCells, without its false alarm on test cells that hold hidden tests.

When it grades, nbgrader puts every locked cell back as the instructor wrote it, and warns
``Attribute 'checksum' for cell test_relu has changed!`` when the student's cell differs. A test
cell with hidden tests always differs: the student got it without them. So nbgrader warns for
every such cell of every submission, and a real change (a student editing a test) is lost in
the noise. ``OverwriteReleasedCells`` compares the student's cell with the cell as released (the
instructor's without its hidden tests) instead: an untouched cell gets its hidden tests back
silently; a changed one is still reported, and restored, by nbgrader's own code.
``scripts/classroom.py grade`` uses it in place of OverwriteCells.
"""

from __future__ import annotations

from nbformat import NotebookNode
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, OverwriteCells


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
