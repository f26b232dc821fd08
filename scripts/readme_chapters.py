"""The README's chapter list, written from the course map in ``notebooks/00_tour.ipynb``.

The tour's table is the one source: this script copies its rows into README.md between the
``<!-- chapters -->`` and ``<!-- /chapters -->`` markers, with the links made to point into
``notebooks/``. ``tests/test_readme.py`` fails when the two differ; run this script to fix it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOUR = ROOT / "notebooks" / "00_tour.ipynb"
README = ROOT / "README.md"
BEGIN, END = "<!-- chapters -->", "<!-- /chapters -->"
LINK = re.compile(r"\]\((\d\d_\w+\.ipynb)\)")


def course_map(tour: Path = TOUR) -> list[str]:
    """The rows of the table under the tour's "The course map" heading, header included."""
    for cell in json.loads(tour.read_text())["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and "## The course map" in text:
            return [line for line in text.splitlines() if line.startswith("|")]
    raise ValueError(f"{tour} has no '## The course map' table")


def readme_block(tour: Path = TOUR) -> str:
    """The README's chapter table: the tour's, linking to the chapters in notebooks/."""
    rows = [LINK.sub(r"](notebooks/\1)", row) for row in course_map(tour)]
    return "\n".join([BEGIN, *rows, END])


def current_block(readme: Path = README) -> str:
    text = readme.read_text()
    return text[text.index(BEGIN) : text.index(END) + len(END)]


def main() -> None:
    text = README.read_text()
    README.write_text(text.replace(current_block(), readme_block()))
    print(f"{README.name}: the chapter list is the course map of {TOUR.name}")


if __name__ == "__main__":
    main()
