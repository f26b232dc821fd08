"""Chapter 16: Embedding, attention and MultiHeadAttention match PyTorch, on every device.

* The fused attention Function against ``torch.nn.functional.scaled_dot_product_attention``
  (``is_causal=True``, a boolean mask, none): output and the gradients of Q, K, V.
* ``Embedding`` against ``torch.nn.Embedding`` (repeated tokens: the scatter-add), and a few
  Adam steps of both.
* ``MultiHeadAttention`` against its twin, torch's own ``nn.MultiheadAttention`` run with the
  packed ``in_proj_weight`` made from Keras's kernels (nnlearn/parity/attention_twins.py):
  self-attention with the causal mask, cross-attention with a padding mask, keys and values
  of other sizes, no biases; the attention weights; every gradient; and a plain
  ``nn.MultiheadAttention`` loaded once (its packed gradient is nnlearn's three, stacked).
* A few training steps of a causal self-attention layer and its twin (``check_model``).

Needs only numpy, torch and pytest.
"""

from dataclasses import replace

import numpy as np
import pytest
import torch

import nnlearn as nl
from nnlearn import layers
from nnlearn.attention import ScaledDotProductAttention, causal_mask, mask_bias
from nnlearn.parity import (
    check_function,
    check_model,
    compare,
    exact_float32,
    register_twin,
    to_numpy,
    to_torch,
    torch_twin,
    twin_gradients,
    twin_parameters,
)
from nnlearn.parity.attention_twins import MULTI_HEAD_ATTENTION_SLOTS, multihead_attention

pytestmark = pytest.mark.chapter16

RNG = np.random.default_rng(61)
B, T, S, E = 3, 5, 6, 8  # batch, queries, keys, features
X = RNG.standard_normal((B, T, E))
Z = RNG.standard_normal((B, S, E))
PADDING = RNG.random((B, T, S)) > 0.4  # True: may attend
PADDING[..., 0] = True


# --- the attention Function ----------------------------------------------------------------
def _attention(mask=None):
    def nn_fn(q, k, v):
        bias = None if mask is None else mask_bias(mask, q.dtype)
        return ScaledDotProductAttention.apply(q, k, v, scale=1 / np.sqrt(q.shape[-1]), bias=bias)

    return nn_fn


@pytest.mark.parametrize("masked", ["causal", "padding", "none"])
def test_attention_matches_torch_scaled_dot_product_attention(device_dtype, masked):
    device, dtype = device_dtype
    q, k = RNG.standard_normal((B, 2, T, 4)), RNG.standard_normal((B, 2, S, 4))
    v = RNG.standard_normal((B, 2, S, 3))
    if masked == "causal":
        nn_fn, torch_fn = _attention(causal_mask(T, S)), lambda *a: _sdpa(*a, is_causal=True)
    elif masked == "padding":
        mask = PADDING[:, None]  # (B, 1, T, S): the same for both heads
        nn_fn = _attention(mask)
        torch_fn = lambda *a: _sdpa(*a, attn_mask=torch.as_tensor(mask, device=a[0].device))  # noqa: E731
    else:
        nn_fn, torch_fn = _attention(), _sdpa
    check_function(nn_fn, torch_fn, q, k, v, device=device, dtype=dtype, names="qkv").assert_ok()


def _sdpa(q, k, v, **options):
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, **options)


# --- Embedding -----------------------------------------------------------------------------
TOKENS = np.array([[1, 4, 4, 0, 6], [4, 2, 1, 1, 1]])


def test_embedding_matches_torch_embedding_and_trains_the_same(device_dtype):
    device, dtype = device_dtype
    layer = layers.Embedding(7, 4, embeddings_initializer="glorot_uniform", dtype=dtype)
    layer.build(TOKENS.shape)
    twin = torch_twin(layer, device, dtype)
    assert isinstance(twin, torch.nn.Embedding) and twin.weight.shape == (7, 4)
    upstream = RNG.standard_normal((*TOKENS.shape, 4))
    ours, theirs = (
        nl.optim.Adam([layer.embeddings], lr=0.1),
        torch.optim.Adam(twin.parameters(), lr=0.1),
    )
    tokens = torch.as_tensor(TOKENS, device=device)
    actual, expected = {}, {}
    for step in range(3):
        ours.zero_grad()
        theirs.zero_grad()
        out = layer(TOKENS)
        out.backward(upstream.astype(dtype))
        with exact_float32():
            t_out = twin(tokens)
            t_out.backward(to_torch(upstream, device, dtype))
        actual[f"step {step}: output"], expected[f"step {step}: output"] = out.data, to_numpy(t_out)
        actual[f"step {step}: d/dembeddings"] = layer.embeddings.grad
        expected[f"step {step}: d/dembeddings"] = twin_gradients(twin)["embeddings"]
        ours.step()
        theirs.step()
    actual["embeddings after 3 steps"] = layer.embeddings.data
    expected["embeddings after 3 steps"] = twin_parameters(twin)["embeddings"]
    compare(actual, expected, dtype, f"Embedding vs nn.Embedding on {device}").assert_ok()


# --- MultiHeadAttention ----------------------------------------------------------------------
CASES = {
    # name: (layer options, call arguments: query, value[, key], keyword options)
    "self_causal": ({}, (X, X), {"use_causal_mask": True}),
    "cross_padding": ({}, (X, Z), {"attention_mask": PADDING}),
    "key_value_sizes": ({}, (X, Z[..., :5], Z[..., :3]), {"attention_mask": PADDING[0]}),
    "no_bias_causal_cross": ({"use_bias": False}, (X, Z), {"use_causal_mask": True}),
}


def _mha(dtype, **options):
    nl.seed_everything(3)
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=E // 2, dtype=dtype, **options)
    return layer


def _biases_not_zero(layer):
    """Biases drawn too (Keras starts them at 0), so a twin that dropped one is caught."""
    for name, p in layer.named_parameters():
        if name.endswith("bias"):
            p.data[...] = RNG.uniform(-0.5, 0.5, p.shape)


def _nn_pass(layer, inputs, upstream, options, scores=False):
    layer.zero_grad()
    tensors = [nl.Tensor(a.astype(layer.dtype), requires_grad=True) for a in inputs]
    out = layer(*tensors, **options, return_attention_scores=scores)
    (out[0] if scores else out).backward(upstream.astype(layer.dtype))
    grads = {f"d/dinput {i}": t.grad for i, t in enumerate(tensors)}
    grads |= {f"d/d{n}": p.grad for n, p in layer.named_parameters()}
    return out, grads


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_mha_matches_torch_multihead_attention(device_dtype, case):
    device, dtype = device_dtype
    options, inputs, call = CASES[case]
    layer = _mha(dtype, **options)
    layer(*[a.astype(dtype) for a in inputs])  # builds
    _biases_not_zero(layer)
    upstream = RNG.standard_normal((B, T, E))
    (out, weights), grads = _nn_pass(layer, inputs, upstream, call, scores=True)
    twin = torch_twin(layer, device, dtype)
    assert isinstance(twin.attention, torch.nn.MultiheadAttention)
    t_inputs = [to_torch(a, device, dtype, requires_grad=True) for a in inputs]
    with exact_float32():
        t_out, t_weights = twin(*t_inputs, **call, return_attention_scores=True)
        t_out.backward(to_torch(upstream, device, dtype))
    expected = {"output": to_numpy(t_out), "attention weights": to_numpy(t_weights)}
    expected |= {f"d/dinput {i}": to_numpy(t.grad) for i, t in enumerate(t_inputs)}
    expected |= {f"d/d{n}": g for n, g in twin_gradients(twin).items()}
    actual = {"output": out.data, "attention weights": weights.data, **grads}
    compare(actual, expected, dtype, f"MultiHeadAttention ({case}) on {device}").assert_ok()
    # The fused path (no scores asked for) computes the same.
    fused, fused_grads = _nn_pass(layer, inputs, upstream, call)
    del actual["attention weights"]
    compare({"output": fused.data, **fused_grads}, actual, dtype).assert_ok()


def test_a_plain_multihead_attention_loaded_once_computes_the_same(device_dtype):
    """torch's module itself, its packed in_proj_weight (3E, E) made from the three kernels:
    its gradient is nnlearn's three kernel gradients, each (E, N, d) -> (N d, E), stacked."""
    device, dtype = device_dtype
    layer = _mha(dtype)
    upstream = RNG.standard_normal((B, T, E))
    out, grads = _nn_pass(layer, (X, Z), upstream, {"attention_mask": PADDING})
    plain = multihead_attention(layer, device, dtype)
    assert type(plain) is torch.nn.MultiheadAttention and plain.in_proj_weight.shape == (3 * E, E)
    with exact_float32():
        x, z = to_torch(X, device, dtype), to_torch(Z, device, dtype)
        mask = torch.as_tensor(~PADDING, device=device).repeat_interleave(2, dim=0)  # (B N, T, S)
        t_out = plain(x, z, z, attn_mask=mask, need_weights=False)[0]
        t_out.backward(to_torch(upstream, device, dtype))
    kernels = ("query_kernel", "key_kernel", "value_kernel")
    packed = np.concatenate([grads[f"d/d{k}"].reshape(E, -1).T for k in kernels])
    actual = {"output": out.data, "d/din_proj_weight": packed}
    actual["d/dout_proj.weight"] = grads["d/doutput_kernel"].reshape(-1, E).T
    expected = {"output": to_numpy(t_out), "d/din_proj_weight": to_numpy(plain.in_proj_weight.grad)}
    expected["d/dout_proj.weight"] = to_numpy(plain.out_proj.weight.grad)
    compare(actual, expected, dtype, f"plain nn.MultiheadAttention on {device}").assert_ok()


class CausalSelfAttention(layers.Layer):
    """One input, so check_model can drive it: ``mha(x, x, use_causal_mask=True)``."""

    def __init__(self, attention):
        super().__init__(dtype=attention.dtype)
        self.attention = attention

    def forward(self, x):
        return self.attention(x, x, use_causal_mask=True)


class TorchCausalSelfAttention(torch.nn.Module):
    def __init__(self, attention):
        super().__init__()
        self.attention = attention

    def forward(self, x):
        return self.attention(x, x, use_causal_mask=True)


@register_twin(
    CausalSelfAttention,
    **{
        f"attention.{name}": replace(slot, torch_name=f"attention.{slot.torch_name}")
        for name, slot in MULTI_HEAD_ATTENTION_SLOTS.items()
    },
)
def _causal_self_attention(layer):
    return TorchCausalSelfAttention(torch_twin(layer.attention))


def test_a_few_sgd_steps_of_causal_self_attention_match_torch(device_dtype):
    device, dtype = device_dtype
    layer = CausalSelfAttention(_mha(dtype))
    layer(X.astype(dtype))
    _biases_not_zero(layer.attention)
    # SGD, not Adam: the key bias's gradient is 0 in exact arithmetic (a shift of every key by
    # the same b adds q.b to a whole row of scores, which the softmax ignores), so both
    # libraries hold only rounding noise there, and Adam would turn noise into full steps.
    optimizer = nl.optim.SGD(lr=0.1, momentum=0.9)
    y = RNG.standard_normal((B, T, E))
    report = check_model(
        layer, X, y, loss="mse", optimizer=optimizer, steps=3, device=device, dtype=dtype
    )
    report.assert_ok()
    assert any("after 3 steps" in row.name for row in report.rows)


def test_the_twin_refuses_what_torch_cannot_express():
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    layer.build((None, T, E), (None, S, E))
    with pytest.raises(ValueError, match=r"num_heads \* key_dim = 6.*needs num_heads \* key_dim"):
        torch_twin(layer)
    ok = layers.MultiHeadAttention(num_heads=2, key_dim=4)
    ok.build((None, T, E), (None, S, E))
    row_without_keys = np.ones((B, T, S), bool)
    row_without_keys[0, 1] = False
    with pytest.raises(ValueError, match="may attend no key.*NaN"):
        torch_twin(ok)(torch.zeros(B, T, E), torch.zeros(B, S, E), attention_mask=row_without_keys)
