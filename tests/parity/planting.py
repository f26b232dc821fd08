"""Planting wrong formulas, to show the parity cases notice them (mutation testing by hand)."""

import inspect
from types import ModuleType

import nnlearn as nl


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
