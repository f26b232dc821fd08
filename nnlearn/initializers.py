"""Weight initialisers: the starting values of a layer's parameters (chapter 03).

Each initialiser is a function ``(shape, rng, dtype) -> ndarray``. The names are Keras's and
so are the laws: ``glorot_normal``, ``he_normal`` and ``lecun_normal`` draw, as Keras 3 does,
from a normal truncated at two standard deviations (values beyond are drawn again), widened so
that the variance is still the one in the table; the uniform ones match ``torch.nn.init`` too.

Why the scale matters: a Dense layer computes ``z_j = sum_i x_i W_ij`` over ``fan_in`` inputs.
With independent zero-mean weights of variance ``s^2``, independent of the inputs,
``Var(z_j) = fan_in * s^2 * E[x^2]``: the inputs' *second moment*, which equals their variance
only for zero-mean inputs. Choosing ``s^2 = 1 / fan_in`` keeps the signal's scale from growing
or shrinking layer after layer (LeCun); ``2 / fan_in`` compensates for ReLU halving the second
moment, ``E[relu(z)^2] = Var(z) / 2`` for a symmetric zero-mean ``z`` (He); ``2 / (fan_in +
fan_out)`` balances the forward and the backward pass (Glorot/Xavier).

==================  ==========================================  ================================
name                law                                         variance
==================  ==========================================  ================================
``zeros``/``ones``  constant                                    0
``random_normal``   N(0, 0.05^2)                                0.0025
``random_uniform``  U(-0.05, 0.05)                              0.05^2 / 3
``glorot_uniform``  U(-a, a), a = sqrt(6/(in+out))              2 / (fan_in + fan_out)
``glorot_normal``   truncated normal, cut at 2 sigma            2 / (fan_in + fan_out)
``he_uniform``      U(-a, a), a = sqrt(6/in)                    2 / fan_in
``he_normal``       truncated normal, cut at 2 sigma            2 / fan_in
``lecun_normal``    truncated normal, cut at 2 sigma            1 / fan_in
==================  ==========================================  ================================

A uniform law on ``[-a, a]`` has variance ``a^2 / 3``, which is where the ``6`` comes from. A
standard normal cut at +-2 keeps a standard deviation of 0.8796 (:data:`TRUNCATED_STD`), so
the truncated laws draw with ``sigma = sqrt(variance) / 0.8796``, as Keras does; torch's twin is
``torch.nn.init.trunc_normal_(w, std=sigma, a=-2 * sigma, b=2 * sigma)``.
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
# The standard deviation of a standard normal truncated to (-2, 2) (Keras's constant).
TRUNCATED_STD = 0.87962566103423978


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


def _truncated_normal(shape: Shape, std: float, rng: Any, dtype: Any) -> np.ndarray:
    """Standard deviation ``std`` from a normal cut at two of its own standard deviations.

    Draws beyond +-2 are drawn again (not clipped, which would pile mass on the edges); the
    survivors are widened by ``1 / TRUNCATED_STD`` so that their variance is ``std^2``.
    """
    rng, dtype = _setup(rng, dtype)
    z = np.asarray(rng.standard_normal(shape))
    outside = np.abs(z) >= 2
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) >= 2
    return (std / TRUNCATED_STD * z).astype(dtype)


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
    """Truncated normal of variance 2 / (fan_in + fan_out), as Keras's ``glorot_normal``."""
    fin, fout = fans(shape)
    return _truncated_normal(shape, np.sqrt(2.0 / (fin + fout)), rng, dtype)


def he_uniform(shape: Shape, rng: Any = None, dtype: Any = None) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / fan_in): variance 2 / fan_in (torch's ``kaiming_uniform_``)."""
    return _uniform(shape, np.sqrt(6.0 / fan_in(shape)), rng, dtype)


def he_normal(shape: Shape, rng: Any = None, dtype: Any = None) -> np.ndarray:
    """Truncated normal of variance 2 / fan_in, as Keras's ``he_normal``."""
    return _truncated_normal(shape, np.sqrt(2.0 / fan_in(shape)), rng, dtype)


def lecun_normal(shape: Shape, rng: Any = None, dtype: Any = None) -> np.ndarray:
    """Truncated normal of variance 1 / fan_in (the scale SELU networks need), as Keras's."""
    return _truncated_normal(shape, np.sqrt(1.0 / fan_in(shape)), rng, dtype)


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
