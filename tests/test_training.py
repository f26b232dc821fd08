"""Chapter 08: what runs around fit's loop — callbacks, History, EarlyStopping, the progress
bar, TrainingDiverged — behaves as in Keras 3, checked against Keras itself.

compile / fit / evaluate / predict themselves are in test_models.py.
"""

import os
import warnings

import numpy as np
import pytest
from test_models import keras_example, random_data, twins

import nnlearn as nl
from nnlearn.training import Callback, EarlyStopping, History, TrainingDiverged

os.environ.setdefault("KERAS_BACKEND", "torch")  # before the first import of keras
import keras  # noqa: E402

pytestmark = [
    pytest.mark.chapter08,
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning"),
]

HOOKS = [name for name in vars(keras.callbacks.Callback) if name.startswith("on_")]
X = np.random.default_rng(0).standard_normal((10, 3)).astype(np.float32)
LABELS = np.array([0, 1, 2, 1, 0, 2, 2, 1, 0, 1])


def positional_recorder(base):
    """A callback of the library whose Callback class is ``base``, every hook written
    ``def hook(self, [index,] logs)`` with no default, recording ``(hook, index, log keys)``.
    The training batch hooks also call the base class's, which calls on_batch_begin/end."""

    def hook(name):
        def record(self, *args, **kwargs):
            *index, logs = (*args, kwargs["logs"]) if "logs" in kwargs else args
            self.calls.append((name, *index, sorted(logs)))
            if name in ("on_train_batch_begin", "on_train_batch_end"):
                getattr(base, name)(self, *args, **kwargs)

        return record

    recorder = type("Recorder", (base,), {name: hook(name) for name in HOOKS})()
    recorder.calls = []
    return recorder


def test_nnlearn_has_every_keras_hook():
    assert [name for name in HOOKS if not hasattr(Callback, name)] == []


@pytest.mark.parametrize("validation_split", [0.0, 0.3])
def test_hooks_run_in_keras_order_with_logs_given_positionally(validation_split):
    calls = {}
    bases = {"keras": keras.callbacks.Callback, "nnlearn": Callback}
    for name, model in zip(bases, twins(), strict=True):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["acc"])
        recorder = positional_recorder(bases[name])
        model.fit(X, LABELS, epochs=2, batch_size=4, validation_split=validation_split,
                  shuffle=False, verbose=0, callbacks=[recorder])  # fmt: skip
        fit_params = dict(recorder.params)  # verbose, epochs, steps
        model.evaluate(X, LABELS, verbose=0, callbacks=[recorder])
        model.predict(X, verbose=0, callbacks=[recorder])
        calls[name] = recorder.calls, fit_params
    assert ("on_batch_end", 0, ["acc", "loss"]) in calls["nnlearn"][0]
    assert calls["nnlearn"] == calls["keras"]


def test_callback_sees_the_model_and_the_params():
    class Look(Callback):
        def on_train_begin(self, logs):
            self.seen = (self.model, dict(self.params))

    look = Look()
    model = keras_example()
    model.fit(*random_data(40), epochs=2, batch_size=16, verbose=0, callbacks=[look])
    assert look.seen == (model, {"verbose": 0, "epochs": 2, "steps": 3})


def test_stop_training_in_a_batch_ends_the_epoch_and_the_training():
    class StopAtSecondBatch(Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.batches = batch + 1
            self.model.stop_training = batch == 1

    stopper = StopAtSecondBatch()
    history = keras_example().fit(*random_data(), epochs=3, verbose=0, callbacks=[stopper])
    assert stopper.batches == 2 and history.epoch == [0]


def test_running_means_are_made_per_batch_only_for_a_callback_that_reads_them(monkeypatch):
    """fit's speed rule: a batch's logs (the running means) cost a dict per batch, so they are
    made only when some callback defines on_train_batch_end (or on_batch_end)."""
    made = []
    result = nl.metrics.EpochMeans.result
    monkeypatch.setattr(
        nl.metrics.EpochMeans, "result", lambda self: made.append(1) or result(self)
    )

    class Reader(Callback):
        def on_batch_end(self, batch, logs=None):
            self.logs = logs

    x, y = random_data(64)  # two batches of 32
    keras_example().fit(x, y, epochs=1, verbose=0)
    assert len(made) == 1  # the epoch's logs only
    made.clear()
    reader = Reader()
    keras_example().fit(x, y, epochs=1, verbose=0, callbacks=[reader])
    assert len(made) == 3 and set(reader.logs) == {"accuracy", "loss"}


def test_history_records_each_epoch_and_a_given_history_is_the_one_returned():
    history = History()
    model = keras_example()
    returned = model.fit(*random_data(32), epochs=2, verbose=0, callbacks=[history])
    assert returned is history is model.history
    assert history.epoch == [0, 1] and len(history.history["loss"]) == 2


# --- EarlyStopping ------------------------------------------------------------------------------
class Scripted(Callback):
    """Writes ``values[epoch]`` as ``monitor`` into the epoch logs, and marks the weights with
    the epoch (all set to epoch + 1) so the weights left tell which epoch's were kept."""

    def __init__(self, monitor, values):
        self.monitor, self.values = monitor, values

    def on_epoch_end(self, epoch, logs=None):
        logs[self.monitor] = self.values[epoch]
        self.model.set_weights([np.full_like(w, epoch + 1.0) for w in self.model.get_weights()])


def run_early_stopping(values, monitor="score", **options):
    stopper = EarlyStopping(monitor=monitor, **options)
    model = keras_example()
    history = model.fit(
        *random_data(32), epochs=len(values), verbose=0,
        callbacks=[Scripted(monitor, values), stopper],
    )  # fmt: skip
    return history.epoch, stopper.stopped_epoch, float(model.layers[0].kernel.data.flat[0])


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    epochs, stopped, kept = run_early_stopping(
        [1.0, 0.0, 1.0, 2.0, 3.0, 4.0], mode="min", patience=2, restore_best_weights=True
    )
    assert epochs == [0, 1, 2, 3] and stopped == 3 and kept == 2.0  # epoch 1's weights


def test_early_stopping_that_never_triggers_still_restores_the_best_weights():
    """Keras 3 restores at the end of training, not only when it stops early."""
    epochs, stopped, kept = run_early_stopping(
        [1.0, 0.5, 0.7, 0.9], mode="min", patience=10, restore_best_weights=True
    )
    assert epochs == [0, 1, 2, 3] and stopped == 0 and kept == 2.0


def test_early_stopping_baseline_and_start_from_epoch_as_keras():
    """Values for epochs 0..5, a baseline the first values miss, monitoring from epoch 1."""
    values = [0.1, 0.9, 0.8, 0.85, 0.7, 0.75]
    options = {"mode": "min", "patience": 2, "baseline": 0.75, "start_from_epoch": 1}
    outcome = {}
    for name, model in zip(("keras", "nnlearn"), twins(), strict=True):
        library = keras.callbacks if name == "keras" else nl.training
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        stopper = library.EarlyStopping(monitor="loss", restore_best_weights=True, **options)
        script = _scripted(library.Callback, "loss", values)
        history = model.fit(X, LABELS, epochs=6, verbose=0, callbacks=[script, stopper])
        outcome[name] = (history.epoch, stopper.stopped_epoch, model.get_weights()[0].flat[0])
    assert outcome["nnlearn"] == outcome["keras"]


def _scripted(base, monitor, values):
    script = type("Script", (base,), {"on_epoch_end": Scripted.on_epoch_end})()
    script.monitor, script.values = monitor, values
    return script


def test_early_stopping_mode_auto_knows_losses_accuracies_and_errors_and_no_other():
    model = keras_example()
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy", "mse"])
    for monitor, lower_is_better in [("val_loss", True), ("val_accuracy", False), ("mse", True)]:
        stopper = EarlyStopping(monitor=monitor)
        stopper.set_model(model)
        assert stopper._lower_is_better() is lower_is_better, monitor
    with pytest.raises(ValueError, match=r"'score'.*mode='max' or mode='min'"):
        run_early_stopping([1.0, 2.0])  # Keras raises too: it cannot tell the direction


def test_early_stopping_warns_and_goes_on_when_the_monitored_value_is_missing():
    model = keras_example()
    with pytest.warns(UserWarning, match=r"'val_loss'.*validation_split"):
        history = model.fit(*random_data(32), epochs=2, verbose=0, callbacks=[EarlyStopping()])
    assert history.epoch == [0, 1]


# --- progress and divergence ---------------------------------------------------------------------
def test_verbose_1_shows_a_progress_bar_2_a_line_per_epoch_0_nothing(capsys):
    model = keras_example()
    x, y = random_data(64)
    model.fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr() == ("", "")
    model.fit(x, y, epochs=2)  # verbose="auto", as Keras: a bar
    err = capsys.readouterr().err
    assert "Epoch 1/2" in err and "Epoch 2/2" in err and "2/2" in err and "loss:" in err
    model.fit(x, y, epochs=2, verbose=2, validation_split=0.25)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/2", "Epoch 2/2"]
    assert "accuracy:" in lines[0] and "val_loss:" in lines[0]


def test_a_nan_loss_raises_training_diverged_naming_epoch_batch_and_a_remedy():
    x, y = random_data(64)
    x[40, 0] = np.nan  # in the second batch of 32
    model = keras_example()
    with pytest.raises(TrainingDiverged, match=r"nan at epoch 1, batch 2.*smaller learning rate"):
        model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    assert issubclass(TrainingDiverged, RuntimeError)


def test_a_huge_learning_rate_diverges_to_inf_and_is_caught_without_numpy_warnings():
    nl.seed_everything(0)
    model = nl.Sequential([nl.layers.Dense(1, input_shape=(1,))])
    model.compile(optimizer=nl.optim.SGD(lr=10.0), loss="mse")
    x = np.linspace(0, 10, 32)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TrainingDiverged, match="the loss became (inf|nan)"):
            model.fit(x, x, epochs=100, batch_size=8, verbose=0)
