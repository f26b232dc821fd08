r"""Optimizers: the rules that turn gradients into parameter updates (chapter 07).

Every optimizer is two things side by side:

* an **update rule**, a plain function of numpy arrays, ``xxx_update(param, grad, state, *,
  lr, ...)``, that changes ``param`` in place using its gradient ``grad`` and the arrays it
  keeps between steps in the dict ``state`` (empty before the first step; the rule fills it).
  It touches nothing else, so a notebook or widget can run it on any array;
* a class (``SGD``, ``Adagrad``, ``RMSprop``, ``Adam``, ``AdamW``) holding the parameters (nnlearn
  Tensors), the learning rate ``lr`` and the other hyperparameters, whose ``step()`` calls the
  rule once for every parameter that has a gradient.

Semantics and defaults are those of ``torch.optim`` (the parity tests compare step by step):

* ``weight_decay`` in SGD, Adagrad, RMSprop and Adam is an L2 penalty: :math:`\lambda\theta` is
  added to the gradient. AdamW instead *decouples* it: :math:`\theta \leftarrow
  \theta(1 - \eta\lambda)` before the Adam step, so it is not rescaled by Adam's denominator.
* ``step()`` skips parameters whose ``grad`` is None (they took no part in the loss), and
  ``zero_grad()`` sets every ``grad`` to None.
* ``lr`` is a plain attribute read at every step, so a schedule (:mod:`nnlearn.schedules`, also
  importable from here) or your own code can change it between steps.

One difference in the API: ``params`` is optional, Keras style. ``Adam(lr=1e-3)`` makes an
optimizer with no parameters yet; ``add_params(model.parameters())`` gives them later (``fit``
does this). Notation in the docstrings: :math:`\theta` the parameter, :math:`g` its gradient,
:math:`\eta` the learning rate, :math:`\lambda` the weight decay, :math:`t` the step (from 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

# The schedules live in their own module; `X as X` re-exports them from here.
from nnlearn.schedules import CosineAnnealingLR as CosineAnnealingLR
from nnlearn.schedules import ExponentialLR as ExponentialLR
from nnlearn.schedules import LRScheduler as LRScheduler
from nnlearn.schedules import StepLR as StepLR
from nnlearn.tensor import Tensor

State = dict[str, Any]

# Hyperparameters torch requires to be >= 0 (the same names in every optimizer).
_NON_NEGATIVE = ("lr", "eps", "momentum", "weight_decay", "alpha", "initial_accumulator_value")


# --- update rules ---------------------------------------------------------------------------
def _with_weight_decay(grad: np.ndarray, param: np.ndarray, weight_decay: float) -> np.ndarray:
    r""":math:`g + \lambda\theta`, the gradient of the loss plus the L2 penalty
    :math:`\tfrac{\lambda}{2}\lVert\theta\rVert^2`; a new array, ``grad`` is left untouched."""
    return grad + weight_decay * param if weight_decay else grad


def bias_correction(beta: float, step: int) -> float:
    r"""The factor :math:`1 - \beta^t` that un-biases an exponential average started at zero.

    An average :math:`m_t = \beta m_{t-1} + (1-\beta) x_t` with :math:`m_0 = 0` of a constant
    :math:`x` equals :math:`(1-\beta^t)\,x`: dividing by :math:`1-\beta^t` removes the pull
    towards zero of the first steps (it tends to 1 as :math:`t` grows).
    """
    return 1.0 - beta**step


def sgd_update(
    param: np.ndarray,
    grad: np.ndarray,
    state: State,
    *,
    lr: float,
    momentum: float,
    dampening: float,
    nesterov: bool,
    weight_decay: float,
) -> None:
    r"""One step of stochastic gradient descent, with optional momentum (in place).

    .. math::

        g &\leftarrow g + \lambda\theta \\
        b_1 &= g, \qquad b_t = \mu\, b_{t-1} + (1-\tau)\, g
            \quad\text{(momentum } \mu\text{, dampening } \tau\text{)} \\
        d &= \begin{cases} g + \mu\, b_t & \text{Nesterov} \\ b_t & \text{otherwise}
            \end{cases} \qquad (d = g \text{ when } \mu = 0) \\
        \theta &\leftarrow \theta - \eta\, d

    ``state["momentum_buffer"]`` holds :math:`b` (same shape as ``param``) when :math:`\mu > 0`.
    """
    grad = _with_weight_decay(grad, param, weight_decay)
    if momentum:
        buffer = state.get("momentum_buffer")
        if buffer is None:  # torch starts the buffer at the first gradient, undamped
            buffer = state["momentum_buffer"] = grad.copy()
        else:
            buffer *= momentum
            buffer += (1 - dampening) * grad
        grad = grad + momentum * buffer if nesterov else buffer
    param -= lr * grad


def adagrad_update(
    param: np.ndarray,
    grad: np.ndarray,
    state: State,
    *,
    lr: float,
    eps: float,
    weight_decay: float,
    initial_accumulator_value: float,
) -> None:
    r"""One Adagrad step (in place): each coordinate's step shrinks with its gradient history.

    .. math::

        g &\leftarrow g + \lambda\theta \\
        s_t &= s_{t-1} + g^2 \qquad (s_0 = \text{initial\_accumulator\_value}) \\
        \theta &\leftarrow \theta - \eta\, \frac{g}{\sqrt{s_t} + \epsilon}

    ``state``: ``"step"`` (:math:`t`) and ``"sum"`` (:math:`s`, same shape as ``param``).
    """
    if not state:
        state.update(step=0, sum=np.full_like(param, initial_accumulator_value))
    state["step"] += 1
    grad = _with_weight_decay(grad, param, weight_decay)
    state["sum"] += grad * grad
    param -= lr * (grad / (np.sqrt(state["sum"]) + eps))


def rmsprop_update(
    param: np.ndarray,
    grad: np.ndarray,
    state: State,
    *,
    lr: float,
    alpha: float,
    eps: float,
    momentum: float,
    centered: bool,
    weight_decay: float,
) -> None:
    r"""One RMSprop step (in place): divide by a running root mean square of the gradient.

    .. math::

        g &\leftarrow g + \lambda\theta \\
        v_t &= \alpha\, v_{t-1} + (1-\alpha)\, g^2 \qquad (v_0 = 0) \\
        \bar g_t &= \alpha\, \bar g_{t-1} + (1-\alpha)\, g
            \quad\text{(centered only; } \bar g_0 = 0\text{)} \\
        r_t &= \begin{cases} \sqrt{v_t - \bar g_t^2} + \epsilon & \text{centered} \\
            \sqrt{v_t} + \epsilon & \text{otherwise} \end{cases} \\
        b_t &= \mu\, b_{t-1} + g / r_t, \quad \theta \leftarrow \theta - \eta\, b_t
            \quad\text{if } \mu > 0 \text{ (} b_0 = 0\text{), else }
            \theta \leftarrow \theta - \eta\, g / r_t

    ``state``: ``"step"``, ``"square_avg"`` (:math:`v`), ``"grad_avg"`` (:math:`\bar g`, if
    centered) and ``"momentum_buffer"`` (:math:`b`, if :math:`\mu > 0`).
    """
    if not state:
        state.update(step=0, square_avg=np.zeros_like(param))
        if centered:
            state["grad_avg"] = np.zeros_like(param)
        if momentum > 0:
            state["momentum_buffer"] = np.zeros_like(param)
    state["step"] += 1
    grad = _with_weight_decay(grad, param, weight_decay)
    square_avg = state["square_avg"]
    square_avg *= alpha
    square_avg += (1 - alpha) * (grad * grad)
    if centered:
        grad_avg = state["grad_avg"]
        grad_avg += (1 - alpha) * (grad - grad_avg)
        avg = np.sqrt(square_avg - grad_avg * grad_avg) + eps
    else:
        avg = np.sqrt(square_avg) + eps
    if momentum > 0:
        buffer = state["momentum_buffer"]
        buffer *= momentum
        buffer += grad / avg
        param -= lr * buffer
    else:
        param -= lr * (grad / avg)


def adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    state: State,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
) -> None:
    r"""One Adam step (in place): momentum divided by a running RMS, both bias-corrected.

    .. math::

        g &\leftarrow g + \lambda\theta \\
        m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g, \qquad
            v_t = \beta_2 v_{t-1} + (1-\beta_2)\, g^2 \qquad (m_0 = v_0 = 0) \\
        \hat v_t &= \max(\hat v_{t-1}, v_t) \text{ with AMSGrad, else } \hat v_t = v_t \\
        \theta &\leftarrow \theta - \frac{\eta}{1-\beta_1^t}\;
            \frac{m_t}{\sqrt{\hat v_t}\,/\sqrt{1-\beta_2^t} + \epsilon}

    (:math:`\epsilon` is added outside the square root, as in torch.) ``state``: ``"step"``,
    ``"exp_avg"`` (:math:`m`), ``"exp_avg_sq"`` (:math:`v`), ``"max_exp_avg_sq"`` (AMSGrad).
    """
    beta1, beta2 = betas
    if not state:
        state.update(step=0, exp_avg=np.zeros_like(param), exp_avg_sq=np.zeros_like(param))
        if amsgrad:
            state["max_exp_avg_sq"] = np.zeros_like(param)
    state["step"] += 1
    step = state["step"]
    grad = _with_weight_decay(grad, param, weight_decay)
    exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
    exp_avg += (1 - beta1) * (grad - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (grad * grad)
    if amsgrad:
        np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
        exp_avg_sq = state["max_exp_avg_sq"]
    step_size = lr / bias_correction(beta1, step)
    denom = np.sqrt(exp_avg_sq) / bias_correction(beta2, step) ** 0.5 + eps
    param -= step_size * (exp_avg / denom)


def adamw_update(
    param: np.ndarray,
    grad: np.ndarray,
    state: State,
    *,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    weight_decay: float,
    amsgrad: bool,
) -> None:
    r"""One AdamW step (in place): decoupled weight decay, then an Adam step without L2.

    .. math::

        \theta &\leftarrow \theta\,(1 - \eta\lambda) \\
        \theta &\leftarrow \text{adam\_update}(\theta, g) \quad\text{with } \lambda = 0

    Unlike Adam's L2 term, the decay is not divided by :math:`\sqrt{\hat v_t}`: every weight
    shrinks by the same fraction :math:`\eta\lambda` per step. ``state`` as in Adam.
    """
    param *= 1 - lr * weight_decay
    adam_update(param, grad, state, lr=lr, betas=betas, eps=eps, weight_decay=0.0, amsgrad=amsgrad)


# --- optimizers -----------------------------------------------------------------------------
class Optimizer:
    r"""Holds parameters and hyperparameters; ``step()`` applies the update rule to each.

    Args:
        params: an iterable of leaf Tensors to optimize, or None to add them later with
            :meth:`add_params`.
        lr: the learning rate :math:`\eta` (>= 0), the attribute ``lr``.
        hyperparameters: the rule's other settings, kept in ``self.hyperparameters``.

    ``self.state[id(p)]`` is the dict of arrays the rule keeps for parameter ``p`` (keyed by
    id, like torch's ``optimizer.state[p]``, so Tensors need not be hashable).
    """

    def __init__(self, params: Iterable[Tensor] | None, lr: float, **hyperparameters: Any):
        for name, value in {"lr": lr, **hyperparameters}.items():
            if name in _NON_NEGATIVE and not value >= 0:  # `not >=` also rejects nan
                label = "learning rate" if name == "lr" else name
                raise ValueError(f"{self._name}: invalid {label} {value!r}; it must be >= 0")
        self.lr = lr
        self.hyperparameters = hyperparameters
        self.params: list[Tensor] = []
        self.state: dict[int, State] = {}
        if params is not None:
            self.add_params(params)

    @property
    def _name(self) -> str:
        return type(self).__name__

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
        """Update every parameter that has a gradient, in place, by the optimizer's rule."""
        if not self.params:
            raise RuntimeError(
                f"{self._name} has no parameters: pass them when creating it or call "
                f"add_params(model.parameters())"
            )
        for p in self.params:
            if p.grad is None:
                continue
            if p.grad.shape != p.shape:
                raise ValueError(
                    f"{self._name}: a parameter of shape {p.shape} has a gradient of shape "
                    f"{p.grad.shape}; they must match"
                )
            self._update(p.data, p.grad, self.state[id(p)])

    def _update(self, param: np.ndarray, grad: np.ndarray, state: State) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(
            f"{k}={v!r}" for k, v in {"lr": self.lr, **self.hyperparameters}.items()
        )
        return f"{self._name}({settings})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum: :func:`sgd_update`.

    ``lr`` defaults to 0.01, Keras' default and the course's API; torch's SGD defaults to 1e-3.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | None = None,
        lr: float = 0.01,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"SGD: Nesterov momentum requires a momentum > 0 and zero dampening "
                f"(got momentum={momentum!r}, dampening={dampening!r})"
            )
        super().__init__(
            params,
            lr,
            momentum=momentum,
            dampening=dampening,
            nesterov=nesterov,
            weight_decay=weight_decay,
        )

    def _update(self, param: np.ndarray, grad: np.ndarray, state: State) -> None:
        sgd_update(param, grad, state, lr=self.lr, **self.hyperparameters)


class Adagrad(Optimizer):
    """Adagrad: per-coordinate steps scaled by the accumulated squared gradients:
    :func:`adagrad_update`."""

    def __init__(
        self,
        params: Iterable[Tensor] | None = None,
        lr: float = 0.01,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
    ) -> None:
        super().__init__(
            params,
            lr,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
        )

    def _update(self, param: np.ndarray, grad: np.ndarray, state: State) -> None:
        adagrad_update(param, grad, state, lr=self.lr, **self.hyperparameters)


class RMSprop(Optimizer):
    """RMSprop: steps divided by a running RMS of the gradient: :func:`rmsprop_update`."""

    def __init__(
        self,
        params: Iterable[Tensor] | None = None,
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        centered: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params,
            lr,
            alpha=alpha,
            eps=eps,
            momentum=momentum,
            centered=centered,
            weight_decay=weight_decay,
        )

    def _update(self, param: np.ndarray, grad: np.ndarray, state: State) -> None:
        rmsprop_update(param, grad, state, lr=self.lr, **self.hyperparameters)


class Adam(Optimizer):
    """Adam with L2 weight decay and optional AMSGrad: :func:`adam_update`."""

    def __init__(
        self,
        params: Iterable[Tensor] | None = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        betas = tuple(betas)
        if len(betas) != 2:
            raise ValueError(f"{self._name}: betas must be two numbers (beta1, beta2), got {betas}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(
                    f"{self._name}: invalid beta parameter at index {i}: {beta!r}; "
                    f"each beta must be in [0, 1)"
                )
        super().__init__(
            params, lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad
        )

    def _update(self, param: np.ndarray, grad: np.ndarray, state: State) -> None:
        adam_update(param, grad, state, lr=self.lr, **self.hyperparameters)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 0.01): :func:`adamw_update`."""

    def __init__(
        self,
        params: Iterable[Tensor] | None = None,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)

    def _update(self, param: np.ndarray, grad: np.ndarray, state: State) -> None:
        adamw_update(param, grad, state, lr=self.lr, **self.hyperparameters)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
    "adamw": AdamW,
}


def get(identifier: str | Optimizer) -> Optimizer:
    """An optimizer from its name (``"sgd"``, ``"adagrad"``, ``"rmsprop"``, ``"adam"``,
    ``"adamw"``; any case) with default settings and no parameters yet, or ``identifier``
    itself when it already is an optimizer (Keras' ``compile(optimizer=...)``)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if not isinstance(identifier, str):
        raise TypeError(
            f"an optimizer must be a name or an Optimizer, got {type(identifier).__name__}"
        )
    try:
        return OPTIMIZERS[identifier.lower()]()
    except KeyError:
        raise ValueError(
            f"unknown optimizer {identifier!r}; the names are {', '.join(OPTIMIZERS)}"
        ) from None
