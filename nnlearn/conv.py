"""Convolutional layers (chapter 14): Conv2D, MaxPooling2D, AveragePooling2D,
GlobalAveragePooling2D, Flatten.

Keras's names and meaning (also ``nnlearn.layers.<Name>``), on **channels-last** images as
Keras stores them: a batch is (batch, height, width, channels) (NHWC), a Conv2D kernel (kh,
kw, in, out) (HWIO). PyTorch works channels-first, (batch, channels, height, width) with an
(out, in, kh, kw) weight; the torch twins (:mod:`nnlearn.parity.conv_twins`) convert in one
place. A "convolution" in deep learning is a **cross-correlation** (the kernel is not
flipped), as ``torch.nn.functional.conv2d`` computes it (:class:`Convolution`).

The formulas live in three fused Functions, forward and backward side by side:
:class:`Convolution`, :class:`MaxPool`, :class:`AveragePool`; GlobalAveragePooling2D is a
mean and Flatten a reshape, operations of the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nnlearn import activations, initializers
from nnlearn.layers import activation_name, get_regularizer, regularizer_config, saved_name
from nnlearn.module import Layer, Shape
from nnlearn.tensor import Function, Tensor

__all__ = ["AveragePooling2D", "Conv2D", "Flatten", "GlobalAveragePooling2D", "MaxPooling2D"]
__all__ += ["AveragePool", "Convolution", "MaxPool", "window_padding"]  # their formulas

Pads = tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))


def window_padding(size: int, window: int, stride: int, padding: str) -> tuple[int, int, int]:
    """``(before, after, positions)`` along one axis of ``size`` for a sliding ``window``.

    ``"valid"``: no padding, ``floor((size - window) / stride) + 1`` positions. ``"same"``
    (TensorFlow's rule, Keras's): ``ceil(size / stride)`` positions and the padding they need,
    ``total = max((positions - 1) * stride + window - size, 0)``, split ``before = total // 2``,
    ``after = total - before``: an odd total puts one more at the bottom/right.
    """
    if padding == "valid":
        return 0, 0, (size - window) // stride + 1
    positions = -(-size // stride)
    total = max((positions - 1) * stride + window - size, 0)
    return total // 2, total - total // 2, positions


def _offsets(window: tuple[int, int], strides: tuple[int, int], padded: tuple[int, ...]):
    """Per window offset (p, q), the slice ``xp[:, sh i + p, sw j + q]`` of the padded input
    (shape ``padded``) that it reads at every output position (i, j)."""
    (kh, kw), (sh, sw) = window, strides
    ho, wo = (padded[1] - kh) // sh + 1, (padded[2] - kw) // sw + 1
    return [
        np.s_[:, p : p + sh * (ho - 1) + 1 : sh, q : q + sw * (wo - 1) + 1 : sw]
        for p, q in np.ndindex(kh, kw)  # row by row
    ]


def _padded(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    if pads == ((0, 0), (0, 0)):
        return x
    return np.pad(x, ((0, 0), *pads, (0, 0)), constant_values=value)


def _gathered(padded: tuple[int, ...], pads: Pads, parts: Iterable, dtype) -> np.ndarray:
    """dL/dx from ``parts``: per window offset, (the slice it read, dL/d(those values)), added
    up in the padded input's gradient (overlapping windows add), whose border is cut off."""
    grad = np.zeros(padded, dtype)
    for where, part in parts:
        grad[where] += part
    (top, bottom), (left, right) = pads
    return grad[:, top : padded[1] - bottom, left : padded[2] - right]


class Convolution(Function):
    """The cross-correlation of a channels-last batch with a kernel, plus a bias:

    .. math::

        y_{n,i,j,o} = b_o + \\sum_{p<k_h} \\sum_{q<k_w} \\sum_{c}
            x_{n,\\, s_h i + p,\\, s_w j + q,\\, c}\\; K_{p,q,c,o}

    on the input padded as ``padding`` says (:func:`window_padding`). Shapes: ``x`` (N, H, W,
    C); ``kernel`` (kh, kw, C, O); ``bias`` (O,) or absent; options ``strides`` (sh, sw) and
    ``pads`` ((top, bottom), (left, right)); output (N, Ho, Wo, O).

    Forward as **im2col + one matrix product**: each window of the padded input, read
    through a strided view (``sliding_window_view``: no copy), is copied once as one row of
    ``cols`` (N Ho Wo, kh kw C); then ``y = cols @ K``, the kernel as a (kh kw C, O) matrix.
    The products take most of the time, the copy the rest (benchmarks/README.md): channels
    last, a pixel's C channels are adjacent, so the copy moves runs of C values.
    """

    def forward(self, x, kernel, bias=None, *, strides: tuple[int, int], pads: Pads):
        kh, kw, channels, filters = kernel.shape
        xp = _padded(x, pads)
        # (N, Ho, Wo, C, kh, kw), a view: each position's window, read in place
        windows = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, :: strides[0], :: strides[1]]
        n, ho, wo = windows.shape[:3]
        # The one copy: each window as a row, in the kernel's (kh, kw, C) order
        cols = np.ascontiguousarray(windows.transpose(0, 1, 2, 4, 5, 3))
        self.cols = cols.reshape(n * ho * wo, kh * kw * channels)
        self.kernel, self.padded, self.pads = kernel, xp.shape, pads
        self.where = _offsets((kh, kw), strides, xp.shape)
        y = self.cols @ kernel.reshape(-1, filters)
        if bias is not None:
            y += bias  # in place: y is a fresh array
        return y.reshape(n, ho, wo, filters)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        """With ``g = dL/dy`` (N, Ho, Wo, O) as a matrix ``G`` (N Ho Wo, O):

        * ``dL/dK = cols^T @ G`` (kh kw C, O), reshaped to (kh, kw, C, O): one product;
        * ``dL/db = sum of G's rows`` (O,);
        * ``dL/dx`` (N, H, W, C): an input value read by several windows gets the gradient
          of each read back (a *transposed convolution*): for each kernel offset (p, q),
          ``dxp[:, sh i + p, sw j + q] += g[:, i, j] @ K[p, q]^T``, kh kw products
          (N Ho Wo, O) @ (O, C) added into the padded input's gradient. Skipped (None) when
          ``x`` needs no gradient, as for a batch of images.
        """
        kh, kw, channels, filters = self.kernel.shape
        g2 = g.reshape(-1, filters)
        grad_kernel = (self.cols.T @ g2).reshape(self.kernel.shape)
        grad_x = None
        if self.parents[0].requires_grad:
            kernels = self.kernel.reshape(kh * kw, channels, filters)
            reads = ((g2 @ k.T).reshape(*g.shape[:3], channels) for k in kernels)
            grad_x = _gathered(self.padded, self.pads, zip(self.where, reads, strict=True), g.dtype)
        if len(self.parents) == 2:
            return grad_x, grad_kernel
        return grad_x, grad_kernel, g2.sum(axis=0)


class MaxPool(Function):
    """The largest value of each (ph, pw) window of each channel.

    Shapes: ``x`` (N, H, W, C); options ``pool`` (ph, pw), ``strides``, ``pads``; output
    (N, Ho, Wo, C). Padding is -inf: it never wins. Scanning the window's offsets in turn,
    a value must be *larger* to win, so a tie goes to the first maximum, row by row, as in
    torch's ``max_pool2d`` (so Keras on its torch backend).
    """

    def forward(self, x, *, pool: tuple[int, int], strides: tuple[int, int], pads: Pads):
        xp = _padded(x, pads, -np.inf)
        self.where, self.padded, self.pads = _offsets(pool, strides, xp.shape), xp.shape, pads
        y = xp[self.where[0]].copy()
        self.winner = np.zeros(y.shape, np.intp)  # the offset of each maximum, 0..ph pw - 1
        for k, where in enumerate(self.where[1:], start=1):
            larger = xp[where] > y
            np.copyto(y, xp[where], where=larger)
            np.copyto(self.winner, k, where=larger)
        return y

    def backward(self, g: np.ndarray) -> np.ndarray:
        """``dL/dx = g`` at each window's maximum (its partial derivative is 1), 0 at the
        other values; summed where overlapping windows share a maximum."""
        parts = ((w, np.where(self.winner == k, g, 0)) for k, w in enumerate(self.where))
        return _gathered(self.padded, self.pads, parts, g.dtype)


class AveragePool(Function):
    """The mean of each (ph, pw) window of each channel.

    Shapes as :class:`MaxPool`. A ``"same"`` border window averages the input values it
    covers, padding not counted: as Keras on TensorFlow and JAX, and on torch for symmetric
    padding. For asymmetric padding Keras 3.15 on torch repeats the edge and counts it;
    nnlearn follows the other backends.
    """

    def forward(self, x, *, pool: tuple[int, int], strides: tuple[int, int], pads: Pads):
        xp = _padded(x, pads)
        self.where, self.padded, self.pads = _offsets(pool, strides, xp.shape), xp.shape, pads
        # How many input values (not padding) each window covers
        inside = _padded(np.ones((1, *x.shape[1:3], 1), x.dtype), pads)
        self.count = sum(inside[where] for where in self.where)
        return sum(xp[where] for where in self.where) / self.count

    def backward(self, g: np.ndarray) -> np.ndarray:
        """``dL/dx = g / count`` for every value of the window (``count = ph pw`` away from
        the border); summed where windows overlap."""
        share = g / self.count
        return _gathered(self.padded, self.pads, ((w, share) for w in self.where), g.dtype)


# --- the layers --------------------------------------------------------------------------------
def _pair(name: str, value: int | Sequence[int], layer: str) -> tuple[int, int]:
    """``3`` -> (3, 3); ``(3, 2)`` stays; positive integers only (Keras's standardize_tuple)."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in pair):
        raise ValueError(f"{layer}: {name} must be a positive integer or two, got {value!r}")
    return int(pair[0]), int(pair[1])


def _checked_options(layer: str, padding: str = "valid", data_format: str | None = None) -> str:
    """``padding`` in lower case, checked, and ``data_format`` checked: channels-last only."""
    if data_format not in (None, "channels_last"):
        raise ValueError(
            f"{layer}: nnlearn has channels-last images only, Keras's default; got data_format="
            f"{data_format!r}: leave it out and transpose the images, x.transpose(0, 2, 3, 1)"
        )
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{layer}: padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def _config(layer: Layer, names: Sequence[str]) -> dict[str, Any]:
    """``get_config()``: the attributes ``names`` (Keras's keys; tuples as JSON lists)."""
    config = {n: list(v) if isinstance(v, tuple) else v for n in names for v in [getattr(layer, n)]}
    return config | {"data_format": "channels_last", "dtype": layer.dtype.name}


class _Images(Layer):
    """A layer of images (batch, height, width, channels): inputs checked, with a hint."""

    def build(self, input_shape: Shape) -> None:
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(self._shape_message(tuple(input_shape)))
        super().build(input_shape)

    def _shape_message(self, shape: Shape) -> str:
        channels = self.input_shape[-1] if self.input_shape else "channels"
        first = len(shape) == 4 and shape[1] == channels  # channels-first images, probably
        hint = "; transpose them: x.transpose(0, 2, 3, 1)" if first else ""
        want = f"(batch, height, width, {channels}), channels last"
        return f"{self.label}: expected inputs of shape {want}, got {shape}{hint}"

    def _prepare(self, x: Any) -> Tensor:
        x = super()._prepare(x)
        if x.ndim != 4 or x.shape[-1] != self.input_shape[-1]:
            raise ValueError(self._shape_message(tuple(x.shape)))
        if x.dtype != self.dtype:
            raise TypeError(
                f"{self.label}: the inputs are {x.dtype} but the layer is {self.dtype}; convert "
                f"them with .astype({self.dtype.name!r}) or build it with dtype={x.dtype.name!r}"
            )
        return x


class _Windowed(_Images):
    """A window (``kernel_size`` or ``pool_size``) slid with ``strides`` and ``padding``."""

    window: tuple[int, int]
    strides: tuple[int, int]
    padding: str

    def _windows(self, height: int | None, width: int | None) -> tuple[Pads, tuple]:
        """The padding of both axes and the output's (height, width); None stays None."""
        axes = [
            (0, 0, None) if n is None else window_padding(n, k, s, self.padding)
            for n, k, s in zip((height, width), self.window, self.strides, strict=True)
        ]
        if any(out is not None and out < 1 for *_, out in axes):
            raise ValueError(
                f"{self.label}: a {self.window[0]}x{self.window[1]} window does not fit in "
                f"images of {height}x{width} with padding 'valid'; use padding='same'"
            )
        return tuple((before, after) for before, after, _ in axes), tuple(a[2] for a in axes)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], *self._windows(*input_shape[1:3])[1], input_shape[3])


class Conv2D(_Windowed):
    """Keras's ``Conv2D``: ``y = activation(cross_correlation(x, kernel) + bias)``.

    Args: ``filters`` (output channels, one kernel each); ``kernel_size`` and ``strides``, an
    integer or two; ``padding``, ``"valid"`` or ``"same"``; ``data_format``, ``dilation_rate``,
    ``groups``: Keras's defaults only (others are refused); the rest as for ``Dense``.

    Shapes: input (batch, H, W, in) -> output (batch, Ho, Wo, filters); kernel (kh, kw, in,
    filters), bias (filters,): Keras's weights, in Keras's order. torch's ``Conv2d`` keeps
    ``weight = kernel.transpose(3, 2, 0, 1)`` (out, in, kh, kw).
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] = (1, 1),
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate: int | Sequence[int] = (1, 1),
        groups: int = 1,
        activation: str | Callable | None = None,
        use_bias: bool = True,
        kernel_initializer: str | Callable = "glorot_uniform",
        bias_initializer: str | Callable = "zeros",
        kernel_regularizer: str | Callable | None = None,
        bias_regularizer: str | Callable | None = None,
        input_shape: Sequence[int] | None = None,
        dtype: Any = None,
    ) -> None:
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"Conv2D: filters must be a positive integer, got {filters!r}")
        self.filters = int(filters)
        self.window = self.kernel_size = _pair("kernel_size", kernel_size, self.label)
        self.strides = _pair("strides", strides, self.label)
        self.padding = _checked_options(self.label, padding, data_format)
        if _pair("dilation_rate", dilation_rate, self.label) != (1, 1) or groups != 1:
            raise ValueError(
                f"{self.label}: dilation_rate={dilation_rate!r}, groups={groups!r}: nnlearn's "
                f"Conv2D has neither dilated nor grouped convolutions (only 1 and 1)"
            )
        self.activation_name = activation_name(activation)
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = get_regularizer(kernel_regularizer)
        self.bias_regularizer = get_regularizer(bias_regularizer)
        self.kernel = self.bias = None  # Parameters, made by build (in Keras's order)
        super().__init__(input_shape, dtype)

    def build(self, input_shape: Shape) -> None:
        """Create ``kernel`` (kh, kw, in, filters) and ``bias`` (filters,)."""
        if len(input_shape) == 4 and input_shape[-1] is not None:  # else super() refuses it
            kernel = (*self.kernel_size, int(input_shape[-1]), self.filters)
            self.kernel = self.add_weight(
                kernel, self.kernel_initializer, True, self.kernel_regularizer
            )
            if self.use_bias:
                bias = (self.filters,), self.bias_initializer, True, self.bias_regularizer
                self.bias = self.add_weight(*bias)
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*super().compute_output_shape(input_shape)[:3], self.filters)

    def forward(self, x: Tensor) -> Tensor:
        pads = self._windows(*x.shape[1:3])[0]
        weights = (self.kernel,) if self.bias is None else (self.kernel, self.bias)
        return self.activation(Convolution.apply(x, *weights, strides=self.strides, pads=pads))

    def get_config(self) -> dict[str, Any]:
        """Keras's keys (those nnlearn has): functions by name, regularizers as Keras's dicts."""
        config = _config(self, ("filters", "kernel_size", "strides", "padding", "use_bias"))
        config["activation"] = saved_name(self, "activation", activations.get)
        for part in ("kernel", "bias"):
            config[f"{part}_initializer"] = saved_name(
                self, f"{part}_initializer", initializers.get
            )
            config[f"{part}_regularizer"] = regularizer_config(self, f"{part}_regularizer")
        return config | {"dilation_rate": [1, 1], "groups": 1}

    def __repr__(self) -> str:
        return f"Conv2D({self.filters}, {self.kernel_size}, padding={self.padding!r})"


class _Pooling2D(_Windowed):
    """A window of ``pool_size`` moved by ``strides`` (default ``pool_size``: side by side)
    over each channel; no weights. Shapes: (batch, H, W, C) -> (batch, Ho, Wo, C)."""

    function: type[Function]

    def __init__(
        self,
        pool_size: int | Sequence[int] = (2, 2),
        strides: int | Sequence[int] | None = None,
        padding: str = "valid",
        data_format: str | None = None,
        input_shape: Sequence[int] | None = None,
        dtype: Any = None,
    ) -> None:
        self.window = self.pool_size = _pair("pool_size", pool_size, self.label)
        self.strides = self.pool_size if strides is None else _pair("strides", strides, self.label)
        self.padding = _checked_options(self.label, padding, data_format)
        super().__init__(input_shape, dtype)

    def forward(self, x: Tensor) -> Tensor:
        pads = self._windows(*x.shape[1:3])[0]
        return self.function.apply(x, pool=self.pool_size, strides=self.strides, pads=pads)

    def get_config(self) -> dict[str, Any]:
        """Keras's keys; ``strides`` resolved (``pool_size`` when given as None), as Keras."""
        return _config(self, ("pool_size", "strides", "padding"))


class MaxPooling2D(_Pooling2D):
    """Keras's ``MaxPooling2D``: the largest value of each window (:class:`MaxPool`)."""

    function = MaxPool


class AveragePooling2D(_Pooling2D):
    """Keras's ``AveragePooling2D``: the mean of each window (:class:`AveragePool`)."""

    function = AveragePool


class GlobalAveragePooling2D(_Images):
    """Keras's ``GlobalAveragePooling2D``: each channel's mean over the whole image.
    Shapes: (batch, H, W, C) -> (batch, C), or (batch, 1, 1, C) with ``keepdims``."""

    def __init__(self, data_format=None, keepdims: bool = False, input_shape=None, dtype=None):
        _checked_options(self.label, data_format=data_format)
        self.keepdims = bool(keepdims)
        super().__init__(input_shape, dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        n, _, _, channels = input_shape
        return (n, 1, 1, channels) if self.keepdims else (n, channels)

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(axis=(1, 2), keepdims=self.keepdims)

    def get_config(self) -> dict[str, Any]:
        return _config(self, ("keepdims",))


class Flatten(Layer):
    """Keras's ``Flatten``: each example as one vector, in channels-last order (a pixel's
    channels side by side). A torch CNN flattens NCHW tensors: the same weights feed a
    following Dense only after ``permute(0, 2, 3, 1)``. (batch, d1, ...) -> (batch, d1 ...)."""

    def __init__(self, data_format: str | None = None, input_shape=None, dtype=None) -> None:
        _checked_options(self.label, data_format=data_format)
        super().__init__(input_shape, dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else int(np.prod(rest, dtype=np.int64)))

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], -1)

    def get_config(self) -> dict[str, Any]:
        return _config(self, ())
