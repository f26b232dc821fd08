"""The torch twins of chapter 09's layers, and the one conversion that a twin cannot make.

Registered with :func:`~nnlearn.parity.twins.register_twin` when :mod:`nnlearn.parity` is
imported. Keras's arguments become torch's:

==========================================  ===============================================
nnlearn (Keras)                             torch
==========================================  ===============================================
``Dropout(rate)``                           ``nn.Dropout(p=rate)`` (torch's own mask draw)
``BatchNormalization(momentum, epsilon)``   ``nn.BatchNorm1d(features, eps=epsilon,
on (batch, features)                        momentum=1 - momentum)``: Keras's 0.99 is 0.01
``LayerNormalization(axis, epsilon)``       ``nn.LayerNorm(sizes along axis, eps=epsilon)``
==========================================  ===============================================

Keras's defaults are not torch's: momentum 0.99 (torch's 0.1 is Keras's 0.9) and epsilon
1e-3 (torch's 1e-5), so the twin states both. Weights: ``gamma`` is torch's ``weight``,
``beta`` its ``bias``; ``moving_mean`` and ``moving_variance`` are BatchNorm's *buffers*
``running_mean`` and ``running_var`` (state without gradients; its counter
``num_batches_tracked`` has no nnlearn twin and is ignored).

**Modes.** A twin runs in ``eval()`` mode unless made with ``torch_twin(model,
training=True)`` or switched with ``twin.train()``: ``train()`` is nnlearn's
``training=True``. The twin of a frozen BatchNormalization (``trainable = False``) stays in
``eval()`` mode even then, as Keras 3's frozen layer infers while training.

**The running variance.** Both libraries *normalise* a batch with its biased variance
``s^2 = mean((x - mu)^2)`` over the ``n`` values of a feature, and move their statistics
by the same rule (``torch momentum = 1 - Keras momentum``). But torch moves ``running_var``
toward the *unbiased* variance ``s^2 n / (n - 1)``, Keras ``moving_variance`` toward
``s^2``::

    Keras: moving_variance <- m * moving_variance + (1 - m) * s^2
    torch: running_var     <- m * running_var     + (1 - m) * s^2 * n / (n - 1)

So after a training step the two variances differ, and then the inference outputs too: no
weight layout converts one into the other. :func:`keras_moving_variance` recovers Keras's
from torch's step by step; the means agree exactly.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from nnlearn import regularization
from nnlearn.parity.twins import Slot, register_twin

if TYPE_CHECKING:
    import torch


@register_twin(regularization.Dropout)
def _dropout(layer: regularization.Dropout) -> torch.nn.Module:
    """``nn.Dropout(p=rate)``: the same law, a different draw (compare the masks' effect,
    not the masks)."""
    import torch

    if layer.noise_shape is not None:
        raise ValueError(
            f"torch_twin: {layer!r} has noise_shape={layer.noise_shape}, which torch's "
            f"nn.Dropout has no argument for; build the twin of a Dropout without noise_shape"
        )
    return torch.nn.Dropout(p=layer.rate)


@functools.cache
def _frozen_batch_norm() -> type:
    """``nn.BatchNorm1d`` that stays in ``eval()`` mode (made once, when torch is needed)."""
    import torch

    class FrozenBatchNorm1d(torch.nn.BatchNorm1d):
        """The twin of a frozen BatchNormalization: ``train()`` leaves it in eval mode."""

        def train(self, mode: bool = True) -> FrozenBatchNorm1d:
            return super().train(False)

    return FrozenBatchNorm1d


def _affine(layer: regularization._Normalization) -> bool:
    """torch learns both ``weight`` and ``bias`` or neither; so must the layer."""
    if layer.center != layer.scale:
        raise ValueError(
            f"torch_twin: {layer!r} has center={layer.center}, scale={layer.scale}; torch's "
            f"normalization layers learn both weight and bias or neither"
        )
    return layer.scale


@register_twin(
    regularization.BatchNormalization,
    gamma=Slot("weight"),
    beta=Slot("bias"),
    moving_mean=Slot("running_mean", buffer=True),
    moving_variance=Slot("running_var", buffer=True),
)
def _batch_norm(layer: regularization.BatchNormalization) -> torch.nn.Module:
    """``nn.BatchNorm1d(features, eps=epsilon, momentum=1 - momentum)`` on (batch, features)."""
    import torch

    if len(layer.input_shape) != 2:
        raise ValueError(
            f"torch_twin: the twin of {layer!r} takes inputs (batch, features); this layer was "
            f"built for {layer.input_shape}"
        )
    features = layer.input_shape[1]
    module = torch.nn.BatchNorm1d if layer.trainable else _frozen_batch_norm()
    return module(features, eps=layer.epsilon, momentum=1 - layer.momentum, affine=_affine(layer))


@register_twin(regularization.LayerNormalization, gamma=Slot("weight"), beta=Slot("bias"))
def _layer_norm(layer: regularization.LayerNormalization) -> torch.nn.Module:
    """``nn.LayerNorm(sizes along axis, eps=epsilon)``: torch normalises the last axes."""
    import torch

    rank = len(layer.input_shape)
    if layer.axes != tuple(range(rank - len(layer.axes), rank)):
        raise ValueError(
            f"torch_twin: {layer!r} normalises axes {layer.axes} of inputs {layer.input_shape}; "
            f"torch's LayerNorm normalises the last axes only"
        )
    sizes = [layer.input_shape[a] for a in layer.axes]
    return torch.nn.LayerNorm(sizes, eps=layer.epsilon, elementwise_affine=_affine(layer))


def keras_moving_variance(
    moving_variance: np.ndarray,
    running_var_before: np.ndarray,
    running_var_after: np.ndarray,
    n: int,
    momentum: float = 0.99,
) -> np.ndarray:
    """Keras's ``moving_variance`` after the training step in which torch's ``running_var``
    went from ``running_var_before`` to ``running_var_after``.

    Args:
        moving_variance: Keras's (nnlearn's) value before the step.
        running_var_before, running_var_after: the twin's ``running_var`` around the step.
        n: the values per feature in the batch (the batch size, for (batch, features)).
        momentum: Keras's momentum (torch's is ``1 - momentum``).

    torch's step added ``(1 - m) * s^2 * n / (n - 1)``; Keras's adds ``(1 - m) * s^2``::

        moving_variance * m + (running_var_after - running_var_before * m) * (n - 1) / n
    """
    added_by_torch = np.asarray(running_var_after) - np.asarray(running_var_before) * momentum
    return np.asarray(moving_variance) * momentum + added_by_torch * (n - 1) / n
