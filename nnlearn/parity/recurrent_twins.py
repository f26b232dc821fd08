"""The torch twins of chapter 15's recurrent layers: ``torch.nn.RNN``, ``LSTM`` and ``GRU``.

Each twin is torch's own module (``batch_first=True``, one layer, one direction) inside a
small wrapper that does two things torch's modules do not: return the last step only
(Keras's ``return_sequences=False``), and hold the bias in Keras's form. The weights map as
follows (``^T`` a transpose)::

    nnlearn (Keras)                       torch
    kernel (features, k u)                weight_ih_l0 (k u, features) = kernel^T
    recurrent_kernel (u, k u)             weight_hh_l0 (k u, u)        = recurrent_kernel^T
    bias                                  bias_ih_l0, bias_hh_l0 (k u,) each, see below

**Gate order.** Keras's LSTM stacks i, f, c, o; torch's i, f, g, o: the same (torch calls
the candidate g). Keras's GRU stacks z, r, h; torch's r, z, n: the first two blocks swap
(:func:`swap_first_two_blocks`, its own inverse).

**Two bias vectors.** torch adds two biases in every gate, ``bias_ih`` (to ``W x``) and
``bias_hh`` (to ``U h``). Where both are simply added (every gate of the RNN and the LSTM)
only their sum counts, and Keras keeps one vector: the twin gives torch Keras's ``bias`` as
``bias_ih`` and a constant zero as ``bias_hh``. A trainable zero would not do: both would
receive the same gradient and, with Adam, the sum would move twice as far as Keras's bias.
Keras's GRU (``reset_after=True``) keeps two rows because its candidate needs two,
``n = tanh(W_n x + b_in + r * (U_n h + b_hn))``: ``bias[0]`` is ``bias_ih``, ``bias[1]``
is ``bias_hh``. So the wrapper owns ``bias`` (Keras's shape, torch's gate order) and hands
torch its two vectors at each call (``torch.func.functional_call``); torch's own two are
zero buffers that never learn.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np

from nnlearn import recurrent
from nnlearn.parity.twins import Slot, register_twin

if TYPE_CHECKING:
    import torch

TORCH_MODULES = {recurrent.SimpleRNN: "RNN", recurrent.LSTM: "LSTM", recurrent.GRU: "GRU"}


def swap_first_two_blocks(array: np.ndarray, axis: int = -1) -> np.ndarray:
    """Keras's GRU gates z, r, h as torch's r, z, n (and back): the first two of the three
    equal blocks along ``axis`` change places."""
    z, r, h = np.split(array, 3, axis=axis)
    return np.concatenate([r, z, h], axis=axis)


def _gru_weight(array: np.ndarray) -> np.ndarray:  # (in, 3u) z, r, h -> (3u, in) r, z, n
    return swap_first_two_blocks(array, axis=1).T


def _gru_kernel(array: np.ndarray) -> np.ndarray:  # torch (3u, in) r, z, n -> (in, 3u) z, r, h
    return swap_first_two_blocks(array.T, axis=1)


@functools.cache
def _wrapper() -> type:
    """The wrapper class, made once when torch is first needed."""
    import torch

    class KerasRecurrent(torch.nn.Module):
        """torch's ``rnn`` with Keras's bias (``bias``) and Keras's ``return_sequences``."""

        def __init__(self, rnn: torch.nn.Module, return_sequences: bool, bias_shape) -> None:
            super().__init__()
            self.rnn, self.return_sequences = rnn, return_sequences
            self.bias = None
            if bias_shape is not None:
                self.bias = torch.nn.Parameter(torch.zeros(bias_shape))
                for name in ("bias_ih_l0", "bias_hh_l0"):  # zero buffers, replaced at each call
                    zeros = getattr(rnn, name).detach().zero_()
                    delattr(rnn, name)
                    rnn.register_buffer(name, zeros)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.bias is None:
                out, _ = self.rnn(x)
            else:
                biases = {"bias_ih_l0": self.bias}  # + the zero bias_hh_l0 (RNN, LSTM)
                if self.bias.ndim == 2:  # the GRU's two rows
                    biases = {"bias_ih_l0": self.bias[0], "bias_hh_l0": self.bias[1]}
                out, _ = torch.func.functional_call(self.rnn, biases, (x,))
            return out if self.return_sequences else out[:, -1]

    return KerasRecurrent


def _twin(layer: recurrent._RecurrentLayer) -> torch.nn.Module:
    """torch's module of the same kind and sizes, in the wrapper."""
    import torch

    options = {}
    if isinstance(layer, recurrent.SimpleRNN):
        if layer.activation not in ("tanh", "relu"):
            raise ValueError(
                f"torch_twin: {layer!r} has activation={layer.activation!r}; torch's RNN "
                f"has nonlinearity 'tanh' or 'relu' only"
            )
        options["nonlinearity"] = layer.activation
    elif (layer.activation, layer.recurrent_activation) != ("tanh", "sigmoid"):
        raise ValueError(
            f"torch_twin: {layer!r} has activation={layer.activation!r}, recurrent_activation="
            f"{layer.recurrent_activation!r}; torch's {TORCH_MODULES[type(layer)]} has tanh "
            f"and sigmoid fixed"
        )
    module = getattr(torch.nn, TORCH_MODULES[type(layer)])
    features = layer.kernel.shape[0]
    rnn = module(features, layer.units, bias=layer.use_bias, batch_first=True, **options)
    bias_shape = tuple(layer.bias.shape) if layer.use_bias else None
    return _wrapper()(rnn, layer.return_sequences, bias_shape)


_PLAIN = {
    "kernel": Slot("rnn.weight_ih_l0", np.transpose, np.transpose),
    "recurrent_kernel": Slot("rnn.weight_hh_l0", np.transpose, np.transpose),
    "bias": Slot("bias"),
}
register_twin(recurrent.SimpleRNN, **_PLAIN)(_twin)
register_twin(recurrent.LSTM, **_PLAIN)(_twin)
register_twin(
    recurrent.GRU,
    kernel=Slot("rnn.weight_ih_l0", _gru_weight, _gru_kernel),
    recurrent_kernel=Slot("rnn.weight_hh_l0", _gru_weight, _gru_kernel),
    bias=Slot("bias", swap_first_two_blocks, swap_first_two_blocks),
)(_twin)
