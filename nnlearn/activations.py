"""Activation functions (chapter 02): the nonlinearity after each layer, forward beside backward.

Each activation is a :class:`~nnlearn.tensor.Function`: ``forward`` computes ``y = f(x)`` from a
numpy array and ``backward`` turns ``g = dL/dy`` into ``dL/dx``; its docstring states the
derivative. Elementwise activations keep the input's shape ``(...)``; ``softmax`` and
``log_softmax`` normalise along one axis and keep the shape too.

The names and their defaults are Keras's (``keras.activations``, the strings of
``Dense(activation=...)``), checked against Keras 3 in ``tests/test_activations.py``. So
``leaky_relu``'s ``negative_slope`` defaults to Keras's 0.2; PyTorch's ``F.leaky_relu`` defaults
to 0.01: to match torch, pass ``negative_slope=0.01`` explicitly. ``gelu`` takes Keras's
``approximate`` (default False: the exact erf form). Keras's ``relu`` options
(``negative_slope``, ``max_value``, ``threshold``) are not implemented: ``relu`` refuses them
(a TypeError); use ``leaky_relu`` for a slope. ``softmax``'s ``temperature`` is nnlearn's own
(Keras has none; at its default 1 the two agree).

Values and derivatives at kinks follow PyTorch: ``relu'(0) = 0``, ``leaky_relu'(0) =
negative_slope``, ``elu'(0) = alpha``.

The lower-case functions (``relu``, ``sigmoid``, ...) take and return Tensors; :func:`get`
finds one by its Keras name; :func:`derivative` and :func:`saturation_mask` evaluate ``f'(x)``
on a numpy array by running the activation's own ``backward`` (one source of truth, used by
the plots and explorers).

Logits recorded for the losses (as Keras 3 records ``_keras_logits``): :func:`softmax` over the
last axis (at temperature 1) sets ``out._softmax_logits``, and :func:`sigmoid` sets
``out._sigmoid_logits``, to the input Tensor. The cross-entropies of :mod:`nnlearn.losses`,
given such probabilities, compute from those logits with a fused, stable formula whose gradient
flows to the logits; this module only records them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from nnlearn.tensor import FLOAT_DTYPES, Function, Tensor

Activation = Callable[[Tensor], Tensor]

# --- numpy kernels, shared with nnlearn.losses ---------------------------------------------------
_erf = np.vectorize(math.erf, otypes=[np.float64])  # numpy has no erf; math.erf is exact


def sigmoid_values(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^{-x})`` without overflow: written with ``e^{-|x|} <= 1`` only."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def log_softmax_values(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``x_i - log sum_j e^{x_j}`` along ``axis``, stable.

    Subtracting ``m = max_j x_j`` first changes nothing mathematically
    (``log sum e^{x_j} = m + log sum e^{x_j - m}``) but keeps every ``e^{x_j - m} <= 1``, so
    nothing overflows, and the largest term is 1, so the sum is never 0 and its log finite.
    """
    shifted = x - x.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))  # in place: a fresh array
    return shifted


def softmax_values(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """``e^{x_i} / sum_j e^{x_j}`` along ``axis``, stable (shifted by the maximum)."""
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)  # in place: e is a fresh array
    return e


# --- the Functions -------------------------------------------------------------------------------
class Identity(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = x (the "linear" activation of a layer without one)."""
        return x

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dy/dx = 1:  dL/dx = g."""
        return g


class ReLU(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = max(x, 0)."""
        self.x = x
        return np.maximum(x, 0)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dy/dx = 1 for x > 0, else 0 (0 at x = 0, as in PyTorch):  dL/dx = g * [x > 0]."""
        return g * (self.x > 0)


class LeakyReLU(Function):
    def forward(self, x: np.ndarray, negative_slope: float = 0.2) -> np.ndarray:
        """y = x for x > 0, else negative_slope * x (Keras's default slope 0.2)."""
        self.x, self.slope = x, float(negative_slope)  # a Python float keeps x's dtype
        return np.where(x > 0, x, x * self.slope)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dy/dx = 1 for x > 0, else negative_slope (also at x = 0, as in PyTorch)."""
        return np.where(self.x > 0, g, g * self.slope)


class ELU(Function):
    def forward(self, x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
        """y = x for x > 0, else alpha * (e^x - 1)."""
        self.x, self.alpha = x, float(alpha)
        # min(x, 0): the unused branch for x > 0 must not overflow; expm1 is exact near 0.
        negative = np.minimum(x, 0)
        self.exp_x = np.exp(negative)
        return np.where(x > 0, x, self.alpha * np.expm1(negative))

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dy/dx = 1 for x > 0, else alpha * e^x (alpha at x = 0, as in PyTorch)."""
        return np.where(self.x > 0, g, g * self.alpha * self.exp_x)


class Sigmoid(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = s(x) = 1 / (1 + e^{-x}), in (0, 1)."""
        self.y = sigmoid_values(x)
        return self.y

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dy/dx = s(x) (1 - s(x)) = y (1 - y), at most 1/4 (at x = 0)."""
        return g * self.y * (1 - self.y)


class Tanh(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = tanh(x) = (e^x - e^{-x}) / (e^x + e^{-x}), in (-1, 1)."""
        self.y = np.tanh(x)
        return self.y

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dy/dx = 1 - tanh(x)^2 = 1 - y^2."""
        return g * (1 - self.y * self.y)


class Softplus(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = log(1 + e^x), written stably as log1p(e^{-|x|}) + max(x, 0)."""
        self.x = x
        return np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dy/dx = e^x / (1 + e^x) = sigmoid(x)."""
        return g * sigmoid_values(self.x)


class GELU(Function):
    def forward(self, x: np.ndarray, approximate: bool = False) -> np.ndarray:
        """y = x * Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2 the standard normal CDF (exact).

        ``approximate=True``: Phi(x) ~ (1 + tanh(u)) / 2, u = sqrt(2/pi) (x + 0.044715 x^3),
        the tanh form of Keras's ``approximate=True`` and torch's ``approximate="tanh"``.
        """
        self.x, self.approximate = x, approximate
        if approximate:
            self.tanh_u = np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))
            self.cdf = 0.5 * (1 + self.tanh_u)
        else:
            self.cdf = (0.5 * (1 + _erf(x * (1 / math.sqrt(2))))).astype(x.dtype)
        return x * self.cdf

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dy/dx = Phi(x) + x * phi(x), phi(x) = e^{-x^2/2} / sqrt(2 pi) the normal density.

        Tanh form: phi(x) is replaced by dPhi/dx = (1 - tanh^2 u) / 2 * sqrt(2/pi) (1 + 3 *
        0.044715 x^2).
        """
        if self.approximate:
            du = math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * self.x * self.x)
            pdf = 0.5 * (1 - self.tanh_u * self.tanh_u) * du
        else:
            pdf = np.exp(-0.5 * self.x * self.x) * (1 / math.sqrt(2 * math.pi))
        return g * (self.cdf + self.x * pdf)


class SiLU(Function):
    def forward(self, x: np.ndarray) -> np.ndarray:
        """y = x * s(x), s the sigmoid (also called swish)."""
        self.x, self.s = x, sigmoid_values(x)
        return x * self.s

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dy/dx = s(x) + x s(x) (1 - s(x)) = s(x) (1 + x (1 - s(x)))."""
        return g * self.s * (1 + self.x * (1 - self.s))


class Softmax(Function):
    def forward(self, x: np.ndarray, axis: int = -1, temperature: float = 1.0) -> np.ndarray:
        """y_i = e^{x_i / T} / sum_j e^{x_j / T} along ``axis`` (same shape as x).

        The temperature T > 0 sharpens (T < 1) or flattens (T > 1) the distribution.
        """
        if not temperature > 0:
            raise ValueError(f"softmax: temperature must be positive, got {temperature}")
        self.axis, self.temperature = axis, float(temperature)
        self.y = softmax_values(x if self.temperature == 1 else x / self.temperature, axis)
        return self.y

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dy_i/dx_k = y_i (delta_ik - y_k) / T, so dL/dx_k = y_k (g_k - sum_i g_i y_i) / T.

        The Jacobian-vector product is computed without forming the (C, C) Jacobian.
        """
        weighted = (g * self.y).sum(axis=self.axis, keepdims=True)
        return self.y * (g - weighted) / self.temperature


class LogSoftmax(Function):
    def forward(self, x: np.ndarray, axis: int = -1) -> np.ndarray:
        """y_i = x_i - log sum_j e^{x_j} along ``axis`` (stable: shifted by the maximum)."""
        self.axis = axis
        self.y = log_softmax_values(x, axis)
        return self.y

    def backward(self, g: np.ndarray) -> np.ndarray:
        """dy_i/dx_k = delta_ik - softmax_k, so dL/dx_k = g_k - softmax_k * sum_i g_i."""
        return g - np.exp(self.y) * g.sum(axis=self.axis, keepdims=True)


# --- the public functions ------------------------------------------------------------------------
def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def linear(x: Any) -> Tensor:
    """The identity, ``f(x) = x``: the activation of a layer that has none."""
    return Identity.apply(x)


def relu(x: Any) -> Tensor:
    """``max(x, 0)`` elementwise."""
    return ReLU.apply(x)


def leaky_relu(x: Any, negative_slope: float = 0.2) -> Tensor:
    """``x`` for ``x > 0``, else ``negative_slope * x``, elementwise.

    The default slope is Keras's, 0.2; PyTorch's ``F.leaky_relu`` defaults to 0.01.
    """
    return LeakyReLU.apply(x, negative_slope=negative_slope)


def elu(x: Any, alpha: float = 1.0) -> Tensor:
    """``x`` for ``x > 0``, else ``alpha * (e^x - 1)``, elementwise."""
    return ELU.apply(x, alpha=alpha)


def sigmoid(x: Any) -> Tensor:
    """``1 / (1 + e^{-x})`` elementwise; the output records ``x`` as ``_sigmoid_logits``."""
    x = _as_tensor(x)
    out = Sigmoid.apply(x)
    out._sigmoid_logits = x
    return out


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent, elementwise."""
    return Tanh.apply(x)


def softplus(x: Any) -> Tensor:
    """``log(1 + e^x)`` elementwise, a smooth ReLU."""
    return Softplus.apply(x)


def gelu(x: Any, approximate: bool = False) -> Tensor:
    """``x * Phi(x)`` elementwise, Phi the standard normal CDF: the exact erf form, or with
    ``approximate=True`` the tanh form (as Keras's ``gelu``)."""
    return GELU.apply(x, approximate=approximate)


def silu(x: Any) -> Tensor:
    """``x * sigmoid(x)`` elementwise (swish)."""
    return SiLU.apply(x)


def softmax(x: Any, axis: int = -1, temperature: float = 1.0) -> Tensor:
    """``softmax(x / temperature)`` along ``axis``: positive values summing to 1.

    Over the last axis at temperature 1 (a classifier's output), the output records ``x`` as
    ``_softmax_logits``, for the fused cross-entropy of :mod:`nnlearn.losses`.
    """
    x = _as_tensor(x)
    out = Softmax.apply(x, axis=axis, temperature=temperature)
    if temperature == 1 and axis in (-1, x.ndim - 1):
        out._softmax_logits = x
    return out


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """``log(softmax(x))`` along ``axis``, computed stably."""
    return LogSoftmax.apply(x, axis=axis)


# --- lookup by name, and derivatives for plots ---------------------------------------------------
# The Function behind each elementwise name (for derivatives, and to show its source).
FUNCTIONS: dict[str, type[Function]] = {
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "elu": ELU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "softplus": Softplus,
    "gelu": GELU,
    "silu": SiLU,
    "linear": Identity,
}
NAMES = tuple(FUNCTIONS)
_BY_NAME: dict[str, Activation] = {
    "relu": relu,
    "leaky_relu": leaky_relu,
    "elu": elu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softplus": softplus,
    "gelu": gelu,
    "silu": silu,
    "swish": silu,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "linear": linear,
}


def get(activation: str | Activation | None) -> Activation:
    """The activation function for a Keras name, a callable (returned as is), or None (linear).

    Names: relu, leaky_relu, elu, sigmoid, tanh, softplus, gelu, silu (alias swish), softmax,
    log_softmax, linear: each the function of the same name in ``keras.activations``, with its
    defaults (Keras's other names are not implemented and raise).
    """
    if activation is None:
        return linear
    if callable(activation):
        return activation
    if isinstance(activation, str) and activation.lower() in _BY_NAME:
        return _BY_NAME[activation.lower()]
    raise ValueError(
        f"unknown activation {activation!r}; known names: {', '.join(sorted(_BY_NAME))}"
    )


def derivative(name: str, x: Any, **params: Any) -> np.ndarray:
    """``f'(x)`` elementwise for the activation ``name`` (one of :data:`NAMES`).

    Runs the activation's own ``forward`` and then its ``backward`` with upstream gradient 1,
    so the curve shown is exactly what backpropagation uses.

    Args:
        name: an elementwise activation name.
        x: the points, any shape; float32 stays float32, anything else becomes float64.
        params: the activation's options, e.g. ``negative_slope=0.1`` or ``alpha=0.5``.

    Returns:
        An array of ``x``'s shape.
    """
    if name not in FUNCTIONS:
        raise ValueError(
            f"derivative: {name!r} is not an elementwise activation; choose one of "
            f"{', '.join(NAMES)} (softmax's derivative is a Jacobian, not one value per point)"
        )
    x = np.asarray(x)
    if x.dtype not in FLOAT_DTYPES:
        x = x.astype(np.float64)
    function = FUNCTIONS[name]()
    y = function.forward(x, **params)
    return np.asarray(function.backward(np.ones_like(y)))


def saturation_mask(name: str, x: Any, threshold: float = 0.05, **params: Any) -> np.ndarray:
    """Where the activation saturates: ``|f'(x)| < threshold`` (little gradient passes)."""
    return np.abs(derivative(name, x, **params)) < threshold
