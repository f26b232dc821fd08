"""Chapter 15: the recurrent layers (nnlearn/recurrent.py) and backpropagation through time
(nnlearn/bptt.py).

References, none of them the code under test: the textbook equations, written here as a
plain numpy loop one step at a time (the forward values); numeric gradients
(:func:`nnlearn.gradcheck.gradcheck`) of each fused Function, through every step (the
backward); and planted wrong formulas that these checks catch: a scaled forward or backward,
the gates read in another library's order, a backward that forgets to carry the gradient to
earlier steps. PyTorch: parity/test_recurrent_parity.py; Keras 3: test_keras_recurrent.py.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import numpy as np
import pytest
from parity.planting import functions_defined_in, planted_formula_test

import nnlearn as nl
from nnlearn import bptt, recurrent
from nnlearn.gradcheck import gradcheck
from nnlearn.seeding import drawing_from

pytestmark = [pytest.mark.chapter15, pytest.mark.usefixtures("float64_default")]

B, T, F, U = 2, 4, 3, 3  # batch, time, features, units
RNG = np.random.default_rng(5)
X = RNG.standard_normal((B, T, F))
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}
FUNCTIONS = {"SimpleRNN": bptt.SimpleRNNSequence, "LSTM": bptt.LSTMSequence}
FUNCTIONS["GRU"] = bptt.GRUSequence
# The central differences' step: the loss sums B * T * U outputs, so at gradcheck's default
# 1e-6 its rounding (~1e-10) is as large as the smallest gradient entries of a random
# recurrence (down to ~1e-4, from cancellations); at 1e-5 the rounding is ten times smaller
# and the truncation error (~eps^2) still far below it.
EPS = 1e-5


def _weights(kind: str, seed: int = 2) -> tuple[np.ndarray, ...]:
    """kernel, recurrent_kernel, bias of a ``kind`` layer, random of order 1 (no weight a
    trivial 0 or 1, and gates neither shut nor saturated)."""
    rng = np.random.default_rng(seed)
    width = GATES[kind] * U
    bias_shape = (2, width) if kind == "GRU" else (width,)
    return (
        rng.uniform(-0.9, 0.9, (F, width)),
        rng.uniform(-0.9, 0.9, (U, width)),
        rng.uniform(-0.5, 0.5, bias_shape),
    )


# --- the references: the equations, one step at a time --------------------------------------
def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


ACTIVATIONS = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0), "linear": lambda z: z}
ACTIVATIONS["sigmoid"] = _sigmoid


def reference(kind, x, kernel, recurrent_kernel, bias, return_sequences, activation="tanh"):
    """Keras's equations (gate orders i, f, c, o and z, r, h), from h_0 = c_0 = 0."""
    act, n = ACTIVATIONS[activation], recurrent_kernel.shape[0]
    h, c, outputs = np.zeros((len(x), n)), np.zeros((len(x), n)), []
    for t in range(x.shape[1]):
        if kind == "SimpleRNN":
            h = act(x[:, t] @ kernel + h @ recurrent_kernel + bias)
        elif kind == "LSTM":
            z = x[:, t] @ kernel + h @ recurrent_kernel + bias
            i, f, o = _sigmoid(z[:, :n]), _sigmoid(z[:, n : 2 * n]), _sigmoid(z[:, 3 * n :])
            c = f * c + i * act(z[:, 2 * n : 3 * n])
            h = o * act(c)
        else:
            x_z, x_r, x_h = np.split(x[:, t] @ kernel + bias[0], 3, axis=1)
            h_z, h_r, h_h = np.split(h @ recurrent_kernel + bias[1], 3, axis=1)
            z, r = _sigmoid(x_z + h_z), _sigmoid(x_r + h_r)
            h = z * h + (1 - z) * act(x_h + r * h_h)
        outputs.append(h)
    return np.stack(outputs, axis=1) if return_sequences else h


@dataclass(frozen=True)
class Case:
    kind: str
    return_sequences: bool
    use_bias: bool = True
    activation: str = "tanh"

    @property
    def name(self) -> str:
        bias = "" if self.use_bias else "-no-bias"
        return f"{self.kind}-{self.activation}-seq{int(self.return_sequences)}{bias}"

    def inputs(self) -> tuple[np.ndarray, ...]:
        weights = _weights(self.kind)
        return (X, *weights) if self.use_bias else (X, *weights[:2])

    def function(self, x, kernel, recurrent_kernel, bias=None):
        weights = (kernel, recurrent_kernel) + ((bias,) if bias is not None else ())
        options = {"activation": self.activation, "return_sequences": self.return_sequences}
        return FUNCTIONS[self.kind].apply(x, *weights, **options)

    def forward_ok(self) -> bool:
        inputs = self.inputs()
        bias = inputs[3] if self.use_bias else np.zeros(_weights(self.kind)[2].shape)
        want = reference(self.kind, *inputs[:3], bias, self.return_sequences, self.activation)
        got = self.function(*(nl.Tensor(a) for a in inputs)).data
        return np.allclose(got, want, rtol=1e-7, atol=1e-9)

    def backward_ok(self) -> bool:
        return gradcheck(self.function, *self.inputs(), eps=EPS).ok


CASES = [Case(kind, seq) for kind in GATES for seq in (True, False)]
CASES += [Case(kind, True, use_bias=False) for kind in GATES]
CASES += [Case("SimpleRNN", False, activation="relu"), Case("LSTM", True, activation="linear")]
CASES += [Case("GRU", False, activation="sigmoid")]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_function_value_is_the_step_by_step_reference(case):
    assert case.forward_ok()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_backpropagation_through_time_passes_a_numeric_gradient_check(case):
    gradcheck(case.function, *case.inputs(), eps=EPS).assert_ok()


def _all_ok() -> bool:
    return all(c.forward_ok() and c.backward_ok() for c in CASES)


_unplanted_ok = functools.cache(_all_ok)  # the cases pass before any planting


test_a_planted_wrong_formula_is_caught = planted_formula_test(
    functions_defined_in(bptt), lambda: not _all_ok()
)


def test_every_function_is_planted():
    assert {f.__name__ for f in functions_defined_in(bptt)} == {
        "_Recurrence",
        "SimpleRNNSequence",
        "LSTMSequence",
        "GRUSequence",
    }


def _reordered(blocks: int, order: list[int]):
    """A planted forward that reads the weights' gate blocks in ``order``."""

    def plant(original):
        def forward(self, x, kernel, recurrent_kernel, bias=None, **options):
            def swap(w):
                return np.concatenate([np.split(w, blocks, axis=-1)[i] for i in order], axis=-1)

            weights = [swap(kernel), swap(recurrent_kernel)]
            return original(
                self, x, *weights, *([swap(bias)] if bias is not None else []), **options
            )

        return forward

    return plant


@pytest.mark.parametrize(
    "function, blocks, order, why",
    [
        (bptt.LSTMSequence, 4, [0, 1, 3, 2], "i, f, o, c: the order of some papers"),
        (bptt.LSTMSequence, 4, [1, 0, 2, 3], "f, i, c, o"),
        (bptt.GRUSequence, 3, [1, 0, 2], "r, z, h: torch's order"),
    ],
)
def test_gates_read_in_another_order_are_caught(function, blocks, order, why, monkeypatch):
    assert _unplanted_ok()
    monkeypatch.setattr(function, "forward", _reordered(blocks, order)(function.forward))
    assert not all(c.forward_ok() for c in CASES), why


def test_a_backward_that_does_not_carry_the_gradient_back_in_time_is_caught(monkeypatch):
    """Planted: backward sees a zero recurrent kernel, so no step sends anything to the step
    before it (BPTT truncated to one step)."""
    assert _unplanted_ok()
    original = bptt._Recurrence.forward

    def forward(self, *arrays, **options):
        out = original(self, *arrays, **options)
        self.recurrent_kernel = np.zeros_like(self.recurrent_kernel)
        return out

    monkeypatch.setattr(bptt._Recurrence, "forward", forward)
    assert all(c.forward_ok() for c in CASES)  # the values are untouched
    assert not any(c.backward_ok() for c in CASES)


# --- the layers ------------------------------------------------------------------------------
LAYERS = {"SimpleRNN": recurrent.SimpleRNN, "LSTM": recurrent.LSTM, "GRU": recurrent.GRU}


@pytest.mark.parametrize("kind", GATES)
def test_layers_are_reachable_by_their_keras_path(kind):
    assert getattr(nl.layers, kind) is LAYERS[kind]


@pytest.mark.parametrize("kind", GATES)
@pytest.mark.parametrize("return_sequences", [True, False])
def test_layer_computes_the_reference_with_keras_weights(kind, return_sequences):
    layer = LAYERS[kind](U, return_sequences=return_sequences, input_shape=(T, F))
    assert [name for name, _ in layer.named_parameters()] == ["kernel", "recurrent_kernel", "bias"]
    weights = _weights(kind, seed=1)
    assert [w.shape for w in layer.get_weights()] == [w.shape for w in weights]
    layer.set_weights(weights)
    want = reference(kind, X, *weights, return_sequences)
    np.testing.assert_allclose(layer(X).data, want, rtol=1e-12, atol=1e-14)
    assert layer.output_shape == ((None, T, U) if return_sequences else (None, U))


@pytest.mark.parametrize("kind", GATES)
def test_layer_passes_a_numeric_gradient_check_through_x(kind):
    layer = LAYERS[kind](U, return_sequences=True)
    layer.build((None, T, F))
    layer.set_weights(_weights(kind, seed=3))
    gradcheck(layer, X, eps=EPS).assert_ok()


def test_initial_weights_are_keras_laws():
    with drawing_from(np.random.default_rng(0)):
        lstm = recurrent.LSTM(8, input_shape=(T, 5))
    limit = np.sqrt(6 / (5 + 32))  # glorot_uniform on the (5, 32) kernel
    assert np.abs(lstm.kernel.data).max() <= limit
    assert np.abs(lstm.kernel.data).max() > 0.8 * limit
    u = lstm.recurrent_kernel.data  # orthogonal: 8 orthonormal rows of length 32
    np.testing.assert_allclose(u @ u.T, np.eye(8), atol=1e-12)
    forget = np.zeros(32)
    forget[8:16] = 1  # unit_forget_bias: the forget gate's block starts at one
    np.testing.assert_array_equal(lstm.bias.data, forget)
    assert not recurrent.LSTM(8, unit_forget_bias=False, input_shape=(T, 5)).bias.data.any()
    gru = recurrent.GRU(4, input_shape=(T, 5))
    assert gru.bias.shape == (2, 12) and not gru.bias.data.any()


@pytest.mark.parametrize("shape", [(4, 4), (6, 3), (3, 6), (2, 3, 5)])
def test_orthogonal_gives_orthonormal_rows_or_columns(shape):
    q = recurrent.orthogonal(shape, np.random.default_rng(0), np.float64).reshape(-1, shape[-1])
    small = min(q.shape)
    gram = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    again = recurrent.orthogonal(shape, np.random.default_rng(0), np.float64)
    np.testing.assert_array_equal(again.reshape(q.shape), q)


@pytest.mark.parametrize("kind", GATES)
def test_get_config_is_json_and_rebuilds_the_layer(kind):
    layer = LAYERS[kind](5, return_sequences=True, kernel_regularizer="l2", dtype="float32")
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    rebuilt = LAYERS[kind](**config)
    assert rebuilt.get_config() == config
    assert config["recurrent_initializer"] == "orthogonal"
    assert config["kernel_regularizer"] == {"class_name": "L2", "config": {"l2": 0.01}}


def test_a_regularized_kernel_adds_its_penalty_to_losses():
    layer = recurrent.GRU(U, kernel_regularizer=nl.regularizers.l2(0.1), input_shape=(T, F))
    layer.set_weights(_weights("GRU"))
    (penalty,) = layer.losses
    np.testing.assert_allclose(penalty.data, 0.1 * np.sum(_weights("GRU")[0] ** 2), rtol=1e-12)


def test_a_model_with_recurrent_layers_saves_and_loads(tmp_path):
    with drawing_from(np.random.default_rng(1)):
        model = nl.Sequential(
            [
                recurrent.LSTM(4, return_sequences=True, input_shape=(T, F)),
                recurrent.GRU(3, return_sequences=True),
                recurrent.SimpleRNN(2),
                nl.layers.Dense(1),
            ]
        )
    model.save(tmp_path / "rnn.nnlearn")
    loaded = nl.saving.load_model(tmp_path / "rnn.nnlearn")
    np.testing.assert_array_equal(loaded(X).data, model(X).data)


def test_fit_trains_a_recurrent_model():
    t = np.arange(T + 1) * 0.5 + np.random.default_rng(0).uniform(0, 6, (64, 1))
    x, y = np.sin(t[:, :-1])[:, :, None], np.sin(t[:, -1:])
    model = nl.Sequential([recurrent.LSTM(8), nl.layers.Dense(1)])
    model.compile(optimizer=nl.optim.Adam(lr=0.02), loss="mse")
    with drawing_from(np.random.default_rng(2)):  # the initial weights and the shuffles
        history = model.fit(x, y, epochs=30, batch_size=16, verbose=0).history
    assert history["loss"][-1] < 0.1 * history["loss"][0]


# --- errors that name the layer and the shapes -----------------------------------------------
def test_inputs_without_a_time_axis_are_refused_naming_layer_and_shape():
    with pytest.raises(ValueError, match=r"LSTM\(4\): inputs need shape \(batch, time, features"):
        recurrent.LSTM(4)(np.zeros((2, 3)))
    layer = recurrent.GRU(4, input_shape=(T, F))
    with pytest.raises(
        ValueError, match=r"GRU\(4\): expected inputs of shape \(batch, time, 3\), got \(2, 4, 5\)"
    ):
        layer(np.zeros((2, 4, 5)))


def test_inputs_of_another_dtype_are_refused():
    layer = recurrent.SimpleRNN(4, input_shape=(T, F))
    with pytest.raises(TypeError, match=r"SimpleRNN\(4\): the inputs are float32 .* float64"):
        layer(nl.Tensor(X.astype(np.float32)))


def test_set_weights_of_the_wrong_shape_names_the_layer_and_both_shapes():
    layer = recurrent.LSTM(U, input_shape=(T, F))
    weights = list(_weights("GRU"))  # (3, 9) instead of (3, 12)
    with pytest.raises(
        ValueError, match=r"LSTM\(3\).set_weights: kernel has shape \(3, 12\).*\(3, 9\)"
    ):
        layer.set_weights(weights)


@pytest.mark.parametrize("units", [0, -1, 2.5, True, "4"])
def test_units_must_be_a_positive_integer(units):
    with pytest.raises(ValueError, match="LSTM: units must be a positive integer"):
        recurrent.LSTM(units)


@pytest.mark.parametrize("argument", ["activation", "recurrent_activation"])
def test_an_activation_without_a_written_derivative_is_refused(argument):
    with pytest.raises(ValueError, match=f"GRU: {argument}='gelu' is not available"):
        recurrent.GRU(4, **{argument: "gelu"})


@pytest.mark.parametrize(
    "argument, value",
    [("dropout", 0.2), ("recurrent_dropout", 0.1), ("return_state", True), ("go_backwards", True)]
    + [("stateful", True), ("unroll", True), ("kernel_constraint", "non_neg")],
)
def test_keras_arguments_nnlearn_lacks_raise_unless_at_their_default(argument, value):
    with pytest.raises(ValueError, match=f"LSTM: Keras's argument {argument}={value!r} is not"):
        recurrent.LSTM(4, **{argument: value})
    default = recurrent.KERAS_ONLY[argument]
    assert recurrent.LSTM(4, **{argument: default}).units == 4


def test_an_unknown_argument_is_a_type_error():
    with pytest.raises(TypeError, match="SimpleRNN.. got an unexpected keyword argument 'gates'"):
        recurrent.SimpleRNN(4, gates=2)
    with pytest.raises(TypeError, match="recurrent_activation"):
        recurrent.SimpleRNN(4, recurrent_activation="sigmoid")  # SimpleRNN has no gates


def test_the_gru_reset_before_is_refused():
    with pytest.raises(ValueError, match="GRU: reset_after=False .* is not implemented"):
        recurrent.GRU(4, reset_after=False)


def test_fit_and_predict_take_sequences_of_any_length_when_the_input_shape_says_none():
    # Keras's input_shape=(None, features): the length is free, the features are not.
    model = nl.Sequential([nl.layers.LSTM(4, input_shape=(None, 2)), nl.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(8, 5, 2)), rng.normal(size=(8, 1)), epochs=1, verbose=0)
    x_long = rng.normal(size=(3, 7, 2))
    np.testing.assert_array_equal(model.predict(x_long, verbose=0), model(x_long).data)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(examples, None, 2\)"):
        model.fit(rng.normal(size=(8, 5, 3)), rng.normal(size=(8, 1)), verbose=0)
