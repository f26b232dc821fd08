"""Chapter 14: Conv2D, the pooling layers, Flatten (nnlearn/conv.py).

References, none of them the code under test: numeric gradients (:func:`gradcheck`) of the
Functions on the parity cases of ``parity/test_conv_parity.py`` (torch's results there),
planted wrong formulas those cases catch, a cross-correlation written as loops here,
pooling written out window by window, and "same" padding worked out by hand. PyTorch:
parity/test_conv_parity.py; Keras 3: test_keras_conv.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from parity.planting import a_case_fails, functions_defined_in, planted_formula_test
from parity.test_conv_parity import CONV_CASES

import nnlearn as nl
from nnlearn import conv, layers
from nnlearn.gradcheck import gradcheck

pytestmark = [
    pytest.mark.chapter14,
    # torch's own padding="same" with an even kernel (a parity case) pads a copy; it says so.
    pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning"),
    pytest.mark.usefixtures("float64_default"),
]

RNG = np.random.default_rng(14)
X = RNG.standard_normal((2, 7, 8, 3))


def cross_correlation(x, kernel, bias, strides, pads):
    """The definition, one output value at a time: y[n, i, j, o] = b[o] + sum over the
    window at (sh i, sw j) of the zero-padded x times the kernel."""
    (top, bottom), (left, right) = pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    kh, kw, _, filters = kernel.shape
    ho = (xp.shape[1] - kh) // strides[0] + 1
    wo = (xp.shape[2] - kw) // strides[1] + 1
    y = np.zeros((len(x), ho, wo, filters))
    for n in range(len(x)):
        for i in range(ho):
            for j in range(wo):
                window = xp[n, i * strides[0] : i * strides[0] + kh, j * strides[1] :][:, :kw]
                for o in range(filters):
                    y[n, i, j, o] = bias[o] + np.sum(window * kernel[..., o])
    return y


# --- the Functions: numeric gradients and planted formulas ----------------------------------------
SMOOTH = [c for c in CONV_CASES if c.values != "ties"]  # at a tie the max has no derivative


@pytest.mark.parametrize("case", SMOOTH, ids=lambda c: c.name)
def test_function_backward_passes_a_numeric_gradient_check(case):
    # Convolution and average are linear in each input: central differences are exact up to
    # rounding, which a larger step makes smaller (at 1e-6 it reaches 1e-8 on these sums).
    # The maximum has kinks, which a small step is less likely to cross.
    eps = 1e-6 if case.name.startswith("max") else 1e-4
    gradcheck(case.nn_fn, *case.inputs(), eps=eps).assert_ok()


test_a_planted_wrong_formula_is_caught = planted_formula_test(
    functions_defined_in(conv), lambda: a_case_fails(CONV_CASES, lambda c: c.inputs())
)


def test_every_function_is_planted():
    assert {f.__name__ for f in functions_defined_in(conv)} == {
        "Convolution",
        "MaxPool",
        "AveragePool",
    }


# --- "same" padding and output sizes --------------------------------------------------------------
@pytest.mark.parametrize(
    "size, window, stride, expected",
    [
        (28, 3, 1, (1, 1, 28)),  # stride 1: window - 1 zeros, split evenly
        (8, 2, 1, (0, 1, 8)),  # odd total: the extra zero after (bottom/right)
        (7, 3, 2, (1, 1, 4)),  # ceil(7 / 2) = 4 positions need (4 - 1) 2 + 3 = 9 = 7 + 2
        (8, 3, 2, (0, 1, 4)),  # 4 positions need 9 = 8 + 1: the one zero after
        (6, 2, 2, (0, 0, 3)),  # windows side by side fit exactly: no padding
        (5, 5, 3, (1, 2, 2)),  # 2 positions need 3 + 5 = 8 = 5 + 3
        (9, 2, 4, (0, 1, 3)),  # 3 windows, at 0, 4, 8: the last reaches one past the end
    ],
)
def test_same_padding_by_hand(size, window, stride, expected):
    assert conv.window_padding(size, window, stride, "same") == expected


def test_valid_padding_keeps_only_whole_windows():
    assert conv.window_padding(28, 3, 1, "valid") == (0, 0, 26)
    assert conv.window_padding(7, 3, 2, "valid") == (0, 0, 3)  # windows at 0, 2, 4
    assert conv.window_padding(8, 2, 2, "valid") == (0, 0, 4)


# --- Conv2D ---------------------------------------------------------------------------------------
def test_conv2d_has_keras_weights_and_shapes():
    layer = layers.Conv2D(5, 3, input_shape=(7, 8, 3))
    assert [name for name, _ in layer.named_parameters()] == ["kernel", "bias"]
    assert [w.shape for w in layer.get_weights()] == [(3, 3, 3, 5), (5,)]
    assert layer.output_shape == (None, 5, 6, 5)
    assert layers.Conv2D(4, (2, 3), strides=2, padding="same", use_bias=False)(X).shape == (
        2,
        4,
        4,
        4,
    )
    np.testing.assert_array_equal(layer.bias.data, 0)
    # glorot_uniform with Keras's fans for a kernel: receptive field times channels
    limit = np.sqrt(6 / (9 * 3 + 9 * 5))
    assert 0.8 * limit < np.abs(layer.kernel.data).max() <= limit


@pytest.mark.parametrize(
    "options, pads",
    [
        ({}, ((0, 0), (0, 0))),
        ({"padding": "same"}, ((1, 1), (1, 1))),
        ({"padding": "same", "strides": 2}, ((1, 1), (0, 1))),  # 7 and 8 by hand, above
        ({"padding": "valid", "strides": (2, 1)}, ((0, 0), (0, 0))),
    ],
)
def test_conv2d_is_the_cross_correlation_written_as_loops(options, pads):
    layer = layers.Conv2D(4, 3, activation="relu", **options)
    layer.build(X.shape)
    layer.bias.data[...] = RNG.standard_normal(4)
    strides = layer.strides
    expected = np.maximum(
        cross_correlation(X, layer.kernel.data, layer.bias.data, strides, pads), 0
    )
    np.testing.assert_allclose(layer(X).data, expected, rtol=1e-12, atol=1e-14)


def test_conv2d_layer_passes_a_numeric_gradient_check_through_all_weights():
    # Seeded here: the kernel is drawn from nnlearn's generator, whose state would otherwise
    # depend on the tests that ran before (an entry whose true gradient is ~1e-7 cannot pass a
    # relative check against central differences, and some draws make one).
    nl.seed_everything(0)
    rng = np.random.default_rng(0)
    layer = layers.Conv2D(2, 3, strides=2, padding="same", activation="tanh")
    layer.build((None, 5, 6, 2))

    def f(x, kernel, bias):
        layer.kernel, layer.bias = kernel, bias
        return layer(x)

    x = rng.standard_normal((2, 5, 6, 2))
    gradcheck(f, x, layer.kernel.data, rng.standard_normal(2)).assert_ok()


# --- pooling --------------------------------------------------------------------------------------
def test_max_and_average_pooling_are_the_window_maximum_and_mean():
    x = X[:, :6]  # (2, 6, 8, 3)
    windows = x.reshape(2, 3, 2, 4, 2, 3)  # (n, i, p, j, q, c)
    np.testing.assert_array_equal(layers.MaxPooling2D()(x).data, windows.max(axis=(2, 4)))
    np.testing.assert_allclose(
        layers.AveragePooling2D()(x).data, windows.mean(axis=(2, 4)), rtol=1e-14
    )
    overlapping = layers.MaxPooling2D(pool_size=3, strides=1)(x).data
    assert overlapping.shape == (2, 4, 6, 3)
    assert overlapping[1, 2, 3, 1] == x[1, 2:5, 3:6, 1].max()


def test_same_average_pooling_averages_only_what_each_window_covers():
    x = RNG.standard_normal((1, 7, 8, 1))
    y = layers.AveragePooling2D(3, 2, padding="same")(x).data  # pads (1, 1) and (0, 1)
    assert y.shape == (1, 4, 4, 1)
    assert y[0, 0, 0, 0] == pytest.approx(x[0, 0:2, 0:3].mean())  # a zero row above: 6 values
    assert y[0, 3, 3, 0] == pytest.approx(x[0, 5:7, 6:8].mean())  # zeros below and right: 4
    assert y[0, 1, 1, 0] == pytest.approx(x[0, 1:4, 2:5].mean())  # inside: 9


def test_same_max_pooling_never_picks_the_padding():
    x = -1 - RNG.random((1, 5, 5, 2))  # every value below the zero a zero padding would add
    y = layers.MaxPooling2D(2, padding="same")(x).data
    assert y.shape == (1, 3, 3, 2) and (y < -1).all()


def test_pooling_strides_default_to_the_pool_size():
    layer = layers.MaxPooling2D(pool_size=(3, 2))
    assert layer.strides == (3, 2)
    assert layer(X).shape == (2, 2, 4, 3)


# --- GlobalAveragePooling2D and Flatten -----------------------------------------------------------
def test_global_average_pooling_and_flatten():
    np.testing.assert_allclose(
        layers.GlobalAveragePooling2D()(X).data, X.mean(axis=(1, 2)), rtol=1e-14
    )
    assert layers.GlobalAveragePooling2D(keepdims=True)(X).shape == (2, 1, 1, 3)
    flat = layers.Flatten()(X).data
    assert flat.shape == (2, 168)
    np.testing.assert_array_equal(flat[1, :3], X[1, 0, 0])  # channels last: a pixel's channels
    assert layers.Flatten(input_shape=(7, 8, 3)).output_shape == (None, 168)


def test_a_cnn_learns_and_its_output_shapes_chain():
    nl.seed_everything(0)
    x = RNG.standard_normal((64, 6, 6, 1))
    y = (x[:, :3].mean(axis=(1, 2, 3)) > x[:, 3:].mean(axis=(1, 2, 3))).astype(np.int64)
    model = nl.Sequential(
        [
            layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(6, 6, 1)),
            layers.MaxPooling2D(),
            layers.Conv2D(4, 2, activation="relu"),
            layers.Flatten(),
            layers.Dense(2, activation="softmax"),
        ]
    )
    assert [layer.output_shape for layer in model.layers] == [
        (None, 6, 6, 4),
        (None, 3, 3, 4),
        (None, 2, 2, 4),
        (None, 16),
        (None, 2),
    ]
    model.compile(optimizer=nl.optim.Adam(lr=0.01), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=30, batch_size=16, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]


# --- errors ---------------------------------------------------------------------------------------
def test_errors_name_the_layer_and_both_shapes():
    layer = layers.Conv2D(4, 3, input_shape=(7, 8, 3))
    with pytest.raises(
        ValueError,
        match=r"Conv2D: expected .*\(batch, height, width, 3\).*\(2, 3, 7, 8\).*transpose",
    ):
        layer(X.transpose(0, 3, 1, 2))
    with pytest.raises(ValueError, match=r"Conv2D: expected .*\(2, 7, 8\)"):
        layers.Conv2D(4, 3)(X[..., 0])
    with pytest.raises(ValueError, match=r"MaxPooling2D: expected .*\(2, 168\)"):
        layers.MaxPooling2D()(X.reshape(2, -1))
    with pytest.raises(TypeError, match="Conv2D: the inputs are float32 but the layer is float64"):
        layer(nl.Tensor(X.astype(np.float32)))
    with pytest.raises(ValueError, match=r"Conv2D: a 9x9 window does not fit in images of 7x8"):
        layers.Conv2D(2, 9)(X)
    with pytest.raises(
        ValueError, match="MaxPooling2D: a 3x3 window does not fit in images of 2x2"
    ):
        layers.MaxPooling2D(3)(X[:, :2, :2])


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: layers.Conv2D(4, 3, dilation_rate=2), "neither dilated nor grouped"),
        (lambda: layers.Conv2D(4, 3, groups=2), "neither dilated nor grouped"),
        (lambda: layers.Conv2D(4, 3, data_format="channels_first"), "channels-last images only"),
        (lambda: layers.Flatten(data_format="channels_first"), "channels-last images only"),
        (lambda: layers.Conv2D(4, 3, padding="full"), "padding must be 'valid' or 'same'"),
        (lambda: layers.MaxPooling2D(0), "pool_size must be a positive integer or two"),
        (lambda: layers.Conv2D(4, (3, 3, 3)), "kernel_size must be a positive integer or two"),
        (lambda: layers.Conv2D(0, 3), "filters must be a positive integer"),
    ],
)
def test_what_nnlearn_does_not_have_is_refused_clearly(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# --- get_config, saving, nnlearn.layers -----------------------------------------------------------
CONFIGURED = [
    layers.Conv2D(8, (3, 2), strides=2, padding="SAME", activation="relu", use_bias=False),
    layers.Conv2D(
        4, 3, kernel_initializer="he_normal", kernel_regularizer=nl.regularizers.l2(1e-3)
    ),
    layers.MaxPooling2D(3, 2, "same"),
    layers.AveragePooling2D((2, 3)),
    layers.GlobalAveragePooling2D(keepdims=True),
    layers.Flatten(dtype="float32"),
]


@pytest.mark.parametrize("layer", CONFIGURED, ids=repr)
def test_get_config_rebuilds_an_equivalent_layer_and_is_json(layer):
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    rebuilt = type(layer)(**config)
    assert rebuilt.get_config() == config
    assert not rebuilt.built


def test_a_saved_cnn_loads_with_its_weights(tmp_path):
    nl.seed_everything(1)
    model = nl.Sequential(
        [
            layers.Conv2D(3, 3, padding="same", activation="relu", input_shape=(7, 8, 3)),
            layers.AveragePooling2D(),
            layers.Flatten(),
            layers.Dense(2),
        ]
    ).compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "cnn.nnlearn")
    loaded = nl.models.load_model(tmp_path / "cnn.nnlearn")
    np.testing.assert_array_equal(loaded(X).data, model(X).data)


def test_every_layer_is_in_nnlearn_layers():
    for name in conv.__all__[:5]:
        assert getattr(nl.layers, name) is getattr(conv, name)
