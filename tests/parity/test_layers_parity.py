"""Chapters 03 and 08: Dense, Sequential and a whole training run match PyTorch.

A Dense layer is checked against ``torch.nn.Linear`` holding the same weights
(``weight = kernel.T``): the output and the gradients of the input, kernel and bias. A whole
MLP is checked against its ``nn.Sequential`` twin, and training (fit with Adam) step by step
against a torch loop with ``torch.optim.Adam``. Needs only numpy, torch and pytest.
"""

import numpy as np
import pytest
import torch

import nnlearn as nl
from nnlearn import layers
from nnlearn.parity import compare, exact_float32, to_numpy, to_torch

TORCH_ACTIVATIONS = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid}


def _linear_twin(dense, device, dtype):
    """A torch.nn.Linear holding the Dense layer's weights: weight = kernel.T, bias = bias."""
    linear = torch.nn.Linear(*dense.kernel.shape, bias=dense.bias is not None)
    linear = linear.to(device=device, dtype=getattr(torch, dtype.name))
    with torch.no_grad():
        linear.weight.copy_(to_torch(dense.kernel.data.T, device))
        if dense.bias is not None:
            # A non-zero bias, so a forward that ignored it would be caught.
            dense.bias.data[...] = np.linspace(-1, 1, dense.units, dtype=dtype)
            linear.bias.copy_(to_torch(dense.bias.data, device))
    return linear


def _torch_grads(module, prefix=""):
    """Parameter gradients of a torch module, renamed and laid out like nnlearn's."""
    grads = {}
    for name, p in module.named_parameters():
        index, kind = name.rsplit(".", 1) if "." in name else ("", name)
        key = f"{prefix}{index}.{'kernel' if kind == 'weight' else 'bias'}".lstrip(".")
        grads[f"d/d{key}"] = to_numpy(p.grad).T if kind == "weight" else to_numpy(p.grad)
    return grads


def dense_report(device, dtype, use_bias=True, activation=None):
    rng = np.random.default_rng(0)
    nl.seed_everything(0)
    dense = layers.Dense(5, activation=activation, input_shape=(4,), use_bias=use_bias, dtype=dtype)
    x = rng.standard_normal((6, 4)).astype(dtype)
    upstream = rng.standard_normal((6, 5)).astype(dtype)
    with exact_float32():
        linear = _linear_twin(dense, device, dtype)
        twin = torch.nn.Sequential(
            linear, *([TORCH_ACTIVATIONS[activation]()] if activation else [])
        )
        tx = to_torch(x, device, requires_grad=True)
        t_out = twin(tx)
        t_out.backward(to_torch(upstream, device))
    nx = nl.Tensor(x, requires_grad=True)
    out = dense(nx)
    out.backward(upstream)
    actual = {"output": out.data, "d/dx": nx.grad, "d/dkernel": dense.kernel.grad}
    expected = {"output": to_numpy(t_out), "d/dx": to_numpy(tx.grad)}
    expected.update(_torch_grads(linear))  # d/dkernel, d/dbias
    if use_bias:
        actual["d/dbias"] = dense.bias.grad
    title = f"Dense(5, {activation}) vs torch.nn.Linear on {device}, {dtype}"
    return compare(actual, expected, dtype, title)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
def test_dense_forward_and_gradients_match_torch_linear(device_dtype, use_bias, activation):
    device, dtype = device_dtype
    report = dense_report(device, dtype, use_bias, activation).assert_ok()
    assert len(report.rows) == 3 + use_bias


def test_a_planted_wrong_dense_backward_is_caught(monkeypatch):
    original = layers.Affine.backward

    def slightly_wrong(self, g):  # the kernel gradient 1 % off, a slip the eye would miss
        grad_x, grad_kernel, *rest = original(self, g)
        return (grad_x, grad_kernel * 1.01, *rest)

    monkeypatch.setattr(layers.Affine, "backward", slightly_wrong)
    report = dense_report("cpu", np.dtype(np.float64))
    assert [row.name for row in report.rows if not row.ok] == ["d/dkernel"]


def test_a_planted_wrong_dense_forward_is_caught(monkeypatch):
    original = layers.Affine.forward
    monkeypatch.setattr(
        layers.Affine, "forward", lambda self, x, k, b=None: original(self, x, k, None)
    )  # forgets the bias
    report = dense_report("cpu", np.dtype(np.float64))
    assert [row.name for row in report.rows if not row.ok] == ["output"]


def _mlp_pair(device, dtype, sizes=(6, 8, 7, 3), hidden=("relu", "tanh")):
    """An nnlearn MLP (lazy sizes) and its torch twin with the same weights."""
    nl.seed_everything(1)
    model = nl.Sequential(
        [
            layers.Dense(n, activation=a, dtype=dtype)
            for n, a in zip(sizes[1:-1], hidden, strict=True)
        ]
    )
    model.add(layers.Dense(sizes[-1], activation="softmax", dtype=dtype))
    model(np.zeros((1, sizes[0]), dtype=dtype))  # builds every layer
    modules = []
    for layer in model.layers:
        modules.append(_linear_twin(layer, device, dtype))
        if layer.activation_name in TORCH_ACTIVATIONS:
            modules.append(TORCH_ACTIVATIONS[layer.activation_name]())
    modules.append(torch.nn.Softmax(dim=-1))
    twin = torch.nn.Sequential(*modules)
    # torch's indices count the activation modules too; map them to nnlearn's layer indices.
    linear_index = {
        str(i): str(k)
        for k, i in enumerate(i for i, m in enumerate(twin) if isinstance(m, torch.nn.Linear))
    }
    return model, twin, linear_index


def test_sequential_mlp_matches_its_torch_twin(device_dtype):
    device, dtype = device_dtype
    model, twin, linear_index = _mlp_pair(device, dtype)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((10, 6)).astype(dtype)
    upstream = rng.standard_normal((10, 3)).astype(dtype)
    out = model(x)
    out.backward(upstream)
    with exact_float32():
        t_out = twin(to_torch(x, device))
        t_out.backward(to_torch(upstream, device))
    actual = {"output": out.data}
    actual.update({f"d/d{name}": p.grad for name, p in model.named_parameters()})
    expected = {"output": to_numpy(t_out)}
    for key, grad in _torch_grads(twin).items():
        index, kind = key[3:].split(".")
        expected[f"d/dlayers.{linear_index[index]}.{kind}"] = grad
    report = compare(actual, expected, dtype, f"MLP vs torch on {device}, {dtype}").assert_ok()
    assert len(report.rows) == 1 + 2 * len(model.layers)


class _BatchLosses(nl.training.Callback):
    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])


def test_fit_with_adam_matches_a_torch_training_loop_step_by_step():
    """float64, same initial weights, same batches (no shuffle): every step's loss and the
    final parameters agree with torch.optim.Adam on nn.CrossEntropyLoss."""
    dtype, batch_size, epochs = np.dtype(np.float64), 16, 3
    model, twin, linear_index = _mlp_pair("cpu", dtype)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 6))
    y = rng.integers(0, 3, 40)

    recorder = _BatchLosses()
    model.compile(optimizer=nl.optim.Adam(lr=0.01), loss="sparse_categorical_crossentropy")
    model.fit(
        x, y, epochs=epochs, batch_size=batch_size, shuffle=False, verbose=0, callbacks=[recorder]
    )

    logits_twin = twin[:-1]  # CrossEntropyLoss takes logits: drop the final Softmax
    optimizer = torch.optim.Adam(logits_twin.parameters(), lr=0.01)
    torch_losses = []
    for _ in range(epochs):
        for start in range(0, len(x), batch_size):
            xb, yb = (
                torch.tensor(x[start : start + batch_size]),
                torch.tensor(y[start : start + batch_size]),
            )
            loss = torch.nn.functional.cross_entropy(logits_twin(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            torch_losses.append(loss.item())

    actual = {"loss per step": np.array(recorder.losses)}
    actual.update({name: p.data for name, p in model.named_parameters()})
    expected = {"loss per step": np.array(torch_losses)}
    for name, p in logits_twin.named_parameters():
        index, kind = name.split(".")
        value = to_numpy(p)
        key = f"layers.{linear_index[index]}.{'kernel' if kind == 'weight' else 'bias'}"
        expected[key] = value.T if kind == "weight" else value
    report = compare(actual, expected, dtype, "fit vs a torch loop, Adam, float64").assert_ok()
    assert len(torch_losses) == epochs * 3 and len(report.rows) == 1 + 2 * len(model.layers)
