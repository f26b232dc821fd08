"""Shared by every test. Imports only numpy, torch and pytest, so the parity suite runs on a
GPU machine that has nothing else (``make test-gpu``)."""

import numpy as np
import pytest

from nnlearn.parity import available_devices
from nnlearn.seeding import seed_everything
from nnlearn.tensor import get_default_dtype, set_default_dtype


def device_dtype_cases() -> list[tuple[str, np.dtype]]:
    """float64 and float32 on the CPU, and float32 on each accelerator present."""
    cases = [("cpu", np.dtype(np.float64)), ("cpu", np.dtype(np.float32))]
    return cases + [(device, np.dtype(np.float32)) for device in available_devices()[1:]]


def pytest_report_header(config):
    return f"nnlearn parity devices: {', '.join(available_devices())}"


def pytest_generate_tests(metafunc):
    """A test that takes ``device_dtype`` runs once per device and dtype from above."""
    if "device_dtype" in metafunc.fixturenames:
        cases = device_dtype_cases()
        ids = [f"{device}-{dtype.name}" for device, dtype in cases]
        metafunc.parametrize("device_dtype", cases, ids=ids)


@pytest.fixture(autouse=True)
def same_draws_whatever_ran_before():
    """Every test starts from nnlearn's, numpy's and torch's generators seeded with 0, so what
    it draws (a layer's initial weights, say) does not depend on the tests that ran before it in
    its process: ``make test`` spreads the test files over two processes."""
    seed_everything(0)


@pytest.fixture
def float64_default():
    """nnlearn's default dtype is float64 for the test (numeric gradient checks need it), and
    what it was afterwards. A test file asks for it with
    ``pytest.mark.usefixtures("float64_default")`` in its ``pytestmark``."""
    saved = get_default_dtype()
    set_default_dtype("float64")
    yield
    set_default_dtype(saved)
