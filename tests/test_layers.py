"""Chapter 03: Modules find their parameters, layers build lazily, errors name what is wrong."""

import os

import numpy as np
import pytest

import nnlearn as nl
from nnlearn import layers
from nnlearn.gradcheck import gradcheck

pytestmark = pytest.mark.chapter03


def test_parameter_is_a_tensor_that_requires_grad():
    p = layers.Parameter(np.ones(3))
    assert isinstance(p, nl.Tensor) and p.requires_grad and p.is_leaf


def test_module_finds_parameters_in_attributes_lists_and_submodules_in_order():
    class Block(layers.Module):
        def __init__(self):
            self.scale = layers.Parameter(np.ones(1))
            self.inner = [layers.Dense(2, input_shape=(3,)), layers.Dense(1, input_shape=(2,))]
            self.not_a_parameter = nl.Tensor(np.ones(2), requires_grad=True)

    block = Block()
    names = [name for name, _ in block.named_parameters()]
    assert names == ["scale", "inner.0.kernel", "inner.0.bias", "inner.1.kernel", "inner.1.bias"]
    assert block.parameters()[1] is block.inner[0].kernel


def test_module_zero_grad_forgets_every_gradient():
    dense = layers.Dense(3, activation="relu", input_shape=(4,))
    dense(np.ones((2, 4))).sum().backward()
    assert all(p.grad is not None for p in dense.parameters())
    dense.zero_grad()
    assert all(p.grad is None for p in dense.parameters())


def test_dense_kernel_has_keras_layout_and_the_chosen_initializers():
    dense = layers.Dense(3, input_shape=(5,), kernel_initializer="ones", bias_initializer="ones")
    assert dense.kernel.shape == (5, 3) and dense.bias.shape == (3,)
    out = dense(np.ones((2, 5)))
    np.testing.assert_array_equal(out.data, np.full((2, 3), 6.0))  # 5 ones summed, plus 1
    assert out.dtype == np.float32


def test_dense_is_built_on_first_call_when_no_input_shape_is_given():
    dense = layers.Dense(4)
    assert not dense.built and dense.parameters() == []
    dense(np.zeros((7, 9)))
    assert dense.built and dense.kernel.shape == (9, 4) and dense.input_shape == (None, 9)


def test_dense_forward_is_activation_of_x_times_kernel_plus_bias():
    nl.seed_everything(0)
    dense = layers.Dense(3, activation="relu", input_shape=(4,), bias_initializer="random_normal")
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    expected = np.maximum(x @ dense.kernel.data + dense.bias.data, 0)
    np.testing.assert_allclose(dense(x).data, expected, rtol=1e-6)


def test_dense_without_bias_has_only_a_kernel():
    dense = layers.Dense(3, use_bias=False, input_shape=(4,))
    assert [name for name, _ in dense.named_parameters()] == ["kernel"]
    assert dense.count_params() == 4 * 3


def test_dense_gradients_pass_a_numeric_gradient_check():
    rng = np.random.default_rng(0)
    x, kernel, bias = (
        rng.standard_normal((4, 3)),
        rng.standard_normal((3, 2)),
        rng.standard_normal(2),
    )
    upstream = rng.standard_normal((4, 2))

    def loss(x, kernel, bias):
        return (layers.Affine.apply(x, kernel, bias) * upstream).sum()

    gradcheck(loss, x, kernel, bias).assert_ok()


def test_dense_accepts_extra_leading_axes_like_keras():
    dense = layers.Dense(2, input_shape=(3,), dtype="float64")
    x = nl.Tensor(np.random.default_rng(0).standard_normal((4, 5, 3)), requires_grad=True)
    out = dense(x)
    out.sum().backward()
    assert out.shape == (4, 5, 2)
    np.testing.assert_allclose(dense.kernel.grad, x.data.reshape(-1, 3).sum(0)[:, None] * [1, 1])
    np.testing.assert_allclose(dense.bias.grad, [20.0, 20.0])


def test_dense_wrong_feature_count_names_the_layer_and_both_shapes():
    dense = layers.Dense(64, input_shape=(100,))
    with pytest.raises(
        ValueError,
        match=r"Dense\(64\): expected inputs of shape \(batch, 100\), "
        r"got \(32, 99\)",
    ):
        dense(np.zeros((32, 99)))


def test_dense_dtype_mismatch_names_the_layer_and_both_dtypes():
    dense = layers.Dense(8, input_shape=(3,))
    with pytest.raises(TypeError, match=r"Dense\(8\): the inputs are float64 .* are float32"):
        dense(nl.Tensor(np.zeros((2, 3))))
    # A numpy array is data, not a Tensor: it adopts the layer's dtype, as operands do.
    assert dense(np.zeros((2, 3))).dtype == np.float32


def test_dense_dtype_follows_the_default_or_the_argument():
    assert layers.Dense(2, input_shape=(3,), dtype="float64").kernel.dtype == np.float64
    nl.set_default_dtype("float64")
    try:
        assert layers.Dense(2, input_shape=(3,)).kernel.dtype == np.float64
    finally:
        nl.set_default_dtype("float32")


@pytest.mark.parametrize("units", [0, -3, 2.5, "8"])
def test_dense_rejects_bad_units(units):
    with pytest.raises(ValueError, match="units must be a positive integer"):
        layers.Dense(units)


def test_dense_rejects_unknown_activation_and_initializer_names():
    with pytest.raises(ValueError, match="unknown activation 'rellu'"):
        layers.Dense(2, activation="rellu")
    with pytest.raises(ValueError, match="unknown initializer 'glorot'"):
        layers.Dense(2, kernel_initializer="glorot")


def test_activation_layer_applies_its_function():
    x = np.array([[-1.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(layers.Activation("relu")(x).data, [[0.0, 2.0]])
    assert layers.Activation("tanh").count_params() == 0


# --- Keras's weight API on a layer ------------------------------------------------------------
# Keras's own variables warn under numpy 2 when turned into arrays; not nnlearn's concern.
keras_warnings = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@keras_warnings
def test_dense_get_weights_has_keras_order_and_layout():
    """kernel (in, units) then bias, numpy copies: Keras's Dense weights load unchanged."""
    keras = _keras()
    keras_dense = keras.layers.Dense(3)
    keras_dense.build((None, 4))
    dense = layers.Dense(3, input_shape=(4,))
    dense.set_weights(keras_dense.get_weights())
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(keras_dense(x))
    np.testing.assert_allclose(dense(x).data, expected, rtol=1e-6, atol=1e-6)
    weights = dense.get_weights()
    assert [w.shape for w in weights] == [w.shape for w in keras_dense.get_weights()]
    weights[0][...] = 0.0  # a copy: the layer is unchanged
    assert dense.kernel.data.any()
    assert dense.weights == [dense.kernel, dense.bias]


def test_set_weights_keeps_the_parameter_objects_and_casts_to_the_layer_dtype():
    dense = layers.Dense(2, input_shape=(3,))
    kernel = dense.kernel
    dense.set_weights([np.ones((3, 2)), np.arange(2.0)])
    assert dense.kernel is kernel and kernel.dtype == np.float32
    np.testing.assert_array_equal(dense.bias.data, [0.0, 1.0])


def test_set_weights_with_a_wrong_shape_or_count_names_the_layer_and_both_shapes():
    dense = layers.Dense(4, input_shape=(3,))
    with pytest.raises(ValueError, match=r"Dense\(4\).*kernel has shape \(3, 4\).*\(4, 3\)"):
        dense.set_weights([np.zeros((4, 3)), np.zeros(4)])
    with pytest.raises(ValueError, match=r"Dense\(4\).*2 weights \(kernel, bias\).*1 arrays"):
        dense.set_weights([np.zeros((3, 4))])
    np.testing.assert_array_equal(dense.bias.data, np.zeros(4))  # nothing half-written


@keras_warnings
def test_a_frozen_layer_computes_no_gradient_and_lists_no_trainable_weights():
    keras = _keras()
    keras_dense = keras.layers.Dense(2)
    keras_dense.build((None, 3))
    keras_dense.trainable = False
    dense = layers.Dense(2, input_shape=(3,))
    dense.trainable = False
    assert len(dense.trainable_weights) == len(keras_dense.trainable_weights) == 0
    assert len(dense.non_trainable_weights) == len(keras_dense.non_trainable_weights) == 2
    x = nl.Tensor(np.ones((1, 3), np.float32), requires_grad=True)
    dense(x).sum().backward()
    assert dense.kernel.grad is None and x.grad is not None
    dense.trainable = True
    assert dense.trainable_weights == [dense.kernel, dense.bias]


def test_a_layer_frozen_before_it_is_built_creates_frozen_weights():
    dense = layers.Dense(2)
    dense.trainable = False
    dense(np.ones((1, 3)))
    assert dense.weights and not any(p.requires_grad for p in dense.weights)


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first import of keras
    import keras

    return keras
