"""Chapter 03: Modules find their parameters, layers build lazily, errors name what is wrong."""

import numpy as np
import pytest

import nnlearn as nl
from nnlearn import layers
from nnlearn.gradcheck import gradcheck


def seed_model():
    return nl.Sequential(
        [
            nl.layers.Dense(64, activation="relu", input_shape=(100,)),
            nl.layers.Dense(64, activation="relu"),
            nl.layers.Dense(10, activation="softmax"),
        ]
    )


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
    model = seed_model()
    model(np.ones((2, 100))).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


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
    np.testing.assert_allclose(
        dense.pre_activation(x).data, x @ dense.kernel.data + dense.bias.data
    )


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


def test_sequential_infers_every_size_from_the_first_input_shape():
    model = seed_model()
    assert [layer.input_shape for layer in model.layers] == [(None, 100), (None, 64), (None, 64)]
    assert model.output_shape == (None, 10)
    assert model.count_params() == (100 * 64 + 64) + (64 * 64 + 64) + (64 * 10 + 10)
    assert len(model.parameters()) == 6


def test_sequential_built_lazily_from_the_first_batch_and_grown_with_add():
    model = nl.Sequential()
    model.add(layers.Dense(5, activation="tanh"))
    model.add(layers.Activation("relu"))
    model.add(layers.Dense(2))
    assert not model.built
    assert model(np.ones((3, 7))).shape == (3, 2)
    assert model.built and model.input_shape == (None, 7) and model.output_shape == (None, 2)
    model.add(layers.Dense(4))  # a built model builds a new last layer at once
    assert model.layers[-1].kernel.shape == (2, 4) and model.output_shape == (None, 4)


def test_sequential_nests_and_collects_parameters_of_inner_models():
    inner = nl.Sequential([layers.Dense(3, activation="relu")])
    model = nl.Sequential([layers.Dense(4, input_shape=(2,)), inner, layers.Dense(1)])
    assert model(np.ones((5, 2))).shape == (5, 1)
    assert [name for name, _ in model.named_parameters()] == [
        "layers.0.kernel",
        "layers.0.bias",
        "layers.1.layers.0.kernel",
        "layers.1.layers.0.bias",
        "layers.2.kernel",
        "layers.2.bias",
    ]


def test_sequential_rejects_a_layer_built_for_another_input_size():
    with pytest.raises(
        ValueError, match=r"built for inputs of shape \(None, 5\).*gives \(None, 3\)"
    ):
        nl.Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(1, input_shape=(5,))])


def test_sequential_rejects_non_layers_and_running_empty():
    with pytest.raises(TypeError, match="expected a layer"):
        nl.Sequential([np.tanh])
    with pytest.raises(ValueError, match="no layers"):
        nl.Sequential()(np.ones((1, 2)))


def test_summary_lists_layers_output_shapes_and_parameter_counts():
    printed = []
    seed_model().summary(print_fn=printed.append)
    text = "\n".join(printed)
    lines = text.splitlines()
    for layer, shape, count in [
        ("Dense(64, activation='relu')", "(None, 64)", "6,464"),
        ("Dense(10, activation='softmax')", "(None, 10)", "650"),
    ]:
        assert any(layer in line and shape in line and line.endswith(count) for line in lines)
    assert text.endswith("Total params: 11,274")


def test_summary_of_an_unbuilt_model_says_how_to_build_it():
    with pytest.raises(ValueError, match="input_shape"):
        nl.Sequential([layers.Dense(3)]).summary()
