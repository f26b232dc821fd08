"""Chapter 18: the policy gradient's pieces match PyTorch, on every device.

* :data:`LOG_PROB_CASES`: ``log pi(a | s)`` of the taken actions and its gradient with respect
  to the logits, against ``torch.distributions.Categorical(logits=z).log_prob(a)`` with
  autograd; the REINFORCE loss ``-mean(log pi(a | s) A)`` the same way. The same cases are
  checked against numeric gradients and planted wrong formulas in
  ``tests/test_policy_gradient.py``.
* A policy network (Dense 16 tanh, Dense 3) and its torch twin: the REINFORCE loss, the
  gradient of every parameter, and three Adam steps (:func:`nnlearn.parity.check_model`).

Needs only numpy, torch and pytest.
"""

import numpy as np
import pytest
import torch
from parity.op_cases import OpCase
from torch.distributions import Categorical

import nnlearn as nl
from nnlearn import policy_gradient as pg
from nnlearn.layers import Dense
from nnlearn.parity import check_function, check_model

pytestmark = pytest.mark.chapter18

RNG = np.random.default_rng(18)
ACTIONS_2 = RNG.integers(0, 2, 7)  # CartPole's two actions, 7 steps
ACTIONS_4 = np.array([3, 0, 2, 2, 1])  # every one of four actions, one twice
ADVANTAGES = RNG.standard_normal(7)


def _torch_log_prob(actions):
    def log_prob(z):
        return Categorical(logits=z).log_prob(torch.as_tensor(actions, device=z.device))

    return log_prob


def _torch_loss(z):
    a = torch.as_tensor(ACTIONS_2, device=z.device)
    advantage = torch.as_tensor(ADVANTAGES, dtype=z.dtype, device=z.device)
    return -(Categorical(logits=z).log_prob(a) * advantage).mean()


def _confident(z):  # logits of +-40: probabilities of e^-80, far below float32's smallest
    return z * 40.0


LOG_PROB_CASES = [
    OpCase(
        "log_prob_two_actions",
        lambda z: pg.log_prob(z, ACTIONS_2),
        _torch_log_prob(ACTIONS_2),
        ((7, 2),),
    ),
    OpCase(
        "log_prob_four_actions",
        lambda z: pg.log_prob(z, ACTIONS_4),
        _torch_log_prob(ACTIONS_4),
        ((5, 4),),
    ),
    OpCase(
        "log_prob_confident_logits",
        lambda z: pg.log_prob(_confident(z), ACTIONS_2),
        lambda z: _torch_log_prob(ACTIONS_2)(_confident(z)),
        ((7, 2),),
        "nonzero",
    ),
    OpCase(
        "policy_gradient_loss",
        lambda z: pg.policy_gradient_loss(z, ACTIONS_2, ADVANTAGES),
        _torch_loss,
        ((7, 2),),
    ),
]


@pytest.mark.parametrize("case", LOG_PROB_CASES, ids=lambda c: c.name)
def test_log_prob_and_loss_match_torch_categorical(case, device_dtype):
    device, dtype = device_dtype
    report = check_function(
        case.nn_fn, case.torch_fn, *case.inputs(), device=device, dtype=dtype, names=["logits"]
    )
    report.assert_ok()


def _reinforce_loss(y, logits):
    """Keras's order: y holds (action, advantage) per step."""
    y = y.data if isinstance(y, nl.Tensor) else np.asarray(y)
    return pg.policy_gradient_loss(logits, y[:, 0], y[:, 1])


def _torch_reinforce_loss(logits, y):
    return -(Categorical(logits=logits).log_prob(y[:, 0].long()) * y[:, 1]).mean()


def test_policy_network_gradients_and_adam_steps_match_the_twin(device_dtype):
    device, dtype = device_dtype
    nl.seed_everything(18)
    policy = nl.Sequential(
        [Dense(16, activation="tanh", input_shape=(4,), dtype=dtype), Dense(3, dtype=dtype)]
    )
    states = RNG.standard_normal((9, 4))
    actions, advantage = RNG.integers(0, 3, 9), RNG.standard_normal(9)
    report = check_model(
        policy,
        states,
        np.stack([actions, advantage], axis=1),
        loss=_reinforce_loss,
        torch_loss=_torch_reinforce_loss,
        optimizer=nl.optim.Adam(lr=0.01),
        device=device,
        dtype=dtype,
    )
    report.assert_ok()
    assert {"d/dlayers.0.kernel", "d/dlayers.1.bias", "loss at each step"} <= {
        row.name for row in report.rows
    }
