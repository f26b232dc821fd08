"""Chapter 16: Embedding, MultiHeadAttention and their Functions (nnlearn/attention.py).

References, none of them the code under test: the attention formula and the embedding lookup
written in numpy here, numeric gradients (:func:`nnlearn.gradcheck.gradcheck`) of both fused
Functions and of the layers, planted wrong formulas (a missing 1/sqrt(d), a mask applied after
the softmax, the generic slips of tests/parity/planting.py) that those checks catch, and the
errors' wording. PyTorch: parity/test_attention_parity.py; Keras 3: test_keras_attention.py.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest
from parity.planting import FormulaCase, functions_defined_in, planted_formula_test

import nnlearn as nl
from nnlearn import attention, layers
from nnlearn.attention import EmbeddingLookup, ScaledDotProductAttention, causal_mask, mask_bias
from nnlearn.gradcheck import gradcheck

pytestmark = [pytest.mark.chapter16, pytest.mark.usefixtures("float64_default")]

RNG = np.random.default_rng(16)
B, N, T, S, D, DV = 2, 2, 4, 5, 3, 2  # batch, heads, queries, keys, key size, value size
Q, K, V = (
    RNG.standard_normal((B, N, T, D)),
    RNG.standard_normal((B, N, S, D)),
    RNG.standard_normal((B, N, S, DV)),
)
PADDING = RNG.random((B, 1, T, S)) > 0.3  # a mask per example (the same for every head)
PADDING[..., 0] = True  # every query may attend something
KEEP = (RNG.random((B, N, T, S)) > 0.25) / 0.75  # a dropout mask, divided by the keep probability
TOKENS = np.array([[1, 4, 4, 0], [4, 2, 1, 1]])  # repeated tokens: gradients must add up
TABLE = RNG.standard_normal((6, 3))


def attention_by_hand(q, k, v, allowed=None, keep=None):
    """softmax(Q K^T / sqrt(d) with masked scores at -inf) V, in plain numpy, row by row."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    return (weights if keep is None else weights * keep) @ v


def sdpa(allowed=None, keep=None):
    """The fused Function with Keras's 1/sqrt(d) and mask, as a function of Q, K, V."""
    bias = None if allowed is None else mask_bias(allowed, np.float64)
    return lambda q, k, v: ScaledDotProductAttention.apply(
        q, k, v, scale=1 / np.sqrt(q.shape[-1]), bias=bias, dropout=keep
    )


# Against the formula written out in numpy: as tight as float64 allows.
Case = functools.partial(FormulaCase, rtol=1e-10, atol=1e-12)


CAUSAL = causal_mask(T, S)
CASES = [
    Case("attention", sdpa(), (Q, K, V), attention_by_hand),
    Case("attention_causal", sdpa(CAUSAL), (Q, K, V), lambda *a: attention_by_hand(*a, CAUSAL)),
    Case("attention_padding", sdpa(PADDING), (Q, K, V), lambda *a: attention_by_hand(*a, PADDING)),
    Case(
        "attention_causal_dropout",
        sdpa(CAUSAL, KEEP),
        (Q, K, V),
        lambda *a: attention_by_hand(*a, CAUSAL, KEEP),
    ),
    Case(
        "embedding_lookup",
        lambda w: EmbeddingLookup.apply(w, indices=TOKENS),
        (TABLE,),
        lambda w: np.stack([[w[t] for t in row] for row in TOKENS]),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_function_value_is_the_formula_by_hand(case):
    assert case.forward_ok()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_function_backward_passes_a_numeric_gradient_check(case):
    gradcheck(case.function, *case.inputs).assert_ok()


test_a_planted_wrong_formula_is_caught = planted_formula_test(
    functions_defined_in(attention),
    lambda: not all(c.forward_ok() and c.backward_ok() for c in CASES),
)


def test_every_function_is_planted():
    assert {f.__name__ for f in functions_defined_in(attention)} == {
        "EmbeddingLookup",
        "ScaledDotProductAttention",
    }


def _forward_without_scale(original):
    """The classic slip: the scores not divided by sqrt(d)."""
    return lambda self, q, k, v, **o: original(self, q, k, v, **{**o, "scale": 1.0})


def _forward_masking_after_softmax(original):
    """The other slip: the softmax over every key, then the masked weights zeroed (the rows
    then sum to less than 1)."""

    def forward(self, q, k, v, *, scale, bias=None, dropout=None):
        original(self, q, k, v, scale=scale)
        self.p = self.kept = self.p * (bias == 0)
        return self.kept @ v

    return forward


@pytest.mark.parametrize("slip", [_forward_without_scale, _forward_masking_after_softmax])
def test_the_classic_attention_slips_are_caught(slip, monkeypatch):
    case = CASES[1]  # causal
    assert case.forward_ok()
    monkeypatch.setattr(
        ScaledDotProductAttention, "forward", slip(ScaledDotProductAttention.forward)
    )
    assert not case.forward_ok()


def test_the_causal_mask_is_lower_triangular_and_hides_the_future():
    np.testing.assert_array_equal(causal_mask(3), [[1, 0, 0], [1, 1, 0], [1, 1, 1]])
    np.testing.assert_array_equal(causal_mask(2, 3), [[1, 0, 0], [1, 1, 0]])
    # Changing the last key and value changes only the last query's output.
    k2, v2 = K.copy(), V.copy()
    k2[..., -1, :] += 1
    v2[..., -1, :] += 1
    square = sdpa(causal_mask(S))
    before = square(*(nl.Tensor(a) for a in (K, K, V))).data
    after = square(*(nl.Tensor(a) for a in (k2, k2, v2))).data
    np.testing.assert_array_equal(before[..., :-1, :], after[..., :-1, :])
    assert not np.allclose(before[..., -1, :], after[..., -1, :])


def test_the_scale_keeps_the_scores_spread_near_one_whatever_d():
    """Why 1/sqrt(d): a dot product of d unit-variance terms has variance d."""
    for d in (4, 64, 1024):
        q, k = np.random.default_rng(d).standard_normal((2, 4000, d))
        scores = (q * k).sum(axis=1)
        assert abs(scores.std() / np.sqrt(d) - 1) < 0.05


# --- Embedding -------------------------------------------------------------------------------
def test_embedding_picks_rows_and_its_gradient_adds_over_repeated_tokens():
    layer = layers.Embedding(6, 3)
    assert layers.Embedding is attention.Embedding
    out = layer(TOKENS)
    assert out.shape == (2, 4, 3) and layer.output_shape == (None, 4, 3)
    layer.set_weights([TABLE])
    out = layer(TOKENS)
    np.testing.assert_array_equal(out.data[1, 0], TABLE[4])
    upstream = RNG.standard_normal(out.shape)
    out.backward(upstream)
    expected = np.zeros_like(TABLE)
    for (i, j), token in np.ndenumerate(TOKENS):
        expected[token] += upstream[i, j]
    np.testing.assert_allclose(layer.embeddings.grad, expected, rtol=1e-14)
    assert not expected[3].any() and not expected[5].any()  # tokens never seen: zero


def test_embedding_has_keras_weights_and_default_initializer():
    layer = layers.Embedding(50, 8)
    assert layer.weights == [] and not layer.built  # built on first use, as in Keras
    layer.build((None, 3))
    assert [(n, p.shape) for n, p in layer.named_parameters()] == [("embeddings", (50, 8))]
    table = layer.get_weights()[0]
    assert np.abs(table).max() <= 0.05 and table.std() > 0.02  # Keras's U(-0.05, 0.05)


def test_embedding_accepts_whole_floats_as_fit_gives_them_and_refuses_the_rest():
    layer = layers.Embedding(6, 3)
    np.testing.assert_array_equal(layer(TOKENS.astype(float)).data, layer(TOKENS).data)
    with pytest.raises(ValueError, match="Embedding: tokens must be whole numbers"):
        layer(np.array([[1.5]]))
    with pytest.raises(IndexError, match=r"Embedding: tokens must be in 0 .. 5 .* from -1 to 2"):
        layer(np.array([[-1, 2]]))
    with pytest.raises(IndexError, match="from 0 to 6"):
        layer(nl.Tensor(np.array([[0, 6]]), dtype=np.int64))
    with pytest.raises(TypeError, match="Embedding: tokens must be integers"):
        layer(np.array([["a"]]))
    with pytest.raises(ValueError, match="positive integers"):
        layers.Embedding(0, 3)
    with pytest.raises(NotImplementedError, match="mask_zero.*attention_mask"):
        layers.Embedding(6, 3, mask_zero=True)


def test_embedding_trains_in_a_sequential_model_with_fit():
    """Next token = the same token: embedding -> dense logits learns the identity."""
    nl.seed_everything(0)
    model = nl.Sequential([layers.Embedding(5, 8, input_shape=(3,)), layers.Dense(5)])
    model.compile(
        optimizer=nl.optim.Adam(lr=0.05),
        loss=nl.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    tokens = np.random.default_rng(0).integers(0, 5, (64, 3))
    history = model.fit(tokens, tokens, epochs=30, batch_size=16, verbose=0).history
    assert history["loss"][-1] < 0.05 * history["loss"][0]


# --- MultiHeadAttention ----------------------------------------------------------------------
X = RNG.standard_normal((B, T, 6))  # queries (batch, T, E)
Z = RNG.standard_normal((B, S, 5))  # keys and values (batch, S, E_v)


def _mha(value_shape=Z.shape, **options):
    nl.seed_everything(1)
    layer = layers.MultiHeadAttention(num_heads=N, key_dim=D, **options)
    layer.build(X.shape, value_shape)
    for p in layer.weights:  # biases not zero, so a forward that forgot one is caught
        p.data[...] = RNG.uniform(-1, 1, p.shape)
    return layer


def mha_by_hand(layer, query, value, allowed=None):
    """Keras's formula written out: per-head projections, attention, the output map."""
    w = {name: p.data for name, p in layer.named_parameters()}
    heads = []
    for h in range(layer.num_heads):
        q = query @ w["query_kernel"][:, h] + w["query_bias"][h]
        k = value @ w["key_kernel"][:, h] + w["key_bias"][h]
        v = value @ w["value_kernel"][:, h] + w["value_bias"][h]
        heads.append(attention_by_hand(q, k, v, allowed) @ w["output_kernel"][h])
    return sum(heads) + w["output_bias"]


def test_mha_weights_have_keras_names_order_and_layout():
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4, output_shape=7)
    layer.build((None, T, 6), (None, S, 5), (None, S, 8))
    shapes = [(n, p.shape) for n, p in layer.named_parameters()]
    assert shapes == [
        ("query_kernel", (6, 2, 3)),
        ("query_bias", (2, 3)),
        ("key_kernel", (8, 2, 3)),
        ("key_bias", (2, 3)),
        ("value_kernel", (5, 2, 4)),
        ("value_bias", (2, 4)),
        ("output_kernel", (2, 4, 7)),
        ("output_bias", (7,)),
    ]
    assert layer.output_shape == (None, T, 7)
    no_bias = layers.MultiHeadAttention(2, 3, use_bias=False)
    no_bias.build((None, T, 6), (None, S, 5))
    assert [n for n, _ in no_bias.named_parameters()] == [
        "query_kernel",
        "key_kernel",
        "value_kernel",
        "output_kernel",
    ]


@pytest.mark.parametrize("masked", ["none", "causal", "padding"])
def test_mha_is_keras_formula_by_hand(masked):
    layer = _mha()
    mask = {"none": None, "causal": causal_mask(T, S), "padding": PADDING[:, 0]}[masked]
    options = {"use_causal_mask": True} if masked == "causal" else {"attention_mask": mask}
    got = layer(X, Z, **options).data
    np.testing.assert_allclose(got, mha_by_hand(layer, X, Z, mask), rtol=1e-10, atol=1e-12)


def test_mha_key_defaults_to_value_and_causal_combines_with_the_mask():
    layer = _mha()
    np.testing.assert_array_equal(layer(X, Z).data, layer(X, Z, Z).data)
    both = PADDING[:, 0] & causal_mask(T, S)
    got = layer(X, Z, attention_mask=PADDING[:, 0], use_causal_mask=True).data
    np.testing.assert_allclose(got, mha_by_hand(layer, X, Z, both), rtol=1e-10, atol=1e-12)


def test_mha_gradients_pass_a_numeric_gradient_check():
    layer = _mha()
    gradcheck(lambda q, v: layer(q, v, use_causal_mask=True), X, Z).assert_ok()
    self_attention = _mha(X.shape, output_shape=(4,))
    gradcheck(lambda x: self_attention(x, x, attention_mask=PADDING[:, 0, :, :T]), X).assert_ok()


def test_mha_attention_scores_are_the_weights_and_differentiable():
    layer = _mha()
    out, weights = layer(X, Z, use_causal_mask=True, return_attention_scores=True)
    assert weights.shape == (B, N, T, S)
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0, rtol=1e-12)
    assert not (weights.data * ~causal_mask(T, S)).any()  # exactly 0 in the future
    np.testing.assert_allclose(out.data, layer(X, Z, use_causal_mask=True).data, rtol=1e-12)
    gradcheck(lambda q: layer(q, Z, return_attention_scores=True)[1], X).assert_ok()


def test_mha_dropout_drops_weights_only_while_training_with_its_seed():
    rate = 0.4
    layer = _mha(dropout=rate, seed=3)
    np.testing.assert_array_equal(layer(X, Z).data, layer(X, Z, training=False).data)
    got = layer(X, Z, training=True).data
    keep = np.random.default_rng(3).random((B, N, T, S)) >= rate  # the layer's documented draw
    w = {name: p.data for name, p in layer.named_parameters()}
    expected = w["output_bias"]
    for h in range(N):
        q = X @ w["query_kernel"][:, h] + w["query_bias"][h]
        k = Z @ w["key_kernel"][:, h] + w["key_bias"][h]
        v = Z @ w["value_kernel"][:, h] + w["value_bias"][h]
        dropped = attention_by_hand(q, k, v, keep=keep[:, h] / (1 - rate))
        expected = expected + dropped @ w["output_kernel"][h]
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    _, weights = layer(X, Z, training=True, return_attention_scores=True)
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0)  # scores: before the dropout


def test_mha_errors_name_the_layer_and_both_shapes():
    layer = _mha()
    with pytest.raises(
        ValueError,
        match=r"MultiHeadAttention: query must have shape \(batch, time, 6\).*\(2, 4, 7\)",
    ):
        layer(np.ones((B, T, 7)), Z)
    with pytest.raises(ValueError, match=r"key \(2, 3, 5\) and value \(2, 5, 5\)"):
        layer(X, Z, Z[:, :3])
    with pytest.raises(
        ValueError, match=r"attention_mask must have shape \(batch, T, S\) = \(2, 4, 5\).*\(4, 4\)"
    ):
        layer(X, Z, attention_mask=np.ones((T, T), bool))
    with pytest.raises(
        TypeError,
        match="MultiHeadAttention: the inputs are float32 but the layer's weights are float64",
    ):
        layer(X.astype(np.float32), Z.astype(np.float32))
    with pytest.raises(
        ValueError, match=r"query must be \(batch, time, features\): \(2, 3, 4, 5\)"
    ):
        layers.MultiHeadAttention(2, 3)(np.ones((2, 3, 4, 5)), np.ones((2, 3, 4, 5)))
    with pytest.raises(ValueError, match="num_heads must be a positive integer"):
        layers.MultiHeadAttention(0, 3)
    with pytest.raises(ValueError, match="dropout must be in"):
        layers.MultiHeadAttention(2, 3, dropout=1.0)
    with pytest.raises(ValueError, match="output_shape must be 1 size"):
        layers.MultiHeadAttention(2, 3, output_shape=(4, 5))


# --- get_config --------------------------------------------------------------------------------
CONFIGURED = [
    layers.Embedding(7, 3, embeddings_initializer="glorot_uniform", dtype="float32"),
    layers.Embedding(7, 3),
    layers.MultiHeadAttention(
        4, 8, value_dim=2, dropout=0.1, use_bias=False, output_shape=5, seed=2
    ),
    layers.MultiHeadAttention(2, 3, kernel_initializer="he_normal"),
]


@pytest.mark.parametrize("layer", CONFIGURED, ids=repr)
def test_get_config_rebuilds_an_equivalent_layer_and_is_json(layer):
    config = layer.get_config()
    assert json.loads(json.dumps(config)) == config
    rebuilt = type(layer)(**config)
    assert rebuilt.get_config() == config and not rebuilt.built


def test_get_config_refuses_an_initializer_of_ones_own():
    with pytest.raises(ValueError, match="embeddings_initializer"):
        layers.Embedding(3, 2, embeddings_initializer=lambda *a: 0).get_config()
