"""One line per operation: the nnlearn expression, torch's own, and the input shapes.

Adding an operation to nnlearn costs one line here; it is then checked against torch (on
every device) and against numeric gradients, and a planted wrong ``backward`` in it is
shown to be caught.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

import nnlearn as nl


@dataclass(frozen=True)
class OpCase:
    name: str
    nn_fn: Callable
    torch_fn: Callable
    shapes: tuple[tuple[int, ...], ...]
    values: str = "normal"  # normal | positive | nonzero | ties

    def inputs(self, seed: int = 0) -> list[np.ndarray]:
        """Float64 inputs drawn for this case (away from poles and kinks where needed)."""
        rng = np.random.default_rng(seed)
        arrays = []
        for shape in self.shapes:
            if self.values == "positive":
                x = rng.uniform(0.5, 2.0, shape)
            elif self.values == "nonzero":
                x = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
            elif self.values == "ties":
                x = rng.integers(-1, 2, shape).astype(np.float64)
            else:
                x = rng.standard_normal(shape)
            arrays.append(x)
        return arrays


def _index(a, idx):
    return torch.as_tensor(idx, device=a.device)


REPEATED = np.array([0, 2, 0, 1])
MASK = np.array([True, False, True])

OP_CASES = [
    OpCase("add", lambda a, b: a + b, lambda a, b: a + b, ((3, 4), (3, 4))),
    OpCase("add_broadcast", lambda a, b: a + b, lambda a, b: a + b, ((2, 3, 4), (4,))),
    OpCase("radd_scalar", lambda a: 2.5 + a, lambda a: 2.5 + a, ((3,),)),
    OpCase("sub_broadcast", lambda a, b: a - b, lambda a, b: a - b, ((3, 1), (1, 4))),
    OpCase("rsub_scalar", lambda a: 2.0 - a, lambda a: 2.0 - a, ((3, 2),)),
    OpCase("mul", lambda a, b: a * b, lambda a, b: a * b, ((3, 4), (3, 4))),
    OpCase("mul_broadcast", lambda a, b: a * b, lambda a, b: a * b, ((2, 3, 4), (3, 1))),
    OpCase("div", lambda a, b: a / b, lambda a, b: a / b, ((3, 4), (3, 4)), "nonzero"),
    OpCase("div_broadcast", lambda a, b: a / b, lambda a, b: a / b, ((3, 4), (4,)), "nonzero"),
    OpCase("rdiv_scalar", lambda a: 1.0 / a, lambda a: 1.0 / a, ((5,),), "nonzero"),
    OpCase("neg", lambda a: -a, lambda a: -a, ((5,),)),
    OpCase("pow_integer", lambda a: a**3, lambda a: a**3, ((3, 4),)),
    OpCase("pow_fractional", lambda a: a**0.5, lambda a: a**0.5, ((3, 4),), "positive"),
    OpCase("pow_negative", lambda a: a**-2, lambda a: a**-2, ((3, 4),), "nonzero"),
    OpCase("exp", lambda a: a.exp(), torch.exp, ((3, 4),)),
    OpCase("log", lambda a: a.log(), torch.log, ((3, 4),), "positive"),
    OpCase("abs", lambda a: a.abs(), torch.abs, ((3, 4),), "nonzero"),
    OpCase(
        "astype_roundtrip",
        lambda a: (a.astype("float64") * 3).astype(a.dtype),
        lambda a: (a.double() * 3).to(a.dtype),
        ((4,),),
    ),
    OpCase("matmul", lambda a, b: a @ b, lambda a, b: a @ b, ((3, 4), (4, 5))),
    OpCase("matmul_vector_matrix", lambda a, b: a @ b, lambda a, b: a @ b, ((4,), (4, 5))),
    OpCase("matmul_matrix_vector", lambda a, b: a @ b, lambda a, b: a @ b, ((3, 4), (4,))),
    OpCase("matmul_vector_vector", lambda a, b: a @ b, lambda a, b: a @ b, ((4,), (4,))),
    OpCase("matmul_batched_broadcast", lambda a, b: a @ b, lambda a, b: a @ b, ((2, 3, 4), (4, 5))),
    OpCase("sum_all", lambda a: a.sum(), lambda a: a.sum(), ((3, 4),)),
    OpCase("sum_axis", lambda a: a.sum(axis=1), lambda a: a.sum(dim=1), ((3, 4),)),
    OpCase(
        "sum_axes_keepdims",
        lambda a: a.sum(axis=(0, 2), keepdims=True),
        lambda a: a.sum(dim=(0, 2), keepdim=True),
        ((2, 3, 4),),
    ),
    OpCase("sum_negative_axis", lambda a: a.sum(axis=-1), lambda a: a.sum(dim=-1), ((2, 3, 4),)),
    OpCase("mean_all", lambda a: a.mean(), lambda a: a.mean(), ((3, 4),)),
    OpCase(
        "mean_axis_keepdims",
        lambda a: a.mean(axis=0, keepdims=True),
        lambda a: a.mean(dim=0, keepdim=True),
        ((3, 4),),
    ),
    OpCase(
        "sum_dim_keepdim", lambda a: a.sum(1, keepdim=True), lambda a: a.sum(1, True), ((3, 4),)
    ),
    OpCase(
        "mean_dim_tuple", lambda a: a.mean(dim=(0, 2)), lambda a: a.mean(dim=(0, 2)), ((2, 3, 4),)
    ),
    OpCase("max_all", lambda a: a.max(), lambda a: a.max(), ((3, 4),)),
    OpCase("max_all_ties_shared", lambda a: a.max(), lambda a: a.max(), ((3, 4),), "ties"),
    OpCase("min_all_ties_shared", lambda a: a.min(), lambda a: a.min(), ((3, 4),), "ties"),
    OpCase("amax_axis", lambda a: a.amax(axis=1), lambda a: a.amax(dim=1), ((3, 4),)),
    OpCase("amax_ties_shared", lambda a: a.amax(dim=0), lambda a: a.amax(dim=0), ((6, 4),), "ties"),
    OpCase("amin_dims", lambda a: a.amin(dim=(0, 2)), lambda a: a.amin(dim=(0, 2)), ((2, 3, 4),)),
    OpCase("amin_ties_shared", lambda a: a.amin(1), lambda a: a.amin(1), ((4, 6),), "ties"),
    OpCase("max_dim_values", lambda a: a.max(1)[0], lambda a: a.max(1)[0], ((3, 4),)),
    OpCase(
        "max_dim_keepdim",
        lambda a: a.max(0, True).values,
        lambda a: a.max(0, True).values,
        ((3, 4),),
    ),
    OpCase(
        "max_dim_ties_to_index",
        lambda a: a.max(dim=0).values,
        lambda a: a.max(dim=0).values,
        ((6, 4),),
        "ties",
    ),
    OpCase("min_dim_values", lambda a: a.min(-1).values, lambda a: a.min(-1).values, ((2, 3, 4),)),
    OpCase(
        "min_dim_ties_to_index", lambda a: a.min(1)[0], lambda a: a.min(1)[0], ((4, 6),), "ties"
    ),
    OpCase("rpow", lambda a: 2**a, lambda a: 2**a, ((3, 4),)),
    OpCase("rpow_fraction", lambda a: 0.5**a, lambda a: 0.5**a, ((5,),)),
    OpCase("reshape", lambda a: a.reshape(4, 3), lambda a: a.reshape(4, 3), ((3, 4),)),
    OpCase("reshape_infer", lambda a: a.reshape((-1, 2)), lambda a: a.reshape(-1, 2), ((3, 4),)),
    OpCase("view_flat", lambda a: a.view(-1), lambda a: a.view(-1), ((3, 4),)),
    OpCase("T", lambda a: a.T, lambda a: a.T, ((3, 4),)),
    OpCase("transpose_swaps", lambda a: a.transpose(0, 1), lambda a: a.transpose(0, 1), ((3, 4),)),
    OpCase(
        "transpose_3d", lambda a: a.transpose(-1, 0), lambda a: a.transpose(-1, 0), ((2, 3, 4),)
    ),
    OpCase("permute", lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), ((2, 3, 4),)),
    OpCase("unsqueeze", lambda a: a.unsqueeze(1), lambda a: a.unsqueeze(1), ((3, 4),)),
    OpCase("squeeze_all", lambda a: a.squeeze(), lambda a: a.squeeze(), ((3, 1, 4, 1),)),
    OpCase("squeeze_dim", lambda a: a.squeeze(-1), lambda a: a.squeeze(-1), ((3, 1, 1),)),
    OpCase("flatten_from_1", lambda a: a.flatten(1), lambda a: a.flatten(1), ((2, 3, 4),)),
    OpCase("getitem_slice", lambda a: a[1:, ::2], lambda a: a[1:, ::2], ((3, 4),)),
    OpCase("getitem_integer", lambda a: a[1], lambda a: a[1], ((3, 4),)),
    OpCase(
        "getitem_repeated_rows", lambda a: a[REPEATED], lambda a: a[_index(a, REPEATED)], ((3, 4),)
    ),
    OpCase("getitem_mask", lambda a: a[MASK], lambda a: a[_index(a, MASK)], ((3, 4),)),
    OpCase("getitem_comparison_mask", lambda a: a[a > 0], lambda a: a[a > 0], ((3, 4),)),
    OpCase("getitem_argmax", lambda a: a[a.argmax(0)], lambda a: a[a.argmax(0)], ((3, 4),)),
    OpCase("mul_float_mask", lambda a: a * (a > 0).astype(a.dtype), lambda a: a * (a > 0), ((5,),)),
    OpCase(
        "concatenate",
        lambda a, b: nl.concatenate([a, b], axis=1),
        lambda a, b: torch.cat([a, b], dim=1),
        ((2, 3), (2, 4)),
    ),
    OpCase(
        "concatenate_three",
        lambda a, b, c: nl.concatenate([a, b, c]),
        lambda a, b, c: torch.cat([a, b, c]),
        ((1, 3), (2, 3), (3, 3)),
    ),
    OpCase(
        "expression_softplus_network",
        lambda x, w, b: ((x @ w + b).exp() + 1).log().mean(axis=0),
        lambda x, w, b: torch.nn.functional.softplus(x @ w + b).mean(dim=0),
        ((5, 3), (3, 2), (2,)),
    ),
    OpCase(
        "expression_reuse",
        lambda a: a * a + a.exp() * a - a / 3,
        lambda a: a * a + a.exp() * a - a / 3,
        ((4,),),
    ),
]
