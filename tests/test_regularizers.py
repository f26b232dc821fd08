"""Chapter 09: weight penalties (nnlearn/regularizers.py) against Keras 3 and PyTorch.

* Keras 3 (torch backend, float64) is the reference for the Keras names: a penalty's value and
  gradient, the defaults of the names Keras accepts, ``model.losses``, and the loss that
  ``evaluate`` and ``fit`` report (penalties included), and the weights after a few epochs of
  SGD, from the same start (:func:`twins`).
* PyTorch has no penalty objects but ``weight_decay``: ``torch.optim.SGD(weight_decay=wd)`` and
  ``torch.optim.Adam(weight_decay=wd)`` add ``wd * w`` to every gradient, the gradient of
  ``l2(wd / 2)`` on every weight (biases too), so both train like nnlearn's SGD and Adam with
  that penalty; ``torch.optim.AdamW`` decouples the decay and trains differently. (nnlearn's
  own AdamW is checked step by step against torch's in parity/test_optim_parity.py.)
* Numeric gradients (:func:`nnlearn.gradcheck.gradcheck`) of every penalty, and planted wrong
  formulas that these checks catch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from keras_reference import LIBRARIES, floatx, keras, to_numpy, twins

import nnlearn as nl
from nnlearn import regularizers
from nnlearn.gradcheck import gradcheck
from nnlearn.parity import fit_twin, torch_twin, twin_parameters

pytestmark = [
    pytest.mark.chapter09,
    # Keras's own variables warn under numpy 2 when turned into arrays; not nnlearn's concern.
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

RTOL = 1e-6  # float64; Keras's loss tracker reports in float32, hence not tighter
MODULES = {"keras": keras.regularizers, "nnlearn": regularizers}
RNG = np.random.default_rng(0)
X = RNG.standard_normal((10, 3))
LABELS = RNG.integers(0, 3, 10)
W = RNG.standard_normal((4, 3))
W[0, 0] = 0.0  # L1's kink: both give the gradient 0 there

# A penalty written once for both libraries: (class name, arguments). Keras's lower-case
# aliases (l1, l2, l1_l2) are the classes in both libraries.
Spec = tuple[str, tuple[float, ...]] | str | None
PENALTIES: list[Spec] = [
    ("L1", (0.02,)),
    ("L2", (0.05,)),
    ("L1L2", (0.01, 0.03)),
    ("l1_l2", (0.0, 0.2)),
    ("L1", ()),  # Keras's defaults
    ("L2", ()),
    ("L1L2", ()),
]
NAMES = ("l1", "l2", "l1l2", "L1", "L2", "L1L2")  # the strings Keras's get() accepts for them


def penalty(library: str, spec: Spec) -> Any:
    """The regularizer that ``spec`` describes, from ``library`` (a name stays a name)."""
    if spec is None or isinstance(spec, str):
        return spec
    name, arguments = spec
    return getattr(MODULES[library], name)(*arguments)


def spec_id(spec: Spec) -> str:
    if spec is None or isinstance(spec, str):
        return str(spec)
    return f"{spec[0]}{spec[1]}"


# --- one penalty: value, gradient, defaults --------------------------------------------------
def keras_disagrees(spec: Spec) -> bool:
    """Whether nnlearn's penalty differs from Keras's in value or gradient at W."""
    ours = nl.Tensor(W.copy(), requires_grad=True)
    value = penalty("nnlearn", spec)(ours)
    value.backward()
    theirs = torch.tensor(W, requires_grad=True)
    with floatx("float64"):
        expected = penalty("keras", spec)(theirs)
    if expected.requires_grad:  # Keras's L1L2(0, 0) returns a constant 0
        expected.backward()
    their_grad = np.zeros_like(W) if theirs.grad is None else theirs.grad.numpy()
    return not (
        np.allclose(value.item(), expected.item(), rtol=1e-12, atol=0)
        and np.allclose(ours.grad, their_grad, rtol=1e-12, atol=0)
    )


@pytest.mark.parametrize("spec", PENALTIES, ids=spec_id)
def test_penalty_value_and_gradient_match_keras(spec):
    assert not keras_disagrees(spec)


@pytest.mark.parametrize("spec", PENALTIES, ids=spec_id)
def test_penalty_gradient_matches_numeric_gradient(spec):
    # Central differences at W (its zero included: |w| is symmetric there, so they give 0).
    gradcheck(penalty("nnlearn", spec), W).assert_ok()


@pytest.mark.parametrize("name", NAMES)
def test_names_give_keras_defaults(name):
    ours, theirs = regularizers.get(name), keras.regularizers.get(name)
    assert type(ours).__name__ == type(theirs).__name__
    expected = {key: float(to_numpy(value)) for key, value in theirs.get_config().items()}
    assert ours.get_config() == pytest.approx(expected, rel=1e-7)  # Keras keeps L1's in float32


@pytest.mark.parametrize("name", ["l3", "l1_l2", "L2 ", "weight_decay"])
def test_unknown_names_raise_as_in_keras_and_name_the_choices(name):
    with pytest.raises(ValueError):
        keras.regularizers.get(name)
    with pytest.raises(ValueError, match="use one of .*'l1l2'"):
        regularizers.get(name)
    with pytest.raises(ValueError, match="unknown regularizer"):
        nl.layers.Dense(3, kernel_regularizer=name)


def test_a_keras_regularizer_nnlearn_lacks_is_refused_not_ignored():
    assert keras.regularizers.get("orthogonal_regularizer") is not None
    with pytest.raises(ValueError, match="unknown regularizer"):
        regularizers.get("orthogonal_regularizer")


@pytest.mark.parametrize("name", ["L1", "L2"])
def test_negative_factors_are_refused_as_in_keras(name):
    with pytest.raises(ValueError):
        getattr(keras.regularizers, name)(-0.1)
    with pytest.raises(ValueError, match="zero or positive"):
        getattr(regularizers, name)(-0.1)


# --- in a model: losses, evaluate, fit, against Keras ----------------------------------------
# (kernel penalty of the first Dense, its bias penalty, kernel penalty of the second)
MODEL_CASES: list[tuple[Spec, Spec, Spec]] = [
    (("L2", (0.05,)), None, None),
    (("L2", (0.05,)), ("L1", (0.02,)), ("L1L2", (0.01, 0.03))),
    (("l1_l2", (0.02, 0.0)), ("L2", (0.1,)), ("L1", (0.01,))),
    ("l2", "L1", "l1l2"),  # names: Keras's defaults
]


def regularized(kernel: Spec, bias: Spec, second: Spec) -> Callable[[Any], list]:
    """Dense(4, tanh) with ``kernel``/``bias`` penalties, then Dense(3, softmax) with ``second``
    on its kernel, in the library given."""

    def layers(library: Any) -> list:
        name = library.__name__
        return [
            library.layers.Dense(
                4,
                activation="tanh",
                kernel_regularizer=penalty(name, kernel),
                bias_regularizer=penalty(name, bias),
            ),
            library.layers.Dense(3, activation="softmax", kernel_regularizer=penalty(name, second)),
        ]

    return layers


def random_twins(case: tuple[Spec, Spec, Spec]) -> tuple[Any, Any]:
    """The Keras model and its nnlearn twin, both given the same random weights (nonzero
    biases, so their penalties count), compiled with SGD(0.1) and sparse cross-entropy."""
    keras_model, model = twins(regularized(*case))
    weights = [RNG.standard_normal(w.shape) for w in keras_model.get_weights()]
    keras_model.set_weights(weights)
    model.set_weights(weights)
    keras_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.compile(optimizer=nl.optim.SGD(lr=0.1), loss="sparse_categorical_crossentropy")
    return keras_model, model


def closed_form_penalty(model: Any, case: tuple[Spec, Spec, Spec]) -> float:
    """The sum of the penalties, from the weights and the factors alone (numpy)."""
    first, second = model.layers
    total = 0.0
    for spec, w in ((case[0], first.kernel), (case[1], first.bias), (case[2], second.kernel)):
        if spec is None:
            continue
        keras_penalty = keras.regularizers.get(penalty("keras", spec))  # Keras's factors
        factors = {key: float(to_numpy(v)) for key, v in keras_penalty.get_config().items()}
        total += factors.get("l1", 0.0) * np.abs(w.data).sum()
        total += factors.get("l2", 0.0) * (w.data**2).sum()
    return total


@pytest.mark.parametrize("case", MODEL_CASES, ids=lambda c: "-".join(map(spec_id, c)))
def test_model_losses_and_evaluate_include_the_penalties_as_keras(case):
    with floatx("float64"):
        keras_model, model = random_twins(case)
        expected = [float(to_numpy(value)) for value in keras_model.losses]
        values = [value.item() for value in model.losses]
        np.testing.assert_allclose(values, expected, rtol=1e-12)
        np.testing.assert_allclose(sum(values), closed_form_penalty(model, case), rtol=1e-12)
        loss = model.evaluate(X, LABELS, batch_size=4, verbose=0)
        np.testing.assert_allclose(
            loss, keras_model.evaluate(X, LABELS, batch_size=4, verbose=0), rtol=RTOL
        )
        plain = nl.Sequential([nl.layers.Dense(4, "tanh"), nl.layers.Dense(3, "softmax")])
        plain.build((None, 3))
        plain.set_weights(model.get_weights())
        plain.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        unpenalized = plain.evaluate(X, LABELS, batch_size=4, verbose=0)
        np.testing.assert_allclose(loss, unpenalized + sum(values), rtol=1e-12)


@pytest.mark.parametrize("case", MODEL_CASES, ids=lambda c: "-".join(map(spec_id, c)))
def test_fit_reports_the_penalized_loss_and_trains_like_keras(case):
    with floatx("float64"):
        keras_model, model = random_twins(case)
        histories = {
            name: m.fit(X, LABELS, batch_size=4, epochs=3, shuffle=False, verbose=0).history
            for name, m in zip(LIBRARIES, (keras_model, model), strict=True)
        }
        np.testing.assert_allclose(
            histories["nnlearn"]["loss"], histories["keras"]["loss"], rtol=RTOL
        )
        # Keras keeps the learning rate in float32 (0.1 is 0.1 + 1.5e-9): hence not tighter.
        for ours, theirs in zip(model.get_weights(), keras_model.get_weights(), strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=1e-9)


def test_a_frozen_layer_has_no_penalties_as_in_keras():
    with floatx("float64"):
        models = random_twins(MODEL_CASES[1])
        for model in models:
            model.layers[0].trainable = False
        keras_model, model = models
        expected = [float(to_numpy(value)) for value in keras_model.losses]
        np.testing.assert_allclose([value.item() for value in model.losses], expected, rtol=1e-12)
        assert len(expected) == 1  # the second layer's kernel penalty only


class ChangesThePenalties(nl.training.Callback):
    """Mid-epoch, freezes the first layer (batch 1), then drops the second layer's kernel
    regularizer (batch 2): fit must follow each change at once, as ``model.losses`` does."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 1:
            self.model.layers[0].trainable = False
        if batch == 2:
            self.model.layers[1].kernel.regularizer = None


def test_fit_adds_model_losses_at_every_step_even_when_a_callback_changes_them(monkeypatch):
    # The definition: fit adds sum(model.losses), computed afresh at every step. fit looks
    # the regularized weights up once per call (for speed); it must give the same numbers.
    def fit(model):
        history = model.fit(
            X,
            LABELS,
            batch_size=4,
            epochs=2,
            shuffle=False,
            verbose=0,
            callbacks=[ChangesThePenalties()],
        )
        return history.history["loss"], model.get_weights()

    with floatx("float64"):
        _, ours = random_twins(MODEL_CASES[2])
        _, reference = random_twins(MODEL_CASES[2])
        reference.set_weights(ours.get_weights())
        loss, weights = fit(ours)
        monkeypatch.setattr(nl.Sequential, "_penalties", lambda self: lambda: self.losses)
        expected_loss, expected_weights = fit(reference)
    assert loss == expected_loss
    for w, expected in zip(weights, expected_weights, strict=True):
        np.testing.assert_array_equal(w, expected)


def test_a_model_that_defines_its_own_losses_has_them_added_by_fit_and_evaluate():
    class WithExtraLoss(nl.Sequential):
        @property
        def losses(self):
            return [*super().losses, nl.Tensor(1.0, dtype="float64")]

    with floatx("float64"):
        _, model = random_twins(MODEL_CASES[0])
        extra = WithExtraLoss([nl.layers.Dense(4, "tanh"), nl.layers.Dense(3, "softmax")])
        extra.build((None, 3))
        extra.set_weights(model.get_weights())
        extra.compile(optimizer=nl.optim.SGD(lr=0.1), loss="sparse_categorical_crossentropy")
        loss = model.evaluate(X, LABELS, verbose=0)
        # extra has no regularizers: its loss is model's minus model's penalties, plus 1
        penalties = sum(value.item() for value in model.losses)
        np.testing.assert_allclose(extra.evaluate(X, LABELS, verbose=0), loss - penalties + 1.0)
        first = extra.fit(X, LABELS, batch_size=10, epochs=1, shuffle=False, verbose=0)
        np.testing.assert_allclose(first.history["loss"][0], loss - penalties + 1.0)


# --- against PyTorch: weight_decay -------------------------------------------------------------
LR, WEIGHT_DECAY, EPOCHS, BATCH = 0.1, 0.2, 3, 4  # 3 batches per epoch: 9 steps


def penalized_model(optimizer: nl.optim.Optimizer, factor: float) -> nl.Sequential:
    """Dense(5, tanh), Dense(3, softmax) in float64, every kernel and bias under
    ``l2(factor)``."""
    nl.seed_everything(1)
    l2 = regularizers.l2(factor)
    with floatx("float64"):
        model = nl.Sequential(
            [
                nl.layers.Dense(5, "tanh", kernel_regularizer=l2, bias_regularizer=l2),
                nl.layers.Dense(3, "softmax", kernel_regularizer=l2, bias_regularizer=l2),
            ]
        )
        model.build((None, 3))
    # Nonzero biases: the decay acts on them too.
    model.set_weights([w + 0.3 for w in model.get_weights()])
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    return model


def trained_against_torch(ours: nl.optim.Optimizer, factor: float, theirs: nl.optim.Optimizer):
    """nnlearn's weights after fit with ``ours`` and ``l2(factor)`` everywhere, and the torch
    twin's after the same batches with ``theirs``'s torch.optim twin and no penalty."""
    model = penalized_model(ours, factor)
    twin = torch_twin(model)
    fit_twin(
        twin,
        X,
        LABELS,
        loss=model.loss,
        optimizer=theirs,
        epochs=EPOCHS,
        batch_size=BATCH,
        shuffle=False,
    )
    model.fit(X, LABELS, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    return dict(model.named_parameters()), twin_parameters(twin)


def largest_difference(ours: dict, theirs: dict) -> float:
    return max(float(np.abs(p.data - theirs[name]).max()) for name, p in ours.items())


OPTIMIZERS = {
    "SGD": lambda **settings: nl.optim.SGD(lr=LR, **settings),
    "SGD-momentum": lambda **settings: nl.optim.SGD(lr=LR, momentum=0.9, **settings),
    "Adam": lambda **settings: nl.optim.Adam(lr=0.05, **settings),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_torch_weight_decay_is_the_gradient_of_l2_of_half_on_every_weight(name):
    make = OPTIMIZERS[name]
    ours, theirs = trained_against_torch(make(), WEIGHT_DECAY / 2, make(weight_decay=WEIGHT_DECAY))
    for param_name, param in ours.items():
        np.testing.assert_allclose(
            param.data, theirs[param_name], rtol=1e-9, atol=1e-12, err_msg=param_name
        )


def test_adamw_decoupled_decay_is_not_an_l2_penalty():
    """torch's AdamW shrinks the weights after Adam's rescaling, so no l2 penalty under Adam
    reproduces it (nnlearn.optim.AdamW does: parity/test_optim_parity.py)."""
    adam = nl.optim.Adam(lr=0.05)
    ours, theirs = trained_against_torch(
        adam, WEIGHT_DECAY / 2, nl.optim.AdamW(lr=0.05, weight_decay=WEIGHT_DECAY)
    )
    assert largest_difference(ours, theirs) > 1e-3
    # The gap is the decoupling, not noise: without any decay the two runs agree.
    ours, theirs = trained_against_torch(
        nl.optim.Adam(lr=0.05), 0.0, nl.optim.AdamW(lr=0.05, weight_decay=0.0)
    )
    assert largest_difference(ours, theirs) < 1e-9


# --- planted wrong formulas are caught ---------------------------------------------------------
def _half_l2(self, w):  # gradient l2 * w instead of 2 * l2 * w
    return (w * w).sum() * (self.l2 / 2)


def _l1_without_abs(self, w):  # gradient l1 everywhere: the sign forgotten
    return w.sum() * self.l1


def _l1l2_without_l1(self, w):  # the l1 term dropped
    return (w * w).sum() * self.l2


PLANTED = [
    (regularizers.L2, _half_l2, ("L2", (0.05,))),
    (regularizers.L1, _l1_without_abs, ("L1", (0.02,))),
    (regularizers.L1L2, _l1l2_without_l1, ("L1L2", (0.01, 0.03))),
]


@pytest.mark.parametrize("cls, wrong, spec", PLANTED, ids=[p[1].__name__ for p in PLANTED])
def test_a_planted_wrong_penalty_is_caught_by_keras(cls, wrong, spec, monkeypatch):
    assert not keras_disagrees(spec), "the check must pass before the planting"
    monkeypatch.setattr(cls, "__call__", wrong)
    assert keras_disagrees(spec)


def test_a_planted_half_l2_gradient_breaks_the_weight_decay_equality(monkeypatch):
    make = OPTIMIZERS["SGD"]
    monkeypatch.setattr(regularizers.L2, "__call__", _half_l2)
    ours, theirs = trained_against_torch(make(), WEIGHT_DECAY / 2, make(weight_decay=WEIGHT_DECAY))
    assert largest_difference(ours, theirs) > 1e-4


def test_a_fit_that_forgets_the_penalties_is_caught_by_keras(monkeypatch):
    def without_penalties(self, y, y_pred, w, penalties):
        return self.loss(y, y_pred, w)

    monkeypatch.setattr(nl.Sequential, "_loss_with_penalties", without_penalties)
    with floatx("float64"):
        keras_model, model = random_twins(MODEL_CASES[1])
        ours = model.fit(X, LABELS, batch_size=4, epochs=1, shuffle=False, verbose=0)
        theirs = keras_model.fit(X, LABELS, batch_size=4, epochs=1, shuffle=False, verbose=0)
        assert not np.allclose(ours.history["loss"], theirs.history["loss"], rtol=RTOL)
        assert not np.allclose(model.get_weights()[0], keras_model.get_weights()[0], rtol=1e-6)


@pytest.mark.parametrize("factor", [float("nan"), float("inf"), "0.1", True, None, -0.5])
def test_a_factor_that_is_not_a_finite_non_negative_number_is_refused(factor):
    with pytest.raises(ValueError, match="l2"):
        regularizers.L2(factor)


def test_get_reads_kerass_config_dict_and_refuses_an_unknown_one():
    rebuilt = regularizers.get({"class_name": "L1L2", "config": {"l1": 0.5, "l2": 0.25}})
    assert (type(rebuilt), rebuilt.get_config()) == (regularizers.L1L2, {"l1": 0.5, "l2": 0.25})
    with pytest.raises(ValueError, match="unknown regularizer"):
        regularizers.get({"class_name": "Orthogonal", "config": {}})
