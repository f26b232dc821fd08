"""Attention and transformers for text (chapter 16): Embedding, MultiHeadAttention.

Keras 3's names with Keras 3's meaning, checked against Keras itself and, through their torch
twins (:mod:`nnlearn.parity.attention_twins`), against ``torch.nn.Embedding``,
``torch.nn.MultiheadAttention`` and ``torch.nn.functional.scaled_dot_product_attention``.
Each layer is also ``nnlearn.layers.<Name>``, as in Keras.

``Embedding`` turns integer tokens into learned vectors; ``MultiHeadAttention``, called
Keras's way, ``mha(query, value)``, runs several attentions side by side and joins them.

Scaled dot-product attention, for queries Q (T, d), keys K (S, d) and values V (S, dv):

.. math::

    \\mathrm{Attention}(Q, K, V) = \\mathrm{softmax}\\Big(\\frac{Q K^\\top}{\\sqrt{d}} + M\\Big) V

Row ``i`` of the softmax (T, S) says how much query ``i`` takes from each value. The mask
``M`` is 0 where query ``i`` may look at key ``j`` and -1e9 where not (Keras's rule: the score
sinks so low that its weight is exactly 0); the causal mask forbids ``j > i``, the future.
Dividing by ``sqrt(d)`` keeps the scores' spread near 1 whatever ``d``, so the softmax does
not saturate. The formulas live in two fused Functions, forward and backward side by side:
:class:`EmbeddingLookup` and :class:`ScaledDotProductAttention`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nnlearn import initializers
from nnlearn.activations import softmax, softmax_values
from nnlearn.layers import Affine, saved_name
from nnlearn.module import Layer, Parameter, Shape
from nnlearn.regularization import InvertedDropout
from nnlearn.seeding import rng
from nnlearn.tensor import Function, Tensor

__all__ = ["Embedding", "EmbeddingLookup", "MultiHeadAttention", "ScaledDotProductAttention"]
__all__ += ["causal_mask", "mask_bias"]

MASKED = -1e9  # added to a masked score: Keras's "large negative number" (float32 and float64)
ALIASES = {"uniform": "random_uniform", "normal": "random_normal"}  # Keras's short names


class EmbeddingLookup(Function):
    """``y = W[indices]``: each integer picks its row of the table ``W``.

    Shapes: ``W`` (input_dim, output_dim); ``indices`` (an option) integers of any shape, e.g.
    (batch, time); ``y`` (*indices.shape, output_dim).
    """

    def forward(self, embeddings: np.ndarray, *, indices: np.ndarray) -> np.ndarray:
        self.indices, self.table_shape = indices, embeddings.shape
        return embeddings[indices]

    def backward(self, g: np.ndarray) -> np.ndarray:
        """A row's gradient sums ``g`` over every position that picked it, 0 for rows nobody
        picked (a scatter-add): ``dL/dW[r] = sum_{p : indices[p] = r} g[p]``."""
        grad = np.zeros(self.table_shape, dtype=g.dtype)
        np.add.at(grad, self.indices.reshape(-1), g.reshape(-1, self.table_shape[1]))
        return grad


class ScaledDotProductAttention(Function):
    """``O = (P * D) V`` with ``P = softmax(scale * Q K^T + bias)`` over the keys.

    Shapes: ``Q`` (..., T, d), ``K`` (..., S, d), ``V`` (..., S, dv) -> ``O`` (..., T, dv).
    Options: ``scale`` (Keras and torch: ``1 / sqrt(d)``); ``bias`` broadcastable to
    (..., T, S): 0 where allowed, -1e9 where masked; ``dropout`` (..., T, S), while training,
    the dropout mask already divided by the keep probability (``1 / (1 - rate)`` or 0).
    """

    def forward(self, q, k, v, *, scale: float, bias=None, dropout=None) -> np.ndarray:
        scale = float(scale)  # a Python number keeps float32 float32 (numpy's float64 would not)
        scores = (q @ np.swapaxes(k, -1, -2)) * scale
        if bias is not None:
            scores += bias
        self.q, self.k, self.v, self.scale, self.dropout = q, k, v, scale, dropout
        self.p = softmax_values(scores, -1)  # (..., T, S), each row sums to 1
        self.kept = self.p if dropout is None else self.p * dropout
        return self.kept @ v

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        """With ``g = dL/dO`` (..., T, dv), and ``S`` the scaled, masked scores:

        * ``dV = (P * D)^T g`` (..., S, dv);
        * ``dP = (g V^T) * D`` (..., T, S), then through the softmax, row by row,
          ``dS = P * (dP - rowsum(dP * P))`` (a masked score has ``P = 0``: no gradient);
        * ``dQ = scale dS K`` (..., T, d) and ``dK = scale dS^T Q`` (..., S, d).

        A gradient nobody needs is skipped (None).
        """
        q_, k_, v_ = (p.requires_grad for p in self.parents)
        dp = g @ np.swapaxes(self.v, -1, -2)
        if self.dropout is not None:
            dp *= self.dropout
        ds = self.p * (dp - (dp * self.p).sum(axis=-1, keepdims=True))
        grad_q = (ds @ self.k) * self.scale if q_ else None
        grad_k = (np.swapaxes(ds, -1, -2) @ self.q) * self.scale if k_ else None
        grad_v = np.swapaxes(self.kept, -1, -2) @ g if v_ else None
        return grad_q, grad_k, grad_v


def causal_mask(query_length: int, key_length: int | None = None) -> np.ndarray:
    """(T, S) booleans, True where query ``i`` may attend key ``j``: ``j <= i``, the past and
    itself (aligned at the top left, as Keras's ``use_causal_mask`` and torch's ``is_causal``)."""
    return np.tri(query_length, key_length or query_length, dtype=bool)


def mask_bias(mask: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Keras's additive form of a boolean mask: 0 where True, -1e9 where False."""
    return np.where(mask, 0.0, MASKED).astype(dtype)


def _initializer(identifier: str | Callable) -> Callable:
    """An initializer by Keras's name (its ``"uniform"`` too) or a function."""
    if isinstance(identifier, str):
        identifier = ALIASES.get(identifier.lower(), identifier)
    return initializers.get(identifier)


def _is_count(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > 0


# --- Embedding -------------------------------------------------------------------------------
class Embedding(Layer):
    """Keras's ``Embedding``: each integer token ``t`` becomes row ``t`` of ``embeddings``.

    Args:
        input_dim: the vocabulary's size; tokens are 0 .. input_dim - 1.
        output_dim: the length of each token's vector.
        embeddings_initializer: Keras's default ``"uniform"``, U(-0.05, 0.05) (torch's
            ``nn.Embedding`` draws N(0, 1)).
        mask_zero: must be False: nnlearn has no Keras masks travelling with tensors; give
            ``MultiHeadAttention`` an ``attention_mask`` instead.
        input_shape, dtype: as for every layer (``dtype`` is the table's).

    Shapes: integer tokens (batch, ...) (whole-number floats too, as ``fit`` passes them) ->
    (batch, ..., output_dim). Weights: ``[embeddings (input_dim, output_dim)]``, whose gradient
    is a scatter-add (:class:`EmbeddingLookup`).
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: str | Callable = "uniform",
        mask_zero: bool = False,
        input_shape: Sequence[int] | None = None,
        dtype: Any = None,
    ) -> None:
        if not (_is_count(input_dim) and _is_count(output_dim)):
            raise ValueError(
                f"Embedding: sizes must be positive integers: {input_dim}, {output_dim}"
            )
        if mask_zero:
            raise NotImplementedError(
                "Embedding(mask_zero=True): nnlearn has no Keras masks travelling with tensors; "
                "give MultiHeadAttention the padding as its attention_mask instead"
            )
        self.input_dim, self.output_dim, self.mask_zero = int(input_dim), int(output_dim), False
        self.embeddings_initializer = _initializer(embeddings_initializer)
        self.embeddings: Parameter | None = None
        super().__init__(input_shape, dtype)

    def build(self, input_shape: Shape) -> None:
        """Create ``embeddings`` (input_dim, output_dim), whatever the input's shape."""
        if self.embeddings is None:
            shape = (self.input_dim, self.output_dim)
            self.embeddings = self.add_weight(shape, self.embeddings_initializer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def _prepare(self, x: Any) -> Tensor:
        """The tokens as an int64 Tensor, once checked to be tokens of the vocabulary."""
        tokens = np.asarray(x.data if isinstance(x, Tensor) else x)
        if tokens.dtype.kind == "f" and not np.array_equal(tokens, np.round(tokens)):
            raise ValueError(f"{self.label}: tokens must be whole numbers, not fractions")
        if tokens.dtype.kind not in "iuf":
            raise TypeError(f"{self.label}: tokens must be integers, got {tokens.dtype}")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= self.input_dim):
            raise IndexError(
                f"{self.label}: tokens must be in 0 .. {self.input_dim - 1} (input_dim "
                f"{self.input_dim}), got values from {tokens.min()} to {tokens.max()}"
            )
        if not self.built:
            self.build(tokens.shape)
        return Tensor(tokens.astype(np.int64), dtype=np.int64)

    def forward(self, tokens: Tensor) -> Tensor:
        return EmbeddingLookup.apply(self.embeddings, indices=tokens.data)

    def get_config(self) -> dict[str, Any]:
        """Keras's keys (those nnlearn has): the initializer by name, the dtype's name."""
        return {
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": saved_name(self, "embeddings_initializer", _initializer),
            "mask_zero": self.mask_zero,
            "dtype": self.dtype.name,
        }

    def __repr__(self) -> str:
        return f"Embedding({self.input_dim}, {self.output_dim})"


# --- MultiHeadAttention ----------------------------------------------------------------------
class MultiHeadAttention(Layer):
    """Keras's ``MultiHeadAttention``: ``num_heads`` attentions side by side, then one map.

    Queries come from ``query`` (batch, T, E_q), keys and values from ``key``, ``value``
    (batch, S, E_k / E_v); each head ``h`` projects them and attends; one map joins the heads:

    .. math::

        Q_h = x_q W^Q_h + b^Q_h, \\; K_h = x_k W^K_h + b^K_h, \\; V_h = x_v W^V_h + b^V_h,
        \\qquad y = \\sum_h \\mathrm{Attention}(Q_h, K_h, V_h)\\, W^O_h + b^O

    Args:
        num_heads: the number of heads N.
        key_dim: the size d of each head's queries and keys (the scores are divided by sqrt(d)).
        value_dim: the size dv of each head's values (default: key_dim).
        dropout: the rate at which attention weights are dropped while training.
        use_bias: whether the four projections add biases.
        output_shape: the output's last size E_out, an int or a 1-tuple (default E_q).
        kernel_initializer, bias_initializer: Keras's defaults, glorot_uniform and zeros; a
            kernel is drawn as the Dense kernel it acts as, (E, N d) or (N dv, E) (Keras's fans).
        seed: the dropout masks' own seed (else nnlearn's generator).
        dtype: the weights' dtype.

    Weights, Keras's order and layout: ``query_kernel`` (E_q, N, d), ``query_bias`` (N, d),
    ``key_kernel`` (E_k, N, d), ``key_bias`` (N, d), ``value_kernel`` (E_v, N, dv),
    ``value_bias`` (N, dv), ``output_kernel`` (N, dv, E_out), ``output_bias`` (E_out,).

    Call: Keras's, as :meth:`forward` lists it. ``attention_mask``: booleans (batch, T, S) or
    (T, S), True where query ``i`` may attend key ``j``. Returns (batch, T, E_out), and with
    ``return_attention_scores`` the weights (batch, N, T, S). Inputs have one time axis: Keras's
    ``attention_axes`` are not supported.
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: int | None = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: int | Sequence[int] | None = None,
        kernel_initializer: str | Callable = "glorot_uniform",
        bias_initializer: str | Callable = "zeros",
        seed: int | None = None,
        dtype: Any = None,
    ) -> None:
        value_dim = key_dim if value_dim is None else value_dim
        sizes = {"num_heads": num_heads, "key_dim": key_dim, "value_dim": value_dim}
        for name, size in sizes.items():
            if not _is_count(size):
                raise ValueError(f"MultiHeadAttention: {name} must be a positive integer: {size!r}")
        if not isinstance(dropout, (int, float, np.number)) or not 0 <= dropout < 1:
            raise ValueError(f"MultiHeadAttention: dropout must be in [0, 1), got {dropout!r}")
        if output_shape is not None:
            output_shape = (output_shape,) if _is_count(output_shape) else tuple(output_shape)
            if len(output_shape) != 1 or not _is_count(output_shape[0]):
                raise ValueError(f"MultiHeadAttention: output_shape must be 1 size: {output_shape}")
        self.num_heads, self.key_dim, self.value_dim = int(num_heads), int(key_dim), int(value_dim)
        self.dropout, self.use_bias, self.seed = float(dropout), bool(use_bias), seed
        self.projection_shape = output_shape  # Keras's output_shape (a Layer's is its own)
        self.kernel_initializer = _initializer(kernel_initializer)
        self.bias_initializer = _initializer(bias_initializer)
        self._generator = None if seed is None else np.random.default_rng(seed)
        # Keras's weight order, which parameters() follows (assigned left to right).
        self.query_kernel = self.query_bias = self.key_kernel = self.key_bias = None
        self.value_kernel = self.value_bias = self.output_kernel = self.output_bias = None
        super().__init__(None, dtype)

    def build(self, query_shape: Shape, value_shape: Shape, key_shape: Shape | None = None):
        """Create the weights from the inputs' feature sizes (Keras's ``build``)."""
        key_shape = value_shape if key_shape is None else key_shape
        for name, shape in (("query", query_shape), ("value", value_shape), ("key", key_shape)):
            if len(shape) != 3:  # Keras's attention over several axes (attention_axes): no
                raise ValueError(f"{self.label}: {name} must be (batch, time, features): {shape}")
        heads, d, dv = self.num_heads, self.key_dim, self.value_dim
        out = self.projection_shape[0] if self.projection_shape else query_shape[-1]
        bias = self.bias_initializer
        made = []
        for size, width in ((query_shape[-1], d), (key_shape[-1], d), (value_shape[-1], dv)):
            made += [self._kernel((size, heads * width), (size, heads, width))]
            made += [self.add_weight((heads, width), bias) if self.use_bias else None]
        self.query_kernel, self.query_bias, self.key_kernel, self.key_bias = made[:4]
        self.value_kernel, self.value_bias = made[4:]
        self.output_kernel = self._kernel((heads * dv, out), (heads, dv, out))
        self.output_bias = self.add_weight((out,), bias) if self.use_bias else None
        super().build(query_shape)

    def _kernel(self, flat: tuple[int, int], shape: tuple[int, ...]) -> Parameter:
        """A kernel drawn as the (in, out) Dense kernel it acts as, then given its head axis:
        Keras 3 computes an EinsumDense kernel's fans from its input and output axes."""
        kernel = self.add_weight(flat, self.kernel_initializer)
        kernel.data = kernel.data.reshape(shape)
        return kernel

    def compute_output_shape(self, query_shape: Shape) -> Shape:
        return (*query_shape[:-1], self.output_kernel.shape[-1])

    def __call__(self, query: Any, value: Any, key: Any = None, **options: Any) -> Any:
        """Keras's call: the inputs as Tensors of the layer's dtype, built and checked, then
        :meth:`forward` with the ``options`` it names."""
        query, value = self._tensor(query), self._tensor(value)
        key = value if key is None else self._tensor(key)
        if not self.built:
            self.build(query.shape, value.shape, key.shape)
        self._check(query, value, key)
        return self.forward(query, value, key, **options)

    def forward(
        self,
        query: Tensor,
        value: Tensor,
        key: Tensor | None = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: bool | None = None,
        use_causal_mask: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Project each input into heads (batch, N, time, size), attend, join the heads."""
        key = value if key is None else key
        q = self._heads(query, self.query_kernel, self.query_bias)
        k = self._heads(key, self.key_kernel, self.key_bias)
        v = self._heads(value, self.value_kernel, self.value_bias)
        bias = self._bias(attention_mask, use_causal_mask, q.shape[0], q.shape[2], k.shape[2])
        scale, rate, keep = 1.0 / float(np.sqrt(self.key_dim)), self.dropout, None
        if training and rate:
            draw = self._generator if self._generator is not None else rng()
            keep = (draw.random(q.shape[:3] + k.shape[2:3]) >= rate).astype(self.dtype)
        if return_attention_scores:
            # The weights are an output of their own, differentiable as in Keras: the same
            # formula in the engine's operations (the tests check it against the fused one).
            scores = q @ k.transpose(-1, -2) * scale
            weights = softmax(scores if bias is None else scores + bias)
            kept = weights if keep is None else InvertedDropout.apply(weights, mask=keep, rate=rate)
            return self._join(kept @ v), weights
        dropout = None if keep is None else keep / (1 - rate)
        heads = ScaledDotProductAttention.apply(q, k, v, scale=scale, bias=bias, dropout=dropout)
        return self._join(heads)

    def _heads(self, x: Tensor, kernel: Parameter, bias: Parameter | None) -> Tensor:
        """x (batch, time, E) @ kernel (E, N, size) + bias (N, size) -> (batch, N, time, size)."""
        features, heads, size = kernel.shape
        flat = [kernel.reshape(features, heads * size)]
        flat += [] if bias is None else [bias.reshape(heads * size)]
        batch, time = x.shape[:2]
        return Affine.apply(x, *flat).reshape(batch, time, heads, size).permute(0, 2, 1, 3)

    def _join(self, heads: Tensor) -> Tensor:
        """(batch, N, T, dv) -> (batch, T, N dv) @ output_kernel (N dv, E_out) + output_bias."""
        batch, count, time, size = heads.shape
        joined = heads.permute(0, 2, 1, 3).reshape(batch, time, count * size)
        flat = [self.output_kernel.reshape(count * size, -1)]
        flat += [] if self.output_bias is None else [self.output_bias]
        return Affine.apply(joined, *flat)

    def _bias(self, attention_mask: Any, causal: bool, batch: int, t: int, s: int):
        """Keras's mask and/or the causal one as 0 / -1e9 to add to the scores (batch, N, T, S)."""
        mask = None
        if attention_mask is not None:
            mask = np.asarray(getattr(attention_mask, "data", attention_mask)).astype(bool)
            sizes = zip(mask.shape[::-1], (s, t, batch), strict=False)
            if mask.ndim not in (2, 3) or any(m not in (1, n) for m, n in sizes):
                raise ValueError(
                    f"{self.label}: attention_mask must have shape (batch, T, S) = "
                    f"{(batch, t, s)} or broadcast to it, got {mask.shape}"
                )
        if causal:
            mask = causal_mask(t, s) if mask is None else mask & causal_mask(t, s)
        if mask is None:
            return None
        return mask_bias(mask[:, None] if mask.ndim == 3 else mask, self.dtype)  # the same per head

    def _tensor(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x, dtype=self.dtype)
        if x.dtype != self.dtype:
            raise TypeError(
                f"{self.label}: the inputs are {x.dtype} but the layer's weights are {self.dtype};"
                f" convert them with .astype({self.dtype.name!r}), or give the layer that dtype"
            )
        return x

    def _check(self, query: Tensor, value: Tensor, key: Tensor) -> None:
        """Ranks, feature sizes and lengths, against the weights and each other."""
        pairs = (("query", query, self.query_kernel), ("value", value, self.value_kernel))
        for name, x, kernel in (*pairs, ("key", key, self.key_kernel)):
            if x.ndim != 3 or x.shape[-1] != kernel.shape[0]:
                raise ValueError(
                    f"{self.label}: {name} must have shape (batch, time, "
                    f"{kernel.shape[0]}), as the layer was built, got {x.shape}"
                )
        if key.shape[:2] != value.shape[:2] or query.shape[0] != value.shape[0]:
            raise ValueError(
                f"{self.label}: key {key.shape} and value {value.shape} need one "
                f"batch and length, and query {query.shape} that batch"
            )

    def get_config(self) -> dict[str, Any]:
        """Keras's keys (those nnlearn has), initializers by name, the dtype's name."""
        names = ("num_heads", "key_dim", "value_dim", "dropout", "use_bias", "seed")
        config = {name: getattr(self, name) for name in names}
        shape = self.projection_shape
        config["output_shape"] = None if shape is None else list(shape)
        for name in ("kernel_initializer", "bias_initializer"):
            config[name] = saved_name(self, name, _initializer)
        return config | {"dtype": self.dtype.name}

    def __repr__(self) -> str:
        return f"MultiHeadAttention(num_heads={self.num_heads}, key_dim={self.key_dim})"
