"""Recurrent layers (chapter 15): SimpleRNN, LSTM and GRU, Keras's names and meaning.

Checked against Keras 3 itself and, through their torch twins
(:mod:`nnlearn.parity.recurrent_twins`), against ``torch.nn.RNN/LSTM/GRU``; each is also
``nnlearn.layers.<Name>``, as in Keras. Inputs are ``(batch, time, features)``; the state
starts at zero; the output is the last step's state ``(batch, units)``, or every step's
``(batch, time, units)`` with ``return_sequences=True``.

Weights, in Keras's order and layout, so that a Keras layer's ``get_weights()`` loads
unchanged: ``kernel`` (features, k units), ``recurrent_kernel`` (units, k units) and
``bias``, with k blocks of ``units`` columns in Keras's gate order: SimpleRNN k = 1; LSTM
k = 4, gates i, f, c, o, bias (4 units,); GRU k = 3, gates z, r, h, bias (2, 3 units) (input
and recurrent rows). The formulas, forward and backward through time, are in
:mod:`nnlearn.bptt`: one fused Function per layer.

Keras's arguments for dropout, state, direction and constraints are accepted only at their
defaults; another value raises, naming the argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nnlearn import initializers
from nnlearn.bptt import GATE_FUNCTIONS, GRUSequence, LSTMSequence, SimpleRNNSequence, _Recurrence
from nnlearn.layers import get_regularizer, regularizer_config
from nnlearn.module import Layer, Shape
from nnlearn.seeding import rng as default_rng
from nnlearn.tensor import Tensor, get_default_dtype

__all__ = ["GRU", "LSTM", "SimpleRNN", "orthogonal"]


def orthogonal(shape: Sequence[int], rng: Any = None, dtype: Any = None) -> np.ndarray:
    """Keras's ``orthogonal`` initializer (gain 1), the default of ``recurrent_kernel``: the
    Q of the QR decomposition of a standard normal matrix (signs fixed by R's diagonal, so
    Q is uniform over orthogonal matrices). For (units, k * units) the rows are orthonormal.

    Why: ``h_t`` is multiplied by ``U`` at every step; an orthogonal ``U`` keeps its length,
    so the state neither explodes nor vanishes through the products alone.
    """
    rng = rng if rng is not None else default_rng()
    rows, cols = int(np.prod(shape[:-1])), int(shape[-1])
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q *= np.sign(np.diag(r))
    q = q.T if rows < cols else q
    return q.reshape(shape).astype(dtype if dtype is not None else get_default_dtype())


def _initializer(name: str | Callable) -> Callable:
    return orthogonal if name == "orthogonal" else initializers.get(name)


def _name(layer: Layer, argument: str) -> str:
    """The name of ``layer.<argument>`` (an initializer) for ``get_config``."""
    value = getattr(layer, argument)
    if isinstance(value, str):
        return value
    known = {**initializers.INITIALIZERS, "orthogonal": orthogonal}
    if known.get(getattr(value, "__name__", "")) is not value:
        raise ValueError(f"{layer.label}.get_config: {argument} {value!r} has no name")
    return value.__name__


# --- the layers ------------------------------------------------------------------------------
# Keras arguments nnlearn does not implement, with the Keras default it accepts.
KERAS_ONLY = {"activity_regularizer": None, "dropout": 0.0, "recurrent_dropout": 0.0}
KERAS_ONLY |= dict.fromkeys(("kernel_constraint", "recurrent_constraint", "bias_constraint"))
KERAS_ONLY |= {"seed": None, "return_state": False, "go_backwards": False, "stateful": False}
KERAS_ONLY |= {"unroll": False, "use_cudnn": "auto"}


class _RecurrentLayer(Layer):
    """What SimpleRNN, LSTM and GRU share: arguments, weights, checks, the call."""

    GATES = 1  # k: the blocks of kernel and recurrent_kernel
    RECURRENT_BIAS = False  # whether bias has a second row, added to the recurrent part (GRU)
    FUNCTION: type[_Recurrence]
    CONFIG = ("units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer")
    CONFIG += ("bias_initializer", "return_sequences")

    def __init__(
        self,
        units: int,
        activation: str = "tanh",
        use_bias: bool = True,
        kernel_initializer: str | Callable = "glorot_uniform",
        recurrent_initializer: str | Callable = "orthogonal",
        bias_initializer: str | Callable = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        return_sequences: bool = False,
        input_shape: Sequence[int] | None = None,
        dtype: Any = None,
        **keras_only: Any,
    ) -> None:
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(
                f"{type(self).__name__}: units must be a positive integer, got {units!r}"
            )
        self.units = int(units)
        self.activation = self._function_name("activation", activation)
        self.use_bias, self.return_sequences = bool(use_bias), bool(return_sequences)
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = get_regularizer(kernel_regularizer)
        self.recurrent_regularizer = get_regularizer(recurrent_regularizer)
        self.bias_regularizer = get_regularizer(bias_regularizer)
        for key, value in keras_only.items():
            self._refuse(key, value)
        self.kernel = self.recurrent_kernel = self.bias = None  # Keras's order of the weights
        super().__init__(input_shape, dtype)

    def _function_name(self, argument: str, value: Any) -> str:
        if not isinstance(value, str) or value not in GATE_FUNCTIONS:
            raise ValueError(
                f"{type(self).__name__}: {argument}={value!r} is not available in nnlearn's "
                f"recurrent layers (their backward writes each derivative out); choose one of "
                f"{', '.join(GATE_FUNCTIONS)}"
            )
        return value

    def _refuse(self, key: str, value: Any) -> None:
        name = type(self).__name__
        if key not in KERAS_ONLY:
            raise TypeError(f"{name}() got an unexpected keyword argument {key!r}")
        if value != KERAS_ONLY[key]:
            raise ValueError(
                f"{name}: Keras's argument {key}={value!r} is not implemented in nnlearn (only "
                f"its default, {KERAS_ONLY[key]!r}); build this model in Keras or PyTorch"
            )

    def build(self, input_shape: Shape) -> None:
        """Create ``kernel`` (features, k u), ``recurrent_kernel`` (u, k u) and ``bias``."""
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"{self.label}: inputs need shape (batch, time, features), got "
                f"{tuple(input_shape)}; one feature per step: x.reshape(batch, time, 1)"
            )
        width = self.GATES * self.units
        self.kernel = self.add_weight(
            (int(input_shape[-1]), width),
            _initializer(self.kernel_initializer),
            regularizer=self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            (self.units, width),
            _initializer(self.recurrent_initializer),
            regularizer=self.recurrent_regularizer,
        )
        if self.use_bias:
            shape = (2, width) if self.RECURRENT_BIAS else (width,)
            self.bias = self.add_weight(shape, self.initial_bias, regularizer=self.bias_regularizer)
        super().build(input_shape)

    def initial_bias(self, shape: Shape, rng: Any, dtype: Any) -> np.ndarray:
        """The bias's initial values: ``bias_initializer``'s draw."""
        return _initializer(self.bias_initializer)(shape, rng, dtype)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[: 1 + self.return_sequences], self.units)

    def _prepare(self, x: Any) -> Tensor:
        x = super()._prepare(x)
        features = self.kernel.shape[0]
        if x.ndim != 3 or x.shape[-1] != features:
            raise ValueError(
                f"{self.label}: expected inputs of shape (batch, time, {features}), got {x.shape}"
            )
        if x.dtype != self.dtype:
            raise TypeError(
                f"{self.label}: the inputs are {x.dtype} but the layer's weights are "
                f"{self.dtype}; convert the inputs with .astype({self.dtype.name!r}) or build "
                f"the layer with dtype={x.dtype.name!r}"
            )
        return x

    def forward(self, x: Tensor) -> Tensor:
        weights = [self.kernel, self.recurrent_kernel] + [self.bias] * self.use_bias
        options = {"activation": self.activation, "return_sequences": self.return_sequences}
        if hasattr(self, "recurrent_activation"):
            options["recurrent_activation"] = self.recurrent_activation
        return self.FUNCTION.apply(x, *weights, **options)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments by Keras's names (initializers by name, regularizers
        as Keras writes them), so that ``type(layer)(**config)`` rebuilds the layer."""
        config = {}
        for key in self.CONFIG:
            config[key] = _name(self, key) if key.endswith("_initializer") else getattr(self, key)
        for key in ("kernel_regularizer", "recurrent_regularizer", "bias_regularizer"):
            config[key] = regularizer_config(self, key)
        return config | {"dtype": self.dtype.name}

    @property
    def label(self) -> str:
        return f"{type(self).__name__}({self.units})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.units}, return_sequences={self.return_sequences})"


class SimpleRNN(_RecurrentLayer):
    """Keras's ``SimpleRNN``: ``h_t = activation(x_t kernel + h_{t-1} recurrent_kernel +
    bias)`` (:class:`SimpleRNNSequence`).

    Args (Keras's names and defaults): ``units``; ``activation`` ("tanh"; also "relu",
    "sigmoid", "linear"); ``use_bias``; ``kernel_initializer`` ("glorot_uniform"),
    ``recurrent_initializer`` ("orthogonal"), ``bias_initializer`` ("zeros");
    ``kernel_regularizer``, ``recurrent_regularizer``, ``bias_regularizer``;
    ``return_sequences`` (False: the last step's output only); ``input_shape`` (time,
    features); ``dtype``. Keras's dropout, state and direction arguments raise unless left
    at their defaults.

    Weights, Keras's order and layout: ``kernel`` (features, units), ``recurrent_kernel``
    (units, units), ``bias`` (units,). Shapes: (batch, time, features) -> (batch, units), or
    (batch, time, units) with ``return_sequences``.
    """

    FUNCTION = SimpleRNNSequence


class LSTM(_RecurrentLayer):
    """Keras's ``LSTM`` (:class:`LSTMSequence`): gates i, f, c, o in that order in each
    weight's 4 blocks of ``units`` columns.

    Args: as :class:`SimpleRNN`, plus ``recurrent_activation`` ("sigmoid", the gates i, f,
    o) and ``unit_forget_bias`` (True: the forget gate's bias starts at 1, so at first the
    cell keeps what it holds).

    Weights: ``kernel`` (features, 4 units), ``recurrent_kernel`` (units, 4 units), ``bias``
    (4 units,). Shapes as :class:`SimpleRNN`.
    """

    GATES = 4
    FUNCTION = LSTMSequence
    CONFIG = (*_RecurrentLayer.CONFIG, "recurrent_activation", "unit_forget_bias")

    def __init__(
        self,
        units: int,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        use_bias: bool = True,
        unit_forget_bias: bool = True,
        **kwargs: Any,
    ) -> None:
        self.recurrent_activation = self._function_name(
            "recurrent_activation", recurrent_activation
        )
        self.unit_forget_bias = bool(unit_forget_bias)
        super().__init__(units, activation, use_bias, **kwargs)

    def initial_bias(self, shape: Shape, rng: Any, dtype: Any) -> np.ndarray:
        """``bias_initializer``'s draw, with ones for the forget gate if ``unit_forget_bias``."""
        bias = super().initial_bias(shape, rng, dtype)
        if self.unit_forget_bias:
            bias[self.units : 2 * self.units] = 1
        return bias


class GRU(_RecurrentLayer):
    """Keras 3's ``GRU`` with ``reset_after=True`` (its default, and torch's GRU;
    :class:`GRUSequence`): gates z, r, h in that order in each weight's 3 blocks.

    Args: as :class:`SimpleRNN`, plus ``recurrent_activation`` ("sigmoid", the gates z and
    r); ``reset_after`` must be True (the older GRU, which resets before the recurrent
    product, is not implemented).

    Weights: ``kernel`` (features, 3 units), ``recurrent_kernel`` (units, 3 units), ``bias``
    (2, 3 units): row 0 the input bias, row 1 the recurrent bias (inside the reset gate's
    product for the candidate). Shapes as :class:`SimpleRNN`.
    """

    GATES = 3
    RECURRENT_BIAS = True
    FUNCTION = GRUSequence
    CONFIG = (*_RecurrentLayer.CONFIG, "recurrent_activation", "reset_after")

    def __init__(
        self,
        units: int,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        use_bias: bool = True,
        reset_after: bool = True,
        **kwargs: Any,
    ) -> None:
        if reset_after is not True:
            raise ValueError(
                "GRU: reset_after=False (the reset gate applied before the recurrent product) "
                "is not implemented in nnlearn; use reset_after=True, Keras 3's default and "
                "PyTorch's GRU"
            )
        self.recurrent_activation = self._function_name(
            "recurrent_activation", recurrent_activation
        )
        self.reset_after = True
        super().__init__(units, activation, use_bias, **kwargs)
