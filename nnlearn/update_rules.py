r"""The optimizers' update rules (chapter 07): pure functions of numpy arrays.

Each rule ``xxx_update(param, grad, state, *, lr, ...)`` changes ``param`` in place using its
gradient ``grad`` and the arrays it keeps between steps in the dict ``state`` (empty before the
first step; the rule fills it). It touches nothing else, so a notebook or a widget can run it on
any array; the classes of :mod:`nnlearn.optim` call one rule per parameter. The formulas are
those of ``torch.optim`` (the parity tests compare step by step).

Notation: :math:`\theta` the parameter, :math:`g` its gradient, :math:`\eta` the learning rate,
:math:`\lambda` the weight decay, :math:`t` the step (from 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

State = dict[str, Any]


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
    weight_decay: float,
    nesterov: bool,
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
    lr_decay: float,
    weight_decay: float,
    initial_accumulator_value: float,
    eps: float,
) -> None:
    r"""One Adagrad step (in place): each coordinate's step shrinks with its gradient history.

    .. math::

        g &\leftarrow g + \lambda\theta \\
        s_t &= s_{t-1} + g^2 \qquad (s_0 = \text{initial\_accumulator\_value}) \\
        \theta &\leftarrow \theta - \frac{\eta}{1 + (t-1)\,\delta}\;
            \frac{g}{\sqrt{s_t} + \epsilon} \qquad (\delta = \text{lr\_decay})

    ``state``: ``"step"`` (:math:`t`) and ``"sum"`` (:math:`s`, same shape as ``param``).
    """
    if not state:
        state.update(step=0, sum=np.full_like(param, initial_accumulator_value))
    state["step"] += 1
    grad = _with_weight_decay(grad, param, weight_decay)
    state["sum"] += grad * grad
    decayed_lr = lr / (1 + (state["step"] - 1) * lr_decay)
    param -= decayed_lr * (grad / (np.sqrt(state["sum"]) + eps))


def rmsprop_update(
    param: np.ndarray,
    grad: np.ndarray,
    state: State,
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    centered: bool,
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

    (:math:`\epsilon` is added outside the square root and after the bias correction, as in
    torch.) ``state``: ``"step"``, ``"exp_avg"`` (:math:`m`), ``"exp_avg_sq"`` (:math:`v`),
    ``"max_exp_avg_sq"`` (AMSGrad).
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
    # In place, through one scratch array: the arithmetic is torch's, step by step, without
    # a temporary array per operation (a dozen per parameter and step, otherwise).
    work = np.subtract(grad, exp_avg)
    work *= 1 - beta1
    exp_avg += work  # m += (1 - beta1)(g - m)
    np.multiply(grad, grad, out=work)
    work *= 1 - beta2
    exp_avg_sq *= beta2
    exp_avg_sq += work  # v = beta2 v + (1 - beta2) g^2
    if amsgrad:
        np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
        exp_avg_sq = state["max_exp_avg_sq"]
    np.sqrt(exp_avg_sq, out=work)
    work /= bias_correction(beta2, step) ** 0.5
    work += eps  # the denominator
    np.divide(exp_avg, work, out=work)
    work *= lr / bias_correction(beta1, step)
    param -= work


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
