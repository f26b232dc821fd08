"""A small table of checks that renders as text and in a notebook, and can raise.

Parity checks (:mod:`nnlearn.parity`) and numeric gradient checks (:mod:`nnlearn.gradcheck`)
both answer "which quantities agree, and by how much": they return a :class:`Report`.
Several reports (one per optimizer, say) join into one table with :meth:`Report.join`.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any


class ToleranceError(AssertionError):
    """A check in a :class:`Report` broke its tolerance; the message holds the table."""


@dataclass(frozen=True)
class Row:
    """One checked quantity: its name, shape, error measures and whether it passed."""

    name: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    ok: bool


class Report:
    """Rows of checks under a title and a line stating the criterion.

    ``str(report)`` is a plain-text table; in a notebook it renders as an HTML table;
    ``report.ok`` says whether every row passed; ``report.assert_ok()`` raises
    :class:`ToleranceError`, showing the table, when one did not. ``actual`` and
    ``expected`` keep the compared values by row name (the checked side and the reference),
    so a notebook can plot, say, both loss curves after checking them.
    """

    columns = ("quantity", "shape", "max abs error", "max rel error", "ok")

    def __init__(
        self,
        title: str,
        criterion: str,
        rows: list[Row],
        actual: Mapping[str, Any] | None = None,
        expected: Mapping[str, Any] | None = None,
    ) -> None:
        self.title, self.criterion, self.rows = title, criterion, rows
        self.actual, self.expected = dict(actual or {}), dict(expected or {})

    @classmethod
    def join(cls, title: str, reports: Mapping[str, Report]) -> Report:
        """One table of several reports: each row's name is prefixed by its report's label.

        ``Report.join("optimizers vs torch.optim", {"SGD": r1, "Adam": r2})`` has rows
        ``"SGD: param 0"``, ..., ``"Adam: param 0"``, ...; its ``assert_ok()`` shows them all.
        """
        rows, actual, expected = [], {}, {}
        for label, report in reports.items():
            rows += [replace(row, name=f"{label}: {row.name}") for row in report.rows]
            actual.update({f"{label}: {k}": v for k, v in report.actual.items()})
            expected.update({f"{label}: {k}": v for k, v in report.expected.items()})
        criteria = dict.fromkeys(report.criterion for report in reports.values())
        return cls(title, "\n".join(criteria), rows, actual, expected)

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    def assert_ok(self) -> Report:
        """Raise :class:`ToleranceError` with the table if any row failed; else return self."""
        if not self.ok:
            failed = ", ".join(row.name for row in self.rows if not row.ok)
            raise ToleranceError(f"tolerance broken for {failed}\n{self}")
        return self

    def _cells(self) -> list[tuple[str, ...]]:
        return [
            (
                row.name,
                str(row.shape),
                f"{row.max_abs_error:.2e}",
                f"{row.max_rel_error:.2e}",
                "yes" if row.ok else "NO",
            )
            for row in self.rows
        ]

    def __str__(self) -> str:
        cells = [self.columns, *self._cells()]
        widths = [max(len(line[i]) for line in cells) for i in range(len(self.columns))]
        lines = [
            "  ".join(text.ljust(w) for text, w in zip(line, widths, strict=True)) for line in cells
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([self.title, *lines, self.criterion])

    __repr__ = __str__

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
            for cells in self._cells()
        )
        return (
            f"<p><b>{html.escape(self.title)}</b></p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            f"<p><small>{html.escape(self.criterion)}</small></p>"
        )
