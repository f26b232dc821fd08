"""Chapter 07: the optimizers' bookkeeping (params, grads, errors, names), their defaults
against torch.optim's signatures and Keras 3's compile strings against Keras itself. The update
rules are in test_update_rules.py, the schedules in test_schedules.py; step-by-step parity with
torch.optim is in tests/parity/test_optim_parity.py."""

import inspect
import os

import numpy as np
import pytest
import torch

import nnlearn as nl
from nnlearn import optim, update_rules

pytestmark = [
    pytest.mark.chapter07,
    # Keras 3.15 on torch converts its tensors to numpy in a way numpy 2 deprecates; not ours.
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]


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
def test_defaults_and_argument_order_are_torchs(cls):
    ours = list(inspect.signature(cls).parameters.values())
    theirs = list(inspect.signature(TORCH[cls]).parameters.values())
    positional = [p for p in ours if p.kind is p.POSITIONAL_OR_KEYWORD]
    # torch's first arguments, in order, with the same defaults (torch has more after them)
    assert [p.name for p in positional] == [p.name for p in theirs[: len(positional)]]
    for mine, torchs in zip(positional[1:], theirs[1:], strict=False):
        assert mine.default == torchs.default, f"{cls.__name__}({mine.name}=...)"


def test_sgd_lr_defaults_to_torchs_1e_3():
    assert optim.SGD().lr == torch.optim.SGD([torch.zeros(1, requires_grad=True)]).defaults["lr"]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_each_class_names_its_rule_and_steps_with_the_base_class(cls):
    assert cls.rule is getattr(update_rules, f"{cls.__name__.lower()}_update")
    assert "step" not in vars(cls) and "__init__" not in vars(cls)


def test_adagrad_lr_decay_takes_torchs_steps():
    rng = np.random.default_rng(0)
    theta, grads = rng.standard_normal(4), rng.standard_normal((6, 4))
    settings = {"lr": 0.1, "lr_decay": 0.3, "weight_decay": 0.1}
    p, tp = _param(theta), torch.tensor(theta, requires_grad=True)
    ours, theirs = optim.Adagrad([p], **settings), torch.optim.Adagrad([tp], **settings)
    for g in grads:
        p.grad, tp.grad = g, torch.tensor(g)
        ours.step()
        theirs.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-13)


# --- learning_rate, Keras's name for lr ---------------------------------------------------
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_learning_rate_is_kerass_name_for_lr(cls):
    opt = cls(learning_rate=0.25)
    assert opt.lr == opt.learning_rate == 0.25
    opt.learning_rate = 0.5
    assert opt.lr == 0.5
    assert repr(opt) == repr(cls(lr=0.5))


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_lr_and_learning_rate_together_are_refused_naming_both(cls):
    with pytest.raises(TypeError, match=r"lr=0.001 and learning_rate=0.1.*give only one"):
        cls(lr=1e-3, learning_rate=0.1)  # even when lr is the default value


@pytest.mark.parametrize(
    "cls, keras_keyword, hint",
    [
        (optim.Adam, {"epsilon": 1e-7}, "Keras's epsilon is eps= here"),
        (optim.RMSprop, {"rho": 0.9}, "Keras's rho is alpha= here"),
        (optim.AdamW, {"beta_1": 0.9}, r"Keras's beta_1 is betas=\(beta_1, beta_2\) here"),
    ],
)
def test_a_keras_keyword_says_its_torch_name(cls, keras_keyword, hint):
    with pytest.raises(TypeError, match=f"{cls.__name__}: got an unexpected keyword.*{hint}"):
        cls(**keras_keyword)


def test_arguments_bind_positionally_in_torchs_order():
    p = _param()
    opt = optim.SGD([p], 0.1, 0.9, 0.0, 0.5, True)
    assert opt.lr == 0.1 and opt.hyperparameters == {
        "momentum": 0.9,
        "dampening": 0.0,
        "weight_decay": 0.5,
        "nesterov": True,
    }
    with pytest.raises(TypeError, match="SGD: too many positional arguments"):
        optim.SGD([p], 0.1, 0.9, 0.0, 0.5, True, 1)


def test_repr_shows_every_setting():
    assert repr(optim.SGD(lr=0.1, momentum=0.9)) == (
        "SGD(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False)"
    )


# --- get: a name is Keras's API ----------------------------------------------------------
# Keras settings that are not the update rule's; they must be off in Keras's defaults.
KERAS_OFF = {
    "clipnorm": None,
    "global_clipnorm": None,
    "clipvalue": None,
    "use_ema": False,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}
KERAS_TO_TORCH_NAMES = {"learning_rate": "lr", "epsilon": "eps", "rho": "alpha"}


@pytest.fixture(scope="module")
def keras():
    """Keras 3 on its torch backend, computing in float64 for the duration of this module."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    assert keras.backend.backend() == "torch"
    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield keras
    keras.config.set_floatx(floatx)


def _in_torch_names(config: dict) -> dict:
    """A Keras optimizer's config as torch's settings (weight_decay None means none)."""
    config = dict(config)
    for name, off in KERAS_OFF.items():
        assert config.pop(name) == off, name
    for name in ("name", "ema_momentum", "ema_overwrite_frequency"):  # unused without EMA
        config.pop(name)
    settings = {KERAS_TO_TORCH_NAMES.get(k, k): v for k, v in config.items()}
    if "beta_1" in settings:
        settings["betas"] = (settings.pop("beta_1"), settings.pop("beta_2"))
    settings["weight_decay"] = settings["weight_decay"] or 0.0
    return settings


@pytest.mark.parametrize("name", optim.KERAS_DEFAULTS)
def test_a_name_gets_kerass_defaults(name, keras):
    opt = optim.get(name)
    ours = {"lr": opt.lr, **opt.hyperparameters}
    theirs = _in_torch_names(keras.optimizers.get(name).get_config())
    assert type(opt) is optim.KERAS_DEFAULTS[name][0] and opt.params == []
    assert {k: ours[k] for k in theirs} == theirs
    # every other setting is one Keras lacks, left at torch's default (no effect when zero)
    assert all(ours[k] == type(opt).defaults[k] == 0 for k in ours.keys() - theirs.keys())
    assert optim.get(name) is not opt


def _steps(opt: optim.Optimizer, theta, grads, eps_at=None) -> np.ndarray:
    """nnlearn: theta after one step per gradient; ``eps_at(t)`` sets eps before step t."""
    p = nl.Tensor(theta.copy(), requires_grad=True)
    opt.add_params([p])
    for t, g in enumerate(grads, start=1):
        if eps_at:
            opt.hyperparameters["eps"] = eps_at(t)
        p.grad = g
        opt.step()
    return p.data


def _keras_steps(keras, opt, theta, grads) -> np.ndarray:
    variable = keras.Variable(theta.copy(), dtype="float64")
    for g in grads:
        opt.apply_gradients([(keras.ops.convert_to_tensor(g), variable)])
    return keras.ops.convert_to_numpy(variable)


def _problem(steps=8, seed=0):
    """A start and a sequence of gradients of magnitude 0.5 to 2, random signs."""
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(steps, 5))
    return rng.standard_normal(5), signs * rng.uniform(0.5, 2.0, size=(steps, 5))


def test_the_sgd_name_takes_kerass_steps_exactly(keras):
    theta, grads = _problem()
    ours = _steps(optim.get("sgd"), theta, grads)
    np.testing.assert_array_equal(
        ours, _keras_steps(keras, keras.optimizers.get("sgd"), theta, grads)
    )


@pytest.mark.parametrize("name", ["rmsprop", "adagrad", "adam", "adamw"])
def test_without_epsilon_a_name_takes_kerass_steps(name, keras):
    """Epsilon, placed differently, is the only difference: with it zero the steps agree."""
    theta, grads = _problem()
    ours = optim.get(name)
    ours.hyperparameters["eps"] = 0.0
    theirs = type(keras.optimizers.get(name))(epsilon=0.0)
    np.testing.assert_allclose(
        _steps(ours, theta, grads), _keras_steps(keras, theirs, theta, grads), rtol=1e-13
    )


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_kerass_adam_is_torchs_adam_with_eps_over_root_of_the_bias_correction(name, keras):
    """The documented mapping: Keras's eps at step t is torch's eps / sqrt(1 - beta_2^t)."""
    theta, grads = _problem()
    ours = optim.get(name)
    beta2, eps = ours.hyperparameters["betas"][1], ours.hyperparameters["eps"]
    got = _steps(
        ours, theta, grads, eps_at=lambda t: eps / update_rules.bias_correction(beta2, t) ** 0.5
    )
    want = _keras_steps(keras, keras.optimizers.get(name), theta, grads)
    np.testing.assert_allclose(got, want, rtol=1e-13)


@pytest.mark.parametrize("name", optim.KERAS_DEFAULTS)
def test_a_name_is_a_behavioural_twin_of_keras(name, keras):
    """With Keras's defaults and gradients far above epsilon, every step agrees with Keras's
    to a few epsilon-sized parts of a step (at most lr * 1e-5 each here)."""
    theta, grads = _problem()
    ours = optim.get(name)
    got = _steps(ours, theta, grads)
    want = _keras_steps(keras, keras.optimizers.get(name), theta, grads)
    np.testing.assert_allclose(got, want, rtol=0, atol=len(grads) * ours.lr * 1e-5)
    assert not np.allclose(got, theta, rtol=0, atol=len(grads) * ours.lr * 1e-2)  # it moved


def test_get_ignores_case_and_passes_optimizers_through():
    assert type(optim.get("Adam")) is optim.Adam
    opt = optim.RMSprop(lr=0.5)
    assert optim.get(opt) is opt


def test_get_names_the_choices_for_an_unknown_name_and_refuses_other_types():
    with pytest.raises(ValueError, match="unknown optimizer 'adamax'; .*sgd, rmsprop"):
        optim.get("adamax")
    with pytest.raises(TypeError, match="name or an Optimizer, got int"):
        optim.get(3)
