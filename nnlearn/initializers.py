"""Weight initialisers: the starting values of a layer's parameters (chapter 03).

Each initialiser is a function ``(shape, rng, dtype) -> ndarray``. The names are Keras's; the
laws are those of ``torch.nn.init`` (plain, untruncated normals), so both can be compared.

Why the scale matters: a Dense layer computes ``y_j = sum_i x_i W_ij`` over ``fan_in`` inputs.
With independent zero-mean weights of variance ``s^2`` and inputs of variance ``v``,
``Var(y_j) = fan_in * s^2 * v``. Choosing ``s^2 = 1 / fan_in`` keeps the signal's variance
from growing or shrinking layer after layer (LeCun); ``2 / fan_in`` compensates for ReLU
zeroing half of it (He); ``2 / (fan_in + fan_out)`` balances the forward and the backward
pass (Glorot/Xavier).

==================  ================================  ======================================
name                law                               variance
==================  ================================  ======================================
``zeros``/``ones``  constant                          0
``random_normal``   N(0, 0.05^2)                      0.0025
``random_uniform``  U(-0.05, 0.05)                    0.05^2 / 3
``glorot_uniform``  U(-a, a), a = sqrt(6/(in+out))    2 / (fan_in + fan_out)
``glorot_normal``   N(0, 2/(in+out))                  2 / (fan_in + fan_out)
``he_uniform``      U(-a, a), a = sqrt(6/in)          2 / fan_in
``he_normal``       N(0, 2/in)                        2 / fan_in
``lecun_normal``    N(0, 1/in)                        1 / fan_in
==================  ================================  ======================================

A uniform law on ``[-a, a]`` has variance ``a^2 / 3``, which is where the ``6`` comes from.
(Keras draws its ``*_normal`` initialisers from a normal truncated at two standard deviations,
rescaled to the same variance; here they are plain normals, as in ``torch.nn.init``.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nnlearn.seeding import rng as default_rng
from nnlearn.tensor import _checked_dtype, get_default_dtype

Shape = tuple[int, ...]
Initializer = Callable[..., np.ndarray]

RANDOM_NORMAL_STD = 0.05
RANDOM_UNIFORM_LIMIT = 0.05


def fans(shape: Shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a kernel in Keras's layout.

    A Dense kernel has shape ``(in, out)``: fan_in = in, fan_out = out. A convolution kernel
    ``(kh, kw, in, out)`` multiplies both by its receptive field ``kh * kw``. A 1-D shape
    (a bias) has fan_in = fan_out = its length. (torch stores a Linear weight as ``(out, in)``,
    the transpose, so its fan_in is ``weight.shape[1]``.)
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = int(np.prod(shape[:-2]))
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def fan_in(shape: Shape) -> int:
    """The number of inputs each output unit sums over (see :func:`fans`)."""
    return fans(shape)[0]


def fan_out(shape: Shape) -> int:
    """The number of output units each input feeds (see :func:`fans`)."""
    return fans(shape)[1]


def _setup(rng: np.random.Generator | None, dtype: Any) -> tuple[np.random.Generator, np.dtype]:
    return (rng if rng is not None else default_rng()), (
        _checked_dtype(dtype) if dtype is not None else get_default_dtype()
    )


def _normal(shape: Shape, std: float, rng: Any, dtype: Any) -> np.ndarray:
    rng, dtype = _setup(rng, dtype)
    return (std * rng.standard_normal(shape)).astype(dtype)


def _uniform(shape: Shape, limit: float, rng: Any, dtype: Any) -> np.ndarray:
    rng, dtype = _setup(rng, dtype)
    return rng.uniform(-limit, limit, shape).astype(dtype)


def zeros(shape: Shape, rng: np.random.Generator | None = None, dtype: Any = None) -> np.ndarray:
    """All zeros (the usual bias initialiser)."""
    return np.zeros(shape, dtype=_setup(rng, dtype)[1])


def ones(shape: Shape, rng: np.random.Generator | None = None, dtype: Any = None) -> np.ndarray:
    """All ones."""
    return np.ones(shape, dtype=_setup(rng, dtype)[1])


def random_normal(shape: Shape, rng: Any = None, dtype: Any = None) -> np.ndarray:
    """N(0, 0.05^2), whatever the shape."""
    return _normal(shape, RANDOM_NORMAL_STD, rng, dtype)


def random_uniform(shape: Shape, rng: Any = None, dtype: Any = None) -> np.ndarray:
    """U(-0.05, 0.05), whatever the shape."""
    return _uniform(shape, RANDOM_UNIFORM_LIMIT, rng, dtype)


def glorot_uniform(shape: Shape, rng: Any = None, dtype: Any = None) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)): variance 2 / (fan_in + fan_out)."""
    fin, fout = fans(shape)
    return _uniform(shape, np.sqrt(6.0 / (fin + fout)), rng, dtype)


def glorot_normal(shape: Shape, rng: Any = None, dtype: Any = None) -> np.ndarray:
    """N(0, 2 / (fan_in + fan_out)) (torch's ``xavier_normal_``)."""
    fin, fout = fans(shape)
    return _normal(shape, np.sqrt(2.0 / (fin + fout)), rng, dtype)


def he_uniform(shape: Shape, rng: Any = None, dtype: Any = None) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / fan_in): variance 2 / fan_in (torch's ``kaiming_uniform_``)."""
    return _uniform(shape, np.sqrt(6.0 / fan_in(shape)), rng, dtype)


def he_normal(shape: Shape, rng: Any = None, dtype: Any = None) -> np.ndarray:
    """N(0, 2 / fan_in) (torch's ``kaiming_normal_`` with its default ReLU-family gain)."""
    return _normal(shape, np.sqrt(2.0 / fan_in(shape)), rng, dtype)


def lecun_normal(shape: Shape, rng: Any = None, dtype: Any = None) -> np.ndarray:
    """N(0, 1 / fan_in), the scale SELU networks need."""
    return _normal(shape, np.sqrt(1.0 / fan_in(shape)), rng, dtype)


INITIALIZERS: dict[str, Initializer] = {
    fn.__name__: fn
    for fn in (
        zeros,
        ones,
        random_normal,
        random_uniform,
        glorot_uniform,
        glorot_normal,
        he_uniform,
        he_normal,
        lecun_normal,
    )
}


def get(initializer: str | Initializer) -> Initializer:
    """The initialiser called ``initializer`` (a function is returned as it is)."""
    if callable(initializer):
        return initializer
    if isinstance(initializer, str) and initializer.lower() in INITIALIZERS:
        return INITIALIZERS[initializer.lower()]
    raise ValueError(
        f"unknown initializer {initializer!r}; choose one of {', '.join(INITIALIZERS)} "
        "or pass a function (shape, rng, dtype) -> ndarray"
    )
