"""Chapter 07: the update rules (nnlearn.update_rules) on plain arrays, against their closed forms.
Step by step against torch.optim: tests/parity/test_optim_parity.py."""

import numpy as np
import pytest

from nnlearn import update_rules

pytestmark = pytest.mark.chapter07


# --- update rules on plain arrays, against closed forms ----------------------------------
# With a constant gradient g every running average is known exactly, so T steps move theta
# by a sum with a closed form. Start values and g are arbitrary.
THETA0, G, T, LR, EPS = np.array([0.5, -1.0, 2.0]), np.array([0.3, -2.0, 1e-3]), 12, 0.1, 1e-8
STEPS = np.arange(1, T + 1)[:, None]
CLOSED_FORMS = {
    # plain SGD: theta_T = theta_0 - T lr g
    "sgd": (
        update_rules.sgd_update,
        {"momentum": 0.0, "dampening": 0.0, "nesterov": False},
        LR * G,
    ),
    # Adagrad: s_t = t g^2, step_t = lr g / (sqrt(t) |g| + eps)
    "adagrad": (
        update_rules.adagrad_update,
        {"lr_decay": 0.0, "eps": EPS, "initial_accumulator_value": 0.0},
        LR * G / (np.sqrt(STEPS) * np.abs(G) + EPS),
    ),
    # RMSprop: v_t = (1 - alpha^t) g^2
    "rmsprop": (
        update_rules.rmsprop_update,
        {"alpha": 0.9, "eps": EPS, "momentum": 0.0, "centered": False},
        LR * G / (np.sqrt(1 - 0.9**STEPS) * np.abs(G) + EPS),
    ),
    # Adam: bias-corrected m_t = g and v_t = g^2, so every step is lr g / (|g| + eps)
    "adam": (
        update_rules.adam_update,
        {"betas": (0.9, 0.999), "eps": EPS, "amsgrad": False},
        LR * G / (np.abs(G) + EPS),
    ),
}


@pytest.mark.parametrize("name", CLOSED_FORMS)
def test_update_rule_on_a_constant_gradient_follows_its_closed_form(name):
    rule, settings, step = CLOSED_FORMS[name]
    theta, state = THETA0.copy(), {}
    for _ in range(T):
        rule(theta, G, state, lr=LR, weight_decay=0.0, **settings)
    total = step * T if np.ndim(step) == 1 else step.sum(axis=0)
    np.testing.assert_allclose(theta, THETA0 - total, rtol=1e-12)


def test_adamw_shrinks_weights_by_lr_times_decay_before_the_adam_step():
    theta = THETA0.copy()
    update_rules.adamw_update(
        theta, np.zeros(3), {}, lr=LR, betas=(0.9, 0.999), eps=EPS, weight_decay=0.5, amsgrad=False
    )
    np.testing.assert_allclose(theta, THETA0 * (1 - LR * 0.5), rtol=1e-12)


def test_bias_correction_is_one_minus_beta_to_the_step():
    assert update_rules.bias_correction(0.9, 1) == pytest.approx(0.1)
    assert update_rules.bias_correction(0.9, 200) == pytest.approx(1.0)
