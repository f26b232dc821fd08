r"""Learning-rate schedules (chapter 07): the learning rate as a function of the epoch.

Semantics of ``torch.optim.lr_scheduler``: create the schedule after the optimizer; it takes
the optimizer's ``lr`` as the base rate :math:`\eta_0` and sets epoch 0. Call ``step()`` once
per epoch, after that epoch's optimizer steps; it moves to the next epoch and writes the new
rate into ``optimizer.lr``. ``get_last_lr()`` returns ``[lr]``, a list as in torch (which keeps
one rate per parameter group).

Each schedule is written in closed form, :math:`\eta_e` as a function of the epoch :math:`e`
(:meth:`LRScheduler.lr_at`). torch computes the same rates recursively, each from the previous
one; the values agree (to rounding) unless something else changes ``lr`` between epochs.
"""

from __future__ import annotations

import math
from typing import Protocol


class HasLearningRate(Protocol):
    """What a schedule needs of an optimizer: a learning rate ``lr`` it can read and set (this
    module imports nothing from :mod:`nnlearn.optim`, which re-exports the schedules)."""

    lr: float


class LRScheduler:
    """Sets ``optimizer.lr`` to :meth:`lr_at` of the current epoch, ``last_epoch``.

    Args:
        optimizer: an nnlearn optimizer (anything with an attribute ``lr``); its ``lr`` now
            becomes the base rate ``base_lr``.
    """

    def __init__(self, optimizer: HasLearningRate) -> None:
        if not hasattr(optimizer, "lr"):
            raise TypeError(
                f"{type(self).__name__}: {type(optimizer).__name__} has no learning rate lr; "
                f"give it an nnlearn optimizer (a torch.optim one goes with "
                f"torch.optim.lr_scheduler)"
            )
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0
        self._apply()

    def lr_at(self, epoch: int) -> float:
        """The learning rate of epoch ``epoch`` (0 is the first)."""
        raise NotImplementedError

    def step(self) -> None:
        """Move to the next epoch and set its learning rate; call once per epoch."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """``[lr]``: the learning rate the last ``step()`` (or the creation) set."""
        return list(self._last_lr)

    def _apply(self) -> None:
        self.optimizer.lr = self.lr_at(self.last_epoch)
        self._last_lr = [self.optimizer.lr]


def _positive(owner: str, name: str, value: int) -> int:
    if not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"{owner}: {name} must be a positive whole number of epochs, got {value!r}"
        )
    return value


class StepLR(LRScheduler):
    r"""Multiply the rate by ``gamma`` every ``step_size`` epochs:
    :math:`\eta_e = \eta_0\, \gamma^{\lfloor e / \text{step\_size} \rfloor}`."""

    def __init__(self, optimizer: HasLearningRate, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = _positive("StepLR", "step_size", step_size)
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    r"""Multiply the rate by ``gamma`` every epoch: :math:`\eta_e = \eta_0\, \gamma^e`."""

    def __init__(self, optimizer: HasLearningRate, gamma: float) -> None:
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    r"""Half a cosine from the base rate down to ``eta_min`` over ``T_max`` epochs:

    .. math::

        \eta_e = \eta_{\min} + \tfrac12\,(\eta_0 - \eta_{\min})
            \left(1 + \cos\frac{\pi e}{T_{\max}}\right)

    Past ``T_max`` the cosine carries on and the rate climbs back up (period
    :math:`2T_{\max}`), as in torch; stop stepping, or pick ``T_max`` = the number of epochs.
    """

    def __init__(self, optimizer: HasLearningRate, T_max: int, eta_min: float = 0.0) -> None:
        self.T_max = _positive("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = eta_min
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        cosine = math.cos(math.pi * epoch / self.T_max)
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + cosine) / 2
