"""The parity harness itself: tolerances, reports, devices, and that it catches wrong formulas."""

import numpy as np
import pytest
import torch
from op_cases import OP_CASES
from planting import a_case_fails, functions_defined_in, planted_formula_test

import nnlearn as nl
from nnlearn import functional, parity
from nnlearn.report import ToleranceError

FUNCTIONS = functions_defined_in(functional)


test_a_planted_wrong_formula_is_caught = planted_formula_test(
    FUNCTIONS, lambda: a_case_fails(OP_CASES, lambda c: c.inputs())
)


def test_a_wrong_forward_is_caught(monkeypatch):
    monkeypatch.setattr(functional.Neg, "forward", lambda self, a: -a * (1 + 1e-6))
    report = parity.check_function(lambda a: -a, torch.neg, np.array([0.5, 1.0]), device="cpu")
    assert [row.ok for row in report.rows] == [False, True]


def test_tolerances_are_the_design_values():
    assert parity.tolerances(np.float64) == {"rtol": 1e-7, "atol": 1e-9}
    assert parity.tolerances(np.float32) == {"rtol": 1e-4, "atol": 1e-5}


def test_compare_uses_allclose_rule_at_the_dtype_tolerance():
    expected = {"y": np.array([1.0, 100.0])}
    inside = {"y": np.array([1.0 + 5e-8, 100.0 + 9e-6])}  # within 1e-9 + 1e-7 * |y|
    outside = {"y": np.array([1.0 + 5e-7, 100.0])}
    assert parity.compare(inside, expected, np.float64).ok
    assert not parity.compare(outside, expected, np.float64).ok
    assert parity.compare(outside, expected, np.float32).ok


def test_compare_rejects_a_shape_mismatch_and_nan():
    expected = {"y": np.zeros((2, 3)), "z": np.zeros(2)}
    actual = {"y": np.zeros((3, 2)), "z": np.array([0.0, np.nan])}
    report = parity.compare(actual, expected, np.float64)
    assert [row.ok for row in report.rows] == [False, False]
    assert "(3, 2) vs (2, 3)" in report.rows[0].name


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


def test_device_variable_forces_the_cpu_and_rejects_unknown_devices(monkeypatch):
    monkeypatch.setenv("NNLEARN_DEVICE", "cpu")
    assert parity.choose_device() == "cpu"
    monkeypatch.setenv("NNLEARN_DEVICE", "tpu")
    with pytest.raises(RuntimeError, match="NNLEARN_DEVICE='tpu'"):
        parity.choose_device()
    monkeypatch.delenv("NNLEARN_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else parity.available_devices()[-1]
    assert parity.choose_device() == expected


def test_check_dtype_is_float64_on_cpu_and_float32_elsewhere():
    assert parity.check_dtype("cpu") == np.float64
    assert parity.check_dtype("cuda") == np.float32
    assert parity.check_dtype("mps") == np.float32


def test_conversion_round_trip_keeps_values_and_dtype(device_dtype):
    device, dtype = device_dtype
    x = nl.Tensor(np.arange(6.0).reshape(2, 3).astype(dtype))
    t = parity.to_torch(x, device, requires_grad=True)
    assert t.requires_grad and t.device.type == device and str(t.dtype) == f"torch.{dtype.name}"
    back = parity.to_numpy(t)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, x.data)


def test_exact_float32_switches_tf32_off_and_restores_it():
    torch.backends.cuda.matmul.allow_tf32 = True
    with parity.exact_float32():
        assert not torch.backends.cuda.matmul.allow_tf32
        assert not torch.backends.cudnn.allow_tf32
    assert torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
