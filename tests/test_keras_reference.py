"""nnlearn's Keras-named parts checked against Keras 3 itself (torch backend), not our reading
of its documentation: metrics called Keras's way, losses and metrics inside a model, the
defaults a ``compile`` string gives, the order of callback hooks and their logs,
``EarlyStopping``, the forms ``evaluate`` returns, and the course's seed example trained by
both from the same weights. (The loss functions and classes on their own: test_losses.py.)

Each test builds the same model in both libraries (:func:`twins`: Keras's initial weights
copied into nnlearn with ``set_weights``), so any difference is the library's, not the draw's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from keras_reference import LIBRARIES, floatx, keras, to_numpy, twins

import nnlearn as nl

# Keras's own variables warn under numpy 2 when turned into arrays; not nnlearn's concern.
pytestmark = [
    pytest.mark.chapter08,
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

RNG = np.random.default_rng(0)
RTOL = 1e-6  # in float64: Keras's reductions on the torch backend err near 1e-8
N, C = 10, 3  # examples and classes of the small data below


def hidden_and(units: int, activation: str | None) -> Callable[[Any], list]:
    """A small network: Dense(4, tanh) then the output layer ``Dense(units, activation)``."""
    return lambda lib: [
        lib.layers.Dense(4, activation="tanh"),
        lib.layers.Dense(units, activation=activation),
    ]


# --- data ------------------------------------------------------------------------------------
def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


X = RNG.standard_normal((N, 3))
LABELS = RNG.integers(0, C, N)
ONE_HOT = np.eye(C)[LABELS]
PROBS = _softmax(RNG.standard_normal((N, C)) * 2)
BINARY = RNG.integers(0, 2, (N, 1)).astype(float)
BINARY_PROBS = RNG.uniform(0, 1, (N, 1))
BINARY_PROBS[2] = 0.5  # not above the threshold: class 0
REGRESSION_TRUE, REGRESSION_PRED = RNG.standard_normal((2, N, 2))


# --- metric functions: one value per example, as Keras's ---------------------------------------
# (Keras function name, options, y_true, y_pred)
METRIC_CASES = [
    ("binary_accuracy", {}, BINARY, BINARY_PROBS),
    ("binary_accuracy", {"threshold": 0.7}, BINARY, BINARY_PROBS),
    ("categorical_accuracy", {}, ONE_HOT, PROBS),
    ("sparse_categorical_accuracy", {}, LABELS, PROBS),
    ("sparse_categorical_accuracy", {}, LABELS[:, None], PROBS),
    ("mean_absolute_error", {}, REGRESSION_TRUE, REGRESSION_PRED),
    ("mean_squared_error", {}, REGRESSION_TRUE, REGRESSION_PRED),
]


@pytest.mark.parametrize(
    "name, options, y_true, y_pred",
    METRIC_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(METRIC_CASES)],
)
def test_metric_functions_give_keras_values_per_example(name, options, y_true, y_pred):
    with floatx("float64"):
        expected = to_numpy(getattr(keras.metrics, name)(y_true, y_pred, **options))
        values = to_numpy(getattr(nl.metrics, name)(y_true, y_pred, **options))
    assert values.shape == expected.shape
    np.testing.assert_allclose(values, expected, rtol=RTOL)


# --- metrics and losses inside a model: evaluate from the same weights -----------------------
# (name, output layer (units, activation), loss, metrics, targets)
MODEL_CASES = [
    ("softmax-labels", (C, "softmax"), "sparse_categorical_crossentropy",
     ["accuracy", "sparse_categorical_accuracy"], LABELS),
    ("softmax-one-hot", (C, "softmax"), "categorical_crossentropy",
     ["accuracy", "categorical_accuracy"], ONE_HOT),
    ("sigmoid", (1, "sigmoid"), "binary_crossentropy", ["accuracy", "binary_accuracy"], BINARY),
    ("regression", (2, None), "mse", ["mae", "mse"], REGRESSION_TRUE),
    ("regression-huber", (2, None), "huber", ["mae"], REGRESSION_TRUE),
    ("regression-targets-(n,)", (1, None), "mae", ["mse"], REGRESSION_TRUE[:, 0]),
]  # fmt: skip


@pytest.mark.parametrize(
    "output, loss, metrics, y", [c[1:] for c in MODEL_CASES], ids=[c[0] for c in MODEL_CASES]
)
def test_evaluate_gives_keras_loss_and_metric_values(output, loss, metrics, y):
    with floatx("float64"):
        models = twins(hidden_and(*output))
        results = {}
        for name, model in zip(LIBRARIES, models, strict=True):
            model.compile(optimizer="sgd", loss=loss, metrics=metrics)
            results[name] = model.evaluate(X, y, batch_size=4, verbose=0, return_dict=True)
    assert sorted(results["nnlearn"]) == sorted(results["keras"])
    for key, value in results["keras"].items():
        np.testing.assert_allclose(results["nnlearn"][key], value, rtol=RTOL, err_msg=key)


def form(result: Any) -> str:
    if isinstance(result, (list, dict)):
        return type(result).__name__
    return "number" if isinstance(result, float) else repr(type(result))


def test_evaluate_returns_keras_forms():
    """A float without metrics; ``[loss, *metrics]`` in compile order; a dict by name."""
    with floatx("float64"):
        for metrics in ([], ["mse", "binary_accuracy"], ["binary_accuracy", "mae", "mse"]):
            results = {}
            for name, model in zip(LIBRARIES, twins(hidden_and(1, "sigmoid")), strict=True):
                model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=metrics)
                plain = model.evaluate(X, BINARY, verbose=0)
                named = model.evaluate(X, BINARY, verbose=0, return_dict=True)
                results[name] = (plain, named)
            (keras_plain, keras_named), (plain, named) = results["keras"], results["nnlearn"]
            assert form(plain) == form(keras_plain) == ("list" if metrics else "number")
            np.testing.assert_allclose(plain, keras_plain, rtol=RTOL, err_msg=str(metrics))
            assert isinstance(named, dict) and sorted(named) == sorted(keras_named)
            for key, value in keras_named.items():
                np.testing.assert_allclose(named[key], value, rtol=RTOL, err_msg=key)


# --- the defaults a compile string gives ------------------------------------------------------
# Keras's configuration keys in torch's parameterisation (the optimizer classes are torch's).
KERAS_TO_TORCH = {
    "learning_rate": "lr",
    "rho": "alpha",
    "epsilon": "eps",
    "momentum": "momentum",
    "nesterov": "nesterov",
    "centered": "centered",
    "initial_accumulator_value": "initial_accumulator_value",
    "amsgrad": "amsgrad",
    "weight_decay": "weight_decay",
}


def keras_defaults(name: str) -> dict[str, Any]:
    """``keras.optimizers.get(name)``'s settings under torch's names."""
    config = keras.optimizers.get(name).get_config()
    settings = {KERAS_TO_TORCH[k]: v for k, v in config.items() if k in KERAS_TO_TORCH}
    if settings.get("weight_decay") is None:  # Keras's "no decay"
        settings["weight_decay"] = 0.0
    if "beta_1" in config:
        settings["betas"] = (config["beta_1"], config["beta_2"])
    return settings


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "adagrad", "adam", "adamw"])
def test_compile_string_gets_keras_defaults(name):
    model = nl.Sequential([nl.layers.Dense(1)])
    model.compile(optimizer=name, loss="mse")
    optimizer = model.optimizer
    settings = {"lr": optimizer.lr, **optimizer.hyperparameters}
    for key, expected in keras_defaults(name).items():
        assert key in settings, f"{name}: nnlearn's optimizer has no {key!r}"
        # Keras reports its learning rate as a float32, hence rtol.
        np.testing.assert_allclose(settings[key], expected, rtol=1e-6, err_msg=f"{name}: {key}")


# --- callbacks --------------------------------------------------------------------------------
def scripted(library: Any, monitor: str, values: list[float]) -> Any:
    """A callback that drives an EarlyStopping placed after it: at the end of epoch ``e`` it
    writes ``values[e]`` as the monitored quantity and sets every weight to ``e + 1``, so the
    weights left in the model tell which epoch's were kept."""

    class Scripted(library.callbacks.Callback):
        epochs_run = 0

        def on_epoch_end(self, epoch, logs=None):
            logs[monitor] = values[epoch]
            weights = self.model.get_weights()
            self.model.set_weights([np.full_like(w, epoch + 1.0) for w in weights])
            self.epochs_run = epoch + 1

    return Scripted()


# (monitor, EarlyStopping options, the monitored values epoch by epoch)
EARLY_STOPPING_CASES = [
    ("val_loss", {"patience": 0}, [1.0, 0.9, 0.95, 0.8, 0.7]),
    ("val_loss", {"patience": 2}, [1.0, 0.9, 0.95, 0.92, 0.85, 0.99, 1.0]),
    ("val_loss", {"patience": 2, "restore_best_weights": True}, [1.0, 0.9, 0.95, 0.92, 0.85]),
    ("val_loss", {"patience": 2, "min_delta": 0.05}, [1.0, 0.97, 0.94, 0.92, 0.91, 0.5]),
    ("val_loss", {"patience": 9, "restore_best_weights": True}, [1.0, 0.8, 0.9, 0.85]),
    ("val_loss", {"patience": 1, "mode": "max"}, [1.0, 1.2, 1.1, 0.9]),
    ("val_accuracy", {"patience": 1}, [0.5, 0.6, 0.55, 0.7]),
    ("val_accuracy", {"patience": 1, "mode": "max", "restore_best_weights": True},
     [0.5, 0.6, 0.55, 0.58, 0.9]),
    ("loss", {"patience": 1, "mode": "min", "min_delta": -0.1}, [1.0, 1.05, 1.2, 1.0]),
    ("val_loss", {"patience": 3, "baseline": 0.5}, [1.0, 0.9, 0.95, 0.4]),
    ("val_loss", {"patience": 1, "start_from_epoch": 2}, [0.5, 0.9, 1.0, 0.95, 0.99]),
]  # fmt: skip


@pytest.mark.parametrize(
    "monitor, options, values",
    EARLY_STOPPING_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(EARLY_STOPPING_CASES)],
)
def test_early_stopping_stops_and_restores_as_keras(monitor, options, values):
    outcome = {}
    for name, model in zip(LIBRARIES, twins(hidden_and(C, "softmax")), strict=True):
        library = LIBRARIES[name]
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        script = scripted(library, monitor, values)
        stopper = library.callbacks.EarlyStopping(monitor=monitor, **options)
        model.fit(
            X, LABELS, epochs=len(values), batch_size=4, validation_split=0.4, shuffle=False,
            verbose=0, callbacks=[script, stopper],
        )  # fmt: skip
        kept = float(model.get_weights()[0].flat[0])  # the epoch whose weights remain, from 1
        outcome[name] = (script.epochs_run, stopper.stopped_epoch, kept)
    assert outcome["nnlearn"] == outcome["keras"], "(epochs run, stopped_epoch, weights kept)"


def test_early_stopping_cannot_guess_the_direction_of_an_unknown_quantity():
    for name, model in zip(LIBRARIES, twins(hidden_and(C, "softmax")), strict=True):
        library = LIBRARIES[name]
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        callbacks = [
            scripted(library, "val_f1", [0.5, 0.6]),
            library.callbacks.EarlyStopping("val_f1"),
        ]
        with pytest.raises(ValueError, match="val_f1"):
            model.fit(X, LABELS, epochs=2, verbose=0, callbacks=callbacks)


# --- the seed example, trained by both ----------------------------------------------------------
def test_seed_example_trains_like_keras_from_the_same_weights():
    """Dense 64 relu, 64 relu, 10 softmax; adam; sparse cross-entropy; accuracy. The same
    start, the same unshuffled batches (the last one partial), float32, three epochs: the
    loss of every epoch within 1e-3 relative. Keras's Adam places epsilon differently from
    torch's (nnlearn's), so the two runs are twins, not copies."""
    x, y = nl.data.load_digits()
    x, y = x[:500] / 16.0, y[:500]
    keras_model, model = twins(
        lambda lib: [
            lib.layers.Dense(64, activation="relu"),
            lib.layers.Dense(64, activation="relu"),
            lib.layers.Dense(10, activation="softmax"),
        ],
        inputs=64,
    )
    histories = {}
    for name, m in (("keras", keras_model), ("nnlearn", model)):
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = m.fit(
            x.astype(np.float32), y, epochs=3, batch_size=32, validation_split=0.1,
            shuffle=False, verbose=0,
        )  # fmt: skip
        histories[name] = history.history
    keras_history, history = histories["keras"], histories["nnlearn"]
    assert sorted(history) == sorted(keras_history)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(history[key], keras_history[key], rtol=1e-3, err_msg=key)
    for key in ("accuracy", "val_accuracy"):  # a borderline example may flip
        np.testing.assert_allclose(history[key], keras_history[key], atol=0.01, err_msg=key)
