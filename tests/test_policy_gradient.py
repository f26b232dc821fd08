"""Chapter 18: REINFORCE's pieces (nnlearn/policy_gradient.py) and a trained CartPole agent.

References, none of them the code under test: the reward-to-go as the closed-form sum
``sum_k gamma^(k-t) r_k``; the log-probability against the log-softmax written out in numpy and
numeric gradients (:func:`gradcheck`), with planted wrong formulas in the fused Function behind
it caught; the REINFORCE estimator's exact expectation on a bandit against the gradient of the
expected reward in closed form (with and without a baseline), and its exact variance; sampled
actions against their probabilities; a trained policy against the random policy on fixed
evaluation seeds. PyTorch: parity/test_policy_gradient_parity.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from parity.planting import FormulaCase, planted_formula_test
from parity.test_policy_gradient_parity import LOG_PROB_CASES

import nnlearn as nl
from nnlearn import policy_gradient as pg
from nnlearn.cartpole import CartPole
from nnlearn.gradcheck import gradcheck
from nnlearn.layers import Dense
from nnlearn.losses.functions import SoftmaxCrossEntropy

pytestmark = [pytest.mark.chapter18, pytest.mark.usefixtures("float64_default")]

EVALUATION_SEEDS = range(1000, 1020)


# --- reward-to-go and advantages --------------------------------------------------------------
@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.99, 1.0])
def test_reward_to_go_is_the_discounted_sum_of_the_rewards_that_follow(gamma):
    rewards = np.random.default_rng(1).standard_normal(9)
    t, k = np.indices((9, 9))
    powers = np.where(k >= t, gamma ** np.maximum(k - t, 0).astype(float), 0.0)  # gamma^(k-t)
    np.testing.assert_allclose(pg.reward_to_go(rewards, gamma), powers @ rewards, rtol=1e-12)


def test_reward_to_go_of_cartpoles_ones_is_a_geometric_sum():
    t = np.arange(30)
    np.testing.assert_allclose(
        pg.reward_to_go(np.ones(30), 0.9), (1 - 0.9 ** (30 - t)) / (1 - 0.9), rtol=1e-12
    )
    np.testing.assert_array_equal(pg.reward_to_go(np.ones(5), 1.0), [5, 4, 3, 2, 1])


def test_reward_to_go_refuses_a_batch_and_a_gamma_outside_0_1():
    with pytest.raises(ValueError, match="shape \\(T,\\)"):
        pg.reward_to_go(np.ones((2, 3)))
    with pytest.raises(ValueError, match="gamma must be in"):
        pg.reward_to_go(np.ones(3), gamma=1.5)


def test_advantages_subtract_the_mean_and_standardize():
    returns = np.array([3.0, 5.0, 10.0, 2.0])
    np.testing.assert_array_equal(pg.advantages(returns, None), returns)
    np.testing.assert_allclose(pg.advantages(returns, "mean"), returns - 5.0)
    standard = pg.advantages(returns, "standardize")
    np.testing.assert_allclose(standard, (returns - 5.0) / np.std(returns), rtol=1e-7)
    with pytest.raises(ValueError, match="baseline must be"):
        pg.advantages(returns, "median")


# --- the log-probability: closed form, numeric gradients, planted formulas ----------------------
def _log_softmax_at(z, actions):
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return log_p[np.arange(len(z)), actions]


RNG = np.random.default_rng(4)
Z, ACTIONS, ADVANTAGE = RNG.standard_normal((6, 3)), np.array([0, 2, 1, 1, 2, 0]), RNG.random(6)
FORMULA_CASES = [
    FormulaCase(
        "log_prob", lambda z: pg.log_prob(z, ACTIONS), (Z,), lambda z: _log_softmax_at(z, ACTIONS)
    ),
    FormulaCase(
        "policy_gradient_loss",
        lambda z: pg.policy_gradient_loss(z, ACTIONS, ADVANTAGE),
        (Z,),
        lambda z: -np.mean(_log_softmax_at(z, ACTIONS) * ADVANTAGE),
    ),
]


@pytest.mark.parametrize("case", FORMULA_CASES, ids=lambda c: c.name)
def test_log_prob_is_the_log_softmax_at_the_action(case):
    assert case.forward_ok()


@pytest.mark.parametrize("case", LOG_PROB_CASES, ids=lambda c: c.name)
def test_log_prob_passes_a_numeric_gradient_check(case):
    gradcheck(case.nn_fn, *case.inputs(), names=["logits"]).assert_ok()


test_a_planted_wrong_formula_is_caught = planted_formula_test(
    [SoftmaxCrossEntropy],  # the fused log-softmax + pick behind log_prob
    lambda: not all(c.forward_ok() and c.backward_ok() for c in FORMULA_CASES),
)


def test_log_prob_gradient_is_onehot_minus_softmax():
    z = nl.Tensor(Z, requires_grad=True)
    pg.log_prob(z, ACTIONS).sum().backward()
    p = np.exp(Z) / np.exp(Z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(z.grad, np.eye(3)[ACTIONS] - p, rtol=1e-12, atol=1e-15)


def test_the_loss_refuses_advantages_of_another_shape():
    with pytest.raises(ValueError, match="one advantage per action"):
        pg.policy_gradient_loss(Z, ACTIONS, ADVANTAGE[:4])


# --- the estimator on a bandit: exact expectations ---------------------------------------------
BANDIT_LOGITS = np.array([0.3, -0.5, 1.1])
BANDIT_REWARDS = np.array([10.0, 11.0, 13.0])  # all far from 0: the case a baseline helps


def _per_action_estimates(baseline: float) -> np.ndarray:
    """Row a: the REINFORCE estimate from one play of action a, grad log pi(a) (r_a - b), by
    differentiating the package's loss (one step, advantage r_a - b) with respect to z."""
    rows = []
    for a in range(3):
        z = nl.Tensor(BANDIT_LOGITS[None], requires_grad=True)
        pg.policy_gradient_loss(z, [a], [BANDIT_REWARDS[a] - baseline]).backward()
        rows.append(-z.grad[0])  # the loss is minus the estimate
    return np.array(rows)


@pytest.mark.parametrize("baseline", [0.0, 5.0, 11.5])
def test_reinforce_is_unbiased_for_the_expected_rewards_gradient_whatever_the_baseline(baseline):
    p = np.exp(BANDIT_LOGITS) / np.exp(BANDIT_LOGITS).sum()
    expected_reward = p @ BANDIT_REWARDS
    true_gradient = p * (BANDIT_REWARDS - expected_reward)  # d/dz of sum_a softmax(z)_a r_a
    np.testing.assert_allclose(p @ _per_action_estimates(baseline), true_gradient, rtol=1e-12)


def test_a_baseline_at_the_mean_reward_lowers_the_estimators_variance():
    p = np.exp(BANDIT_LOGITS) / np.exp(BANDIT_LOGITS).sum()

    def variance(baseline):  # E ||g - E g||^2, exactly, over the three actions
        g = _per_action_estimates(baseline)
        return float(p @ np.sum((g - p @ g) ** 2, axis=1))

    assert variance(p @ BANDIT_REWARDS) < 0.05 * variance(0.0)


# --- playing ----------------------------------------------------------------------------------
def test_sampled_actions_follow_the_softmax_probabilities():
    logits = np.array([[0.5, -1.0, 2.0]])
    p = np.exp(logits[0]) / np.exp(logits[0]).sum()
    draws = pg.choose_actions(np.repeat(logits, 40_000, axis=0), np.random.default_rng(0))
    frequencies = np.bincount(draws, minlength=3) / 40_000
    assert np.all(np.abs(frequencies - p) < 5 * np.sqrt(p * (1 - p) / 40_000))
    assert pg.choose_actions(logits, greedy=True).tolist() == [2]
    with pytest.raises(ValueError, match="sampling needs rng"):
        pg.choose_actions(logits)


def test_an_episode_records_what_the_environment_gave():
    env = CartPole()
    episode = pg.run_episode(pg.random_policy, env, seed=3, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(episode.observations[0], CartPole().reset(seed=3)[0])
    assert episode.length == len(episode.actions) == len(episode.observations)
    assert episode.rewards.sum() == episode.length and not episode.truncated
    replay = CartPole()
    replay.reset(seed=3)
    for t, action in enumerate(episode.actions.tolist()):
        observation, _, terminated, _, _ = replay.step(action)
        if t + 1 < episode.length:
            np.testing.assert_array_equal(observation, episode.observations[t + 1])
    assert terminated  # the last action ended it


def test_episodes_played_in_step_are_the_episodes_played_one_by_one():
    nl.seed_everything(3)
    policy = nl.Sequential([Dense(8, activation="tanh", input_shape=(4,)), Dense(2)])
    together = pg.run_episodes(policy, [CartPole() for _ in range(4)], [0, 1, 2, 3], greedy=True)
    for seed, episode in enumerate(together):
        alone = pg.run_episode(policy, CartPole(), seed, greedy=True)
        np.testing.assert_array_equal(episode.actions, alone.actions)
        np.testing.assert_array_equal(episode.observations, alone.observations)


# --- training ---------------------------------------------------------------------------------
def test_a_trained_policy_clearly_beats_the_random_policy():
    nl.set_default_dtype("float32")
    nl.seed_everything(0)
    policy = nl.Sequential([Dense(16, activation="tanh", input_shape=(4,)), Dense(2)])
    optimizer = nl.optim.Adam(policy.parameters(), lr=0.02)
    history = pg.train_reinforce(policy, [CartPole() for _ in range(8)], optimizer, updates=20)
    random_lengths = pg.episode_lengths(
        pg.random_policy, CartPole, EVALUATION_SEEDS, np.random.default_rng(0)
    )
    trained_lengths = pg.episode_lengths(policy, CartPole, EVALUATION_SEEDS, greedy=True)
    assert trained_lengths.mean() > 3 * random_lengths.mean()
    assert np.mean(history["mean_return"][-5:]) > 2 * np.mean(history["mean_return"][:5])


def test_a_diverged_policy_stops_training_with_a_clear_message():
    nl.seed_everything(0)
    policy = nl.Sequential([Dense(4, input_shape=(4,)), Dense(2)])
    policy.layers[1].kernel.data[:] = np.nan  # what an overflowing update leaves behind
    optimizer = nl.optim.Adam(policy.parameters(), lr=0.01)
    with pytest.raises(FloatingPointError, match="loss is nan at update 0: the policy diverged"):
        pg.train_reinforce(policy, [CartPole()], optimizer, updates=3)
