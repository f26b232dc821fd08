"""Backpropagation through time (chapter 15): the recurrences of SimpleRNN, LSTM and GRU as
fused Functions, each a loop over the steps forward and the same loop backwards.

The layers of :mod:`nnlearn.recurrent` call these. Every recurrence splits a step into an
*input part* ``a_t = x_t W + b`` (for all steps at once: one matrix product) and a
*recurrent part* ``q_t = h_{t-1} U`` (one product per step: ``h_{t-1}`` is known only
then). ``W`` is Keras's ``kernel`` (features, k u) and ``U`` its ``recurrent_kernel``
(u, k u), with k blocks of u columns in Keras's gate order:

* :class:`SimpleRNNSequence` (k = 1): ``h_t = act(a_t + q_t)``.
* :class:`LSTMSequence` (k = 4, gates i, f, c, o): with ``z = a_t + q_t``, ``i, f, o`` are
  ``sigma`` of their blocks and ``g = act(z_c)``; ``c_t = f * c_{t-1} + i * g``,
  ``h_t = o * act(c_t)``.
* :class:`GRUSequence` (k = 3, gates z, r, h; Keras 3's ``reset_after=True``, torch's GRU):
  ``z = sigma(a_z + q_z)``, ``r = sigma(a_r + q_r)``, ``n = act(a_h + r * q_h)``,
  ``h_t = z * h_{t-1} + (1 - z) * n``, where ``q_t`` includes the recurrent bias.

**Backpropagation through time** is the chain rule along the loop, run backwards: the
gradient reaching ``h_t`` is the loss's own at step t plus what step t + 1 sends back
through ``h_t`` (and, in the LSTM, through ``c_t``). So ``backward`` walks the steps from
the last to the first carrying that gradient, and stores each step's gradients of ``a_t``
and ``q_t``; the weights' gradients, sums over the steps, are then single matrix products.
The state starts at zero, ``h_0 = c_0 = 0``, as in Keras and torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nnlearn.tensor import Function

__all__ = ["GATE_FUNCTIONS", "GRUSequence", "LSTMSequence", "SimpleRNNSequence"]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^{-z}) = (1 + tanh(z / 2)) / 2``: the same function, no overflow, and on
    the small gate arrays of a step about three times quicker than ``sigmoid_values``."""
    return 0.5 * np.tanh(0.5 * z) + 0.5


# The activations a recurrent layer takes, each with its derivative written in terms of its
# output y = f(z) (so backward needs no pre-activations): Keras's names.
GATE_FUNCTIONS: dict[str, tuple[Callable, Callable]] = {
    "tanh": (np.tanh, lambda y: 1 - y * y),
    "sigmoid": (_sigmoid, lambda y: y * (1 - y)),
    "relu": (lambda z: np.maximum(z, 0), lambda y: (y > 0).astype(y.dtype)),
    "linear": (lambda z: z, np.ones_like),
}


class _Recurrence(Function):
    """What the three recurrences share: the input part, the loop's bookkeeping, the output,
    and the weight gradients.

    ``forward(x, kernel, recurrent_kernel[, bias], *, activation, return_sequences,
    recurrent_activation="sigmoid")``: ``x`` (batch, time, features), ``kernel``
    (features, k u), ``recurrent_kernel`` (u, k u), ``bias`` (k u,) or, for the GRU,
    (2, k u). The steps run time-major: ``a`` (time, batch, k u) holds every step's input
    part, ``self.h`` (time + 1, batch, u) every state, ``h[0] = 0``. A subclass writes the
    loop forward (``run``, filling ``h``) and backwards (``run_back``).
    """

    def forward(
        self,
        x: np.ndarray,
        kernel: np.ndarray,
        recurrent_kernel: np.ndarray,
        bias: np.ndarray | None = None,
        *,
        activation: str,
        return_sequences: bool,
        recurrent_activation: str = "sigmoid",
    ) -> np.ndarray:
        self.x, self.kernel, self.recurrent_kernel = x, kernel, recurrent_kernel
        self.return_sequences, self.has_bias = return_sequences, bias is not None
        self.f, self.df = GATE_FUNCTIONS[activation]
        self.gate, self.dgate = GATE_FUNCTIONS[recurrent_activation]
        a = np.matmul(x.transpose(1, 0, 2), kernel)  # (time, batch, k u)
        if bias is not None:
            a += bias[0] if bias.ndim == 2 else bias  # the GRU's row 1 joins q_t instead
        self.time, batch, units = x.shape[1], x.shape[0], recurrent_kernel.shape[0]
        self.h = np.zeros((self.time + 1, batch, units), dtype=x.dtype)
        self.run(a, bias)
        return self.h[1:].transpose(1, 0, 2) if return_sequences else self.h[-1]

    def backward(self, g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        """``g``: dL/d(output), (batch, time, u) with ``return_sequences``, else (batch, u),
        the last step's only (the earlier steps then receive nothing from the loss directly).
        ``run_back`` returns ``da`` and ``dq`` (time, batch, k u), the gradients of every
        step's input part ``a_t`` and recurrent part ``q_t``; the weights' gradients sum
        over the steps (one product over the (time * batch) rows)::

            dL/dx = da W^T (batch, time, features),   dL/dW = sum_t x_t^T da_t  (features, k u)
            dL/dU = sum_t h_{t-1}^T dq_t  (u, k u),    dL/dbias = sum over t and batch of da
                                                      (the GRU's row 1: of dq)
        """
        if self.return_sequences:
            upstream = g.transpose(1, 0, 2)  # (time, batch, u)
        else:
            upstream = np.zeros_like(self.h[1:])
            upstream[-1] = g
        da, dq = self.run_back(upstream)
        features, width = self.kernel.shape
        grad_x = None
        if self.parents[0].requires_grad:
            grad_x = np.matmul(da, self.kernel.T).transpose(1, 0, 2)
        x_rows = self.x.transpose(1, 0, 2).reshape(-1, features)
        grad_kernel = x_rows.T @ da.reshape(-1, width)
        h_rows = self.h[:-1].reshape(-1, self.h.shape[-1])  # h_0 .. h_{T-1}
        grad_recurrent = h_rows.T @ dq.reshape(-1, width)
        if not self.has_bias:
            return grad_x, grad_kernel, grad_recurrent
        grad_bias = da.sum(axis=(0, 1))
        if self.parents[3].ndim == 2:  # the GRU's two rows
            grad_bias = np.stack([grad_bias, dq.sum(axis=(0, 1))])
        return grad_x, grad_kernel, grad_recurrent, grad_bias


class SimpleRNNSequence(_Recurrence):
    """``h_t = act(x_t W + h_{t-1} U + b)`` for t = 1..T (Keras's SimpleRNN, torch's RNN).

    Backward, with ``dh`` the gradient reaching ``h_t`` (the loss's at step t plus what step
    t + 1 sends back): ``da_t = dq_t = dh * act'(h_t)`` (batch, u), and step t - 1 receives
    ``da_t U^T``.
    """

    def run(self, a: np.ndarray, bias: Any) -> None:
        h, u = self.h, self.recurrent_kernel
        for t in range(self.time):
            h[t + 1] = self.f(a[t] + h[t] @ u)

    def run_back(self, upstream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        da = np.empty_like(upstream)
        u_t = self.recurrent_kernel.T
        dh_next = np.zeros_like(upstream[0])
        for t in reversed(range(self.time)):
            da[t] = (upstream[t] + dh_next) * self.df(self.h[t + 1])
            dh_next = da[t] @ u_t
        return da, da


class LSTMSequence(_Recurrence):
    """The LSTM (Keras's gate order i, f, c, o in the k = 4 blocks of width u).

    Forward, per step: ``z = a_t + h_{t-1} U``; ``i, f, o = sigma(z_i), sigma(z_f),
    sigma(z_o)``, ``g = act(z_c)``; ``c_t = f * c_{t-1} + i * g``; ``h_t = o * act(c_t)``.

    Backward, with ``dh`` and ``dc`` the gradients reaching ``h_t`` and ``c_t``::

        do = dh * act(c_t)             dc += dh * o * act'(c_t)
        di = dc * g,  df = dc * c_{t-1},  dg = dc * i          (c_{t-1} receives dc * f)
        dz = [di sigma'(i), df sigma'(f), dg act'(g), do sigma'(o)]    (batch, 4u)

    ``da_t = dq_t = dz``, and ``h_{t-1}`` receives ``dz U^T``.
    """

    def run(self, a: np.ndarray, bias: Any) -> None:
        h, u, n = self.h, self.recurrent_kernel, self.h.shape[-1]
        self.c = np.zeros_like(h)  # c[0] = 0
        self.gates = np.empty_like(a)  # i, f, g, o after their activations
        self.act_c = np.empty_like(h[1:])
        for t in range(self.time):
            z, gates = a[t] + h[t] @ u, self.gates[t]
            gates[:, : 2 * n] = self.gate(z[:, : 2 * n])  # i, f
            gates[:, 2 * n : 3 * n] = self.f(z[:, 2 * n : 3 * n])  # g, the candidate
            gates[:, 3 * n :] = self.gate(z[:, 3 * n :])  # o
            i, f, g, o = np.split(gates, 4, axis=1)
            self.c[t + 1] = f * self.c[t] + i * g
            self.act_c[t] = self.f(self.c[t + 1])
            h[t + 1] = o * self.act_c[t]

    def run_back(self, upstream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dz = np.empty_like(self.gates)
        u_t, n = self.recurrent_kernel.T, self.h.shape[-1]
        dh_next, dc = np.zeros_like(upstream[0]), np.zeros_like(upstream[0])
        for t in reversed(range(self.time)):
            dh = upstream[t] + dh_next
            i, f, g, o = np.split(self.gates[t], 4, axis=1)
            dc = dc + dh * o * self.df(self.act_c[t])
            step = dz[t]
            step[:, :n] = dc * g * self.dgate(i)
            step[:, n : 2 * n] = dc * self.c[t] * self.dgate(f)
            step[:, 2 * n : 3 * n] = dc * i * self.df(g)
            step[:, 3 * n :] = dh * self.act_c[t] * self.dgate(o)
            dc = dc * f
            dh_next = step @ u_t
        return dz, dz


class GRUSequence(_Recurrence):
    """The GRU of Keras 3 (``reset_after=True``) and torch: gates z, r, h in k = 3 blocks;
    ``bias`` (2, 3u): row 0 joins the input part, row 1 ``b'`` the recurrent part.

    Forward, per step, with ``q = h_{t-1} U + b'`` (batch, 3u)::

        z = sigma(a_z + q_z),  r = sigma(a_r + q_r),  n = act(a_h + r * q_h)
        h_t = z * h_{t-1} + (1 - z) * n

    Backward, with ``dh`` the gradient reaching ``h_t``::

        dz = dh * (h_{t-1} - n) * sigma'(z),   dn = dh * (1 - z) * act'(n),
        dr = dn * q_h * sigma'(r)
        da_t = [dz, dr, dn],   dq_t = [dz, dr, dn * r]

    and ``h_{t-1}`` receives ``dh * z + dq_t U^T``.
    """

    def run(self, a: np.ndarray, bias: Any) -> None:
        h, u, n = self.h, self.recurrent_kernel, self.h.shape[-1]
        self.gates = np.empty_like(a)  # z, r, n after their activations
        self.q_h = np.empty_like(h[1:])  # the recurrent part of the candidate, before r
        for t in range(self.time):
            q = h[t] @ u
            if bias is not None:
                q += bias[1]
            gates = self.gates[t]
            gates[:, : 2 * n] = self.gate(a[t, :, : 2 * n] + q[:, : 2 * n])  # z, r
            self.q_h[t] = q[:, 2 * n :]
            gates[:, 2 * n :] = self.f(a[t, :, 2 * n :] + gates[:, n : 2 * n] * self.q_h[t])
            z, candidate = gates[:, :n], gates[:, 2 * n :]
            h[t + 1] = z * h[t] + (1 - z) * candidate

    def run_back(self, upstream: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        da, dq = np.empty_like(self.gates), np.empty_like(self.gates)
        u_t, n = self.recurrent_kernel.T, self.h.shape[-1]
        dh_next = np.zeros_like(upstream[0])
        for t in reversed(range(self.time)):
            dh = upstream[t] + dh_next
            z, r, candidate = np.split(self.gates[t], 3, axis=1)
            dn = dh * (1 - z) * self.df(candidate)
            da[t, :, :n] = dq[t, :, :n] = dh * (self.h[t] - candidate) * self.dgate(z)
            da[t, :, n : 2 * n] = dq[t, :, n : 2 * n] = dn * self.q_h[t] * self.dgate(r)
            da[t, :, 2 * n :] = dn
            dq[t, :, 2 * n :] = dn * r
            dh_next = dh * z + dq[t] @ u_t
        return da, dq
