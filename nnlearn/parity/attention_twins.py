"""The torch twins of chapter 16's layers: ``Embedding`` and ``MultiHeadAttention``.

Registered with :func:`~nnlearn.parity.twins.register_twin` when this module is imported.

==========================================  ===============================================
nnlearn (Keras)                             torch
==========================================  ===============================================
``Embedding(input_dim, output_dim)``        ``nn.Embedding(input_dim, output_dim)``,
                                            ``weight = embeddings`` (same layout)
``MultiHeadAttention(num_heads, key_dim)``  ``nn.MultiheadAttention(embed_dim, num_heads,
on query (batch, T, E)                      batch_first=True, kdim, vdim)``, inside
                                            :class:`KerasMultiHeadAttention`
==========================================  ===============================================

**Keras's kernels and torch's packed matrix.** Keras keeps one kernel per projection, laid out
by head: ``query_kernel`` (E, N, d). torch keeps the three input projections in one matrix,
``in_proj_weight`` (3 E, E): rows ``0 .. E`` the query's, then the key's, then the value's,
each block ``W^T`` with head ``h`` in rows ``h d .. (h + 1) d``; ``in_proj_bias`` (3 E,)
likewise. So ``in_proj_weight[:E] = query_kernel.reshape(E, N d).T``. Three nnlearn weights
cannot share one torch parameter in a twin's slots, so the twin holds each block as a
parameter of its own, laid out per head (``query_weight`` (N, d, E), exactly torch's block
split by head), and packs them into ``in_proj_weight`` on every call: torch's own
``nn.MultiheadAttention`` then runs with that matrix (``torch.func.functional_call``), so the
computation is torch's, and gradients flow back through the packing to the blocks. The output
map: ``out_proj.weight`` (E, N dv) is ``output_kernel.reshape(N dv, E).T``, held per head as
``output_weight`` (E, N, dv). When the key's or value's features differ from E, torch keeps
``q_proj_weight``, ``k_proj_weight``, ``v_proj_weight`` apart instead (its ``kdim``/``vdim``
case); the twin passes those.

torch's module is narrower than Keras's layer: ``num_heads * key_dim`` must equal the query's
features E (torch's ``embed_dim``), ``value_dim`` must equal ``key_dim`` and the output must
have E features. The twin refuses other layers with an error that says so.

**Masks.** Keras's mask is True where a query *may* attend; torch's ``attn_mask`` is True where
it may *not*: the twin passes ``~mask`` (one per head: (batch N, T, S)). A query that may attend
nothing differs between the two: Keras (and nnlearn) add -1e9 to every one of its scores, not
-inf, and so still average the values; torch gives NaN. The twin refuses such masks.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from nnlearn import attention
from nnlearn.parity.twins import Slot, register_twin, torch_twin

if TYPE_CHECKING:
    import torch


def _per_head(kernel: np.ndarray) -> np.ndarray:
    """Keras's kernel (E, N, d) -> torch's block (N d, E) split by head: (N, d, E)."""
    return kernel.transpose(1, 2, 0)


def _from_per_head(weight: np.ndarray) -> np.ndarray:
    """(N, d, E) -> Keras's (E, N, d)."""
    return weight.transpose(2, 0, 1)


def _output_per_head(kernel: np.ndarray) -> np.ndarray:
    """Keras's ``output_kernel`` (N, dv, E) -> ``out_proj.weight`` (E, N dv) split: (E, N, dv)."""
    return kernel.transpose(2, 0, 1)


def _output_from_per_head(weight: np.ndarray) -> np.ndarray:
    """(E, N, dv) -> Keras's (N, dv, E)."""
    return weight.transpose(1, 2, 0)


# nnlearn's MultiHeadAttention parameters -> the twin's (exported: a module holding the layer
# as ``attention`` can register its own twin with these slots, prefixed).
MULTI_HEAD_ATTENTION_SLOTS = {
    "query_kernel": Slot("query_weight", _per_head, _from_per_head),
    "query_bias": Slot("query_bias"),
    "key_kernel": Slot("key_weight", _per_head, _from_per_head),
    "key_bias": Slot("key_bias"),
    "value_kernel": Slot("value_weight", _per_head, _from_per_head),
    "value_bias": Slot("value_bias"),
    "output_kernel": Slot("output_weight", _output_per_head, _output_from_per_head),
    "output_bias": Slot("attention.out_proj.bias"),
}


@register_twin(attention.Embedding, embeddings=Slot("weight"))
def _embedding(layer: attention.Embedding) -> torch.nn.Module:
    """``nn.Embedding(input_dim, output_dim)``: its ``weight`` is Keras's ``embeddings``. It
    takes int64 tokens (``torch.long``)."""
    import torch

    return torch.nn.Embedding(layer.input_dim, layer.output_dim)


def torch_mask(mask: Any, use_causal_mask: bool, batch: int, heads: int, t: int, s: int):
    """Keras's ``attention_mask`` (True: may attend; (batch, T, S) or (T, S)) and causal flag
    as ``nn.MultiheadAttention``'s boolean ``attn_mask`` (True: may *not*): (T, S), or
    (batch heads, T, S) for a mask per example; None for neither."""
    allowed = None if mask is None else np.asarray(getattr(mask, "data", mask)).astype(bool)
    if use_causal_mask:
        causal = attention.causal_mask(t, s)
        allowed = causal if allowed is None else allowed & causal
    if allowed is None:
        return None
    if not allowed.any(axis=-1).all():
        raise ValueError(
            "the torch twin of MultiHeadAttention: a query may attend no key (a row of the mask "
            "is all False); torch gives NaN there, Keras still averages the values"
        )
    if allowed.ndim == 3:
        allowed = np.repeat(np.broadcast_to(allowed, (batch, t, s)), heads, axis=0)
    import torch

    return torch.as_tensor(~allowed)


@functools.cache
def _twin_class() -> type:
    """The twin's class, made once, when torch is first needed."""
    import torch

    class KerasMultiHeadAttention(torch.nn.Module):
        """``nn.MultiheadAttention`` called Keras's way, with Keras's projections per head.

        Parameters: ``query_weight`` (N, d, E), ``key_weight`` (N, d, E_k), ``value_weight``
        (N, d, E_v), their biases (N, d), ``output_weight`` (E, N, d), and
        ``attention.out_proj.bias`` (E,). ``attention`` is torch's own module, its input
        projections left empty: each call packs them (module docstring).
        """

        def __init__(self, embed_dim: int, num_heads: int, kdim: int, vdim: int, bias: bool):
            super().__init__()
            head = embed_dim // num_heads
            self.attention = torch.nn.MultiheadAttention(
                embed_dim, num_heads, bias=bias, batch_first=True, kdim=kdim, vdim=vdim
            )
            for name in ("in_proj_weight", "in_proj_bias", "q_proj_weight", "k_proj_weight"):
                setattr(self.attention, name, None)  # packed from the blocks at each call
            self.attention.v_proj_weight = self.attention.out_proj.weight = None
            for name, features in (("query", embed_dim), ("key", kdim), ("value", vdim)):
                self.register_parameter(
                    f"{name}_weight", torch.nn.Parameter(torch.empty(num_heads, head, features))
                )
                bias_ = torch.nn.Parameter(torch.empty(num_heads, head)) if bias else None
                self.register_parameter(f"{name}_bias", bias_)
            shape = (embed_dim, num_heads, head)
            self.output_weight = torch.nn.Parameter(torch.empty(shape))

        def packed(self) -> dict[str, torch.Tensor]:
            """torch's names for the projections, made from the per-head blocks."""
            blocks = [self.query_weight, self.key_weight, self.value_weight]
            flat = [w.reshape(-1, w.shape[-1]) for w in blocks]  # (E, features) each
            if self.attention._qkv_same_embed_dim:
                weights = {"in_proj_weight": torch.cat(flat)}
            else:
                weights = dict(
                    zip(("q_proj_weight", "k_proj_weight", "v_proj_weight"), flat, strict=True)
                )
            weights["out_proj.weight"] = self.output_weight.reshape(self.output_weight.shape[0], -1)
            if self.query_bias is not None:
                biases = [self.query_bias, self.key_bias, self.value_bias]
                weights["in_proj_bias"] = torch.cat([b.reshape(-1) for b in biases])
            return weights

        def forward(
            self,
            query: torch.Tensor,
            value: torch.Tensor,
            key: torch.Tensor | None = None,
            attention_mask: Any = None,
            return_attention_scores: bool = False,
            use_causal_mask: bool = False,
        ) -> Any:
            """Keras's call on torch's module: (batch, T, E) out, and with
            ``return_attention_scores`` the weights of every head (batch, N, T, S)."""
            key = value if key is None else key
            heads = self.attention.num_heads
            shape = (query.shape[0], heads, query.shape[1], key.shape[1])
            mask = torch_mask(attention_mask, use_causal_mask, *shape)
            mask = None if mask is None else mask.to(query.device)
            options = {"attn_mask": mask, "need_weights": return_attention_scores}
            options["average_attn_weights"] = False
            out, weights = torch.func.functional_call(
                self.attention, self.packed(), (query, key, value), options
            )
            return (out, weights) if return_attention_scores else out

    return KerasMultiHeadAttention


@register_twin(attention.MultiHeadAttention, **MULTI_HEAD_ATTENTION_SLOTS)
def _multi_head_attention(layer: attention.MultiHeadAttention) -> torch.nn.Module:
    """:class:`KerasMultiHeadAttention` around ``nn.MultiheadAttention(E, num_heads,
    batch_first=True, kdim, vdim)``, for a layer torch's module can express."""
    embed_dim = layer.query_kernel.shape[0]
    heads, d, dv = layer.num_heads, layer.key_dim, layer.value_dim
    out = layer.output_kernel.shape[-1]
    if heads * d != embed_dim or dv != d or out != embed_dim:
        raise ValueError(
            f"torch_twin: {layer!r} on {embed_dim} features has num_heads * key_dim = "
            f"{heads * d}, value_dim {dv} and {out} outputs; torch's nn.MultiheadAttention "
            f"needs num_heads * key_dim == value_dim * num_heads == the query's features "
            f"({embed_dim}) == the outputs"
        )
    kdim, vdim = layer.key_kernel.shape[0], layer.value_kernel.shape[0]
    return _twin_class()(embed_dim, heads, kdim, vdim, layer.use_bias)


def multihead_attention(
    layer: attention.MultiHeadAttention, device: str = "cpu", dtype: Any = None
) -> torch.nn.MultiheadAttention:
    """A plain ``nn.MultiheadAttention(E, num_heads, batch_first=True, kdim, vdim)`` holding
    the layer's weights, packed once: ``in_proj_weight`` (3 E, E) (or ``q/k/v_proj_weight``),
    ``in_proj_bias``, ``out_proj``. For code that wants torch's module itself; call it torch's
    way, ``module(query, key, value, attn_mask=~mask)``."""
    import torch

    twin = torch_twin(layer, device, dtype)
    inner = twin.attention
    plain = torch.nn.MultiheadAttention(
        inner.embed_dim,
        inner.num_heads,
        bias=layer.use_bias,
        batch_first=True,
        kdim=inner.kdim,
        vdim=inner.vdim,
    ).to(device=device, dtype=twin.output_weight.dtype)
    with torch.no_grad():
        for name, value in twin.packed().items():
            plain.get_parameter(name).copy_(value)
        if layer.use_bias:
            plain.out_proj.bias.copy_(inner.out_proj.bias)
    return plain
