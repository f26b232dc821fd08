"""Planted submissions for the classroom tests: one module per assignment, named after it,
whose ``PLANTS`` maps a planted student ("mistake", "loop", "exception") to its change."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Plant:
    """A student's change to the reference solution, and the tests it must cost them."""

    cell: str  # grade id of the solution cell
    old: str  # text of the reference solution...
    new: str  # ...that the student wrote differently
    loses: tuple[str, ...]  # grade ids of the test cells that must score zero


LOOP = "    while True:  # an infinite loop\n        pass\n"
RAISE = "    raise RuntimeError('a bug in my code')\n"


def plants(assignment: str) -> dict[str, Plant]:
    """The planted submissions of one assignment (its module in this package)."""
    return importlib.import_module(f"classroom_plants.{assignment}").PLANTS
