"""Planting wrong formulas, to show the parity cases notice them (mutation testing by hand)."""

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import nnlearn as nl
from nnlearn.gradcheck import gradcheck
from nnlearn.parity import check_function


def functions_defined_in(module: ModuleType) -> list[type[nl.Function]]:
    """Every Function subclass a module defines (not those it imports)."""
    return [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, nl.Function) and cls.__module__ == module.__name__
    ]


def wrong_backward(original):
    """The right gradients scaled by 1.5 plus 0.1: a plausible slip in a derivative."""

    def backward(self, g):
        grads = original(self, g)
        if isinstance(grads, tuple):
            return tuple(None if x is None else x * 1.5 + 0.1 for x in grads)
        return grads * 1.5 + 0.1

    return backward


def wrong_forward(original):
    """A value off by one part in a million: more than float64's tolerance allows."""
    return lambda self, *arrays, **options: original(self, *arrays, **options) * (1 + 1e-6)


PLANTS = {"forward": wrong_forward, "backward": wrong_backward}


def a_case_fails(cases: Sequence[Any], inputs: Callable[[Any], Sequence[np.ndarray]]) -> bool:
    """Whether any parity case (``nn_fn``, ``torch_fn``) breaks float64 tolerance on the CPU."""
    return any(
        not check_function(c.nn_fn, c.torch_fn, *inputs(c), device="cpu", dtype=np.float64).ok
        for c in cases
    )


def planted_formula_test(functions: Sequence[type[nl.Function]], cases_fail: Callable[[], bool]):
    """A test, parametrized over ``functions`` and forward/backward, that plants a wrong formula
    and asserts ``cases_fail()`` notices; the cases must pass before the planting."""
    passes_unplanted = functools.cache(lambda: not cases_fail())

    @pytest.mark.parametrize("part", ["forward", "backward"])
    @pytest.mark.parametrize("function", functions, ids=lambda f: f.__name__)
    def test(function, part, monkeypatch):
        assert passes_unplanted(), "the cases must pass before the planting"
        monkeypatch.setattr(function, part, PLANTS[part](getattr(function, part)))
        assert cases_fail(), f"no parity case noticed a wrong {function.__name__}.{part}"

    return test


@dataclass(frozen=True)
class FormulaCase:
    """A fused Function's case: ``function`` (of Tensors) on ``inputs`` must give what
    ``formula`` (the same maths on arrays, written out) gives, and pass a numeric gradient
    check; :func:`planted_formula_test` plants wrong formulas and expects a case to fail."""

    name: str
    function: Callable
    inputs: tuple
    formula: Callable
    rtol: float = 1e-7
    atol: float = 1e-9

    def forward_ok(self) -> bool:
        got = self.function(*(nl.Tensor(a) for a in self.inputs)).data
        return np.allclose(got, self.formula(*self.inputs), rtol=self.rtol, atol=self.atol)

    def backward_ok(self) -> bool:
        return gradcheck(self.function, *self.inputs).ok
