"""Chapter 09: magnitude pruning (nnlearn.pruning) against ``torch.nn.utils.prune``.

The same weights are pruned on both sides and the masks compared entry by entry (nnlearn's
kernel is ``(in, out)``, torch's weight ``(out, in)``: the masks compare through a transpose).
Where the weights have no two equal magnitudes the masks must be identical; with ties only
the counts and the pruned magnitudes must agree (torch's ``topk`` picks among equals as it
likes). Then a pruned model and its pruned torch twin train the same. Needs only numpy, torch
and pytest.
"""

import numpy as np
import pytest
import torch
from torch.nn.utils import prune as torch_prune

import nnlearn as nl
from nnlearn import layers, pruning
from nnlearn.parity import compare, fit_twin, torch_twin, twin_parameters

pytestmark = pytest.mark.chapter09


def _distinct(shape, seed, scale=1.0):
    """Entries of ``shape`` whose magnitudes are all different (k/n for k = 1..n, random
    order and signs), so smallest-k pruning has one answer."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    magnitudes = (rng.permutation(n) + 1) / n
    return (scale * magnitudes * rng.choice([-1.0, 1.0], n)).reshape(shape)


def _dense(kernel, dtype, activation=None, seed=0):
    """A built Dense layer holding ``kernel`` and a bias of distinct magnitudes."""
    layer = layers.Dense(
        kernel.shape[1], activation=activation, input_shape=(kernel.shape[0],), dtype=dtype
    )
    layer.kernel.data[...] = kernel
    layer.bias.data[...] = _distinct((kernel.shape[1],), seed + 100)
    return layer


def _torch_mask(linear, name):
    """A pruned torch Linear's mask of ``name``, in nnlearn's layout."""
    mask = getattr(linear, f"{name}_mask").detach().cpu().numpy()
    return mask.T if name == "weight" else mask


def _effective(linear, name):
    """What torch's forward uses: ``orig * mask`` (the ``weight`` attribute is only refreshed
    by the next forward), in nnlearn's layout."""
    value = (getattr(linear, f"{name}_orig") * getattr(linear, f"{name}_mask")).detach()
    value = value.cpu().numpy()
    return value.T if name == "weight" else value


TORCH_NAMES = {"kernel": "weight", "bias": "bias"}
AMOUNTS = [0.0, 0.25, 0.3, 0.5, 0.75, 1.0, 0, 1, 5, 12]


@pytest.mark.parametrize("name", ["kernel", "bias"])
@pytest.mark.parametrize("amount", AMOUNTS, ids=[repr(a) for a in AMOUNTS])
def test_l1_unstructured_masks_match_torch(device_dtype, amount, name):
    device, dtype = device_dtype
    layer = _dense(_distinct((3, 4), seed=1), dtype)
    linear = torch_twin(layer, device, dtype)[0]
    if name == "bias" and isinstance(amount, int) and amount > 4:
        amount = 4  # the bias has 4 entries
    pruning.l1_unstructured(layer, name, amount)
    torch_prune.l1_unstructured(linear, TORCH_NAMES[name], amount)
    p = getattr(layer, name)
    np.testing.assert_array_equal(p.mask, _torch_mask(linear, TORCH_NAMES[name]))
    np.testing.assert_array_equal(p.data, _effective(linear, TORCH_NAMES[name]))
    assert pruning.is_pruned(layer) and torch_prune.is_pruned(linear)


# (n entries, float amount, the count torch's round(amount * n) gives: halves to even)
HALVES = [(10, 0.25, 2), (6, 0.25, 2), (10, 0.05, 0), (10, 0.15, 2), (10, 0.45, 4), (14, 0.25, 4)]


@pytest.mark.parametrize("n, amount, count", HALVES, ids=[f"{n}x{a}" for n, a, _ in HALVES])
def test_counts_at_halves_round_to_even_as_torch(device_dtype, n, amount, count):
    device, dtype = device_dtype
    layer = _dense(_distinct((1, n), seed=n), dtype)
    linear = torch_twin(layer, device, dtype)[0]
    pruning.l1_unstructured(layer, amount=amount)
    torch_prune.l1_unstructured(linear, "weight", amount=amount)
    torch_count = int((linear.weight_mask == 0).sum())
    assert torch_count == count
    assert int((layer.kernel.mask == 0).sum()) == count
    np.testing.assert_array_equal(layer.kernel.mask, _torch_mask(linear, "weight"))


@pytest.mark.parametrize("amount", [0.3, 0.5, 0.6, 7, 13])
def test_with_ties_the_counts_and_the_pruned_magnitudes_match_torch(device_dtype, amount):
    """Magnitudes from {0, 1, 2, 3}: which of equal entries go may differ, how many and how
    large may not."""
    device, dtype = device_dtype
    kernel = np.random.default_rng(4).integers(-3, 4, (5, 4)).astype(float)
    layer = _dense(kernel, dtype)
    layer.bias.data[...] = 0.0  # all tied
    linear = torch_twin(layer, device, dtype)[0]
    for name, part in (("kernel", amount), ("bias", 0.5)):
        pruning.l1_unstructured(layer, name, part)
        torch_prune.l1_unstructured(linear, TORCH_NAMES[name], part)
        ours, theirs = getattr(layer, name).mask, _torch_mask(linear, TORCH_NAMES[name])
        assert (ours == 0).sum() == (theirs == 0).sum()
        original = kernel if name == "kernel" else np.zeros(4)
        np.testing.assert_array_equal(
            np.sort(np.abs(original[ours == 0])), np.sort(np.abs(original[theirs == 0]))
        )


def _two_layer_model(dtype):
    """Dense(6 -> 5, relu), Dense(5 -> 3, softmax); the first kernel's weights are smaller, so
    global pruning takes more of them."""
    model = nl.Sequential(
        [
            _dense(_distinct((6, 5), seed=2, scale=0.5), dtype, "relu", seed=2),
            _dense(_distinct((5, 3), seed=3), dtype, "softmax", seed=3),
        ]
    )
    model.build((None, 6))
    return model


@pytest.mark.parametrize("amount", [0.0, 0.4, 0.5, 1.0, 9, 45])
def test_global_unstructured_masks_match_torch(device_dtype, amount):
    device, dtype = device_dtype
    model = _two_layer_model(dtype)
    twin = torch_twin(model, device, dtype)
    pruning.global_unstructured([(layer, "kernel") for layer in model.layers], amount=amount)
    linears = [twin[0][0], twin[1][0]]
    torch_prune.global_unstructured(
        [(linear, "weight") for linear in linears],
        pruning_method=torch_prune.L1Unstructured,
        amount=amount,
    )
    for layer, linear in zip(model.layers, linears, strict=True):
        np.testing.assert_array_equal(layer.kernel.mask, _torch_mask(linear, "weight"))
        np.testing.assert_array_equal(layer.kernel.data, _effective(linear, "weight"))
    if amount == 0.4:  # ranked together, not layer by layer: the small kernel loses more
        assert (
            pruning.sparsity(model.layers[0].kernel)
            > 0.4
            > pruning.sparsity(model.layers[1].kernel)
        )


def test_repeated_pruning_prunes_a_fraction_of_what_is_left_as_torch(device_dtype):
    """Per layer and global, floats and ints, one after another: every mask as torch's."""
    device, dtype = device_dtype
    model = _two_layer_model(dtype)
    twin = torch_twin(model, device, dtype)
    linears = [twin[0][0], twin[1][0]]
    kernels = [layer.kernel for layer in model.layers]
    steps = [
        ("layer 0", 0.5),
        ("layer 0", 0.5),
        ("global", 0.25),
        ("layer 1", 2),
        ("global", 3),
        ("layer 0", 0.5),
    ]
    zeros = []
    for target, amount in steps:
        if target == "global":
            pruning.global_unstructured(kernels, amount=amount)
            torch_prune.global_unstructured(
                [(linear, "weight") for linear in linears],
                pruning_method=torch_prune.L1Unstructured,
                amount=amount,
            )
        else:
            i = int(target[-1])
            pruning.l1_unstructured(model.layers[i], amount=amount)
            torch_prune.l1_unstructured(linears[i], "weight", amount=amount)
        for kernel, linear in zip(kernels, linears, strict=True):
            if hasattr(linear, "weight_mask"):
                np.testing.assert_array_equal(kernel.mask, _torch_mask(linear, "weight"))
            else:
                assert kernel.mask is None
        zeros.append(int((kernels[0].mask == 0).sum()))
    # Layer 0 has 30 entries: 0.5 of 30 = 15, then 0.5 of the 15 left = round(7.5) = 8.
    assert zeros[:2] == [15, 23]


def test_remove_keeps_the_zeros_and_drops_the_mask_as_torch(device_dtype):
    device, dtype = device_dtype
    layer = _dense(_distinct((4, 3), seed=5), dtype)
    linear = torch_twin(layer, device, dtype)[0]
    with pytest.raises(ValueError):
        torch_prune.remove(linear, "weight")
    with pytest.raises(ValueError, match="not pruned"):
        pruning.remove(layer, "kernel")
    pruning.l1_unstructured(layer, amount=0.5)
    torch_prune.l1_unstructured(linear, "weight", amount=0.5)
    pruning.remove(layer, "kernel")
    torch_prune.remove(linear, "weight")
    assert layer.kernel.mask is None and not hasattr(linear, "weight_mask")
    assert not pruning.is_pruned(layer) and not torch_prune.is_pruned(linear)
    np.testing.assert_array_equal(layer.kernel.data, linear.weight.detach().cpu().numpy().T)
    assert (layer.kernel.data == 0).sum() == 6


def _model(dtype):
    nl.seed_everything(7)
    model = nl.Sequential(
        [
            layers.Dense(8, activation="relu", input_shape=(6,), dtype=dtype),
            layers.Dense(3, activation="softmax", dtype=dtype),
        ]
    )
    for layer in model.layers:
        layer.bias.data[...] = np.linspace(-0.3, 0.4, layer.units)
    return model


OPTIMIZERS = {
    "SGD momentum": lambda: nl.optim.SGD(lr=0.1, momentum=0.9),
    "Adam": lambda: nl.optim.Adam(lr=0.02),
    "AdamW decay": lambda: nl.optim.AdamW(lr=0.02, weight_decay=0.1),
}


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_pruned_model_trains_as_its_pruned_torch_twin(device_dtype, optimizer):
    """Prune, fine-tune, prune again (globally), fine-tune: fit and the twin trained by fit's
    loop (same batches) end with the same effective weights, pruned entries 0 in both."""
    device, dtype = device_dtype
    model = _model(dtype)
    twin = torch_twin(model, device, dtype)
    linears = [twin[0][0], twin[1][0]]
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((40, 6)), rng.integers(0, 3, 40)

    def train():  # a fresh optimizer on both sides (fit_twin makes a new one each time)
        model.compile(optimizer=OPTIMIZERS[optimizer](), loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        fit_twin(
            twin, x, y, loss=model.loss, optimizer=model.optimizer, epochs=2, batch_size=16,
            shuffle=False,
        )  # fmt: skip

    pruning.l1_unstructured(model.layers[0], amount=0.5)
    torch_prune.l1_unstructured(linears[0], "weight", amount=0.5)
    train()
    with torch.no_grad():  # torch ranks the `weight` of the last forward: refresh it
        twin(torch.as_tensor(x[:1], dtype=linears[0].weight_orig.dtype, device=device))
    kernels = [layer.kernel for layer in model.layers]
    pruning.global_unstructured(kernels, amount=0.3)
    torch_prune.global_unstructured(
        [(linear, "weight") for linear in linears],
        pruning_method=torch_prune.L1Unstructured,
        amount=0.3,
    )
    masks = [kernel.mask.copy() for kernel in kernels]
    for mask, linear in zip(masks, linears, strict=True):
        np.testing.assert_array_equal(mask, _torch_mask(linear, "weight"))
    train()

    for linear in linears:  # weight = weight_orig * mask becomes the parameter again
        torch_prune.remove(linear, "weight")
    ours = {name: p.data for name, p in model.named_parameters()}
    theirs = twin_parameters(twin)
    compare(ours, theirs, dtype, f"pruned fit vs its pruned twin, {optimizer}").assert_ok()
    for kernel, mask, name in zip(kernels, masks, ("layers.0", "layers.1"), strict=True):
        assert np.all(kernel.data[mask == 0] == 0) and np.all(
            theirs[f"{name}.kernel"][mask == 0] == 0
        )
        assert np.all(kernel.data[mask == 1] != 0)
