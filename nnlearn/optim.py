r"""Optimizers: the classes that turn gradients into parameter updates (chapter 07).

An optimizer (``SGD``, ``Adagrad``, ``RMSprop``, ``Adam``, ``AdamW``) holds the parameters
(nnlearn Tensors), the learning rate ``lr`` and the other hyperparameters. Its ``step()`` calls
its **update rule** once for every parameter that has a gradient; the rules are plain functions
of numpy arrays in :mod:`nnlearn.update_rules` (also importable from here, e.g.
``nl.optim.adam_update``), and a class only names its rule and its defaults.

Which library each name follows (the README's "Conventions"):

* The **classes** are ``torch.optim``'s: same names, argument order, defaults (so ``SGD``'s
  ``lr`` is 1e-3) and semantics; the parity tests compare them step by step. ``weight_decay``
  in SGD, Adagrad, RMSprop and Adam is an L2 penalty, :math:`\lambda\theta` added to the
  gradient; AdamW *decouples* it, :math:`\theta \leftarrow \theta(1 - \eta\lambda)` before the
  Adam step. ``step()`` skips parameters whose ``grad`` is None; ``zero_grad()`` sets every
  ``grad`` to None.
* Keras's keyword ``learning_rate=`` is accepted beside ``lr`` (giving both is an error), and
  ``optimizer.learning_rate`` is ``optimizer.lr``.
* A **name**, ``get("adam")`` (what ``compile(optimizer="adam")`` uses), is Keras's API and
  gets Keras 3's defaults, written in torch's parameterisation: the table
  :data:`KERAS_DEFAULTS`. The formulas stay torch's, so where Keras places epsilon differently
  the steps are twins that agree unless gradients are as small as epsilon (see the table).

``lr`` is a plain attribute read at every step, so a schedule (:mod:`nnlearn.schedules`, also
importable from here) or your own code can change it between steps. One addition to torch's
API: ``params`` is optional, Keras style. ``Adam(lr=1e-3)`` makes an optimizer with no
parameters yet; ``add_params(model.parameters())`` gives them later (``fit`` does this).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

# The schedules live in their own module, which imports nothing from this one.
from nnlearn.schedules import CosineAnnealingLR as CosineAnnealingLR
from nnlearn.schedules import ExponentialLR as ExponentialLR
from nnlearn.schedules import LRScheduler as LRScheduler
from nnlearn.schedules import StepLR as StepLR
from nnlearn.tensor import Tensor

# The update rules live in their own module; `X as X` re-exports them from here.
from nnlearn.update_rules import State as State
from nnlearn.update_rules import adagrad_update as adagrad_update
from nnlearn.update_rules import adam_update as adam_update
from nnlearn.update_rules import adamw_update as adamw_update
from nnlearn.update_rules import bias_correction as bias_correction
from nnlearn.update_rules import rmsprop_update as rmsprop_update
from nnlearn.update_rules import sgd_update as sgd_update

# Hyperparameters torch requires to be >= 0 (the same names in every optimizer).
_NON_NEGATIVE = (
    "lr",
    "lr_decay",
    "eps",
    "momentum",
    "weight_decay",
    "alpha",
    "initial_accumulator_value",
)

# Keras's names for settings torch (and so nnlearn) names differently, for the error message.
_KERAS_NAMES = {
    "epsilon": "eps=",
    "rho": "alpha=",
    "beta_1": "betas=(beta_1, beta_2)",
    "beta_2": "betas=(beta_1, beta_2)",
}


def _signature(defaults: dict[str, Any]) -> inspect.Signature:
    """``(params=None, <each default in order>, *, learning_rate=None)``: torch's signature plus
    Keras's keyword; what ``help()``, tab completion and argument checking see."""
    P = inspect.Parameter
    return inspect.Signature(
        [
            P("params", P.POSITIONAL_OR_KEYWORD, default=None),
            *(P(name, P.POSITIONAL_OR_KEYWORD, default=value) for name, value in defaults.items()),
            P("learning_rate", P.KEYWORD_ONLY, default=None),
        ]
    )


class Optimizer:
    r"""Holds parameters and hyperparameters; ``step()`` applies the update rule to each.

    A subclass names two things: ``rule``, its update rule (``staticmethod(adam_update)``), and
    ``defaults``, every hyperparameter with torch's default, in torch's argument order, ``lr``
    first. From ``defaults`` the class gets its signature,
    ``(params=None, lr=..., ..., *, learning_rate=None)``:

    Args:
        params: an iterable of leaf Tensors to optimize, or None to add them later with
            :meth:`add_params`.
        lr: the learning rate :math:`\eta` (>= 0), the attribute ``lr``.
        learning_rate: Keras's name for ``lr`` (give one of the two).
        the rest: the rule's other settings, kept in the dict ``self.hyperparameters``.

    ``self.state[id(p)]`` is the dict of arrays the rule keeps for parameter ``p`` (keyed by
    id, like torch's ``optimizer.state[p]``, so Tensors need not be hashable).
    """

    rule: Callable[..., None]
    defaults: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__signature__ = _signature(cls.defaults)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            given = self.__signature__.bind(*args, **kwargs).arguments
        except TypeError as error:
            keras = [f"Keras's {k} is {_KERAS_NAMES[k]} here" for k in kwargs if k in _KERAS_NAMES]
            raise TypeError("; ".join([f"{self._name}: {error}", *keras])) from None
        params = given.pop("params", None)
        learning_rate = given.pop("learning_rate", None)
        if learning_rate is not None:
            if "lr" in given:
                raise TypeError(
                    f"{self._name} got lr={given['lr']!r} and learning_rate={learning_rate!r}: "
                    f"they are one setting (torch's and Keras's name for it); give only one"
                )
            given["lr"] = learning_rate
        settings = {**self.defaults, **given}
        self._check(settings)
        self.lr = settings.pop("lr")
        self.hyperparameters = settings
        self.params: list[Tensor] = []
        self.state: dict[int, State] = {}
        if params is not None:
            self.add_params(params)

    def _check(self, settings: dict[str, Any]) -> None:
        """Raise where torch raises for these settings (subclasses add their own checks)."""
        for name, value in settings.items():
            if name in _NON_NEGATIVE and not value >= 0:  # `not >=` also rejects nan
                label = "learning rate" if name == "lr" else name
                raise ValueError(f"{self._name}: invalid {label} {value!r}; it must be >= 0")

    @property
    def _name(self) -> str:
        return type(self).__name__

    @property
    def learning_rate(self) -> float:
        """Keras's name for ``lr``: reading or setting one reads or sets the other."""
        return self.lr

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self.lr = value

    def add_params(self, params: Iterable[Tensor]) -> None:
        """Add parameters to optimize; ones already held are ignored (``fit`` may call this
        every time it runs)."""
        if isinstance(params, Tensor):
            raise TypeError(
                f"{self._name}: params must be an iterable of Tensors, e.g. [w, b] or "
                f"model.parameters(), not a single Tensor"
            )
        params = list(params)
        if not params:
            raise ValueError(
                f"{self._name} got an empty parameter list (is the model built yet? a layer "
                f"without input_shape creates its parameters on its first call)"
            )
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{self._name} can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(
                    f"{self._name} can only optimize leaf Tensors (made with "
                    f"requires_grad=True), not the result of an operation"
                )
            if id(p) not in self.state:
                self.params.append(p)
                self.state[id(p)] = {}

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to None before the next ``backward()``."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place, by the optimizer's rule; a
        pruned parameter's ``mask`` (:mod:`nnlearn.pruning`) then zeroes its pruned entries."""
        if not self.params:
            raise RuntimeError(
                f"{self._name} has no parameters: pass them when creating it or call "
                f"add_params(model.parameters())"
            )
        settings = {"lr": self.lr, **self.hyperparameters}
        for p in self.params:
            if p.grad is None:
                continue
            if p.grad.shape != p.data.shape:
                raise ValueError(
                    f"{self._name}: a parameter of shape {p.shape} has a gradient of shape "
                    f"{p.grad.shape}; they must match"
                )
            self.rule(p.data, p.grad, self.state[id(p)], **settings)
            mask = getattr(p, "mask", None)  # a Parameter pruned in chapter 09
            if mask is not None:
                p.data *= mask  # its pruned entries stay zero

    def state_dict(self) -> dict[str, Any]:
        """torch's ``optimizer.state_dict()``: ``{"state": {i: {...}}, "param_groups": [{"lr":
        ..., <hyperparameters>, "params": [0, 1, ...]}]}``, the state of ``params[i]`` under
        its index (only parameters that took a step have one). Arrays are copies (torch's are
        the live tensors); what ``model.save`` writes (chapter 13)."""
        state = {
            i: {key: _copy(value) for key, value in self.state[id(p)].items()}
            for i, p in enumerate(self.params)
            if self.state[id(p)]
        }
        group = {"lr": self.lr, **self.hyperparameters, "params": list(range(len(self.params)))}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the settings and state of :meth:`state_dict` (torch's method), for the same
        parameters in the same order; arrays are copied and cast to their parameter's dtype.
        A different number of parameters, another optimizer's settings or a state array of
        the wrong shape is an error, and the optimizer is then left as it was."""
        groups = state_dict["param_groups"]
        if len(groups) != 1:
            raise ValueError(f"{self._name}.load_state_dict: expected one parameter group")
        group = dict(groups[0])
        indices = list(group.pop("params"))
        if len(indices) != len(self.params):
            raise ValueError(
                f"{self._name}.load_state_dict: the state is for {len(indices)} parameters, "
                f"this optimizer holds {len(self.params)}"
            )
        if set(group) != set(self.defaults):
            raise ValueError(
                f"{self._name}.load_state_dict: the settings {sorted(group)} are not "
                f"{self._name}'s ({sorted(self.defaults)}); is it another optimizer's state?"
            )
        self._check(group)
        states = {}
        for i, p in zip(indices, self.params, strict=True):
            state = {k: _copy(v, p.data.dtype) for k, v in state_dict["state"].get(i, {}).items()}
            for key, value in state.items():
                if isinstance(value, np.ndarray) and value.shape != p.shape:
                    raise ValueError(
                        f"{self._name}.load_state_dict: state {key!r} of parameter {i} has "
                        f"shape {value.shape}, but the parameter has shape {p.shape}"
                    )
            states[id(p)] = state
        self.lr = group["lr"]
        self.hyperparameters = {k: group[k] for k in self.defaults if k != "lr"}
        self.state = states

    def __repr__(self) -> str:
        settings = ", ".join(
            f"{k}={v!r}" for k, v in {"lr": self.lr, **self.hyperparameters}.items()
        )
        return f"{self._name}({settings})"


def _copy(value: Any, dtype: Any = None) -> Any:
    """An array state entry copied (cast to ``dtype`` when given); a number as it is."""
    return np.array(value, dtype=dtype or value.dtype) if isinstance(value, np.ndarray) else value


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum: :func:`sgd_update`."""

    rule = staticmethod(sgd_update)
    defaults = {
        "lr": 1e-3,
        "momentum": 0.0,
        "dampening": 0.0,
        "weight_decay": 0.0,
        "nesterov": False,
    }

    def _check(self, settings: dict[str, Any]) -> None:
        super()._check(settings)
        momentum, dampening = settings["momentum"], settings["dampening"]
        if settings["nesterov"] and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"SGD: Nesterov momentum requires a momentum > 0 and zero dampening "
                f"(got momentum={momentum!r}, dampening={dampening!r})"
            )


class Adagrad(Optimizer):
    """Adagrad: per-coordinate steps scaled by the accumulated squared gradients:
    :func:`adagrad_update`."""

    rule = staticmethod(adagrad_update)
    defaults = {
        "lr": 1e-2,
        "lr_decay": 0.0,
        "weight_decay": 0.0,
        "initial_accumulator_value": 0.0,
        "eps": 1e-10,
    }


class RMSprop(Optimizer):
    """RMSprop: steps divided by a running RMS of the gradient: :func:`rmsprop_update`."""

    rule = staticmethod(rmsprop_update)
    defaults = {
        "lr": 1e-2,
        "alpha": 0.99,
        "eps": 1e-8,
        "weight_decay": 0.0,
        "momentum": 0.0,
        "centered": False,
    }


class Adam(Optimizer):
    """Adam with L2 weight decay and optional AMSGrad: :func:`adam_update`."""

    rule = staticmethod(adam_update)
    defaults = {
        "lr": 1e-3,
        "betas": (0.9, 0.999),
        "eps": 1e-8,
        "weight_decay": 0.0,
        "amsgrad": False,
    }

    def _check(self, settings: dict[str, Any]) -> None:
        super()._check(settings)
        betas = tuple(settings["betas"])
        if len(betas) != 2:
            raise ValueError(f"{self._name}: betas must be two numbers (beta1, beta2), got {betas}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(
                    f"{self._name}: invalid beta parameter at index {i}: {beta!r}; "
                    f"each beta must be in [0, 1)"
                )


class AdamW(Adam):
    """Adam with decoupled weight decay: :func:`adamw_update`. Adam's settings; only the
    default ``weight_decay`` differs (0.01, as in torch)."""

    rule = staticmethod(adamw_update)
    defaults = {**Adam.defaults, "weight_decay": 1e-2}


# A name is Keras's API (`compile(optimizer="rmsprop")`), so it gets Keras 3's defaults
# (checked against keras.optimizers.<Name>().get_config() in tests/test_optim.py), written in
# torch's parameterisation: learning_rate is lr, epsilon eps, RMSprop's rho torch's alpha, Adam's
# beta_1 and beta_2 betas. A setting not listed keeps torch's default: Keras's too (momentum 0;
# centered, amsgrad, nesterov False), or a zero for one Keras lacks (dampening, lr_decay).
#
# What cannot match is where epsilon goes, so these are behavioural twins, equal to rounding
# while every sqrt(v) is far above epsilon: Keras's RMSprop and Adagrad divide by sqrt(v + eps)
# where torch divides by sqrt(v) + eps, and Keras's Adam adds eps to sqrt(v) before the bias
# correction, which is torch's Adam with eps / sqrt(1 - beta_2^t), a value that changes with
# the step t. (Keras's weight_decay is decoupled in every optimizer, torch's only in AdamW: it
# is off in Keras's defaults except AdamW's, where both shrink theta by lr * weight_decay.)
KERAS_DEFAULTS: dict[str, tuple[type[Optimizer], dict[str, Any]]] = {
    "sgd": (SGD, {"lr": 0.01}),
    "rmsprop": (RMSprop, {"lr": 1e-3, "alpha": 0.9, "eps": 1e-7}),
    "adagrad": (Adagrad, {"lr": 1e-3, "initial_accumulator_value": 0.1, "eps": 1e-7}),
    "adam": (Adam, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7}),
    "adamw": (AdamW, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-7, "weight_decay": 4e-3}),
}


def get(identifier: str | Optimizer) -> Optimizer:
    """The optimizer a name stands for (``"sgd"``, ``"rmsprop"``, ``"adagrad"``, ``"adam"``,
    ``"adamw"``; any case) with Keras 3's defaults (:data:`KERAS_DEFAULTS`) and no parameters
    yet, or ``identifier`` itself when it already is an optimizer (Keras's
    ``compile(optimizer=...)``)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(
            f"an optimizer must be a name or an Optimizer, got {type(identifier).__name__}"
        )
    try:
        cls, settings = KERAS_DEFAULTS[identifier.lower()]
    except KeyError:
        raise ValueError(
            f"unknown optimizer {identifier!r}; the names are {', '.join(KERAS_DEFAULTS)}"
        ) from None
    return cls(**settings)
