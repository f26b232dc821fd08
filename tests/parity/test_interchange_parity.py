"""Chapter 12 (and 13): an nnlearn model's weights to and from PyTorch, bit for bit.

:mod:`nnlearn.parity.interchange` against PyTorch itself: a ``torch.nn.Sequential`` written
here by hand takes :func:`state_dict` with torch's own strict ``load_state_dict`` and computes
what the nnlearn model computes; round trips through any device give back the same bits; a
twin trained on the device and copied back makes nnlearn compute what the twin computes; and
wrong dicts raise errors that name the key, the layer and the shapes. Needs only numpy, torch
and pytest.
"""

import numpy as np
import pytest
import torch

import nnlearn as nl
from nnlearn import layers
from nnlearn.parity import (
    compare,
    exact_float32,
    fit_twin,
    to_numpy,
    torch_twin,
    twin_parameters,
)
from nnlearn.parity import twins as twins_module
from nnlearn.parity.interchange import copy_from_twin, load_state_dict, state_dict

pytestmark = pytest.mark.chapter12


def _mlp(dtype, seed=1, sizes=(6, 8, 3)):
    """Dense relu, Activation tanh, Dense softmax: keys 0.0.*, 2.0.* in the twin."""
    nl.seed_everything(seed)
    model = nl.Sequential(
        [
            layers.Dense(sizes[1], activation="relu", input_shape=(sizes[0],), dtype=dtype),
            layers.Activation("tanh"),
            layers.Dense(sizes[2], activation="softmax", dtype=dtype),
        ]
    )
    for layer in (model.layers[0], model.layers[2]):  # non-zero biases, so they are checked
        layer.bias.data[...] = np.random.default_rng(seed).uniform(-1, 1, layer.units)
    return model


def _by_hand(sizes=(6, 8, 3)) -> torch.nn.Module:
    """The same architecture written in torch directly, not by torch_twin."""
    nn = torch.nn
    return nn.Sequential(
        nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU()),
        nn.Tanh(),
        nn.Sequential(nn.Linear(sizes[1], sizes[2]), nn.Softmax(dim=-1)),
    )


def _weights(model) -> dict[str, np.ndarray]:
    return {name: p.data.copy() for name, p in model.named_parameters()}


def test_state_dict_has_torchs_keys_and_layouts_and_a_hand_written_torch_model_takes_it(
    device_dtype,
):
    device, dtype = device_dtype
    model = _mlp(dtype)
    weights = state_dict(model)
    assert list(weights) == ["0.0.weight", "0.0.bias", "2.0.weight", "2.0.bias"]
    assert all(
        t.device.type == "cpu" and t.dtype == getattr(torch, dtype.name) for t in weights.values()
    )
    assert np.array_equal(weights["0.0.weight"].numpy(), model.layers[0].kernel.data.T)
    assert np.array_equal(weights["2.0.bias"].numpy(), model.layers[2].bias.data)

    reference = _by_hand().to(device=device, dtype=getattr(torch, dtype.name))
    reference.load_state_dict(weights)  # torch's own strict load: same keys, same shapes
    x = np.random.default_rng(0).standard_normal((5, 6))
    with exact_float32():
        expected = to_numpy(
            reference(torch.as_tensor(x, dtype=reference[0][0].weight.dtype, device=device))
        )
    compare({"output": model(x.astype(dtype)).data}, {"output": expected}, dtype).assert_ok()


def test_a_single_layer_has_its_own_twins_keys():
    layer = layers.Dense(4, input_shape=(3,), dtype=np.float64)
    assert {k: tuple(v.shape) for k, v in state_dict(layer).items()} == {
        "0.weight": (4, 3),
        "0.bias": (4,),
    }


def test_round_trips_through_the_device_are_bit_for_bit(device_dtype):
    device, dtype = device_dtype
    source, target = _mlp(dtype, seed=1), _mlp(dtype, seed=2)
    on_device = {key: t.to(device) for key, t in state_dict(source).items()}
    load_state_dict(target, on_device)
    for name, array in _weights(source).items():
        assert np.array_equal(dict(target.named_parameters())[name].data, array), name
    again = state_dict(target)
    assert all(torch.equal(again[key], on_device[key].cpu()) for key in on_device)

    # torch -> nnlearn -> torch: a twin on the device, copied in and read out again
    twin = torch_twin(_mlp(dtype, seed=3), device, dtype)
    copy_from_twin(target, twin)
    back = state_dict(target)
    assert all(torch.equal(back[key], value.cpu()) for key, value in twin.state_dict().items())


def test_a_twin_trained_on_the_device_and_copied_back_computes_what_the_twin_computes(
    device_dtype,
):
    device, dtype = device_dtype
    model = _mlp(dtype)
    before = _weights(model)
    twin = torch_twin(model, device, dtype)
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((48, 6)), rng.integers(0, 3, 48)
    history = fit_twin(
        twin,
        x,
        y,
        loss="sparse_categorical_crossentropy",
        optimizer=nl.optim.Adam(lr=0.05),
        epochs=3,
        batch_size=16,
        shuffle=False,
    )
    assert history["loss"][-1] < history["loss"][0]  # the twin learned something

    copy_from_twin(model, twin)
    after = _weights(model)
    assert all(not np.array_equal(after[name], before[name]) for name in before)
    trained = twin_parameters(twin)
    assert all(np.array_equal(after[name], trained[name]) for name in after)
    with exact_float32():
        expected = to_numpy(
            twin(torch.as_tensor(x, dtype=getattr(torch, dtype.name), device=device))
        )
    compare({"output": model(x.astype(dtype)).data}, {"output": expected}, dtype).assert_ok()


def test_values_of_another_dtype_are_cast_as_torch_casts_them():
    """A float64 dict into a float32 model rounds as torch's load_state_dict rounds."""
    weights = state_dict(_mlp(np.float64))
    model = _mlp(np.float32, seed=5)
    load_state_dict(model, weights)
    reference = _by_hand().float()
    reference.load_state_dict(weights)
    assert all(torch.equal(state_dict(model)[k], v) for k, v in reference.state_dict().items())


def test_bfloat16_values_which_numpy_lacks_are_widened_as_torch_widens_them():
    weights = {k: v.to(torch.bfloat16) for k, v in state_dict(_mlp(np.float32)).items()}
    model = _mlp(np.float32, seed=5)
    load_state_dict(model, weights)
    reference = _by_hand()
    reference.load_state_dict(weights)
    assert all(torch.equal(state_dict(model)[k], v) for k, v in reference.state_dict().items())


def test_missing_and_unexpected_keys_are_named_and_leave_the_model_untouched():
    model = _mlp(np.float64)
    before = _weights(model)
    weights = state_dict(_mlp(np.float64, seed=2))
    del weights["2.0.bias"]
    weights["3.weight"] = torch.zeros(3)
    with pytest.raises(
        ValueError, match=r"missing keys: \['2.0.bias'\]; unexpected keys: \['3.weight'\]"
    ):
        load_state_dict(model, weights)
    assert all(np.array_equal(p.data, before[name]) for name, p in model.named_parameters())


def test_a_shape_mismatch_names_the_key_the_layer_and_both_shapes():
    model = _mlp(np.float64)
    before = _weights(model)
    weights = state_dict(_mlp(np.float64, seed=2))
    weights["2.0.weight"] = weights["2.0.weight"].T  # Keras's layout where torch's is expected
    message = (
        r"'2.0.weight' \(layers.2.kernel, the kernel of layer 2 \(Dense\(3\)\)\) "
        r"has shape \(8, 3\) in the state_dict, but the model's twin has \(3, 8\)"
    )
    with pytest.raises(ValueError, match=message):
        load_state_dict(model, weights)
    assert all(np.array_equal(p.data, before[name]) for name, p in model.named_parameters())


def test_making_a_state_dict_leaves_torchs_random_state_alone():
    model = _mlp(np.float64)
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    load_state_dict(model, state_dict(model))
    assert torch.equal(torch.rand(4), expected)


def test_a_planted_layout_slip_is_caught(monkeypatch):
    """With a square kernel no shape check can see a missing transpose; the hand-written
    torch model's outputs do."""
    model = _mlp(np.float64, sizes=(6, 6, 6))
    x = np.random.default_rng(0).standard_normal((5, 6))

    def agrees_with_torch() -> bool:
        reference = _by_hand((6, 6, 6)).double()
        reference.load_state_dict(state_dict(model))
        expected = to_numpy(reference(torch.as_tensor(x)))
        return compare({"output": model(x).data}, {"output": expected}, np.float64).ok

    assert agrees_with_torch()
    builder, slots = twins_module._TWINS[layers.Dense]
    slip = dict(slots, kernel=twins_module.Slot("0.weight"))  # forgot weight = kernel.T
    monkeypatch.setitem(twins_module._TWINS, layers.Dense, (builder, slip))
    assert not agrees_with_torch()
