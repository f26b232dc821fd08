"""Chapter 07: nnlearn's optimizers take the same steps as torch.optim.

From the same initial parameters (several shapes) and the same sequence of random gradients,
25 steps of each nnlearn optimizer must land on the parameters torch.optim reaches with the
same settings, for a grid of each optimizer's options, on every device. One parameter gets
no gradient every few steps, so both sides must skip it (and keep its step count behind).
A planted slip in any update rule must break that parity. The schedules:
test_schedules_parity.py.
"""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

from nnlearn import optim, parity
from nnlearn.parity.twins import TORCH_OPTIMIZERS

pytestmark = pytest.mark.chapter07


SHAPES = [(3, 4), (4,), (2, 3, 2)]
STEPS = 25
SKIPPED_PARAM, SKIP_EVERY = 1, 4  # param 1 has grad None on every 4th step
OPTIMIZERS = [getattr(optim, name) for name in TORCH_OPTIMIZERS]


@dataclass(frozen=True)
class Case:
    optimizer: type[optim.Optimizer]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        options = ",".join(f"{k}={v}" for k, v in self.settings.items())
        return f"{self.optimizer.__name__}({options})"


CASES = [
    Case(optim.SGD, {"lr": 0.1}),
    Case(optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    Case(optim.SGD, {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}),
    Case(optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    Case(optim.SGD, {"lr": 0.1, "weight_decay": 0.1}),
    Case(optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05}),
    Case(optim.Adagrad, {"lr": 0.1}),
    Case(optim.Adagrad, {"lr": 0.1, "weight_decay": 0.1}),
    Case(optim.Adagrad, {"lr": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-3}),
    Case(optim.Adagrad, {"lr": 0.1, "lr_decay": 0.05}),
    Case(optim.RMSprop, {"lr": 0.01}),
    Case(optim.RMSprop, {"lr": 0.01, "alpha": 0.9, "eps": 1e-4}),
    Case(optim.RMSprop, {"lr": 0.01, "momentum": 0.9}),
    Case(optim.RMSprop, {"lr": 0.01, "centered": True}),
    Case(optim.RMSprop, {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    Case(optim.Adam, {"lr": 0.05}),
    Case(optim.Adam, {"lr": 0.05, "amsgrad": True}),
    Case(optim.Adam, {"lr": 0.05, "weight_decay": 0.1}),
    Case(optim.Adam, {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6, "amsgrad": True}),
    Case(optim.AdamW, {"lr": 0.05}),
    Case(optim.AdamW, {"lr": 0.05, "weight_decay": 0.1, "amsgrad": True}),
    Case(optim.AdamW, {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.0}),
]


def _trajectory(seed: int) -> tuple[list[np.ndarray], list[list[np.ndarray | None]]]:
    """Initial parameters and, for every step, one gradient per parameter (None = skipped)."""
    rng = np.random.default_rng(seed)
    initial = [rng.standard_normal(shape) for shape in SHAPES]
    grads = [
        [
            None if (i == SKIPPED_PARAM and step % SKIP_EVERY == 0) else rng.standard_normal(shape)
            for i, shape in enumerate(SHAPES)
        ]
        for step in range(STEPS)
    ]
    return initial, grads


def run_case(case: Case, device: str, dtype: np.dtype, seed: int = 0) -> parity.Report:
    """Run the case in nnlearn and in torch.optim from the same start; compare the params.

    torch.optim gets only the case's settings, so a default nnlearn gets wrong shows too.
    """
    initial, grads = _trajectory(seed)
    torch_class = getattr(torch.optim, case.optimizer.__name__)
    return parity.check_optimizer(
        case.optimizer(**case.settings),
        initial,
        grads,
        torch_optimizer=functools.partial(torch_class, **case.settings),
        device=device,
        dtype=dtype,
        title=f"{case.name}, {STEPS} steps, vs torch.optim on {device}, {dtype}",
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_optimizer_steps_match_torch_optim(case, device_dtype):
    device, dtype = device_dtype
    run_case(case, device, dtype).assert_ok()


def test_every_option_of_every_optimizer_is_exercised():
    for cls in OPTIMIZERS:
        tried = {k for c in CASES if c.optimizer is cls for k in c.settings}
        options = set(cls().hyperparameters) | {"lr"}
        assert tried == options, f"{cls.__name__}: no parity case sets {options - tried}"


# --- planted mistakes --------------------------------------------------------------------
def _overshooting(rule):
    """The right update made 2% too long: a small slip anywhere in a rule."""

    def update(param, grad, state, **settings):
        before = param.copy()
        rule(param, grad, state, **settings)
        param += 0.02 * (param - before)

    return update


def _with(rule, **changes):
    """The rule run with some settings changed: how several classic mistakes look."""

    def update(param, grad, state, **settings):
        rule(param, grad, state, **{**settings, **{k: f(settings) for k, f in changes.items()}})

    return update


def _plant_rule(monkeypatch, cls, rule):
    monkeypatch.setattr(cls, "rule", staticmethod(rule))


# (description, how to plant it, optimizers whose parity must break)
MISTAKES = [
    (
        "SGD momentum with the wrong sign",
        lambda mp: _plant_rule(
            mp, optim.SGD, _with(optim.sgd_update, momentum=lambda s: -s["momentum"])
        ),
        [optim.SGD],
    ),
    (
        "Adagrad ignoring initial_accumulator_value",
        lambda mp: _plant_rule(
            mp,
            optim.Adagrad,
            _with(optim.adagrad_update, initial_accumulator_value=lambda s: 0.0),
        ),
        [optim.Adagrad],
    ),
    (
        "centered RMSprop not subtracting the squared mean gradient",
        lambda mp: _plant_rule(
            mp, optim.RMSprop, _with(optim.rmsprop_update, centered=lambda s: False)
        ),
        [optim.RMSprop],
    ),
    (
        "Adam without bias correction",  # in the module where Adam's rule looks it up
        lambda mp: mp.setattr(
            sys.modules[optim.adam_update.__module__], "bias_correction", lambda beta, step: 1.0
        ),
        [optim.Adam, optim.AdamW],
    ),
    (
        "AdamW decaying the weights as an L2 gradient term (plain Adam)",
        lambda mp: _plant_rule(mp, optim.AdamW, optim.adam_update),
        [optim.AdamW],
    ),
]


def _failing_cases(cls: type[optim.Optimizer]) -> list[str]:
    return [
        c.name
        for c in CASES
        if c.optimizer is cls and not run_case(c, "cpu", np.dtype(np.float64)).ok
    ]


@pytest.mark.parametrize("cls", OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_a_planted_overshoot_in_each_update_rule_breaks_parity(cls, monkeypatch):
    assert not _failing_cases(cls), "the cases must pass before the planting"
    _plant_rule(monkeypatch, cls, _overshooting(cls.rule))
    assert _failing_cases(cls), f"no parity case noticed a wrong {cls.rule.__name__}"


@pytest.mark.parametrize("mistake", MISTAKES, ids=lambda m: m[0])
def test_a_planted_classic_mistake_breaks_parity(mistake, monkeypatch):
    description, plant, broken = mistake
    plant(monkeypatch)
    for cls in broken:
        assert _failing_cases(cls), f"no {cls.__name__} parity case noticed {description}"
