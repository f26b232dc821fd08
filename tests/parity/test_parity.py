"""The parity harness itself (nnlearn.parity): tolerances, comparisons, devices, and that it
catches a wrong forward; torch twins (one per layer type, a clear error for an unknown one),
check_model and check_optimizer, each shown to catch a planted mistake. The report table it
returns: tests/test_report.py."""

import functools

import numpy as np
import pytest
import torch

import nnlearn as nl
from nnlearn import activations, functional, layers, parity
from nnlearn.parity import twins

pytestmark = pytest.mark.harness


def test_a_wrong_forward_is_caught(monkeypatch):
    monkeypatch.setattr(functional.Neg, "forward", lambda self, a: -a * (1 + 1e-6))
    report = parity.check_function(lambda a: -a, torch.neg, np.array([0.5, 1.0]), device="cpu")
    assert [row.ok for row in report.rows] == [False, True]


def test_tolerances_are_the_design_values():
    assert parity.tolerances(np.float64) == {"rtol": 1e-7, "atol": 1e-9}
    assert parity.tolerances(np.float32) == {"rtol": 1e-4, "atol": 1e-5}


def test_compare_uses_allclose_rule_at_the_dtype_tolerance():
    expected = {"y": np.array([1.0, 100.0])}
    inside = {"y": np.array([1.0 + 5e-8, 100.0 + 9e-6])}  # within 1e-9 + 1e-7 * |y|
    outside = {"y": np.array([1.0 + 5e-7, 100.0])}
    assert parity.compare(inside, expected, np.float64).ok
    assert not parity.compare(outside, expected, np.float64).ok
    assert parity.compare(outside, expected, np.float32).ok


def test_compare_rejects_a_shape_mismatch_and_nan():
    expected = {"y": np.zeros((2, 3)), "z": np.zeros(2)}
    actual = {"y": np.zeros((3, 2)), "z": np.array([0.0, np.nan])}
    report = parity.compare(actual, expected, np.float64)
    assert [row.ok for row in report.rows] == [False, False]
    assert "(3, 2) vs (2, 3)" in report.rows[0].name


def test_device_variable_forces_the_cpu_and_rejects_unknown_devices(monkeypatch):
    monkeypatch.setenv("NNLEARN_DEVICE", "cpu")
    assert parity.choose_device() == "cpu"
    monkeypatch.setenv("NNLEARN_DEVICE", "tpu")
    with pytest.raises(RuntimeError, match="NNLEARN_DEVICE='tpu'"):
        parity.choose_device()
    monkeypatch.delenv("NNLEARN_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else parity.available_devices()[-1]
    assert parity.choose_device() == expected


def test_check_dtype_is_float64_on_cpu_and_float32_elsewhere():
    assert parity.check_dtype("cpu") == np.float64
    assert parity.check_dtype("cuda") == np.float32
    assert parity.check_dtype("mps") == np.float32


def test_conversion_round_trip_keeps_values_and_dtype(device_dtype):
    device, dtype = device_dtype
    x = nl.Tensor(np.arange(6.0).reshape(2, 3).astype(dtype))
    t = parity.to_torch(x, device, requires_grad=True)
    assert t.requires_grad and t.device.type == device and str(t.dtype) == f"torch.{dtype.name}"
    back = parity.to_numpy(t)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, x.data)


def test_exact_float32_switches_tf32_off_and_restores_it():
    torch.backends.cuda.matmul.allow_tf32 = True
    with parity.exact_float32():
        assert not torch.backends.cuda.matmul.allow_tf32
        assert not torch.backends.cudnn.allow_tf32
    assert torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False


def test_device_and_dtype_default_to_the_design_and_refuse_float64_on_mps():
    assert parity.device_and_dtype("cpu", None) == ("cpu", np.float64)
    assert parity.device_and_dtype("cuda", None) == ("cuda", np.float32)
    with pytest.raises(ValueError, match="MPS has no float64"):
        parity.device_and_dtype("mps", np.float64)


# --- torch twins and check_model ----------------------------------------------------------
def _model(*final):
    """Dense(5, tanh) on 4 features, then the layers ``final``: built, float64, with non-zero
    biases (a forward that dropped one would show)."""
    nl.seed_everything(0)
    first = layers.Dense(5, activation="tanh", input_shape=(4,), dtype=np.float64)
    model = nl.Sequential([first, *final])
    for layer in model.layers:
        if getattr(layer, "bias", None) is not None:
            layer.bias.data[...] = np.linspace(-1, 1, layer.units)
    return model


def _dense(units, activation=None):
    return layers.Dense(units, activation=activation, dtype=np.float64)


X = np.random.default_rng(5).standard_normal((6, 4))
ACTIVATIONS = sorted({*activations.NAMES, *activations._BY_NAME})  # every name get() knows


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_the_twin_of_every_activation_matches_it(name, device_dtype):
    device, dtype = device_dtype
    layer = layers.Activation(name, input_shape=(4,), dtype=dtype)
    report = parity.check_model(layer, 3 * X, device=device, dtype=dtype).assert_ok()
    assert [row.name for row in report.rows] == ["output", "d/dinput"]


def test_every_activation_name_has_a_twin():
    assert set(ACTIVATIONS) <= set(twins.TORCH_ACTIVATIONS)
    with pytest.raises(ValueError, match="no torch twin for the activation 'mystery'"):
        parity.twin_activation("mystery")


def test_the_twin_holds_a_copy_of_the_weights_in_torchs_layout():
    model = _model(_dense(3, "softmax"))
    twin = parity.torch_twin(model)
    kernel = model.layers[0].kernel
    np.testing.assert_array_equal(parity.to_numpy(twin.get_parameter("0.0.weight")), kernel.data.T)
    params = parity.twin_parameters(twin)
    assert list(params) == [name for name, _ in model.named_parameters()]
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(params[name], p.data)
    with torch.no_grad():
        twin.get_parameter("0.0.weight").add_(1.0)
    assert not np.allclose(parity.twin_parameters(twin)["layers.0.kernel"], kernel.data)


def test_check_model_passes_and_leaves_the_callers_model_untouched():
    model = _model(_dense(3, "softmax"))
    before = {name: p.data.copy() for name, p in model.named_parameters()}
    report = parity.check_model(model, X, optimizer=nl.optim.Adam(lr=0.1), steps=3, device="cpu")
    report.assert_ok()
    assert "layers.1.kernel after 3 steps" in [row.name for row in report.rows]
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(p.data, before[name])
        assert p.grad is None or not np.any(p.grad)


class _BiaslessDense(layers.Dense):
    """A planted mistake: a Dense whose forward forgets its bias."""

    def forward(self, x):
        return self.activation(layers.Affine.apply(x, self.kernel))


def test_check_model_catches_a_layer_that_ignores_its_bias():
    model = _model(_BiaslessDense(3, activation="softmax", dtype=np.float64))
    report = parity.check_model(model, X, device="cpu")
    failed = [row.name for row in report.rows if not row.ok]
    assert "output" in failed and "d/dlayers.1.bias" in failed


class _Scale(layers.Layer):
    """A new layer type, ``y = x * scale`` (one learned factor per feature), as a later
    chapter would add one, and its twin."""

    def build(self, input_shape):
        self.scale = layers.Parameter(np.linspace(0.5, 1.5, input_shape[-1]), dtype=self.dtype)
        super().build(input_shape)

    def forward(self, x):
        return x * self.scale


class _WronglyTwinnedScale(_Scale):
    pass


class _TorchScale(torch.nn.Module):
    def __init__(self, features, shift=False):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.empty(features))
        self.shift = shift

    def forward(self, x):
        return x + self.weight if self.shift else x * self.weight


parity.register_twin(_Scale, scale=parity.Slot("weight"))(
    lambda layer: _TorchScale(layer.scale.shape[0])
)
parity.register_twin(_WronglyTwinnedScale, scale=parity.Slot("weight"))(
    lambda layer: _TorchScale(layer.scale.shape[0], shift=True)  # the planted mistake
)


def test_a_registered_layer_type_is_checked_and_a_wrong_twin_is_caught():
    def scaled(layer_type):
        return _model(layer_type(dtype=np.float64))

    report = parity.check_model(scaled(_Scale), X, optimizer="sgd", device="cpu").assert_ok()
    assert "d/dlayers.1.scale" in [row.name for row in report.rows]
    report = parity.check_model(scaled(_WronglyTwinnedScale), X, device="cpu")
    assert "output" in [row.name for row in report.rows if not row.ok]


def test_an_unknown_layer_raises_an_error_that_says_how_to_register_one():
    class Mystery(layers.Layer):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match=r"no torch twin is registered for Mystery.*register_twin"):
        parity.torch_twin(nl.Sequential([Mystery(input_shape=(4,))]))


def test_a_twin_must_give_every_parameter_a_home():
    class Unplaced(_Scale):
        pass

    parity.register_twin(Unplaced)(lambda layer: _TorchScale(layer.scale.shape[0]))
    with pytest.raises(ValueError, match=r"no slot for the parameters \['scale'\]"):
        parity.torch_twin(Unplaced(input_shape=(4,)))


def test_an_unbuilt_layer_has_no_twin_yet():
    with pytest.raises(ValueError, match="not built yet"):
        parity.torch_twin(layers.Dense(3))


_RNG = np.random.default_rng(1)
LOSS_CASES = [  # (loss, the last layer's units and activation, targets)
    ("mse", 3, None, _RNG.standard_normal((6, 3))),
    ("mae", 3, None, _RNG.standard_normal((6, 3))),
    (nl.losses.Huber(delta=0.5), 1, None, _RNG.standard_normal(6)),  # (n,) targets, as Keras
    ("binary_crossentropy", 1, "sigmoid", np.array([0, 1, 1, 0, 1, 0.0])),
    (
        nl.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.1),
        2,
        None,
        _RNG.integers(0, 2, (6, 2)).astype(float),
    ),
    ("categorical_crossentropy", 3, "softmax", np.eye(3)[[0, 1, 2] * 2]),
    (
        nl.losses.CategoricalCrossentropy(label_smoothing=0.2),
        3,
        "softmax",
        np.eye(3)[[2, 1, 0] * 2],
    ),
    ("sparse_categorical_crossentropy", 3, "softmax", np.arange(6) % 3),
    (nl.losses.SparseCategoricalCrossentropy(from_logits=True), 3, None, np.arange(6) % 3),
]


@pytest.mark.parametrize(
    "loss, units, activation, y", LOSS_CASES, ids=[repr(case[0]) for case in LOSS_CASES]
)
def test_check_model_with_each_loss_matches_its_twin(loss, units, activation, y):
    model = _model(_dense(units, activation))
    report = parity.check_model(model, X, y, loss=loss, optimizer="adam", device="cpu")
    report.assert_ok()
    assert "loss" in [row.name for row in report.rows]


def test_a_loss_without_a_twin_asks_for_torch_loss():
    def my_loss(y_true, y_pred):
        return ((y_true - y_pred) ** 4).mean(axis=-1)

    model = _model()
    y = np.zeros((6, 5))
    with pytest.raises(ValueError, match="Pass torch_loss="):
        parity.check_model(model, X, y, loss=my_loss, device="cpu")
    report = parity.check_model(
        model, X, y, loss=my_loss, torch_loss=lambda p, t: ((t - p) ** 4).mean(), device="cpu"
    )
    report.assert_ok()


# --- check_optimizer ------------------------------------------------------------------------
PARAMS = [np.array([1.0, -2.0, 0.5]), np.array([[0.3, -0.7], [1.1, 0.2]])]
GRADS = [[g * (step + 1) for g in (np.array([0.5, 1, -1]), np.ones((2, 2)))] for step in range(4)]


class _SlippingSGD(nl.optim.SGD):
    """A planted mistake: every step 1 % too long."""

    def step(self):
        before = [p.data.copy() for p in self.params]
        super().step()
        for p, old in zip(self.params, before, strict=True):
            p.data += 0.01 * (p.data - old)


def test_check_optimizer_passes_and_catches_a_planted_wrong_rule():
    right = nl.optim.SGD(lr=0.1, momentum=0.9)
    report = parity.check_optimizer(right, PARAMS, GRADS, state=True, device="cpu")
    assert [row.name for row in report.assert_ok().rows] == [
        "param 0 (3,)",
        "param 1 (2, 2)",
        "param 0 state momentum_buffer",
        "param 1 state momentum_buffer",
    ]
    wrong = _SlippingSGD(lr=0.1, momentum=0.9)
    assert not parity.check_optimizer(wrong, PARAMS, GRADS, device="cpu").ok


def sgd_momentum_step(param, grad, state, lr, momentum):
    """A hand-written update rule, as an assignment asks for."""
    state["v"] = momentum * state["v"] + grad if "v" in state else grad.copy()
    return param - lr * state["v"]


def test_check_optimizer_takes_a_hand_written_rule_step_by_step():
    torch_sgd = functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9)
    rule = functools.partial(sgd_momentum_step, lr=0.1, momentum=0.9)
    report = parity.check_optimizer(
        rule, PARAMS, GRADS, torch_optimizer=torch_sgd, every_step=True, device="cpu"
    ).assert_ok()
    assert len(report.rows) == 4 * 2 and report.rows[0].name == "step 1: param 0 (3,)"
    assert report.title.startswith("sgd_momentum_step(lr=0.1, momentum=0.9), 4 steps")
    wrong = functools.partial(sgd_momentum_step, lr=0.1, momentum=0.8)
    assert not parity.check_optimizer(wrong, PARAMS, GRADS, torch_optimizer=torch_sgd).ok
    with pytest.raises(ValueError, match="needs torch_optimizer="):
        parity.check_optimizer(rule, PARAMS, GRADS)


def test_check_optimizer_with_gradients_of_each_sides_own_parameters():
    def bowl(values):  # the gradient of sum(p^2 / 2 * c), computed from the current values
        return [v * (i + 1) for i, v in enumerate(values)]

    report = parity.check_optimizer(nl.optim.Adam(lr=0.1), PARAMS, bowl, steps=20, device="cpu")
    report.assert_ok()
