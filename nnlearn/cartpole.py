r"""CartPole in numpy (chapter 18): Gymnasium's ``CartPole-v1``, its physics written out.

A pole stands on a cart that runs on a frictionless track. Each step the agent pushes the cart
left (action 0) or right (action 1) with a force of 10 N, and earns a reward of 1. The episode
**terminates** when the pole leans more than 12° or the cart leaves ``[-2.4, 2.4]``, and is
**truncated** after 500 steps, as ``gymnasium.make("CartPole-v1")`` does (its ``TimeLimit``).

The state is :math:`s = (x, \dot x, \theta, \dot\theta)`: the cart's position and velocity,
the pole's angle from upright (positive leaning right, radians) and its angular velocity. With
force :math:`F = \pm 10`, gravity :math:`g`, cart mass :math:`m_c`, pole mass :math:`m_p`,
total mass :math:`M = m_c + m_p` and half the pole's length :math:`l` (Barto, Sutton and
Anderson, 1983; Florian, 2005, with no friction):

.. math::

    T = \frac{F + m_p l \dot\theta^2 \sin\theta}{M}, \qquad
    \ddot\theta = \frac{g \sin\theta - \cos\theta \, T}
                       {l \left(\frac43 - \frac{m_p \cos^2\theta}{M}\right)}, \qquad
    \ddot x = T - \frac{m_p l \ddot\theta \cos\theta}{M}

and one explicit **Euler** step of :math:`\tau = 0.02` s moves every coordinate along its
derivative *before* the update: :math:`x \leftarrow x + \tau \dot x`,
:math:`\dot x \leftarrow \dot x + \tau \ddot x`, :math:`\theta \leftarrow \theta + \tau
\dot\theta`, :math:`\dot\theta \leftarrow \dot\theta + \tau \ddot\theta`.

Gymnasium's semantics, kept exactly (``tests/test_cartpole.py`` compares step for step):

* the state is float64 inside, the observation a float32 copy of it;
* ``reset(seed=n)`` draws the state uniformly from ``[-0.05, 0.05)^4`` (or
  ``options={"low": ..., "high": ...}``) with the generator Gymnasium makes from ``n``
  (``Generator(PCG64(SeedSequence(n)))``), so one seed gives the same episode start in both;
  ``reset()`` without a seed goes on drawing from the generator it has;
* the step that terminates still earns 1; a step *after* termination earns 0 and warns once
  (call ``reset()``), as Gymnasium does; a step before the first ``reset()`` raises
  :class:`ResetNeeded`; an action that is not 0 or 1 raises ``AssertionError``, Gymnasium's
  error for an action outside ``Discrete(2)``.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

__all__ = ["CartPole", "ResetNeeded"]


class ResetNeeded(RuntimeError):
    """``step()`` before ``reset()`` (Gymnasium raises ``gymnasium.error.ResetNeeded``)."""


def _is_action(action: Any) -> bool:
    """Whether ``action`` is in ``Discrete(2)`` as Gymnasium tests it: a Python int (a bool
    too) or a 0-d numpy integer that int64 holds, equal to 0 or 1."""
    if isinstance(action, int):
        return 0 <= action < 2
    if isinstance(action, np.generic | np.ndarray):
        return (
            np.issubdtype(action.dtype, np.integer)
            and action.shape == ()
            and np.can_cast(action.dtype, np.int64)
            and 0 <= int(action) < 2
        )
    return False


def _reset_bounds(options: dict | None) -> tuple[float, float]:
    """``options["low"]``, ``options["high"]`` as floats, default -0.05 and 0.05."""
    options = options or {}
    bounds = []
    for name, default in (("low", -0.05), ("high", 0.05)):
        value = options.get(name, default)
        try:
            bounds.append(float(value))
        except (TypeError, ValueError) as error:
            raise ValueError(f"An option ({value}) could not be converted to a float.") from error
    if bounds[0] > bounds[1]:
        raise ValueError(
            f"Lower bound ({bounds[0]}) must be lower than higher bound ({bounds[1]})."
        )
    return bounds[0], bounds[1]


def _generator(seed: int | None) -> np.random.Generator:
    """The generator Gymnasium's ``seeding.np_random(seed)`` makes (fresh entropy for None)."""
    if seed is not None and not (isinstance(seed, int) and seed >= 0):
        raise ValueError(f"Seed must be a non-negative Python integer, got {seed!r}")
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))


class CartPole:
    """``gymnasium.make("CartPole-v1")`` in numpy: ``reset`` and ``step`` with Gymnasium's API.

    >>> env = CartPole()
    >>> obs, info = env.reset(seed=0)                  # obs: (4,) float32, info: {}
    >>> obs, reward, terminated, truncated, info = env.step(1)   # push right

    Args:
        max_episode_steps: the step at which an episode is truncated (``truncated=True``),
            500 for ``CartPole-v1``.
    """

    n_actions = 2  # Gymnasium's action_space.n: 0 pushes left, 1 pushes right

    def __init__(self, max_episode_steps: int = 500) -> None:
        if not isinstance(max_episode_steps, int) or max_episode_steps <= 0:
            raise ValueError(f"max_episode_steps must be a positive int, got {max_episode_steps}")
        self.max_episode_steps = max_episode_steps
        # Gymnasium's constants, computed the same way so every float is the same.
        self.gravity = 9.8
        self.masscart = 1.0
        self.masspole = 0.1
        self.total_mass = self.masspole + self.masscart
        self.length = 0.5  # half the pole's length
        self.polemass_length = self.masspole * self.length
        self.force_mag = 10.0
        self.tau = 0.02  # seconds between state updates
        self.theta_threshold_radians = 12 * 2 * math.pi / 360  # 12 degrees
        self.x_threshold = 2.4
        self.np_random: np.random.Generator | None = None
        self.state: np.ndarray | None = None  # (x, x_dot, theta, theta_dot), float64
        self.elapsed_steps = 0
        self._steps_beyond_terminated: int | None = None

    def reset(
        self, *, seed: int | None = None, options: dict | None = None
    ) -> tuple[np.ndarray, dict]:
        """Start an episode: a state drawn uniformly from ``[low, high)^4``.

        Returns ``(observation, info)``: the state as float32 (4,), and ``{}``.
        """
        if seed is not None or self.np_random is None:
            self.np_random = _generator(seed)
        low, high = _reset_bounds(options)
        self.state = self.np_random.uniform(low=low, high=high, size=(4,))
        self.elapsed_steps = 0
        self._steps_beyond_terminated = None
        return np.array(self.state, dtype=np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Push, then one Euler step of ``tau`` seconds (the equations of the module docstring).

        Returns ``(observation, reward, terminated, truncated, info)``: the new state as
        float32 (4,); 1.0 (0.0 after termination); whether the pole fell or the cart left
        the track; whether this is step ``max_episode_steps`` or later; ``{}``.
        """
        if self.state is None:
            raise ResetNeeded("Cannot call env.step() before calling env.reset()")
        if not _is_action(action):
            raise AssertionError(  # Gymnasium's error type, raised even under python -O
                f"{action!r} ({type(action)}) invalid: CartPole's actions are the integers "
                f"0 (push left) and 1 (push right)"
            )
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        costheta, sintheta = np.cos(theta), np.sin(theta)
        # The same operations in the same order as Gymnasium's, so the floats agree exactly.
        temp = (force + self.polemass_length * np.square(theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * np.square(costheta) / self.total_mass)
        )
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        x = x + self.tau * x_dot  # Euler: every coordinate moves with the old derivative
        x_dot = x_dot + self.tau * xacc
        theta = theta + self.tau * theta_dot
        theta_dot = theta_dot + self.tau * thetaacc
        self.state = np.array((x, x_dot, theta, theta_dot), dtype=np.float64)

        terminated = bool(
            x < -self.x_threshold
            or x > self.x_threshold
            or theta < -self.theta_threshold_radians
            or theta > self.theta_threshold_radians
        )
        reward = self._reward(terminated)
        self.elapsed_steps += 1
        truncated = self.elapsed_steps >= self.max_episode_steps
        return np.array(self.state, dtype=np.float32), reward, terminated, truncated, {}

    def _reward(self, terminated: bool) -> float:
        """1 while the pole is up and on the step it falls; 0 for steps after that."""
        if not terminated:
            return 1.0
        if self._steps_beyond_terminated is None:  # the pole has just fallen
            self._steps_beyond_terminated = 0
            return 1.0
        if self._steps_beyond_terminated == 0:
            warnings.warn(
                "You are calling 'step()' even though this environment has already returned "
                "terminated = True. You should always call 'reset()' once you receive "
                "'terminated = True' -- any further steps are undefined behavior.",
                UserWarning,
                stacklevel=3,
            )
        self._steps_beyond_terminated += 1
        return 0.0
