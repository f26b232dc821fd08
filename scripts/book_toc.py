"""Write the book's table of contents (``book/_toc.yml``) from the chapters in ``notebooks/``.

``make book`` runs this before every build, so the book always holds exactly the chapters the
course has: the introduction page, then each part of the course map with its notebooks in
chapter order (``NN_name.ipynb``; the book titles each page with the notebook's first heading).
The file is rewritten only when the chapters change.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOC = ROOT / "book" / "_toc.yml"
CHAPTER = re.compile(r"^(\d\d)_\w+\.ipynb$")

# The course map (DESIGN.md): the first chapter number of each part, and its caption.
PARTS = (
    (0, "Part I · Foundations"),
    (7, "Part II · Training"),
    (14, "Part III · Architectures and applications"),
)


def chapters(notebooks: Path = ROOT / "notebooks") -> list[Path]:
    """The chapter notebooks, in chapter order."""
    return sorted(p for p in notebooks.iterdir() if CHAPTER.match(p.name))


def part_of(chapter: Path) -> str:
    number = int(chapter.name[:2])
    return [caption for first, caption in PARTS if number >= first][-1]


def toc_text(notebooks: list[Path]) -> str:
    """The YAML text: jb-book format, files named relative to book/ without suffix."""
    lines = [
        "# Written by scripts/book_toc.py from the notebooks in notebooks/ (make book).",
        "format: jb-book",
        "root: intro",
        "parts:",
    ]
    current = None
    for notebook in notebooks:
        if part_of(notebook) != current:
            current = part_of(notebook)
            lines += [f'  - caption: "{current}"', "    chapters:"]
        # book/notebooks holds the chapters as their tests ran them (make book): Sphinx reads
        # only files under book/.
        lines.append(f"      - file: notebooks/{notebook.stem}")
    return "\n".join(lines) + "\n"


def main() -> None:
    text = toc_text(chapters())
    if not TOC.exists() or TOC.read_text() != text:
        TOC.write_text(text)
        print(f"Wrote {TOC.relative_to(ROOT)}: {len(chapters())} chapters.")


if __name__ == "__main__":
    main()
