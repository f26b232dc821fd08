"""Models (chapter 08): ``Sequential`` and Keras's training API, as in ``keras.models``.

``compile`` chooses the optimizer, the loss and the metrics; ``fit`` trains, ``evaluate``
measures, ``predict`` answers. Every name means what it means in Keras 3, checked against
Keras itself: arguments and defaults (``batch_size=None`` is 32), the callbacks' hooks and
their order, the History's keys, ``evaluate``'s return, ``trainable``, ``get_weights``.
``fit`` repeats, for every epoch and every mini-batch::

    y_pred = model(x_batch)                            # the only forward path
    loss = model.loss(y_batch, y_pred, sample_weight)  # Keras's order: y_true first
    optimizer.zero_grad(); loss.backward(); optimizer.step()

The softmax + cross-entropy fusion is the loss's business (:mod:`nnlearn.losses`). Around the
loop ``fit`` checks the data once (clear errors instead of a crash deep inside a matrix
product), keeps the running means of the loss and metrics, calls the callbacks
(:mod:`nnlearn.training`), and stops with :class:`~nnlearn.training.TrainingDiverged` when the
loss stops being a finite number.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nnlearn import data, losses, optim
from nnlearn.layers import Layer, Shape
from nnlearn.metrics import EpochMeans
from nnlearn.metrics import get as get_metric
from nnlearn.seeding import rng
from nnlearn.tensor import Tensor, get_default_dtype, no_grad
from nnlearn.training import (
    Callback,
    History,
    Hooks,
    ProgressBar,
    TrainingDiverged,
    format_logs,
)

Data = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # x, y, sample_weight


class Sequential(Layer):
    """Layers applied one after the other; trains Keras-style (compile, fit, evaluate, predict).

    Args:
        layers: the layers, first to last (more can be appended with :meth:`add`). The first
            may carry ``input_shape``; the model is then built at once, else on the first
            batch it sees (or by :meth:`build`).

    ``trainable = False`` on the model freezes every layer; on one layer, that layer. ``fit``
    updates exactly ``trainable_weights`` (the Parameters that require grad), so a change
    takes effect at once, also after ``compile`` (Keras asks to compile again). One
    difference: a layer unfrozen inside a frozen model trains here; Keras keeps it frozen.
    """

    def __init__(self, layers: Sequence[Layer] | None = None) -> None:
        # Not Layer.__init__: a Sequential has no dtype of its own (see ``dtype``).
        self.layers: list[Layer] = []
        self.input_shape: Shape | None = None
        self.output_shape: Shape | None = None
        self.built = False
        self._trainable = True
        self.optimizer: optim.Optimizer | None = None
        self.loss: losses.Loss | None = None
        self.metric_functions: dict[str, Callable] = {}  # history key -> metric(y_true, y_pred)
        self.stop_training = False
        self.history: History | None = None
        for layer in layers or []:
            self.add(layer)

    # --- the stack of layers ----------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append a layer; build it at once when the shape of its input is known."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: expected a layer such as Dense, got {layer!r}")
        self.layers.append(layer)
        if self.layers[0].built:
            self.build(self.layers[0].input_shape)

    def build(self, input_shape: Shape | None = None) -> None:
        """Build every layer in turn, each from the output shape of the one before.

        ``input_shape`` includes the batch axis, e.g. ``(None, 100)``; without it, the first
        layer's ``input_shape`` (Keras's ``model.build()``).
        """
        if input_shape is None:
            input_shape = self.layers[0].input_shape if self.layers else None
            if input_shape is None:
                raise ValueError(
                    "build(): the input shape is unknown; call model.build((None, features)) "
                    "or give the first layer input_shape=(features,)"
                )
        shape = (None, *input_shape[1:])
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            elif layer.input_shape != shape:
                raise ValueError(
                    f"Sequential: {layer!r} was built for inputs of shape {layer.input_shape}, "
                    f"but the layer before it gives {shape}"
                )
            shape = layer.output_shape
        super().build(input_shape)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        for layer in self.layers:
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the first layer, which converts the inputs."""
        return self.layers[0].dtype if self.layers else get_default_dtype()

    @Layer.trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for layer in self.layers:
            layer.trainable = value

    def set_weights(self, weights: Sequence[Any]) -> None:
        """Overwrite the weights with arrays in the order of ``get_weights()`` (per layer:
        kernel ``(in, units)``, then bias), so weights move between Keras and nnlearn as they
        are. A wrong count or shape is an error naming the layer and both shapes."""
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise ValueError(
                f"set_weights: the model has {len(self.weights)} weights (kernel and bias of "
                f"each layer, in order), but {len(weights)} arrays were given"
            )
        for layer in self.layers:
            count = len(layer.weights)
            layer.set_weights(weights[:count])
            weights = weights[count:]

    def __call__(self, x: Any) -> Tensor:
        if not self.layers:
            raise ValueError("Sequential: the model has no layers yet; add some first")
        return self.forward(x)

    def forward(self, x: Any) -> Tensor:
        for layer in self.layers:
            x = layer(x)
        if not self.built:
            self.build(self.layers[0].input_shape)
        return x

    def summary(self, print_fn: Callable[[str], Any] = print) -> None:
        """Print each layer with its output shape and parameter count, then the totals."""
        if not self.built:
            raise ValueError(
                "summary(): the model is not built yet, so its sizes are unknown. Give the first "
                "layer input_shape=(features,), call model.build((None, features)), or call the "
                "model on a batch first"
            )
        rows = [("Layer", "Output shape", "Params")]
        rows += [(repr(x), str(x.output_shape), f"{x.count_params():,}") for x in self.layers]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:>{widths[2]}}" for a, b, c in rows]
        rule = "-" * len(lines[0])
        print_fn("\n".join([lines[0], rule, *lines[1:], rule]))
        trainable = sum(p.data.size for p in self.trainable_weights)
        print_fn(f"Total params: {self.count_params():,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {self.count_params() - trainable:,}")

    def __repr__(self) -> str:
        inner = ",\n".join(f"    {layer!r}" for layer in self.layers)
        return f"Sequential([\n{inner}\n])" if self.layers else "Sequential([])"

    # --- Keras's training API -----------------------------------------------------------------
    def compile(
        self,
        optimizer: str | optim.Optimizer = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Sequence[str | Callable] | None = None,
    ) -> Sequential:
        """Choose the optimizer (a name gets Keras's defaults; Keras's default is
        ``"rmsprop"``), the loss (a name, a function of ``(y_true, y_pred)`` or a
        :class:`~nnlearn.losses.Loss`) and the metrics (names or functions).

        Keras's order: the third is ``loss_weights`` (never the metrics). Returns the model.
        """
        if loss_weights is not None:
            raise TypeError("compile: loss_weights is for several outputs; name metrics=[...]")
        self.optimizer = optim.get(optimizer)
        self.loss = losses.as_loss(loss)
        self.metric_functions = dict(get_metric(m) for m in (metrics or []))
        if self.built:
            self.optimizer.add_params(self.parameters())
        return self

    @property
    def metrics_names(self) -> list[str]:
        """``["loss", *metric names]``, the order of ``evaluate``'s list."""
        return ["loss", *self.metric_functions]

    def fit(
        self,
        x: Any,
        y: Any,
        batch_size: int | None = None,
        epochs: int = 1,
        verbose: int | str = "auto",
        callbacks: Sequence[Callback] | None = None,
        validation_split: float = 0.0,
        validation_data: tuple | None = None,
        shuffle: bool = True,
        class_weight: dict | None = None,
        sample_weight: Any = None,
        initial_epoch: int = 0,
    ) -> History:
        """Train for ``epochs`` passes over ``(x, y)`` in mini-batches (Keras's arguments).

        ``validation_split`` holds out the *last* fraction of the examples (before shuffling);
        ``validation_data=(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)`` gives a set
        instead. ``class_weight`` ``{class: weight}`` or ``sample_weight`` ``(n,)`` weigh each
        training example's loss (not both). ``verbose``: 0 silent, 1 (``"auto"``) a progress
        bar per epoch, 2 one line per epoch. Returns a :class:`~nnlearn.training.History`.
        """
        batch_size = _batch_size(batch_size)
        epochs = range(initial_epoch, data.check_whole_number("epochs", epochs, 0))
        verbose = 1 if verbose == "auto" else verbose
        train = self._checked_data(x, y, sample_weight, "fit")
        train, val = self._validation(train, class_weight, validation_split, validation_data)
        history = next((c for c in callbacks or [] if isinstance(c, History)), History())
        progress = ProgressBar(verbose)
        steps = math.ceil(len(train[0]) / batch_size)
        params = {"verbose": verbose, "epochs": epochs.stop, "steps": steps}
        hooks = Hooks(_with(callbacks, history, progress), self, params)
        if not self.trainable_weights:
            warnings.warn("fit: the model has no trainable weights", stacklevel=2)
        try:
            self._fit_epochs(train, val, batch_size, epochs, shuffle, hooks)
        finally:
            progress.close()
        return history

    def _fit_epochs(self, train: Data, val, batch_size, epochs: range, shuffle, hooks) -> None:
        """The epochs of ``fit``, each followed by validation, with Keras's hooks."""
        self.stop_training = False
        hooks.call("on_train_begin", {})
        logs: dict = {}
        for epoch in epochs:
            hooks.call("on_epoch_begin", epoch, {})
            logs = self._train_epoch(train, batch_size, shuffle, epoch, hooks)
            if val is not None:
                val_logs = self._test_loop(val, batch_size, hooks)
                logs = dict(sorted({**logs, **_prefixed("val_", val_logs)}.items()))
            hooks.call("on_epoch_end", epoch, logs)
            if self.stop_training:
                break
        hooks.call("on_train_end", logs)

    def _train_epoch(self, examples: Data, batch_size, shuffle, epoch, hooks) -> dict:
        means = EpochMeans(self.metric_functions)
        batch_logs = bool(hooks.listening("on_train_batch_end"))  # else the logs go unread
        # A diverging run overflows on its way to inf/nan: TrainingDiverged reports it, with
        # a remedy, instead of a numpy warning per operation.
        with np.errstate(over="ignore", invalid="ignore"):
            for batch, (x, y, w) in enumerate(self._batches(examples, batch_size, shuffle)):
                hooks.call("on_train_batch_begin", batch, {})
                y_pred, loss = self._train_step(x, y, w, epoch, batch)
                means.update(loss, y, y_pred)
                hooks.call("on_train_batch_end", batch, means.result() if batch_logs else {})
                if self.stop_training:
                    break
        return means.result()

    def _train_step(self, x, y, w, epoch: int, batch: int) -> tuple[np.ndarray, float]:
        """Forward, loss, backward, update; the outputs and the loss's value."""
        y_pred = self(x)
        loss = self.loss(y, y_pred, w)
        value = float(loss.data)
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"the loss became {value} at epoch {epoch + 1}, batch {batch + 1}: training "
                "diverged. Try a smaller learning rate (e.g. a tenth), and check that the "
                "inputs are standardized and contain no nan or inf"
            )
        self.optimizer.zero_grad()
        if loss.requires_grad:  # False when every weight is frozen
            loss.backward()
            self.optimizer.step()
        return y_pred.data, value

    def _test_loop(self, examples: Data, batch_size: int, hooks: Hooks) -> dict:
        """Loss and metrics over ``examples``, without recording a graph or updating."""
        means = EpochMeans(self.metric_functions)
        hooks.call("on_test_begin", {})
        with no_grad():
            for batch, (x, y, w) in enumerate(self._batches(examples, batch_size, False)):
                hooks.call("on_test_batch_begin", batch, {})
                y_pred = self(x)
                means.update(float(self.loss(y, y_pred, w).data), y, y_pred.data)
                hooks.call("on_test_batch_end", batch, means.result())
        hooks.call("on_test_end", means.result())
        return means.result()

    def _batches(self, examples: Data, batch_size: int, shuffle: bool):
        """``(x, y, sample_weight or None)`` batches of ``examples``."""
        x, y, w = examples
        if w is not None:
            yield from data.batches(x, y, batch_size, shuffle, rng(), sample_weight=w)
        else:
            for x_batch, y_batch in data.batches(x, y, batch_size, shuffle, rng()):
                yield x_batch, y_batch, None

    def evaluate(
        self,
        x: Any,
        y: Any,
        batch_size: int | None = None,
        verbose: int = 0,
        sample_weight: Any = None,
        callbacks: Sequence[Callback] | None = None,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """The loss (and metrics) on ``(x, y)``, as Keras 3 returns them: a number without
        metrics, else the list ``[loss, *metrics]`` in ``metrics_names`` order, or a dict
        sorted by name with ``return_dict=True``."""
        examples = self._checked_data(x, y, sample_weight, "evaluate")
        hooks = Hooks(callbacks or [], self, {"verbose": verbose, "epochs": 1})
        logs = self._test_loop(examples, _batch_size(batch_size), hooks)
        if verbose:
            print(format_logs(logs))
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def predict(
        self,
        x: Any,
        batch_size: int | None = None,
        verbose: int | str = "auto",
        callbacks: Sequence[Callback] | None = None,
    ) -> np.ndarray:
        """The model's outputs (probabilities for a softmax model) as a numpy array, computed
        in batches of ``batch_size`` (32 when None, as Keras). ``verbose`` is accepted for
        Keras's signature; predict shows no progress bar."""
        x = self._checked_inputs(x, "predict")
        hooks = Hooks(callbacks or [], self, {"verbose": verbose, "epochs": 1})
        outputs = []
        hooks.call("on_predict_begin", {})
        with no_grad():
            for batch, (x_batch, _) in enumerate(
                data.batches(x, None, _batch_size(batch_size), False)
            ):
                hooks.call("on_predict_batch_begin", batch, {})
                outputs.append(self(x_batch).data)
                hooks.call("on_predict_batch_end", batch, {"outputs": outputs[-1]})
        hooks.call("on_predict_end", {})
        return np.concatenate(outputs)

    # --- the data, checked once per call ----------------------------------------------------
    @property
    def _first(self) -> str:
        """The first layer, for messages about the inputs: ``"Dense(64), the first layer,"``."""
        return f"{self.layers[0].label}, the first layer,"

    def _validation(self, train: Data, class_weight, validation_split, validation_data):
        """The training data (class weights applied) and the validation data, as Keras: the
        split is ignored when ``validation_data`` is given; class weights weigh training only."""
        val = None
        if validation_data is not None:
            val = self._checked_data(
                *data.unpack_validation_data(validation_data), "fit (validation_data)"
            )
        elif validation_split:
            train, val = data.split_validation(train, validation_split)
        if class_weight is not None:
            if train[2] is not None:
                raise ValueError("fit: give class_weight or sample_weight, not both")
            weights = data.class_weight_to_sample_weight(train[1], class_weight)
            train = (train[0], train[1], weights.astype(self.dtype))
        return tuple(train), val

    def _checked_inputs(self, x: Any, where: str) -> np.ndarray:
        if not self.layers:
            raise ValueError(f"{where}: the model has no layers")
        x = data.check_inputs(x, self.dtype, where)
        if not self.built:
            self.build(x.shape)
        expected = self.input_shape[1:]
        if x.shape[1:] != expected:
            hint = data.FLATTEN_HINT if x.ndim > len(self.input_shape) else ""
            raise ValueError(
                f"{where}: x has shape {x.shape}, but {self._first} expects inputs of shape "
                f"(examples, {', '.join(map(str, expected))}){hint}"
            )
        if self.optimizer is not None:
            self.optimizer.add_params(self.parameters())  # ignored when already held
        return x

    def _checked_data(self, x: Any, y: Any, sample_weight: Any, where: str) -> Data:
        if self.loss is None:
            raise RuntimeError(
                f"{where}: compile the model first, e.g. model.compile(optimizer='adam', "
                "loss='sparse_categorical_crossentropy', metrics=['accuracy'])"
            )
        x = self._checked_inputs(x, where)
        sparse = getattr(self.loss, "fn", None) is losses.sparse_categorical_crossentropy
        outputs = (len(x), *self.output_shape[1:])
        y = data.check_targets(y, x, outputs, sparse, self.dtype, where, self._first)
        return x, y, data.check_sample_weight(sample_weight, len(x), self.dtype, where)


# --- small helpers -----------------------------------------------------------------------------
def _batch_size(batch_size: Any) -> int:
    """Keras's default 32 for None, else a positive integer."""
    return 32 if batch_size is None else data.check_whole_number("batch_size", batch_size, 1)


def _with(callbacks, history: History, progress: ProgressBar) -> list[Callback]:
    """The user's callbacks, then the History (unless given) and, unless silent, the progress
    bar, as Keras."""
    callbacks = list(callbacks or [])
    return callbacks + [history] * (history not in callbacks) + [progress] * bool(progress.verbose)


def _prefixed(prefix: str, logs: dict) -> dict:
    return {prefix + key: value for key, value in logs.items()}
