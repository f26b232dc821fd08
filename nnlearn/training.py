"""The training loop behind Keras's API (chapter 08): compile, fit, evaluate, predict.

``fit`` repeats, for every epoch and every mini-batch: forward pass, loss, ``zero_grad``,
``backward``, ``optimizer.step()``. Around that loop it checks the data once at the start
(clear errors instead of a crash deep inside a matrix product), keeps a :class:`History`,
shows a progress bar (``tqdm.auto``), runs callbacks such as :class:`EarlyStopping`, and stops
with :class:`TrainingDiverged` when the loss stops being a finite number.

Softmax and cross-entropy are fused, as Keras does: when the last layer ends in a softmax and
the loss is (sparse) categorical cross-entropy on probabilities, training feeds the last
layer's *logits* to the from-logits loss. That is numerically stable (no ``log(0)``) and its
gradient is simply ``(softmax - target) / N``. ``predict`` still returns probabilities.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nnlearn import losses, optim
from nnlearn.activations import softmax_values
from nnlearn.data import batches
from nnlearn.metrics import get as get_metric
from nnlearn.seeding import rng
from nnlearn.tensor import Tensor, no_grad


class TrainingDiverged(RuntimeError):
    """The loss became nan or infinite, so the weights are no longer meaningful."""


# --- callbacks ------------------------------------------------------------------------------
class Callback:
    """Hooks ``fit`` calls as it runs; override the ones you need. ``self.model`` is the model.

    ``logs`` is a dict of the numbers so far: ``{"loss": ...}`` after a batch, and the epoch's
    ``loss``, metrics and ``val_...`` values after an epoch.
    """

    model: Any = None

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, logs: dict | None = None) -> None: ...

    def on_train_end(self, logs: dict | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class History(Callback):
    """What ``fit`` returns: ``history`` maps each quantity to its value per epoch, and
    ``epoch`` lists the epoch numbers (from 0)."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Args:
        monitor: a key of the epoch logs, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        mode: ``"min"``, ``"max"``, or ``"auto"`` (max for accuracies, min otherwise).
        restore_best_weights: when stopping, put back the weights of the best epoch.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        mode: str = "auto",
        restore_best_weights: bool = False,
    ) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', not {mode!r}")
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        self.monitor, self.patience = monitor, patience
        self.sign = 1.0 if mode == "min" else -1.0  # compare sign * value: lower is better
        self.min_delta = abs(min_delta)
        self.restore_best_weights = restore_best_weights
        self.stopped_epoch: int | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait, self.best, self.best_weights = 0, math.inf, None
        self.stopped_epoch = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, but the epoch logs only have "
                f"{sorted(logs)} (val_... values need validation_split or validation_data)"
            )
        value = self.sign * logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.wait = value, 0
            if self.restore_best_weights:
                self.best_weights = [p.data.copy() for p in self.model.parameters()]
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.model.stop_training = True
            self.stopped_epoch = epoch
            if self.best_weights is not None:
                for p, best in zip(self.model.parameters(), self.best_weights, strict=True):
                    p.data[...] = best


# --- the loss as training computes it ---------------------------------------------------------
def _from_logits_twin(loss: Callable) -> Callable | None:
    """The from-logits version of a cross-entropy on probabilities, or None for other losses."""
    if getattr(loss, "from_logits", False):
        return None
    if isinstance(loss, losses.SparseCategoricalCrossentropy) or (
        loss is losses.sparse_categorical_crossentropy
    ):
        return losses.SparseCategoricalCrossentropy(from_logits=True)
    if isinstance(loss, losses.CategoricalCrossentropy) or (
        loss is losses.categorical_crossentropy
    ):
        return losses.CategoricalCrossentropy(from_logits=True)
    return None


def _uses_sparse_labels(loss: Callable) -> bool:
    """Whether the loss takes integer labels (from probabilities or from logits)."""
    return isinstance(loss, losses.SparseCategoricalCrossentropy) or (
        loss is losses.sparse_categorical_crossentropy
    )


# --- the Keras methods --------------------------------------------------------------------------
class TrainingMixin:
    """``compile``, ``fit``, ``evaluate`` and ``predict`` for a model made of ``layers``
    (:class:`nnlearn.layers.Sequential` inherits them)."""

    optimizer: optim.Optimizer | None = None
    loss: Callable | None = None
    metrics: dict[str, Callable] = {}  # compile replaces it (never mutated in place)
    stop_training = False

    def compile(
        self,
        optimizer: str | optim.Optimizer = "adam",
        loss: str | Callable | None = None,
        metrics: Sequence[str | Callable] | None = None,
    ) -> Any:
        """Choose the optimizer, the loss and the metrics to report (names or objects).

        Returns the model, so ``model.compile(...).fit(...)`` chains.
        """
        if loss is None:
            raise ValueError("compile: give a loss, e.g. loss='sparse_categorical_crossentropy'")
        self.optimizer = optim.get(optimizer)
        self.loss = losses.get(loss)
        self.metrics = dict(get_metric(m) for m in (metrics or []))
        if self.built:
            self.optimizer.add_params(self.parameters())
        return self

    # The loss used in training: fused with the softmax when it can be.
    def _fused_loss(self) -> Callable | None:
        last = self.layers[-1]
        if getattr(last, "activation_name", None) != "softmax":
            return None
        return _from_logits_twin(self.loss)

    def _scores(self, x: Any, fused_loss: Callable | None) -> Tensor:
        """The model's output, or the last layer's logits when the loss is fused."""
        if fused_loss is None:
            return self(x)
        *body, last = self.layers
        for layer in body:
            x = layer(x)
        return last.pre_activation(x)

    def fit(
        self,
        x: Any,
        y: Any,
        epochs: int = 1,
        batch_size: int = 32,
        validation_split: float = 0.0,
        validation_data: tuple[Any, Any] | None = None,
        shuffle: bool = True,
        verbose: int = 1,
        callbacks: Sequence[Callback] | None = None,
    ) -> History:
        """Train for ``epochs`` passes over ``(x, y)`` in mini-batches of ``batch_size``.

        ``validation_split`` holds out the *last* fraction of the examples (before
        shuffling, as Keras does); ``validation_data=(x_val, y_val)`` gives a set instead.
        ``verbose``: 0 silent, 1 a progress bar per epoch, 2 one line per epoch.
        Returns a :class:`History`.
        """
        x, y = self._checked_data(x, y, "fit")
        if validation_data is not None:
            validation_data = self._checked_data(*validation_data, "fit (validation_data)")
        elif validation_split:
            if not 0.0 < validation_split < 1.0:
                raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
            cut = len(x) - int(len(x) * validation_split)
            if cut in (0, len(x)):
                raise ValueError(
                    f"validation_split={validation_split} of {len(x)} examples leaves an empty "
                    "training or validation set"
                )
            validation_data, x, y = (x[cut:], y[cut:]), x[:cut], y[:cut]
        history = History()
        callbacks = [history, *(callbacks or [])]
        for callback in callbacks:
            callback.set_model(self)
        self.stop_training = False
        for callback in callbacks:
            callback.on_train_begin()
        for epoch in range(epochs):
            for callback in callbacks:
                callback.on_epoch_begin(epoch)
            # A diverging run overflows on its way to inf/nan: TrainingDiverged reports it,
            # with a remedy, instead of a numpy warning per operation.
            with np.errstate(over="ignore", invalid="ignore"):
                logs = self._train_epoch(
                    x, y, batch_size, shuffle, epoch, epochs, verbose, callbacks
                )
            if validation_data is not None:
                val_logs = self._evaluate_logs(*validation_data, batch_size)
                logs.update({f"val_{key}": value for key, value in val_logs.items()})
            if verbose == 2:
                print(f"Epoch {epoch + 1}/{epochs} - {_format_logs(logs)}")
            for callback in callbacks:
                callback.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        for callback in callbacks:
            callback.on_train_end()
        return history

    def _train_epoch(self, x, y, batch_size, shuffle, epoch, epochs, verbose, callbacks) -> dict:
        fused_loss = self._fused_loss()
        loss_fn = fused_loss or self.loss
        totals = dict.fromkeys(["loss", *self.metrics], 0.0)
        progress = _progress_bar(-(-len(x) // batch_size), epoch, epochs) if verbose == 1 else None
        for batch, (x_batch, y_batch) in enumerate(batches(x, y, batch_size, shuffle, rng())):
            scores = self._scores(x_batch, fused_loss)
            loss = loss_fn(scores, y_batch)
            value = float(loss.data)
            if not math.isfinite(value):
                if progress is not None:
                    progress.close()
                raise TrainingDiverged(
                    f"the loss became {value} at epoch {epoch + 1}, batch {batch + 1}: training "
                    "diverged. Try a smaller learning rate (e.g. a tenth), and check that the "
                    "inputs are standardized and contain no nan or inf"
                )
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            self._accumulate(
                totals, value, y_batch, scores.data, fused_loss is not None, len(x_batch) / len(x)
            )
            for callback in callbacks:
                callback.on_train_batch_end(batch, {"loss": value})
            if progress is not None:
                progress.update()
        if progress is not None:
            progress.set_postfix_str(_format_logs(totals), refresh=False)
            progress.close()
        return totals

    def _accumulate(self, totals: dict, loss: float, y, scores, fused: bool, weight) -> None:
        """Add one batch's loss and metrics, weighted by its share of the examples.

        ``scores`` are the logits when the loss is fused: metrics get probabilities, as the
        model's output would be.
        """
        totals["loss"] += weight * loss
        if not self.metrics:
            return
        if fused:
            scores = softmax_values(scores)
        for name, metric in self.metrics.items():
            totals[name] += weight * metric(y, scores)

    def _evaluate_logs(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> dict:
        """Loss and metrics over ``(x, y)``, without recording a graph or updating."""
        fused_loss = self._fused_loss()
        loss_fn = fused_loss or self.loss
        totals = dict.fromkeys(["loss", *self.metrics], 0.0)
        with no_grad():
            for x_batch, y_batch in batches(x, y, batch_size, shuffle=False):
                scores = self._scores(x_batch, fused_loss)
                value = float(loss_fn(scores, y_batch).data)
                self._accumulate(
                    totals,
                    value,
                    y_batch,
                    scores.data,
                    fused_loss is not None,
                    len(x_batch) / len(x),
                )
        return totals

    def evaluate(
        self,
        x: Any,
        y: Any,
        batch_size: int = 32,
        verbose: int = 0,
        return_dict: bool = False,
    ) -> float | list[float] | dict[str, float]:
        """The loss (and metrics) on ``(x, y)``: a number without metrics, else the list
        ``[loss, metric, ...]``, or a dict with ``return_dict=True`` (Keras's convention)."""
        x, y = self._checked_data(x, y, "evaluate")
        logs = self._evaluate_logs(x, y, batch_size)
        if verbose:
            print(_format_logs(logs))
        if return_dict:
            return logs
        return logs["loss"] if len(logs) == 1 else list(logs.values())

    def predict(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """The model's outputs (probabilities for a softmax model) as a numpy array.

        ``batch_size`` None runs all examples at once.
        """
        x = self._checked_inputs(x, "predict")
        with no_grad():
            outputs = [
                self(x_batch).data for x_batch, _ in batches(x, None, batch_size or len(x), False)
            ]
        return np.concatenate(outputs)

    # --- input checks, once per call ---------------------------------------------------------
    def _checked_inputs(self, x: Any, where: str) -> np.ndarray:
        if not self.layers:
            raise ValueError(f"{where}: the model has no layers")
        x = np.asarray(getattr(x, "data", x), dtype=self.dtype)
        if x.size == 0:
            raise ValueError(f"{where}: x is empty (shape {x.shape})")
        if x.ndim < 2:
            raise ValueError(
                f"{where}: x must have shape (examples, features), got {x.shape}; for a "
                "single feature use x.reshape(-1, 1)"
            )
        if not self.built:
            self.build(x.shape)
        expected = self.input_shape[1:]
        if x.shape[1:] != expected:
            raise ValueError(
                f"{where}: the model expects x of shape (examples, "
                f"{', '.join(map(str, expected))}), got {x.shape}"
            )
        if self.optimizer is not None:
            self.optimizer.add_params(self.parameters())  # ignored when already held
        return x

    def _checked_data(self, x: Any, y: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
        if self.loss is None:
            raise RuntimeError(
                f"{where}: compile the model first, e.g. model.compile(optimizer='adam', "
                "loss='sparse_categorical_crossentropy', metrics=['accuracy'])"
            )
        x = self._checked_inputs(x, where)
        y = np.asarray(getattr(y, "data", y))
        if len(y) != len(x):
            raise ValueError(f"{where}: x has {len(x)} examples but y has {len(y)}")
        if not _uses_sparse_labels(self.loss):
            return x, y.astype(self.dtype)
        if y.ndim == 2 and y.shape[1] == 1:  # a column of labels, as Keras allows
            y = y[:, 0]
        _check_labels(y, self.output_shape[-1], where)
        return x, y.astype(np.int64)


def _check_labels(y: np.ndarray, classes: int, where: str) -> None:
    """Sparse labels must be whole numbers in [0, classes), one per example."""
    flat = y.ravel()
    bad = flat[(flat != np.round(flat)) | (flat < 0) | (flat >= classes)]
    if y.ndim != 1 or bad.size:
        raise ValueError(
            f"{where}: sparse labels must be integers in [0, {classes}), one per example; got "
            + (f"the value {bad[0]}" if bad.size else f"shape {y.shape}")
        )


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())


def _progress_bar(total: int, epoch: int, epochs: int):
    from tqdm.auto import tqdm  # imported here: `import nnlearn` must stay light

    return tqdm(total=total, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch", leave=True)
