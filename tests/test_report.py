"""The table of checks (nnlearn.report): rendered as text and HTML, raising with the whole table,
and joined from several reports. The reports are made by nnlearn.parity.compare."""

import numpy as np
import pytest

from nnlearn import parity
from nnlearn.report import Report, ToleranceError

pytestmark = pytest.mark.harness


def test_report_renders_a_table_as_text_and_html_and_raises_with_it():
    expected = {"output": np.array([1.0, 2.0]), "d/dx": np.array([3.0])}
    actual = {"output": np.array([1.0, 2.0]), "d/dx": np.array([3.5])}
    report = parity.compare(actual, expected, np.float64)
    text = str(report)
    assert "max abs error" in text and "5.00e-01" in text and "NO" in text
    html = report._repr_html_()
    assert "<table>" in html and "<td>d/dx</td>" in html
    with pytest.raises(ToleranceError) as raised:
        report.assert_ok()
    assert "tolerance broken for d/dx" in str(raised.value) and "max abs error" in str(raised.value)


def test_joined_reports_prefix_each_row_and_raise_with_the_whole_table():
    good = parity.compare({"y": np.ones(2)}, {"y": np.ones(2)}, np.float64)
    bad = parity.compare({"y": np.zeros(2)}, {"y": np.ones(2)}, np.float64)
    joined = Report.join("two optimizers", {"SGD": good, "Adam": bad})
    assert [row.name for row in joined.rows] == ["SGD: y", "Adam: y"]
    assert not joined.ok and joined.criterion == good.criterion
    np.testing.assert_array_equal(joined.expected["Adam: y"], np.ones(2))
    with pytest.raises(ToleranceError, match="tolerance broken for Adam: y") as raised:
        joined.assert_ok()
    assert "SGD: y" in str(raised.value) and "two optimizers" in str(raised.value)
