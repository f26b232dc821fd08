"""The learner's working copy of the chapters: ``work/``, git-ignored, what ``make course`` opens.

Running a chapter in JupyterLab saves its outputs into the notebook file. The chapters in
``notebooks/`` are the course as published (committed without outputs), so a learner runs and
edits copies of them instead, and ``git pull`` always finds a clean repository.

* ``fill``: copies into ``work/`` every chapter it does not have yet: all of them on first use,
  the new ones after an update. A copy that is there is never touched.
* ``refresh [CHAPTER]``: replaces the copy of one chapter (``03`` or ``03_layers``), or of every
  chapter, with the course's version. A copy that differs from it is moved first to
  ``work/backups/<date>_<time>/``, so nothing a learner wrote is lost.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "notebooks"
WORK = ROOT / "work"
BACKUPS = "backups"


def chapters(course: Path) -> list[Path]:
    """The course's notebooks, in order."""
    return sorted(course.glob("*.ipynb"))


def select(course: Path, chapter: str | None) -> list[Path]:
    """Every chapter, or the one named ``03``, ``03_layers`` or ``03_layers.ipynb``."""
    every = chapters(course)
    if chapter is None:
        return every
    found = [p for p in every if chapter in (p.name, p.stem) or p.stem.startswith(f"{chapter}_")]
    if len(found) != 1:
        names = ", ".join(p.stem for p in every)
        sys.exit(f"No chapter {chapter!r} in {course}; the chapters are: {names}")
    return found


def fill(course: Path = COURSE, work: Path = WORK) -> list[str]:
    """Copy the chapters that ``work`` lacks; return their names."""
    work.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in chapters(course):
        if not (work / source.name).exists():
            shutil.copyfile(source, work / source.name)
            copied.append(source.name)
    return copied


def new_backup_folder(work: Path) -> Path:
    """``work/backups/<date>_<time>/``, a new folder even for two refreshes in one second."""
    stamp = datetime.now().strftime("%Y-%m-%d_%H%M%S")
    folder, n = work / BACKUPS / stamp, 1
    while folder.exists():
        n += 1
        folder = work / BACKUPS / f"{stamp}_{n}"
    return folder


def refresh(
    course: Path = COURSE, work: Path = WORK, chapter: str | None = None
) -> dict[str, Path | None]:
    """Give ``work`` the course's version of one chapter or all of them.

    Returns each refreshed chapter's name -> where its old copy went (None: there was none,
    or it was the course's version already, so nothing was moved).
    """
    selected = select(course, chapter)
    work.mkdir(parents=True, exist_ok=True)
    backup, moved = None, {}
    for source in selected:
        target = work / source.name
        moved[source.name] = None
        if target.exists() and filecmp.cmp(source, target, shallow=False):
            continue
        if target.exists():
            backup = backup or new_backup_folder(work)
            backup.mkdir(parents=True, exist_ok=True)
            moved[source.name] = Path(shutil.move(target, backup / source.name))
        shutil.copyfile(source, target)
    return moved


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("fill", "refresh"))
    parser.add_argument("chapter", nargs="?", help="refresh only this chapter, e.g. 03")
    parser.add_argument("--course", type=Path, default=COURSE)
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args(argv)
    if args.command == "fill":
        copied = fill(args.course, args.work)
        if copied:
            print(f"Copied {len(copied)} chapter(s) into {args.work}: {', '.join(copied)}")
        return
    for name, old in refresh(args.course, args.work, args.chapter).items():
        kept = f"; your old copy is {old}" if old else ""
        print(f"{name}: the course's version{kept}")


if __name__ == "__main__":
    main()
