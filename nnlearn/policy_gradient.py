r"""Policy gradients (chapter 18): REINFORCE with reward-to-go and a baseline.

A **policy** :math:`\pi_\theta(a \mid s)` is a network that maps a state to the logits of a
categorical distribution over actions. REINFORCE (Williams, 1992) climbs the expected return
:math:`J(\theta) = \mathbb E_{\tau \sim \pi_\theta}[R(\tau)]` with the **log-derivative
trick**, :math:`\nabla_\theta p = p \, \nabla_\theta \log p`, which turns the gradient of an
expectation into an expectation we can sample by playing episodes:

.. math::

    \nabla_\theta J = \mathbb E\Big[\sum_t \nabla_\theta \log \pi_\theta(a_t \mid s_t)
    \,\big(G_t - b\big)\Big], \qquad G_t = \sum_{k \ge t} \gamma^{k-t} r_k

* :func:`reward_to_go` gives :math:`G_t`: an action is credited only with the rewards that
  came *after* it (earlier ones are noise for it, of mean zero);
* a **baseline** :math:`b` that does not depend on the action is subtracted
  (:func:`advantages`): the expectation is unchanged, since
  :math:`\mathbb E[\nabla \log \pi] = \nabla \sum_a \pi = 0`, and the variance falls;
* :func:`log_prob` is :math:`\log \pi_\theta(a_t \mid s_t) = \mathrm{log\,softmax}(z_t)_{a_t}`,
  the fused, stable softmax cross-entropy of chapter 04 with its sign flipped, as
  ``torch.distributions.Categorical(logits=z).log_prob(a)``;
* :func:`policy_gradient_loss` is the surrogate
  :math:`L = -\frac1N \sum_t \log\pi_\theta(a_t \mid s_t)\,A_t` whose gradient is the
  estimate above. It is *not* a performance measure: its value depends on the episodes just
  played and on the baseline chosen, not on how good the policy is.

:func:`run_episodes` plays episodes (many in step: one network call per time step serves
them all) and :func:`train_reinforce` trains; an environment is any object with Gymnasium's
``reset``/``step``, such as :class:`nnlearn.cartpole.CartPole`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from nnlearn.activations import softmax_values
from nnlearn.autograd import no_grad
from nnlearn.losses.functions import sparse_categorical_crossentropy
from nnlearn.tensor import Tensor

__all__ = ["Episode", "advantages", "log_prob", "policy_gradient_loss", "reward_to_go"]
__all__ += ["choose_actions", "episode_lengths", "random_policy", "run_episode", "run_episodes"]
__all__ += ["train_reinforce"]


# --- the estimator ------------------------------------------------------------------------------
def reward_to_go(rewards: Sequence[float], gamma: float = 0.99) -> np.ndarray:
    """``G_t = r_t + gamma * G_{t+1}`` from the last step back (``G_T = 0``): (T,) -> (T,)."""
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim != 1:
        raise ValueError(f"reward_to_go: rewards of one episode, shape (T,), got {rewards.shape}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"reward_to_go: gamma must be in [0, 1], got {gamma}")
    returns = np.empty_like(rewards)
    following = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        following = rewards[t] + gamma * following
        returns[t] = following
    return returns


def advantages(returns: np.ndarray, baseline: str | None = "mean") -> np.ndarray:
    """``A_t = G_t - b``: the reward-to-go of a batch of steps (N,) less a baseline.

    ``baseline``: ``"mean"`` (the batch's mean return), ``"standardize"`` (also divided by the
    batch's standard deviation, a per-batch step size), or ``None`` (plain ``G_t``).
    """
    returns = np.asarray(returns, dtype=np.float64)
    if baseline is None:
        return returns
    centred = returns - returns.mean()
    if baseline == "mean":
        return centred
    if baseline == "standardize":
        return centred / (returns.std() + 1e-8)
    raise ValueError(
        f"advantages: baseline must be 'mean', 'standardize' or None, got {baseline!r}"
    )


def log_prob(logits: Any, actions: Any) -> Tensor:
    """``log pi(a_t | s_t) = log_softmax(z_t)[a_t]``: logits (N, A), actions (N,) -> (N,).

    The negative of the softmax cross-entropy with integer labels (chapter 04's fused
    :class:`~nnlearn.losses.functions.SoftmaxCrossEntropy`): stable for any logits, and its
    gradient is ``onehot(a_t) - softmax(z_t)`` per row, as
    ``torch.distributions.Categorical(logits=z).log_prob(a)``.
    """
    return -sparse_categorical_crossentropy(actions, logits, from_logits=True)


def policy_gradient_loss(logits: Any, actions: Any, advantage: Any) -> Tensor:
    """``L = -mean_t log pi(a_t | s_t) A_t``: logits (N, A), actions (N,), advantages (N,) -> ().

    The advantages are data (no gradient flows into them). Descending ``L`` climbs the
    REINFORCE estimate of the return's gradient.
    """
    logp = log_prob(logits, actions)
    advantage = np.asarray(advantage, dtype=logp.dtype)
    if advantage.shape != logp.shape:
        raise ValueError(
            f"policy_gradient_loss: one advantage per action, shape {logp.shape}, "
            f"got {advantage.shape}"
        )
    return -(logp * advantage).mean()


# --- playing --------------------------------------------------------------------------------------
class Episode(NamedTuple):
    """One episode: observations (T, obs), actions (T,), rewards (T,), and whether it was
    truncated (the time limit) rather than terminated."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    truncated: bool

    @property
    def length(self) -> int:
        return len(self.rewards)


def choose_actions(
    logits: np.ndarray, rng: np.random.Generator | None = None, greedy: bool = False
) -> np.ndarray:
    """Actions ``a ~ softmax(logits)`` row by row (the most probable if ``greedy``): (N, A) -> (N,).

    One uniform draw ``u`` per row picks the action whose slice of ``[0, 1)`` holds it: ``a`` is
    the number of cumulative probabilities ``p_0, p_0 + p_1, ...`` (the last, 1, left out)
    that are ``<= u``.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if greedy:
        return np.argmax(logits, axis=-1)
    if rng is None:
        raise ValueError("choose_actions: sampling needs rng (a numpy Generator), or greedy=True")
    cumulative = np.cumsum(softmax_values(logits, axis=-1), axis=-1)[:, :-1]
    return (cumulative <= rng.random((len(logits), 1))).sum(axis=-1)


def _inputs(policy: Any, observations: Sequence[np.ndarray]) -> np.ndarray:
    """Observations stacked (n, obs), in the policy's dtype where it has one: Gymnasium's
    observations are float32, a float64 network needs float64 inputs."""
    return np.asarray(np.stack(observations), dtype=getattr(policy, "dtype", None))


def run_episodes(
    policy: Callable[[np.ndarray], Any],
    envs: Sequence[Any],
    seeds: Sequence[int | None],
    rng: np.random.Generator | None = None,
    greedy: bool = False,
) -> list[Episode]:
    """Play one episode in each env (``reset(seed=...)``) to its end, all in step.

    ``policy`` maps observations (n, obs) to logits (n, A): a ``Sequential``, or any function
    (zeros give the uniformly random policy). One call per time step serves every env still
    playing, so the network's overhead is paid once per step, not once per env.
    """
    observations = [[env.reset(seed=seed)[0]] for env, seed in zip(envs, seeds, strict=True)]
    actions, rewards = [[] for _ in envs], [[] for _ in envs]
    truncated, playing = [False] * len(envs), list(range(len(envs)))
    while playing:
        with no_grad():
            logits = policy(_inputs(policy, [observations[i][-1] for i in playing]))
        chosen = choose_actions(logits.data if isinstance(logits, Tensor) else logits, rng, greedy)
        for i, action in zip(playing, chosen.tolist(), strict=True):
            observation, reward, terminated, truncated[i], _ = envs[i].step(action)
            actions[i].append(action)
            rewards[i].append(reward)
            if not (terminated or truncated[i]):
                observations[i].append(observation)
        playing = [i for i in playing if len(observations[i]) > len(actions[i])]
    return [
        Episode(np.array(o), np.array(a), np.array(r), t)
        for o, a, r, t in zip(observations, actions, rewards, truncated, strict=True)
    ]


def run_episode(
    policy: Callable[[np.ndarray], Any],
    env: Any,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    greedy: bool = False,
) -> Episode:
    """One episode of ``env`` from ``reset(seed=seed)``: :func:`run_episodes` with one env."""
    return run_episodes(policy, [env], [seed], rng, greedy)[0]


def random_policy(observations: np.ndarray) -> np.ndarray:
    """Equal logits for CartPole's 2 actions: each action with probability 1/2."""
    return np.zeros((len(observations), 2))


def episode_lengths(
    policy: Callable[[np.ndarray], Any],
    make_env: Callable[[], Any],
    seeds: Sequence[int],
    rng: np.random.Generator | None = None,
    greedy: bool = False,
) -> np.ndarray:
    """The length (= return in CartPole) of one episode from each seed: (len(seeds),)."""
    episodes = run_episodes(policy, [make_env() for _ in seeds], list(seeds), rng, greedy)
    return np.array([e.length for e in episodes])


# --- training -------------------------------------------------------------------------------------
def train_reinforce(
    policy: Any,
    envs: Sequence[Any],
    optimizer: Any,
    updates: int,
    gamma: float = 0.99,
    baseline: str | None = "mean",
    seed: int = 0,
) -> dict[str, list[float]]:
    """REINFORCE: ``updates`` times, play one episode per env with the policy, then one step.

    Each update plays ``len(envs)`` episodes (from reset seeds and with action draws from a
    generator seeded with ``seed``), computes every step's reward-to-go and advantage, and
    takes one ``optimizer`` step on :func:`policy_gradient_loss` over all their steps.

    Returns the history per update: ``"loss"`` (the surrogate's value) and
    ``"mean_return"`` (the episodes' mean undiscounted return). Raises ``FloatingPointError``
    when the loss is not finite: the policy diverged.
    """
    rng = np.random.default_rng(seed)
    history: dict[str, list[float]] = {"loss": [], "mean_return": []}
    for update in range(updates):
        seeds = rng.integers(2**31, size=len(envs)).tolist()
        episodes = run_episodes(policy, envs, seeds, rng)
        returns = np.concatenate([reward_to_go(e.rewards, gamma) for e in episodes])
        observations = np.concatenate([e.observations for e in episodes])
        actions = np.concatenate([e.actions for e in episodes])
        logits = policy(_inputs(policy, observations))
        loss = policy_gradient_loss(logits, actions, advantages(returns, baseline))
        if not math.isfinite(loss.item()):
            raise FloatingPointError(
                f"train_reinforce: the policy-gradient loss is {loss.item()} at update "
                f"{update}: the policy diverged (its logits or weights overflowed). Lower "
                f"the learning rate, or standardize the advantages (baseline='standardize')"
            )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history["loss"].append(loss.item())
        history["mean_return"].append(float(np.mean([e.rewards.sum() for e in episodes])))
    return history
