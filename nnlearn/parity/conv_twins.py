"""The torch twins of chapter 14's layers: channels-last in, channels-last out.

Keras (and nnlearn) keep images channels-last, (batch, height, width, channels) (NHWC), and
a Conv2D kernel as (kh, kw, in, out) (HWIO); torch's ``Conv2d``, ``MaxPool2d`` and
``AvgPool2d`` work channels-first, (batch, channels, height, width) (NCHW), with a weight
(out, in, kh, kw) (OIHW). The conversions live here, once each:

* :class:`ChannelsFirst` (made by :func:`channels_first`) wraps torch's layers:
  ``permute(0, 3, 1, 2)`` in, ``permute(0, 2, 3, 1)`` out, so every twin takes and returns
  what its nnlearn layer does, and twins stack like the layers;
* :func:`hwio_to_oihw` and :func:`oihw_to_hwio`, the kernel's two layouts, in the slot.

==================================  =========================================================
nnlearn (Keras)                     torch, inside ``ChannelsFirst``
==================================  =========================================================
``Conv2D(padding="valid")``         ``Conv2d(padding=0)``
``Conv2D(padding="same")``          stride 1: ``Conv2d(padding="same")`` (torch's own rule:
                                    an odd total puts one more at the bottom/right, as Keras);
                                    stride > 1 (torch has no "same"): ``ZeroPad2d`` by Keras's
                                    rule (:func:`nnlearn.conv.window_padding`), then ``Conv2d``
``MaxPooling2D``                    ``MaxPool2d``; "same": ``ConstantPad2d(-inf)`` first
``AveragePooling2D``                ``AvgPool2d``; "same": ``padding=p,
                                    count_include_pad=False`` when symmetric, else the sums
                                    of the zero-padded windows over their counts of inputs
``GlobalAveragePooling2D``          ``AdaptiveAvgPool2d(1)``, then ``Flatten``
``Flatten``                         ``Flatten`` on the NHWC tensor it receives
==================================  =========================================================

**Flatten's order.** Keras flattens a channels-last image: a pixel's channels side by side.
The twin gets the NHWC tensor back from the layer before it, so torch's ``Flatten`` gives
Keras's order. A torch CNN written channels-first must ``permute(0, 2, 3, 1)`` before its
``Flatten`` for a Dense layer trained in Keras to read the same features.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from nnlearn import conv
from nnlearn.parity.twins import Slot, register_twin, twin_activation

if TYPE_CHECKING:
    import torch


def hwio_to_oihw(kernel: np.ndarray) -> np.ndarray:
    """Keras's kernel (kh, kw, in, out) as torch's weight (out, in, kh, kw)."""
    return np.transpose(kernel, (3, 2, 0, 1))


def oihw_to_hwio(weight: np.ndarray) -> np.ndarray:
    """torch's weight (out, in, kh, kw) as Keras's kernel (kh, kw, in, out)."""
    return np.transpose(weight, (2, 3, 1, 0))


@functools.cache
def _torch_modules() -> tuple[type, type]:
    """The twins' own two torch modules, made once, when torch is needed."""
    import torch

    class ChannelsFirst(torch.nn.Sequential):
        """Channels-first torch modules on channels-last tensors: NHWC -> NCHW, the
        modules in turn, -> NHWC."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    class CoveredAvgPool2d(torch.nn.Module):
        """The mean of the input values each window covers, on an input zero-padded by
        ``pads`` (left, right, top, bottom): window sums over window counts, both by
        ``avg_pool2d(divisor_override=1)`` (torch's pooling cannot pad asymmetrically)."""

        def __init__(self, pool: tuple, strides: tuple, pads: tuple) -> None:
            super().__init__()
            self.pool, self.strides, self.pads = pool, strides, pads

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            def sums(t: torch.Tensor) -> torch.Tensor:
                padded = torch.nn.functional.pad(t, self.pads)
                return torch.nn.functional.avg_pool2d(
                    padded, self.pool, self.strides, divisor_override=1
                )

            return sums(x) / sums(torch.ones_like(x[:1, :1]))

    return ChannelsFirst, CoveredAvgPool2d


def channels_first(*modules: torch.nn.Module) -> torch.nn.Module:
    """``modules`` (channels-first torch layers) run on channels-last tensors."""
    return _torch_modules()[0](*modules)


def _torch_pads(layer: conv.Conv2D | conv._Pooling2D) -> tuple[int, int, int, int]:
    """The layer's padding by Keras's rule, in torch's order (left, right, top, bottom)."""
    if any(size is None for size in layer.input_shape[1:3]):
        raise ValueError(
            f"torch_twin: {layer!r} was built for images of any size, {layer.input_shape}; "
            f"its 'same' padding depends on the size: build it for one size"
        )
    (top, bottom), (left, right) = (
        conv.window_padding(size, window, stride, layer.padding)[:2]
        for size, window, stride in zip(
            layer.input_shape[1:3], layer.window, layer.strides, strict=True
        )
    )
    return left, right, top, bottom


@register_twin(
    conv.Conv2D, kernel=Slot("0.1.weight", hwio_to_oihw, oihw_to_hwio), bias=Slot("0.1.bias")
)
def _conv2d(layer: conv.Conv2D) -> torch.nn.Module:
    """``Sequential(ChannelsFirst(pad, Conv2d), activation)``; ``weight = hwio_to_oihw(kernel)``."""
    import torch

    pads, padding = (0, 0, 0, 0), 0
    if layer.padding == "same" and layer.strides == (1, 1):
        padding = "same"  # torch's own rule
    elif layer.padding == "same":
        pads = _torch_pads(layer)
    in_channels = layer.kernel.shape[2]
    convolution = torch.nn.Conv2d(
        in_channels, layer.filters, layer.kernel_size, layer.strides, padding, bias=layer.use_bias
    )
    body = channels_first(torch.nn.ZeroPad2d(pads), convolution)
    return torch.nn.Sequential(body, twin_activation(layer.activation_name))


@register_twin(conv.MaxPooling2D)
def _max_pooling(layer: conv.MaxPooling2D) -> torch.nn.Module:
    """``ChannelsFirst(ConstantPad2d(pads, -inf), MaxPool2d(pool_size, strides))``."""
    import torch

    pads = _torch_pads(layer) if layer.padding == "same" else (0, 0, 0, 0)
    pool = torch.nn.MaxPool2d(layer.pool_size, layer.strides)
    return channels_first(torch.nn.ConstantPad2d(pads, -float("inf")), pool)


@register_twin(conv.AveragePooling2D)
def _average_pooling(layer: conv.AveragePooling2D) -> torch.nn.Module:
    """``ChannelsFirst(AvgPool2d)``: valid, or torch's symmetric padding not counted; an
    asymmetric "same" border: the covered values' sums over their counts."""
    import torch

    if layer.padding == "valid":
        return channels_first(torch.nn.AvgPool2d(layer.pool_size, layer.strides))
    left, right, top, bottom = pads = _torch_pads(layer)
    if left == right and top == bottom:
        pool = torch.nn.AvgPool2d(
            layer.pool_size, layer.strides, padding=(top, left), count_include_pad=False
        )
        return channels_first(pool)
    return channels_first(_torch_modules()[1](layer.pool_size, layer.strides, pads))


@register_twin(conv.GlobalAveragePooling2D)
def _global_average_pooling(layer: conv.GlobalAveragePooling2D) -> torch.nn.Module:
    """``ChannelsFirst(AdaptiveAvgPool2d(1))`` (batch, 1, 1, C), then ``Flatten`` unless
    ``keepdims``."""
    import torch

    pooled = channels_first(torch.nn.AdaptiveAvgPool2d(1))
    return pooled if layer.keepdims else torch.nn.Sequential(pooled, torch.nn.Flatten())


@register_twin(conv.Flatten)
def _flatten(layer: conv.Flatten) -> torch.nn.Module:
    """``Flatten()``: on the channels-last tensor it receives, Keras's order."""
    import torch

    return torch.nn.Flatten()
