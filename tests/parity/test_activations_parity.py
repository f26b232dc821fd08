"""Chapter 02: every activation matches torch's own, value and gradient, on every device.

One line per case below; each case is also checked against numeric gradients, and a wrong
formula planted in any activation's forward or backward is shown to be caught by the cases.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from planting import a_case_fails, functions_defined_in, planted_formula_test

import nnlearn as nl
from nnlearn import activations as A
from nnlearn.gradcheck import gradcheck
from nnlearn.parity import check_function

pytestmark = pytest.mark.chapter02


@dataclass(frozen=True)
class Case:
    name: str
    nn_fn: Callable
    torch_fn: Callable
    x: np.ndarray


_rng = np.random.default_rng(2)
# Away from the kinks at 0 (numeric gradients need a smooth neighbourhood): |x| in [0.1, 3].
X = _rng.uniform(0.1, 3.0, (3, 5)) * _rng.choice([-1.0, 1.0], (3, 5))
X3 = _rng.standard_normal((2, 3, 4))
# Far into the tails, where a naive formula overflows or loses every digit (0 is not on it).
WIDE = np.linspace(-60.0, 60.0, 12)
LARGE_LOGITS = X * 1000.0

CASES = [
    Case("linear", A.linear, lambda t: t, X),
    Case("relu", A.relu, torch.relu, X),
    # nnlearn's default slope is Keras's 0.2; torch's F.leaky_relu defaults to 0.01.
    Case("leaky_relu", A.leaky_relu, lambda t: F.leaky_relu(t, 0.2), X),
    Case("leaky_relu_torch_slope", lambda t: A.leaky_relu(t, 0.01), F.leaky_relu, X),
    Case("elu", A.elu, F.elu, X),
    Case("elu_alpha", lambda t: A.elu(t, alpha=0.5), lambda t: F.elu(t, alpha=0.5), X),
    Case("sigmoid", A.sigmoid, torch.sigmoid, X),
    Case("tanh", A.tanh, torch.tanh, X),
    Case("softplus", A.softplus, F.softplus, X),
    Case("gelu", A.gelu, F.gelu, X),
    Case(
        "gelu_tanh",
        lambda t: A.gelu(t, approximate=True),
        lambda t: F.gelu(t, approximate="tanh"),
        X,
    ),
    Case("silu", A.silu, F.silu, X),
    Case("softmax", A.softmax, lambda t: torch.softmax(t, dim=-1), X),
    Case("softmax_axis0", lambda t: A.softmax(t, axis=0), lambda t: torch.softmax(t, dim=0), X),
    Case(
        "softmax_temperature",
        lambda t: A.softmax(t, temperature=0.5),
        lambda t: torch.softmax(t / 0.5, dim=-1),
        X,
    ),
    Case(
        "softmax_hot_temperature",
        lambda t: A.softmax(t, axis=1, temperature=4.0),
        lambda t: torch.softmax(t / 4.0, dim=1),
        X3,
    ),
    Case("log_softmax", A.log_softmax, lambda t: F.log_softmax(t, dim=-1), X),
    Case("log_softmax_axis1", lambda t: A.log_softmax(t, 1), lambda t: F.log_softmax(t, 1), X3),
]
# Stability: the same functions far out, and softmax of logits in the thousands.
WIDE_CASES = [
    Case(f"{c.name}_wide", c.nn_fn, c.torch_fn, WIDE)
    for c in CASES
    if c.name in ("elu", "sigmoid", "tanh", "softplus", "gelu", "gelu_tanh", "silu", "leaky_relu")
] + [
    Case("softmax_large_logits", A.softmax, lambda t: torch.softmax(t, dim=-1), LARGE_LOGITS),
    Case("log_softmax_large_logits", A.log_softmax, lambda t: F.log_softmax(t, -1), LARGE_LOGITS),
]
ALL_CASES = CASES + WIDE_CASES


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.name)
def test_activation_matches_torch(case, device_dtype):
    device, dtype = device_dtype
    check_function(case.nn_fn, case.torch_fn, case.x, device=device, dtype=dtype).assert_ok()


# Not the wide cases: far out, central differences lose more digits than the check allows.
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_activation_backward_matches_numeric_gradient(case):
    gradcheck(case.nn_fn, case.x).assert_ok()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_activation_keeps_float32(case):
    x = nl.Tensor(case.x.astype(np.float32), requires_grad=True)
    y = case.nn_fn(x)
    y.backward(np.ones(y.shape, dtype=np.float32))
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


# --- kinks: the value and the one-sided choice of derivative at exactly 0 follow PyTorch ---------
KINK = np.array([-1.0, 0.0, 1.0])
KINK_CASES = [
    Case("relu_at_0", A.relu, torch.relu, KINK),
    Case("leaky_relu_at_0", lambda t: A.leaky_relu(t, 0.2), lambda t: F.leaky_relu(t, 0.2), KINK),
    Case("elu_at_0", lambda t: A.elu(t, alpha=0.5), lambda t: F.elu(t, alpha=0.5), KINK),
]


@pytest.mark.parametrize("case", KINK_CASES, ids=lambda c: c.name)
def test_value_and_gradient_at_a_kink_match_torch(case, device_dtype):
    device, dtype = device_dtype
    check_function(case.nn_fn, case.torch_fn, case.x, device=device, dtype=dtype).assert_ok()


@pytest.mark.parametrize(
    ("name", "params", "torch_fn"),
    [
        ("relu", {}, torch.relu),
        ("leaky_relu", {"negative_slope": 0.2}, lambda t: F.leaky_relu(t, 0.2)),
        ("elu", {"alpha": 0.5}, lambda t: F.elu(t, alpha=0.5)),
    ],
)
def test_derivative_at_a_kink_is_torchs(name, params, torch_fn):
    t = torch.tensor(KINK, requires_grad=True)
    torch_fn(t).sum().backward()
    np.testing.assert_array_equal(A.derivative(name, KINK, **params), t.grad.numpy())


# --- a wrong formula anywhere is noticed ---------------------------------------------------------
FUNCTIONS = functions_defined_in(A)

test_a_planted_wrong_formula_is_caught = planted_formula_test(
    FUNCTIONS, lambda: a_case_fails(CASES, lambda c: (c.x,))
)


def test_every_activation_function_is_planted():
    assert {f.__name__ for f in FUNCTIONS} >= {c.__name__ for c in A.FUNCTIONS.values()}
    assert {"Softmax", "LogSoftmax"} <= {f.__name__ for f in FUNCTIONS}


# --- derivative() and saturation_mask() against closed forms -------------------------------------
GRID = np.linspace(-5.0, 5.0, 101)  # contains 0 exactly
_s = 1 / (1 + np.exp(-GRID))
_cdf = 0.5 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in GRID]))
_u = math.sqrt(2 / math.pi) * (GRID + 0.044715 * GRID**3)  # gelu's tanh form: Phi ~ (1 + tanh u)/2
CLOSED_FORMS = {
    ("relu", ()): np.where(GRID > 0, 1.0, 0.0),
    ("leaky_relu", ()): np.where(GRID > 0, 1.0, 0.2),  # Keras's default slope
    ("leaky_relu", (("negative_slope", 0.01),)): np.where(GRID > 0, 1.0, 0.01),  # torch's
    ("elu", ()): np.where(GRID > 0, 1.0, np.exp(GRID)),
    ("elu", (("alpha", 0.5),)): np.where(GRID > 0, 1.0, 0.5 * np.exp(GRID)),
    ("sigmoid", ()): _s * (1 - _s),
    ("tanh", ()): 1 - np.tanh(GRID) ** 2,
    ("softplus", ()): _s,
    ("gelu", ()): _cdf + GRID * np.exp(-(GRID**2) / 2) / math.sqrt(2 * math.pi),
    ("gelu", (("approximate", True),)): 0.5 * (1 + np.tanh(_u))
    + 0.5 * GRID * (1 - np.tanh(_u) ** 2) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * GRID**2),
    ("silu", ()): _s * (1 + GRID * (1 - _s)),
    ("linear", ()): np.ones_like(GRID),
}


@pytest.mark.parametrize(("name", "params"), list(CLOSED_FORMS), ids=lambda v: str(v))
def test_derivative_matches_its_closed_form(name, params):
    got = A.derivative(name, GRID, **dict(params))
    np.testing.assert_allclose(got, CLOSED_FORMS[name, params], rtol=1e-12, atol=1e-15)


def test_closed_forms_cover_every_elementwise_activation():
    assert {name for name, _ in CLOSED_FORMS} == set(A.NAMES)


@pytest.mark.parametrize("name", A.NAMES)
def test_derivative_runs_the_activations_own_backward(name, monkeypatch):
    monkeypatch.setattr(A.FUNCTIONS[name], "backward", lambda self, g: g * 7.0)
    np.testing.assert_array_equal(A.derivative(name, GRID), np.full_like(GRID, 7.0))


def test_derivative_keeps_the_shape_and_float32():
    x = GRID.astype(np.float32).reshape(1, 101)
    got = A.derivative("tanh", x)
    assert got.shape == (1, 101) and got.dtype == np.float32
    assert A.derivative("relu", [-1, 2]).tolist() == [0.0, 1.0]  # ints become float64


def test_saturation_mask_marks_where_the_derivative_is_small():
    np.testing.assert_array_equal(A.saturation_mask("sigmoid", GRID), _s * (1 - _s) < 0.05)
    np.testing.assert_array_equal(
        A.saturation_mask("tanh", GRID, threshold=0.1), 1 - np.tanh(GRID) ** 2 < 0.1
    )
    np.testing.assert_array_equal(A.saturation_mask("relu", GRID), GRID <= 0)
    np.testing.assert_array_equal(
        A.saturation_mask("leaky_relu", GRID, negative_slope=0.1), np.zeros_like(GRID, bool)
    )
