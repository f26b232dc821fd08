"""Chapter 18: nnlearn's CartPole is Gymnasium's ``CartPole-v1``, step for step.

The reference is Gymnasium itself, ``gymnasium.make("CartPole-v1")`` (with its TimeLimit,
order enforcing and checker wrappers): from the same seeds and the same actions, both must
give the same float32 observations (exactly), rewards, terminated and truncated flags, through
episode ends and resets without a seed; the same warning and reward after termination; the same
errors for invalid actions and a step before reset.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

from nnlearn.cartpole import CartPole, ResetNeeded

pytestmark = pytest.mark.chapter18


def _balance(observation: np.ndarray) -> int:
    """A hand-made controller that keeps the pole up for 500 steps from small starts."""
    x, x_dot, theta, theta_dot = observation
    return int(theta + 0.5 * theta_dot + 0.01 * x + 0.1 * x_dot > 0)


def _same_step(theirs: tuple, ours: tuple, where: str) -> None:
    """Gymnasium's (obs, reward, terminated, truncated, info) and ours, equal exactly."""
    assert ours[0].dtype == theirs[0].dtype == np.float32, where
    np.testing.assert_array_equal(ours[0], theirs[0], err_msg=where)
    assert ours[1:] == theirs[1:], f"{where}: {ours[1:]} vs Gymnasium's {theirs[1:]}"
    assert type(ours[1]) is type(theirs[1]) and type(ours[2]) is type(theirs[2]), where


@pytest.mark.parametrize("seed", [0, 1, 7, 123, 2**31 - 1])
def test_random_actions_give_gymnasiums_states_rewards_and_flags(seed):
    theirs, ours = gym.make("CartPole-v1"), CartPole()
    first_theirs, first_ours = theirs.reset(seed=seed), ours.reset(seed=seed)
    np.testing.assert_array_equal(first_ours[0], first_theirs[0])
    assert first_ours[1] == first_theirs[1] == {}
    actions = np.random.default_rng(seed).integers(0, 2, 400)
    ends = 0
    for t, action in enumerate(actions.tolist()):
        step_theirs = theirs.step(action)
        _same_step(step_theirs, ours.step(action), f"seed {seed}, step {t}")
        if step_theirs[2] or step_theirs[3]:
            ends += 1  # the next start comes from the generator the seed made
            np.testing.assert_array_equal(ours.reset()[0], theirs.reset()[0])
    assert ends >= 5  # random actions end an episode every few dozen steps


def test_a_balanced_pole_is_truncated_at_500_steps_as_gymnasium_does():
    theirs, ours = gym.make("CartPole-v1"), CartPole()
    for seed in (3, 4):
        observation, _ = theirs.reset(seed=seed)
        ours.reset(seed=seed)
        for t in range(500):
            action = _balance(observation)
            step_theirs = theirs.step(action)
            _same_step(step_theirs, ours.step(action), f"seed {seed}, step {t}")
            observation = step_theirs[0]
            assert step_theirs[3] == (t == 499) and not step_theirs[2]
        # Past the limit without a reset: still truncated on both sides, the physics going on.
        _same_step(theirs.step(0), ours.step(0), f"seed {seed}, step 500")


def test_a_shorter_time_limit_is_gymnasiums_max_episode_steps():
    theirs, ours = gym.make("CartPole-v1", max_episode_steps=12), CartPole(max_episode_steps=12)
    observation, _ = theirs.reset(seed=5)
    ours.reset(seed=5)
    flags = []
    for t in range(40):
        step_theirs = theirs.step(_balance(observation))
        _same_step(step_theirs, ours.step(_balance(observation)), f"step {t}")
        observation, flags = step_theirs[0], flags + [step_theirs[3]]
        if step_theirs[2] or step_theirs[3]:
            observation, _ = theirs.reset()
            ours.reset()
    assert sum(flags) == 3  # truncated at steps 12, 24 and 36


def test_steps_after_termination_warn_once_and_earn_nothing_as_in_gymnasium():
    theirs, ours = gym.make("CartPole-v1"), CartPole()
    theirs.reset(seed=2)
    ours.reset(seed=2)
    for t in range(200):  # always push left: the pole falls within a dozen steps
        step_theirs = theirs.step(0)
        _same_step(step_theirs, ours.step(0), f"step {t}")
        if step_theirs[2]:
            break
    with warnings.catch_warnings(record=True) as caught_theirs:
        warnings.simplefilter("always")
        after_theirs = [theirs.step(1) for _ in range(3)]
    with warnings.catch_warnings(record=True) as caught_ours:
        warnings.simplefilter("always")
        after_ours = [ours.step(1) for _ in range(3)]
    for t, (a, b) in enumerate(zip(after_theirs, after_ours, strict=True)):
        _same_step(a, b, f"step {t} after termination")
        assert b[1] == 0.0 and b[2] is True
    assert len(caught_theirs) == len(caught_ours) == 1
    assert "already returned terminated = True" in str(caught_ours[0].message)
    assert "already returned terminated = True" in str(caught_theirs[0].message)


@pytest.mark.parametrize("options", [{"low": -0.2, "high": 0.1}, {"high": 0.3}, {}])
def test_reset_options_draw_the_same_starts(options):
    theirs, ours = gym.make("CartPole-v1"), CartPole()
    for seed in (0, 11):
        np.testing.assert_array_equal(
            ours.reset(seed=seed, options=options)[0],
            theirs.reset(seed=seed, options=options)[0],
        )


def test_a_reset_without_a_seed_starts_anywhere_in_the_start_box():
    starts = np.array([CartPole().reset()[0] for _ in range(20)])
    assert np.all(np.abs(starts) <= 0.05) and len(np.unique(starts[:, 0])) == 20


@pytest.mark.parametrize("action", [1, True, np.int64(1), np.int8(0), np.array(1)])
def test_actions_gymnasium_accepts_are_accepted(action):
    theirs, ours = gym.make("CartPole-v1"), CartPole()
    theirs.reset(seed=0)
    ours.reset(seed=0)
    _same_step(theirs.step(action), ours.step(action), repr(action))


@pytest.mark.parametrize(
    "action", [2, -1, 1.0, np.float32(0), np.array([1]), np.uint64(1), "left", None]
)
def test_actions_gymnasium_rejects_raise_its_assertion_error(action):
    theirs, ours = gym.make("CartPole-v1"), CartPole()
    theirs.reset(seed=0)
    ours.reset(seed=0)
    with pytest.raises(AssertionError):
        theirs.step(action)
    with pytest.raises(AssertionError, match="0 \\(push left\\) and 1 \\(push right\\)"):
        ours.step(action)


def test_a_step_before_reset_raises_reset_needed_as_gymnasium_does():
    with pytest.raises(gym.error.ResetNeeded):
        gym.make("CartPole-v1").step(0)
    with pytest.raises(ResetNeeded, match="before calling env.reset"):
        CartPole().step(0)


@pytest.mark.parametrize("seed", [-1, 1.5, "0"])
def test_an_invalid_seed_is_refused_as_gymnasium_refuses_it(seed):
    with pytest.raises(gym.error.Error):
        gym.make("CartPole-v1").reset(seed=seed)
    with pytest.raises(ValueError, match="non-negative Python integer"):
        CartPole().reset(seed=seed)


def test_reset_bounds_in_the_wrong_order_are_refused_as_gymnasium_refuses_them():
    options = {"low": 0.1, "high": -0.1}
    with pytest.raises(ValueError, match="must be lower"):
        gym.make("CartPole-v1").reset(seed=0, options=options)
    with pytest.raises(ValueError, match="must be lower"):
        CartPole().reset(seed=0, options=options)
