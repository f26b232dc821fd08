"""Keras's training API (chapter 08): ``compile``, ``fit``, ``evaluate``, ``predict``.

:class:`Trainer` is what a model inherits to train Keras-style (Keras's own class has this
name); :class:`nnlearn.models.Sequential` is such a model. Every name means what it means in
Keras 3, checked against Keras itself: arguments and defaults (``batch_size=None`` is 32), the
callbacks' hooks and their order, the History's keys, ``evaluate``'s return. ``fit`` repeats,
for every epoch and every mini-batch::

    y_pred = model(x_batch, training=True)             # the only forward path
    loss = model.loss(y_batch, y_pred, sample_weight)  # Keras's order: y_true first
    loss = loss + sum(model.losses)                    # the weights' penalties (chapter 09)
    optimizer.zero_grad(); loss.backward(); optimizer.step()

``evaluate`` and ``predict`` call ``model(x, training=False)``: Dropout is then the identity
and BatchNormalization uses its moving statistics (chapter 09). The loss they report includes
the penalties, as Keras's does. The softmax + cross-entropy fusion is the loss's business
(:mod:`nnlearn.losses`). Around the loop ``fit`` checks the data once (clear errors instead
of a crash deep inside a matrix product), keeps the running means of the loss and metrics,
calls the callbacks (:mod:`nnlearn.training`), and stops with
:class:`~nnlearn.training.TrainingDiverged` when the loss stops being a finite number.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nnlearn import data, losses, optim
from nnlearn.metrics import EpochMeans
from nnlearn.metrics import get as get_metric
from nnlearn.module import Layer
from nnlearn.seeding import rng
from nnlearn.tensor import Tensor, no_grad
from nnlearn.training import (
    Callback,
    History,
    Hooks,
    ProgressBar,
    TrainingDiverged,
    format_logs,
)

Data = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # x, y, sample_weight


class Trainer:
    """Keras's training API for a model: a Layer with ``layers``, ``output_shape`` and
    ``__call__(x, training=...)`` (see :class:`nnlearn.models.Sequential`).

    ``compile`` sets ``optimizer``, ``loss`` and ``metric_functions``; ``fit`` sets
    ``history`` and reads ``stop_training`` (a callback sets it to stop early).
    """

    optimizer: optim.Optimizer | None = None
    loss: losses.Loss | None = None
    metric_functions: dict[str, Callable] = {}  # history key -> metric(y_true, y_pred)
    stop_training = False
    history: History | None = None

    def compile(
        self,
        optimizer: str | optim.Optimizer = "rmsprop",
        loss: Any = None,
        loss_weights: Any = None,
        metrics: Sequence[str | Callable] | None = None,
    ) -> Trainer:
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
            self._fit_epochs(train, val, batch_size, epochs, shuffle, hooks, self._penalties())
        finally:
            progress.close()
        return history

    def _fit_epochs(
        self, train: Data, val, batch_size, epochs: range, shuffle, hooks, penalties
    ) -> None:
        """The epochs of ``fit``, each followed by validation, with Keras's hooks."""
        self.stop_training = False
        hooks.call("on_train_begin", {})
        logs: dict = {}
        for epoch in epochs:
            hooks.call("on_epoch_begin", epoch, {})
            logs = self._train_epoch(train, batch_size, shuffle, epoch, hooks, penalties)
            if val is not None:
                val_logs = self._test_loop(val, batch_size, hooks, penalties)
                logs = dict(sorted({**logs, **_prefixed("val_", val_logs)}.items()))
            hooks.call("on_epoch_end", epoch, logs)
            if self.stop_training:
                break
        hooks.call("on_train_end", logs)

    def _train_epoch(self, examples: Data, batch_size, shuffle, epoch, hooks, penalties) -> dict:
        means = EpochMeans(self.metric_functions)
        batch_logs = bool(hooks.listening("on_train_batch_end"))  # else the logs go unread
        # A diverging run overflows on its way to inf/nan: TrainingDiverged reports it, with
        # a remedy, instead of a numpy warning per operation.
        with np.errstate(over="ignore", invalid="ignore"):
            for batch, (x, y, w) in enumerate(self._batches(examples, batch_size, shuffle)):
                hooks.call("on_train_batch_begin", batch, {})
                y_pred, loss = self._train_step(x, y, w, penalties, epoch, batch)
                means.update(loss, y, y_pred)
                hooks.call("on_train_batch_end", batch, means.result() if batch_logs else {})
                if self.stop_training:
                    break
        return means.result()

    def _train_step(self, x, y, w, penalties, epoch, batch) -> tuple[np.ndarray, float]:
        """Forward, loss, backward, update; the outputs and the loss's value."""
        y_pred = self(x, training=True)
        loss = self._loss_with_penalties(y, y_pred, w, penalties)
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

    def _loss_with_penalties(self, y: np.ndarray, y_pred: Tensor, w, penalties) -> Tensor:
        """The compiled loss plus the weights' penalties (``penalties()``, which is
        ``self.losses``), as Keras adds them in ``fit`` and ``evaluate`` alike."""
        loss = self.loss(y, y_pred, w)
        for penalty in penalties():
            loss = loss + penalty
        return loss

    def _penalties(self) -> Callable[[], list[Tensor]]:
        """What ``fit`` and ``evaluate`` call at every step for ``self.losses``, the penalties
        of the trainable weights that have a regularizer.

        The weights that have a regularizer are looked up once per call of ``fit`` or
        ``evaluate``; whether each is trainable, and its regularizer, are read at every step, so
        freezing a layer from a callback takes effect at once. (Walking the model's attributes
        for its parameters at every step cost about a tenth of a small model's training time:
        benchmarks/README.md.) A model that defines its own ``losses`` has it called every step.
        """
        if type(self).losses is not Layer.losses:
            return lambda: self.losses
        weights = [p for p in self.weights if p.regularizer is not None]
        return lambda: [
            p.regularizer(p) for p in weights if p.requires_grad and p.regularizer is not None
        ]

    def _test_loop(self, examples: Data, batch_size: int, hooks: Hooks, penalties) -> dict:
        """Loss and metrics over ``examples``, without recording a graph or updating."""
        means = EpochMeans(self.metric_functions)
        hooks.call("on_test_begin", {})
        with no_grad():
            for batch, (x, y, w) in enumerate(self._batches(examples, batch_size, False)):
                hooks.call("on_test_batch_begin", batch, {})
                y_pred = self(x, training=False)
                loss = self._loss_with_penalties(y, y_pred, w, penalties)
                means.update(float(loss.data), y, y_pred.data)
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
        logs = self._test_loop(examples, _batch_size(batch_size), hooks, self._penalties())
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
                outputs.append(self(x_batch, training=False).data)
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
        expected = self.input_shape[1:]  # None: any size, as a sequence's length
        if x.ndim != len(self.input_shape) or any(
            size not in (None, given) for size, given in zip(expected, x.shape[1:], strict=True)
        ):
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
