"""Chapter 09: nnlearn.pruning's contract beyond torch parity (tests/parity/test_pruning_parity.py):
clear errors that name the parameter, masks kept through fit and a hand-written loop,
sparsity against counts made by hand, and remove."""

import numpy as np
import pytest

import nnlearn as nl
from nnlearn import layers, pruning
from nnlearn.module import Parameter

pytestmark = pytest.mark.chapter09


def _layer(units=4, inputs=3, **options):
    nl.seed_everything(0)
    return layers.Dense(units, input_shape=(inputs,), **options)


def _model():
    nl.seed_everything(0)
    return nl.Sequential(
        [
            layers.Dense(8, activation="relu", input_shape=(5,)),
            layers.Dense(3, activation="softmax"),
        ]
    )


BAD_AMOUNTS = [
    (1.5, ValueError, r"amount=1\.5 must be a fraction in \[0, 1\]"),
    (-0.1, ValueError, "must be a fraction"),
    (float("nan"), ValueError, "must be a fraction"),
    (-1, ValueError, "amount=-1 must be a non-negative count"),
    (13, ValueError, "amount=13 is more than the 12 entries left"),
    ("half", TypeError, "amount must be an int .* or a float"),
    (True, TypeError, "got True of type bool"),
    (None, TypeError, "give amount="),
]


@pytest.mark.parametrize(
    "amount, error, message", BAD_AMOUNTS, ids=[repr(a[0]) for a in BAD_AMOUNTS]
)
def test_a_bad_amount_raises_an_error_naming_the_parameter_and_changes_nothing(
    amount, error, message
):
    layer = _layer()
    before = layer.kernel.data.copy()
    with pytest.raises(error, match=message) as caught:
        pruning.l1_unstructured(layer, "kernel", amount)
    assert "l1_unstructured(Dense(4).kernel)" in str(caught.value)
    assert layer.kernel.mask is None and np.array_equal(layer.kernel.data, before)


def test_an_int_amount_counts_only_the_entries_left():
    layer = _layer()
    pruning.l1_unstructured(layer, amount=0.5)  # 6 of 12 left
    with pytest.raises(ValueError, match="amount=7 is more than the 6 entries left"):
        pruning.l1_unstructured(layer, amount=7)
    pruning.l1_unstructured(layer, amount=6)
    assert pruning.sparsity(layer.kernel) == 1.0


def test_counts_round_halves_to_even():
    # round(2.5) = 2, round(1.5) = 2, round(0.5) = 0, round(3.5) = 4: by hand.
    cases = [(0.25, 10, 2), (0.25, 6, 2), (0.05, 10, 0), (0.25, 14, 4), (1, 10, 1), (1.0, 10, 10)]
    for amount, n, count in cases:
        assert pruning.compute_nparams_toprune(amount, n) == count


def test_a_missing_or_unbuilt_parameter_is_named():
    with pytest.raises(
        ValueError, match=r"Dense\(4\)\.bias: the layer has no parameter 'bias'.*kernel"
    ):
        pruning.l1_unstructured(_layer(use_bias=False), "bias", 0.5)
    with pytest.raises(ValueError, match="not built yet"):
        pruning.l1_unstructured(layers.Dense(4), amount=0.5)
    with pytest.raises(TypeError, match="expected a layer or a Parameter"):
        pruning.l1_unstructured(np.ones((3, 4)), amount=0.5)


def test_global_unstructured_refuses_bad_parameter_lists():
    layer = _layer()
    with pytest.raises(ValueError, match="parameters is empty"):
        pruning.global_unstructured([], amount=0.5)
    with pytest.raises(ValueError, match="given twice"):
        pruning.global_unstructured([(layer, "kernel"), layer.kernel], amount=0.5)
    with pytest.raises(TypeError, match=r"\(layer, name\) pairs"):
        pruning.global_unstructured([layer], amount=0.5)
    with pytest.raises(ValueError, match=r"global_unstructured\(Dense\(4\)\.kernel.*amount=13"):
        pruning.global_unstructured([(layer, "kernel")], amount=13)


def test_a_parameter_can_be_pruned_directly_and_the_mask_has_its_shape_and_dtype():
    p = Parameter(np.array([[0.3, -0.1, 0.5], [-0.4, 0.2, 0.6]], dtype=np.float32))
    pruning.l1_unstructured(p, amount=0.5)
    assert p.mask.shape == (2, 3) and p.mask.dtype == np.float32
    np.testing.assert_array_equal(p.mask, [[0, 0, 1], [1, 0, 1]])  # 0.1, 0.2, 0.3 go
    np.testing.assert_array_equal(p.data, np.float32([[0, 0, 0.5], [-0.4, 0, 0.6]]))
    assert pruning.is_pruned(p)


def test_sparsity_counts_the_zeros_of_every_parameter_given():
    layer = _layer()  # kernel (3, 4) drawn non-zero, bias (4,) zeros: 4 of 16
    assert pruning.sparsity(layer.kernel) == 0.0
    assert pruning.sparsity(layer) == 4 / 16
    pruning.l1_unstructured(layer, amount=0.5)  # 6 of the kernel's 12
    assert pruning.sparsity(layer) == (6 + 4) / 16
    assert pruning.sparsity([layer.kernel]) == 0.5
    assert pruning.sparsity(Parameter(np.array([0.0, 1.0, 0.0, 2.0, 3.0]))) == 2 / 5
    model = _model()  # 5*8 + 8 + 8*3 + 3 = 75 parameters, the 11 biases zero
    assert pruning.sparsity(model) == 11 / 75
    with pytest.raises(TypeError, match="sparsity"):
        pruning.sparsity(["kernel"])


def test_masks_survive_fit():
    model = _model()
    kernels = [layer.kernel for layer in model.layers]
    pruning.global_unstructured(kernels, amount=0.6)
    masks = [k.mask.copy() for k in kernels]
    before = [k.data.copy() for k in kernels]
    rng = np.random.default_rng(1)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(rng.standard_normal((64, 5)), rng.integers(0, 3, 64), epochs=3, verbose=0)
    for kernel, mask, old in zip(kernels, masks, before, strict=True):
        np.testing.assert_array_equal(kernel.mask, mask)
        assert np.all(kernel.data[mask == 0] == 0)
        assert not np.array_equal(kernel.data, old)  # it did train
    assert pruning.is_pruned(model) and pruning.sparsity(kernels) == round(0.6 * 64) / 64


def test_masks_survive_a_hand_written_loop():
    layer = _layer()
    pruning.l1_unstructured(layer, amount=5)
    optimizer = nl.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    x = np.random.default_rng(2).standard_normal((8, 3))
    for _ in range(3):
        optimizer.zero_grad()
        (layer(x) ** 2).sum().backward()
        assert np.count_nonzero(layer.kernel.grad[layer.kernel.mask == 0]) > 0  # pushed, yet...
        optimizer.step()
        assert np.all(layer.kernel.data[layer.kernel.mask == 0] == 0)  # ...kept at 0


def test_remove_makes_the_zeros_permanent_but_trainable():
    layer = _layer()
    with pytest.raises(ValueError, match=r"remove\(Dense\(4\)\.kernel\): it is not pruned"):
        pruning.remove(layer, "kernel")
    pruning.l1_unstructured(layer, amount=0.5)
    mask = layer.kernel.mask.copy()
    weights = layer.get_weights()
    weights[0] = weights[0] + 1.0  # set_weights fills the pruned entries...
    layer.set_weights(weights)
    assert pruning.remove(layer, "kernel") is layer
    # ...and remove keeps weight * mask, as torch's remove keeps weight_orig * mask.
    assert layer.kernel.mask is None and not pruning.is_pruned(layer)
    np.testing.assert_array_equal(layer.kernel.data, weights[0] * mask)
    optimizer = nl.optim.SGD(layer.parameters(), lr=0.1)
    ((layer(np.ones((2, 3))) - 1.0) ** 2).sum().backward()
    optimizer.step()  # no mask any more: the zeros move
    assert np.all(layer.kernel.data[mask == 0] != 0)
