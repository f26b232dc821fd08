"""Around the training loop (chapter 08): callbacks, the History, early stopping, progress.

``Sequential.fit`` (:mod:`nnlearn.models`) calls the hooks of every :class:`Callback` in
Keras 3's order, each with a ``logs`` dict (possibly empty) as its last positional argument::

    on_train_begin(logs)
      on_epoch_begin(epoch, logs)
        on_train_batch_begin(batch, logs), on_train_batch_end(batch, logs)   per batch
        on_test_begin(logs), on_test_batch_begin/end(batch, logs)...,
        on_test_end(logs)                                        with validation data
      on_epoch_end(epoch, logs)
    on_train_end(logs)

A batch's logs hold the running means of the loss and metrics over the epoch so far (as in
Keras: not the batch's own loss); an epoch's logs hold the epoch's values and the ``val_...``
ones, sorted by name. :class:`History` records them; :class:`EarlyStopping` stops training
when a quantity stops improving; :class:`TrainingDiverged` stops it when the loss stops being
a finite number.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from nnlearn import metrics


class TrainingDiverged(RuntimeError):
    """The loss became nan or infinite, so the weights are no longer meaningful."""


class Callback:
    """Hooks ``fit``, ``evaluate`` and ``predict`` call as they run (Keras's Callback).

    Override the ones you need. ``self.model`` is the model and ``self.params`` a dict with
    ``epochs``, ``steps`` (batches per epoch) and ``verbose``. As in Keras, the training batch
    hooks call :meth:`on_batch_begin` / :meth:`on_batch_end`, so overriding those works too.
    """

    model: Any = None
    params: dict | None = None

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...

    def on_train_end(self, logs: dict | None = None) -> None: ...

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def on_test_begin(self, logs: dict | None = None) -> None: ...

    def on_test_end(self, logs: dict | None = None) -> None: ...

    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None: ...

    def on_predict_begin(self, logs: dict | None = None) -> None: ...

    def on_predict_end(self, logs: dict | None = None) -> None: ...

    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class Hooks:
    """The callbacks of one ``fit``/``evaluate``/``predict`` call, called in their order
    (what Keras's ``CallbackList`` does, without its options).

    A callback whose hook is :class:`Callback`'s own, which does nothing, is passed over: the
    batch hooks run on every batch, and most callbacks define none (Keras checks the same way,
    with ``keras.src.utils.is_default``, before it dispatches batch hooks).
    """

    def __init__(self, callbacks: Sequence[Callback], model: Any, params: dict) -> None:
        self.callbacks = list(callbacks)
        self.listeners: dict[str, list[Callback]] = {}  # hook -> the callbacks defining it
        for callback in self.callbacks:
            callback.set_model(model)
            callback.set_params(params)

    def listening(self, hook: str) -> list[Callback]:
        """The callbacks whose ``hook`` may do something (an empty list: nothing to call, so
        ``fit`` need not even make the logs)."""
        if hook not in self.listeners:
            self.listeners[hook] = [c for c in self.callbacks if _defines(c, hook)]
        return self.listeners[hook]

    def call(self, hook: str, *args: Any) -> None:
        """``callback.<hook>(*args)`` for each callback, e.g. ``call("on_epoch_end", 3, logs)``."""
        for callback in self.listening(hook):
            getattr(callback, hook)(*args)


# Callback's training batch hooks call these (Keras's older names), so overriding either counts.
_CALLS = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


def _defines(callback: Callback, hook: str) -> bool:
    """Whether ``callback.<hook>`` may do something: it is not Callback's own empty hook."""
    method = getattr(callback, hook)
    if getattr(method, "__func__", method) is not getattr(Callback, hook):
        return True
    return hook in _CALLS and _defines(callback, _CALLS[hook])


class History(Callback):
    """What ``fit`` returns (and sets as ``model.history``): ``history`` maps each quantity to
    its value per epoch, and ``epoch`` lists the epoch numbers (from 0)."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.epoch = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


class EarlyStopping(Callback):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs (Keras 3).

    Args:
        monitor: a key of the epoch logs, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        min_delta: the smallest change that counts as an improvement.
        patience: epochs without improvement before stopping.
        verbose: 1 prints when it stops and when it restores weights.
        mode: ``"min"``, ``"max"``, or ``"auto"`` (min for a loss, max for an accuracy, min
            for an error such as ``mae``; an error for a metric whose direction is unknown).
        baseline: while the best value is not better than this, the patience keeps running.
        restore_best_weights: at the end of training, whether it stopped early or not, put
            back the weights of the best epoch.
        start_from_epoch: epochs to wait before monitoring at all (a warm-up).

    Keras's rule, kept exactly: the first monitored epoch is the first best; ``stopped_epoch``
    is the epoch training stopped at (0 when it ran to the end); an epoch whose logs lack
    ``monitor`` is skipped with a warning.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', not {mode!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch
        self.on_train_begin()

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best: float | None = None
        self.best_weights: list | None = None

    def _lower_is_better(self) -> bool:
        """From ``mode``, or for "auto" from the monitored quantity, as Keras decides."""
        if self.mode != "auto":
            return self.mode == "min"
        name = self.monitor.removeprefix("val_")
        if name == "loss":
            return True
        higher = metrics.higher_is_better(self.model.metric_functions.get(name))
        if higher is None:
            raise ValueError(
                f"EarlyStopping cannot tell whether {self.monitor!r} should be maximized or "
                "minimized: pass mode='max' or mode='min'"
            )
        return not higher

    def _is_improvement(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self._lower_is_better():
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"EarlyStopping monitors {self.monitor!r}, which is not in the epoch logs "
                f"{sorted(logs or {})} (val_... values need validation_split or "
                "validation_data)",
                stacklevel=2,
            )
            return
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(value, self.best):
            self.best, self.best_epoch = value, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                epoch = self.best_epoch + 1
                print(f"Restoring model weights from the end of the best epoch: {epoch}.")
            self.model.set_weights(self.best_weights)


class ProgressBar(Callback):
    """What ``fit``'s ``verbose`` shows: 1 a progress bar per epoch (``tqdm.auto``, with the
    running loss and metrics), 2 one line per epoch."""

    def __init__(self, verbose: int) -> None:
        self.verbose = verbose
        self.bar: Any = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        if self.verbose == 1:
            from tqdm.auto import tqdm  # imported here: `import nnlearn` must stay light

            description = f"Epoch {epoch + 1}/{self.params['epochs']}"
            self.bar = tqdm(total=self.params["steps"], desc=description, unit="batch")

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.update()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(format_logs(logs or {}), refresh=False)
        self.close()
        if self.verbose == 2:
            print(f"Epoch {epoch + 1}/{self.params['epochs']} - {format_logs(logs or {})}")

    def close(self) -> None:
        """Close the bar, also when training stops with an error."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def format_logs(logs: dict) -> str:
    """``"accuracy: 0.9500 - loss: 0.1234"``."""
    return " - ".join(f"{key}: {value:.4f}" for key, value in logs.items())
