"""Chapter 07: the optimizers' bookkeeping (params, grads, errors, names) and the update rules
on plain arrays against their closed forms. Step-by-step parity with torch.optim is in
tests/parity/test_optim_parity.py."""

import inspect

import numpy as np
import pytest
import torch

import nnlearn as nl
from nnlearn import optim

ALL = [optim.SGD, optim.Adagrad, optim.RMSprop, optim.Adam, optim.AdamW]
TORCH = {
    optim.SGD: torch.optim.SGD,
    optim.Adagrad: torch.optim.Adagrad,
    optim.RMSprop: torch.optim.RMSprop,
    optim.Adam: torch.optim.Adam,
    optim.AdamW: torch.optim.AdamW,
}


def _param(values=(1.0, -2.0, 3.0), dtype=np.float64, grad=None):
    p = nl.Tensor(np.array(values, dtype=dtype), requires_grad=True)
    p.grad = None if grad is None else np.array(grad, dtype=dtype)
    return p


# --- parameters and gradients ------------------------------------------------------------
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_zero_grad_sets_every_grad_to_none(cls):
    params = [_param(grad=[1.0, 1.0, 1.0]), _param(grad=[2.0, 2.0, 2.0])]
    opt = cls(params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_step_skips_params_whose_grad_is_none(cls):
    with_grad, without = _param(grad=[0.5, 0.5, 0.5]), _param()
    opt = cls([with_grad, without])
    opt.step()
    np.testing.assert_array_equal(without.data, [1.0, -2.0, 3.0])
    assert opt.state[id(without)] == {}
    assert not np.array_equal(with_grad.data, [1.0, -2.0, 3.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_step_updates_the_data_in_place_in_its_dtype_and_leaves_grad_alone(cls, dtype):
    p = _param(dtype=dtype, grad=[0.1, -0.2, 0.3])
    data, grad = p.data, p.grad.copy()
    opt = cls([p], weight_decay=0.1)  # weight decay must not add into p.grad itself
    opt.step()
    opt.step()
    assert p.data is data and p.data.dtype == dtype
    np.testing.assert_array_equal(p.grad, grad)
    assert all(a.dtype == dtype for a in opt.state[id(p)].values() if isinstance(a, np.ndarray))


def test_lr_is_read_at_every_step():
    p = _param(grad=[1.0, 1.0, 1.0])
    opt = optim.SGD([p], lr=0.1)
    opt.lr = 0.0
    opt.step()
    np.testing.assert_array_equal(p.data, [1.0, -2.0, 3.0])
    opt.lr = 0.5
    opt.step()
    np.testing.assert_allclose(p.data, [0.5, -2.5, 2.5])


def test_add_params_gives_a_keras_style_optimizer_its_params_later():
    opt = optim.SGD(lr=0.1)
    assert opt.params == []
    p = _param(grad=[1.0, 2.0, 3.0])
    opt.add_params([p])
    opt.step()
    np.testing.assert_allclose(p.data, [0.9, -2.2, 2.7])


def test_add_params_ignores_params_it_already_holds():
    p, q = _param(), _param()
    opt = optim.Adam([p])
    opt.add_params(iter([p, q]))  # any iterable, e.g. a generator of parameters
    opt.add_params([q])
    assert opt.params == [p, q]


def test_step_without_params_says_how_to_add_them():
    with pytest.raises(RuntimeError, match=r"add_params\(model.parameters\(\)\)"):
        optim.Adam().step()


@pytest.mark.parametrize(
    "params, error, message",
    [
        (_param(), TypeError, "iterable of Tensors.*not a single Tensor"),
        ([np.zeros(3)], TypeError, "can only optimize Tensors, got ndarray"),
        ([_param() * 2], ValueError, "leaf Tensors"),
        ([], ValueError, "empty parameter list"),
    ],
    ids=["single Tensor", "ndarray", "non-leaf", "empty"],
)
def test_bad_params_are_refused(params, error, message):
    with pytest.raises(error, match=message):
        optim.SGD(params)
    with pytest.raises(error, match=message):
        optim.SGD().add_params(params)


def test_a_gradient_of_the_wrong_shape_is_refused():
    p = _param()
    p.grad = np.ones(4)
    with pytest.raises(ValueError, match=r"shape \(3,\) has a gradient of shape \(4,\)"):
        optim.SGD([p]).step()


# --- hyperparameters ---------------------------------------------------------------------
BAD_SETTINGS = [
    *[(cls, {"lr": -0.1}, "invalid learning rate -0.1") for cls in ALL],
    *[(cls, {"weight_decay": -1.0}, "invalid weight_decay -1.0") for cls in ALL],
    *[(cls, {"eps": -1e-8}, "invalid eps") for cls in ALL if cls is not optim.SGD],
    (optim.SGD, {"momentum": -0.9}, "invalid momentum -0.9"),
    (optim.RMSprop, {"momentum": -0.9}, "invalid momentum -0.9"),
    (optim.RMSprop, {"alpha": -0.5}, "invalid alpha -0.5"),
    (optim.Adagrad, {"initial_accumulator_value": -1.0}, "invalid initial_accumulator_value"),
    (optim.SGD, {"nesterov": True}, "Nesterov momentum requires a momentum > 0"),
    (optim.SGD, {"nesterov": True, "momentum": 0.9, "dampening": 0.1}, "Nesterov.*zero dampening"),
    *[
        (cls, {"betas": (1.0, 0.999)}, r"invalid beta parameter at index 0: 1.0.*\[0, 1\)")
        for cls in ALL[3:]
    ],
    *[(cls, {"betas": (0.9, -0.1)}, "invalid beta parameter at index 1: -0.1") for cls in ALL[3:]],
    (optim.Adam, {"betas": (0.9, 1.0)}, "invalid beta parameter at index 1: 1.0"),
]


@pytest.mark.parametrize(
    "cls, settings, message",
    BAD_SETTINGS,
    ids=[f"{c.__name__}-{'-'.join(map(str, s.values()))}" for c, s, _ in BAD_SETTINGS],
)
def test_bad_hyperparameters_raise_clear_errors_where_torch_raises(cls, settings, message):
    with pytest.raises(ValueError, match=f"{cls.__name__}: {message}"):
        cls(**settings)
    with pytest.raises(ValueError):
        TORCH[cls]([torch.zeros(1, requires_grad=True)], **settings)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_defaults_are_torchs(cls):
    ours = inspect.signature(cls).parameters
    theirs = inspect.signature(TORCH[cls]).parameters
    for name, parameter in ours.items():
        if name == "params" or (cls is optim.SGD and name == "lr"):
            continue  # SGD's lr follows Keras' 0.01 (the API); torch's is 1e-3
        assert parameter.default == theirs[name].default, f"{cls.__name__}({name}=...)"
    assert inspect.signature(optim.SGD).parameters["lr"].default == 0.01


def test_repr_shows_every_setting():
    assert repr(optim.SGD(lr=0.1, momentum=0.9)) == (
        "SGD(lr=0.1, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.0)"
    )


# --- get ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name, cls", list(optim.OPTIMIZERS.items()))
def test_get_makes_a_default_optimizer_without_params_from_its_name(name, cls):
    opt = optim.get(name)
    assert type(opt) is cls and opt.params == []
    assert repr(opt) == repr(cls())
    assert optim.get(name) is not opt


def test_get_ignores_case_and_passes_optimizers_through():
    assert type(optim.get("Adam")) is optim.Adam
    opt = optim.RMSprop(lr=0.5)
    assert optim.get(opt) is opt


def test_get_names_the_choices_for_an_unknown_name_and_refuses_other_types():
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'; .*sgd, adagrad"):
        optim.get("adamax")
    with pytest.raises(TypeError, match="name or an Optimizer, got int"):
        optim.get(3)


# --- update rules on plain arrays, against closed forms ----------------------------------
# With a constant gradient g every running average is known exactly, so T steps move theta
# by a sum with a closed form. Start values and g are arbitrary.
THETA0, G, T, LR, EPS = np.array([0.5, -1.0, 2.0]), np.array([0.3, -2.0, 1e-3]), 12, 0.1, 1e-8
STEPS = np.arange(1, T + 1)[:, None]
CLOSED_FORMS = {
    # plain SGD: theta_T = theta_0 - T lr g
    "sgd": (optim.sgd_update, {"momentum": 0.0, "dampening": 0.0, "nesterov": False}, LR * G),
    # Adagrad: s_t = t g^2, step_t = lr g / (sqrt(t) |g| + eps)
    "adagrad": (
        optim.adagrad_update,
        {"eps": EPS, "initial_accumulator_value": 0.0},
        LR * G / (np.sqrt(STEPS) * np.abs(G) + EPS),
    ),
    # RMSprop: v_t = (1 - alpha^t) g^2
    "rmsprop": (
        optim.rmsprop_update,
        {"alpha": 0.9, "eps": EPS, "momentum": 0.0, "centered": False},
        LR * G / (np.sqrt(1 - 0.9**STEPS) * np.abs(G) + EPS),
    ),
    # Adam: bias-corrected m_t = g and v_t = g^2, so every step is lr g / (|g| + eps)
    "adam": (
        optim.adam_update,
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
    optim.adamw_update(
        theta, np.zeros(3), {}, lr=LR, betas=(0.9, 0.999), eps=EPS, weight_decay=0.5, amsgrad=False
    )
    np.testing.assert_allclose(theta, THETA0 * (1 - LR * 0.5), rtol=1e-12)


def test_bias_correction_is_one_minus_beta_to_the_step():
    assert optim.bias_correction(0.9, 1) == pytest.approx(0.1)
    assert optim.bias_correction(0.9, 200) == pytest.approx(1.0)


# --- schedules ---------------------------------------------------------------------------
def test_a_schedule_starts_at_the_base_rate_and_reports_a_list():
    opt = optim.SGD(lr=0.3)
    schedule = optim.ExponentialLR(opt, gamma=0.5)
    assert schedule.get_last_lr() == [0.3] and schedule.base_lr == 0.3
    schedule.step()
    assert schedule.get_last_lr() == [0.15] and opt.lr == 0.15


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda opt: optim.StepLR(opt, step_size=0), "StepLR: step_size must be a positive"),
        (lambda opt: optim.StepLR(opt, step_size=2.5), "StepLR: step_size"),
        (lambda opt: optim.CosineAnnealingLR(opt, T_max=0), "CosineAnnealingLR: T_max"),
    ],
)
def test_schedule_lengths_must_be_positive_whole_epochs(make, message):
    with pytest.raises(ValueError, match=message):
        make(optim.SGD())


def test_a_schedule_needs_an_nnlearn_optimizer():
    torch_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)])
    with pytest.raises(TypeError, match="StepLR: SGD is not an nnlearn Optimizer"):
        optim.StepLR(torch_opt, step_size=2)
