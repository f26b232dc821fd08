"""Chapter 09: Dropout, BatchNormalization, LayerNormalization (nnlearn/regularization.py).

References, none of them the code under test: numpy closed forms written here (``np.var`` is
the biased variance), numeric gradients (:func:`nnlearn.gradcheck.gradcheck`) of both fused
Functions, planted wrong formulas that those checks catch, and the laws of dropout's masks.
The training flag: ``fit`` trains, ``evaluate``/``predict``/``model(x)`` infer,
``model(x, training=True)`` trains. PyTorch: parity/test_regularization_parity.py; Keras 3:
test_keras_regularization.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from parity.planting import FormulaCase, functions_defined_in, planted_formula_test

import nnlearn as nl
from nnlearn import initializers, layers, regularization
from nnlearn.gradcheck import gradcheck
from nnlearn.regularization import InvertedDropout, Normalize

pytestmark = [pytest.mark.chapter09, pytest.mark.usefixtures("float64_default")]

EPS = 1e-3  # Keras's epsilon
RNG = np.random.default_rng(7)
X = RNG.standard_normal((6, 4)) * 2 + 1  # a batch (batch, features), mean and scale not 0, 1
X3 = RNG.standard_normal((3, 4, 5))
GAMMA, BETA = RNG.uniform(0.5, 2, 4), RNG.standard_normal(4)
GAMMA45, BETA45 = RNG.uniform(0.5, 2, (4, 5)), RNG.standard_normal((4, 5))
MEAN, VARIANCE = RNG.standard_normal(4), RNG.uniform(0.5, 2, 4)
MASK = (RNG.random((6, 4)) > 0.4).astype(float)


def _normalized(x, axes, gamma, beta, mean=None, variance=None, shape=None):
    """The closed form ``gamma * (x - mu) / sqrt(var + eps) + beta`` (biased np.var)."""
    shape = shape or gamma.shape
    if mean is None:
        mean, variance = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    else:
        mean, variance = mean.reshape(shape), variance.reshape(shape)
    xhat = (x - mean) / np.sqrt(variance + EPS)
    return xhat * gamma.reshape(shape) + beta.reshape(shape)


# --- the fused Functions: numeric gradients, and closed forms for their values ---------------
Case = FormulaCase  # values against the closed forms, rtol 1e-7


def _bn(axes, param_axes, **statistics):
    return lambda x, g, b: Normalize.apply(
        x, g, b, axes=axes, param_axes=param_axes, epsilon=EPS, **statistics
    )


CASES = [
    Case(
        "batch_norm_training",
        _bn((0,), (1,)),
        (X, GAMMA, BETA),
        lambda x, g, b: _normalized(x, 0, g, b),
    ),
    Case(
        "batch_norm_training_axis_1_of_3",
        _bn((0, 2), (1,)),
        (X3, GAMMA, BETA),
        lambda x, g, b: _normalized(x, (0, 2), g, b, shape=(1, 4, 1)),
    ),
    Case(
        "batch_norm_inference",
        _bn((0,), (1,), mean=MEAN, variance=VARIANCE),
        (X, GAMMA, BETA),
        lambda x, g, b: _normalized(x, 0, g, b, MEAN, VARIANCE),
    ),
    Case(
        "layer_norm",
        _bn((1,), (1,)),
        (X, GAMMA, BETA),
        lambda x, g, b: _normalized(x, 1, g, b),
    ),
    Case(
        "layer_norm_two_axes",
        _bn((1, 2), (1, 2)),
        (X3, GAMMA45, BETA45),
        lambda x, g, b: _normalized(x, (1, 2), g, b, shape=(1, 4, 5)),
    ),
    Case(
        "inverted_dropout",
        lambda x: InvertedDropout.apply(x, mask=MASK, rate=0.4),
        (X,),
        lambda x: x * MASK / 0.6,
    ),
    Case(
        "inverted_dropout_broadcast_mask",
        lambda x: InvertedDropout.apply(x, mask=MASK[:1], rate=0.4),
        (X,),
        lambda x: x * MASK[:1] / 0.6,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_function_value_is_the_closed_form(case):
    assert case.forward_ok()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_function_backward_passes_a_numeric_gradient_check(case):
    gradcheck(case.function, *case.inputs).assert_ok()


def test_the_layers_pass_a_numeric_gradient_check_through_x():
    bn = layers.BatchNormalization()
    bn.build((None, 4))
    gradcheck(lambda x: bn(x, training=True), X).assert_ok()
    gradcheck(lambda x: bn(x), X).assert_ok()
    gradcheck(layers.LayerNormalization(), X).assert_ok()


test_a_planted_wrong_formula_is_caught = planted_formula_test(
    functions_defined_in(regularization),
    lambda: not all(c.forward_ok() and c.backward_ok() for c in CASES),
)


def test_every_function_is_planted():
    assert {f.__name__ for f in functions_defined_in(regularization)} == {
        "InvertedDropout",
        "Normalize",
    }


# --- Dropout ---------------------------------------------------------------------------------
def test_dropout_is_the_identity_at_inference():
    x = nl.Tensor(X)
    assert layers.Dropout(0.5)(x) is x
    assert layers.Dropout(0.5)(x, training=False) is x


def test_dropout_drops_a_fraction_rate_and_scales_the_rest_by_one_over_keep():
    rate, x = 0.3, np.ones((1000, 100))
    y = layers.Dropout(rate, seed=0)(x, training=True).data
    kept = y != 0
    np.testing.assert_array_equal(y[kept], 1 / (1 - rate))  # inverted: exactly 1 / (1 - rate)
    # 100,000 Bernoulli(0.3) draws: standard deviation 0.0014 of the fraction.
    assert abs(1 - kept.mean() - rate) < 0.01
    assert abs(y.mean() - 1) < 0.02  # E[y] = x: the mean is preserved


def test_dropout_gradient_passes_only_through_kept_units_scaled():
    x = nl.Tensor(X.copy(), requires_grad=True)
    y = layers.Dropout(0.5, seed=1)(x, training=True)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, (y.data != 0) * 2.0)


def test_dropout_rate_zero_and_one():
    np.testing.assert_array_equal(layers.Dropout(0.0)(X, training=True).data, X)
    np.testing.assert_array_equal(layers.Dropout(1.0)(X, training=True).data, np.zeros_like(X))


def test_dropout_seed_gives_a_reproducible_sequence_of_masks():
    a, b = layers.Dropout(0.5, seed=3), layers.Dropout(0.5, seed=3)
    first, second = a(X, training=True).data, a(X, training=True).data
    assert not np.array_equal(first, second)  # a new mask every call
    np.testing.assert_array_equal(b(X, training=True).data, first)
    np.testing.assert_array_equal(b(X, training=True).data, second)


def test_dropout_without_a_seed_draws_from_nnlearns_generator(monkeypatch):
    layer = layers.Dropout(0.5)
    monkeypatch.setattr(nl.seeding, "_generator", np.random.default_rng(4))  # seed_everything(4)
    first = layer(X, training=True).data
    monkeypatch.setattr(nl.seeding, "_generator", np.random.default_rng(4))
    np.testing.assert_array_equal(layer(X, training=True).data, first)


def test_dropout_noise_shape_shares_the_mask_along_axes_of_size_one():
    y = layers.Dropout(0.5, noise_shape=(None, 1), seed=0)(np.ones((50, 4)), training=True).data
    assert (y == y[:, :1]).all()  # one draw per row
    assert 0 < (y[:, 0] == 0).sum() < 50
    with pytest.raises(ValueError, match=r"Dropout: noise_shape \(3, 1\).*\(50, 4\)"):
        layers.Dropout(0.5, noise_shape=(3, 1))(np.ones((50, 4)), training=True)


@pytest.mark.parametrize("rate", [-0.1, 1.5, "0.5", None])
def test_dropout_rejects_a_rate_outside_zero_one(rate):
    with pytest.raises(ValueError, match="Dropout: rate must be a number between 0 and 1"):
        layers.Dropout(rate)


def test_dropout_rejects_a_bad_noise_shape():
    with pytest.raises(ValueError, match="noise_shape must hold positive integers"):
        layers.Dropout(0.5, noise_shape=(None, 0))


# --- BatchNormalization ----------------------------------------------------------------------
def _batch_norm(**options):
    bn = layers.BatchNormalization(input_shape=(4,), **options)
    bn.set_weights([GAMMA, BETA, MEAN, VARIANCE])
    return bn


def test_batch_norm_weights_have_keras_order_shapes_and_trainability():
    bn = layers.BatchNormalization(input_shape=(4,))
    assert [name for name, _ in bn.named_parameters()] == [
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
    ]
    assert [w.shape for w in bn.get_weights()] == [(4,)] * 4
    np.testing.assert_array_equal(np.stack(bn.get_weights()), [[1] * 4, [0] * 4, [0] * 4, [1] * 4])
    assert bn.trainable_weights == [bn.gamma, bn.beta]
    assert bn.non_trainable_weights == [bn.moving_mean, bn.moving_variance]
    bn.trainable = True  # never makes the moving statistics trainable
    assert not bn.moving_mean.requires_grad


def test_batch_norm_training_normalises_with_the_batch_and_moves_the_statistics():
    bn = _batch_norm()
    y = bn(X, training=True).data
    np.testing.assert_allclose(y, _normalized(X, 0, GAMMA, BETA), rtol=1e-12)
    np.testing.assert_allclose(bn.moving_mean.data, 0.99 * MEAN + 0.01 * X.mean(0), rtol=1e-12)
    # Keras moves toward the biased variance (np.var's default), not torch's unbiased one
    biased = 0.99 * VARIANCE + 0.01 * X.var(0)
    np.testing.assert_allclose(bn.moving_variance.data, biased, rtol=1e-12)


def test_batch_norm_inference_uses_the_moving_statistics_and_changes_nothing():
    bn = _batch_norm(momentum=0.9)
    y = bn(X).data
    np.testing.assert_allclose(y, _normalized(X, 0, GAMMA, BETA, MEAN, VARIANCE), rtol=1e-12)
    np.testing.assert_array_equal(bn.moving_mean.data, MEAN)
    np.testing.assert_array_equal(bn.moving_variance.data, VARIANCE)


def test_a_frozen_batch_norm_infers_even_when_training_as_in_keras_3():
    bn = _batch_norm()
    bn.trainable = False
    np.testing.assert_array_equal(bn(X, training=True).data, bn(X).data)
    np.testing.assert_array_equal(bn.moving_mean.data, MEAN)
    assert bn.trainable_weights == []


def test_batch_norm_without_center_or_scale_has_fewer_weights():
    bn = layers.BatchNormalization(center=False, scale=False, input_shape=(4,))
    assert [name for name, _ in bn.named_parameters()] == ["moving_mean", "moving_variance"]
    np.testing.assert_allclose(
        bn(X, training=True).data, _normalized(X, 0, np.ones(4), np.zeros(4)), rtol=1e-12
    )
    bn = layers.BatchNormalization(center=False, input_shape=(4,))
    assert [name for name, _ in bn.named_parameters()][:1] == ["gamma"]


def test_batch_norm_on_three_axes_keeps_one_statistic_per_feature_axis():
    bn = layers.BatchNormalization(axis=1)
    y = bn(X3, training=True).data
    one = np.ones((1, 4, 1))
    np.testing.assert_allclose(y, _normalized(X3, (0, 2), one, 0 * one), rtol=1e-12)
    np.testing.assert_allclose(bn.moving_mean.data, 0.01 * X3.mean(axis=(0, 2)), rtol=1e-12)
    last = layers.BatchNormalization()  # axis -1 of (batch, steps, features)
    assert last(X3, training=True).shape == X3.shape and last.gamma.shape == (5,)


def test_batch_norm_errors_name_the_layer_and_both_shapes_or_dtypes():
    bn = layers.BatchNormalization(input_shape=(4,))
    with pytest.raises(ValueError, match=r"BatchNormalization: built for .*\(None, 4\).*\(6, 3\)"):
        bn(np.ones((6, 3)))
    with pytest.raises(TypeError, match="BatchNormalization: the inputs are float32 .* float64"):
        bn(nl.Tensor(np.ones((6, 4), dtype=np.float32)))
    with pytest.raises(TypeError, match="axis must be one integer"):
        layers.BatchNormalization(axis=[1, 2])
    with pytest.raises(ValueError, match="axis 0 is the batch"):
        layers.BatchNormalization(axis=0, input_shape=(4,))


# --- LayerNormalization ----------------------------------------------------------------------
def test_layer_norm_normalises_each_example_over_its_features():
    ln = layers.LayerNormalization(input_shape=(4,))
    assert [name for name, _ in ln.named_parameters()] == ["gamma", "beta"]
    ln.set_weights([GAMMA, BETA])
    expected = _normalized(X, 1, GAMMA, BETA)
    np.testing.assert_allclose(ln(X).data, expected, rtol=1e-12)
    np.testing.assert_allclose(ln(X, training=True).data, expected, rtol=1e-12)


def test_layer_norm_over_several_axes_has_weights_of_those_sizes():
    ln = layers.LayerNormalization(axis=[-1, 1])
    ln.build((None, 4, 5))
    assert ln.gamma.shape == (4, 5) and ln.axes == (1, 2)
    ln.set_weights([GAMMA45, BETA45])
    np.testing.assert_allclose(
        ln(X3).data, _normalized(X3, (1, 2), GAMMA45, BETA45, shape=(1, 4, 5)), rtol=1e-12
    )


def test_layer_norm_errors():
    with pytest.raises(TypeError, match="LayerNormalization: axis must be an integer"):
        layers.LayerNormalization(axis="last")
    ln = layers.LayerNormalization(input_shape=(4,))
    with pytest.raises(ValueError, match=r"LayerNormalization: built for .*\(6, 5\)"):
        ln(np.ones((6, 5)))


# --- get_config --------------------------------------------------------------------------------
CONFIGURED = [
    layers.Dropout(0.25, noise_shape=(None, 1), seed=3),
    layers.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False),
    layers.BatchNormalization(gamma_initializer=initializers.he_normal),
    layers.LayerNormalization(axis=[1, 2], epsilon=1e-6, scale=False, dtype="float32"),
]


@pytest.mark.parametrize("layer", CONFIGURED, ids=repr)
def test_get_config_rebuilds_an_equivalent_layer_and_is_json(layer):
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    rebuilt = type(layer)(**config)
    assert rebuilt.get_config() == config
    assert not rebuilt.built


def test_get_config_names_initializers_and_refuses_a_function_of_ones_own():
    config = layers.BatchNormalization(gamma_initializer=initializers.he_normal).get_config()
    assert config["gamma_initializer"] == "he_normal"
    with pytest.raises(ValueError, match="gamma_initializer"):
        layers.LayerNormalization(gamma_initializer=lambda *a: 0).get_config()


# --- the training flag, end to end -------------------------------------------------------------
def _spy_on(layer, calls):
    forward = layer.forward

    def spy(x, training=False):
        calls.append(training)
        return forward(x, training=training)

    layer.forward = spy


def test_fit_trains_and_evaluate_predict_and_call_infer():
    dropout, bn = layers.Dropout(0.5), layers.BatchNormalization()
    model = nl.Sequential([layers.Dense(4, input_shape=(4,)), bn, dropout, layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    calls = []
    _spy_on(dropout, calls)
    y = X.sum(axis=1)
    model.fit(X, y, epochs=2, batch_size=3, verbose=0)
    assert calls == [True] * 4
    moved = bn.moving_mean.data.copy()
    assert not np.allclose(moved, 0)  # fit moved the statistics
    calls.clear()
    model.evaluate(X, y, verbose=0)
    model.predict(X, verbose=0)
    model(X)
    assert calls == [False] * 3
    np.testing.assert_array_equal(bn.moving_mean.data, moved)  # inference moves nothing
    model(X, training=True)
    assert calls[-1] is True
    assert not np.array_equal(bn.moving_mean.data, moved)


def test_model_call_with_training_drops_and_without_is_deterministic():
    model = nl.Sequential([layers.Dropout(0.5, input_shape=(4,))])
    np.testing.assert_array_equal(model(X).data, X)
    np.testing.assert_array_equal(model.predict(X, verbose=0), X)
    dropped = model(X, training=True).data
    assert (dropped == 0).any() and np.isin(dropped, [0, *(2 * X.ravel())]).all()


def test_fit_leaves_a_frozen_batch_norm_as_it_was():
    bn = _batch_norm()
    bn.trainable = False
    model = nl.Sequential([bn, layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, X.sum(axis=1), epochs=2, batch_size=3, verbose=0)
    for got, start in zip(bn.get_weights(), [GAMMA, BETA, MEAN, VARIANCE], strict=True):
        np.testing.assert_array_equal(got, start)
