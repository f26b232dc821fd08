"""One line per Keras idiom: the same code run on Keras 3 and on nnlearn gives the same result,
or nnlearn raises a clear error that names the argument at fault.

Each idiom is a small function of the library (``keras`` or nnlearn's namespace of the same
names, see ``keras_reference.LIBRARIES``) that returns numbers, arrays, dicts or lists.
Models start from the same weights (:func:`small_model` sets them through ``set_weights``) and
train on unshuffled batches, so both libraries do the same arithmetic. Adding an idiom costs
one line in :data:`IDIOMS` (and a function when it does not fit in a lambda).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from keras_reference import NNLEARN, keras, recorder, to_numpy

pytestmark = [
    pytest.mark.chapter08,
    # Keras asks for keras.Input rather than a layer's input_shape; nnlearn has no Input, and
    # the idiom with input_shape is the one the course teaches.
    pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning"),
    # Keras's own variables warn under numpy 2 when turned into arrays; not nnlearn's concern.
    pytest.mark.filterwarnings(
        "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
    ),
]

RNG = np.random.default_rng(1)
X = RNG.standard_normal((10, 3)).astype(np.float32)
LABELS = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 1])
TARGETS = RNG.standard_normal(10).astype(np.float32)  # shape (n,), one target per example
WEIGHTS = RNG.uniform(0.5, 2.0, 10).astype(np.float32)
# Keras's documentation example: its categorical cross-entropy is 1.177 (nnlearn gave 47.5).
ONE_HOT = np.array([[0, 1, 0], [0, 0, 1]], np.float32)
PROBABILITIES = np.array([[0.05, 0.95, 0], [0.1, 0.8, 0.1]], np.float32)
FIT = {"epochs": 2, "batch_size": 4, "shuffle": False, "verbose": 0}  # 3 batches, the last of 2


def small_model(lib: Any, *layers: Any) -> Any:
    """``Sequential(layers)`` for inputs of 3 features, every weight set to a fixed pattern."""
    model = lib.Sequential(list(layers))
    model.build((None, 3))
    model.set_weights([_pattern(w) for w in model.get_weights()])
    return model


def _pattern(w: np.ndarray) -> np.ndarray:
    return (0.5 * np.sin(np.arange(1, w.size + 1))).reshape(w.shape).astype(w.dtype)


def classifier(lib: Any, loss: str = "sparse_categorical_crossentropy", **compile_args) -> Any:
    """Dense(4, tanh) then Dense(2, softmax), compiled with plain SGD."""
    model = small_model(
        lib, lib.layers.Dense(4, activation="tanh"), lib.layers.Dense(2, activation="softmax")
    )
    model.compile(optimizer="sgd", loss=loss, **compile_args)
    return model


def regressor(lib: Any, **compile_args) -> Any:
    """Dense(1), compiled with plain SGD and the mean squared error."""
    model = small_model(lib, lib.layers.Dense(1))
    model.compile(optimizer="sgd", loss="mse", **compile_args)
    return model


# --- the idioms -------------------------------------------------------------------------------
def first_step(lib: Any, *optimizer: str) -> list[np.ndarray]:
    """How far one full batch moves each weight: shows the optimizer's defaults at work
    (without ``optimizer``, compile's default optimizer)."""
    model = small_model(lib, lib.layers.Dense(1))
    model.compile(*optimizer, loss="mse")
    before = model.get_weights()
    model.fit(X, 3.0 * TARGETS + 2.0, epochs=1, batch_size=10, verbose=0)  # gradients of O(1)
    return [after - start for after, start in zip(model.get_weights(), before, strict=True)]


def frozen_layer(lib: Any) -> list[bool]:
    """``layer.trainable = False`` before compile: which weights stayed as they were."""
    model = small_model(lib, lib.layers.Dense(4, activation="tanh"), lib.layers.Dense(1))
    model.layers[0].trainable = False
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    model.fit(X, TARGETS, **FIT)
    return [np.array_equal(a, b) for a, b in zip(model.get_weights(), before, strict=True)]


def batches_seen(lib: Any, x: np.ndarray, **fit_args) -> int:
    """How many training batches ``fit`` runs in one epoch."""
    model = regressor(lib)
    callback = recorder(lib)
    model.fit(
        x, np.zeros((len(x), 1), np.float32), epochs=1, verbose=0, callbacks=[callback], **fit_args
    )
    return sum(name == "on_train_batch_end" for name, _, _ in callback.calls)


def custom_loss(lib: Any) -> tuple[Any, Any]:
    """A Keras ``Loss`` subclass defining only ``call``: its value, and fit's losses with it."""

    class HalfSquaredError(lib.losses.Loss):
        def call(self, y_true, y_pred):
            return 0.5 * ((y_pred - y_true) ** 2).mean(axis=-1)

    loss = HalfSquaredError()
    value = to_numpy(loss(TARGETS[:, None], X[:, :1]))
    model = small_model(lib, lib.layers.Dense(1))
    model.compile(optimizer="sgd", loss=loss)
    return value, model.fit(X, TARGETS[:, None], **FIT).history["loss"]


def train_begin_without_default(lib: Any) -> list[str]:
    """A callback written ``def on_train_begin(self, logs)``, as Keras's own examples do."""

    class Seen(lib.callbacks.Callback):
        def on_train_begin(self, logs):
            self.keys = sorted(logs or {})

    callback = Seen()
    regressor(lib).fit(X, TARGETS, callbacks=[callback], **FIT)
    return callback.keys


def batch_end_calls(lib: Any) -> list[int]:
    """The batches ``on_batch_end`` (Keras's older name for on_train_batch_end) was called on."""

    class Batches(lib.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seen = []

        def on_batch_end(self, batch, logs=None):
            self.seen.append(batch)

    callback = Batches()
    regressor(lib).fit(X, TARGETS, callbacks=[callback], **FIT)
    return callback.seen


def weights_round_trip(lib: Any) -> tuple[list, Any]:
    """The layout of ``get_weights()``, and predictions after ``set_weights`` of new values."""
    model = small_model(lib, lib.layers.Dense(4, activation="relu"), lib.layers.Dense(2))
    layout = [(w.shape, w.dtype.name) for w in model.get_weights()]
    model.set_weights([-2.0 * w for w in model.get_weights()])
    return layout, to_numpy(model(X))


def built_from_input_shape(lib: Any) -> tuple[bool, int, bool]:
    """A first layer with ``input_shape`` builds the model: its size and a summary at once."""
    model = lib.Sequential([lib.layers.Dense(4, input_shape=(3,)), lib.layers.Dense(2)])
    lines = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    return model.built, model.count_params(), "Total params: 26" in "\n".join(lines)


def built_by_build(lib: Any) -> tuple[bool, bool, int]:
    model = lib.Sequential([lib.layers.Dense(4), lib.layers.Dense(2)])
    before = model.built
    model.build((None, 3))
    return before, model.built, model.count_params()


def fit_history(model: Any, y: np.ndarray, **fit_args) -> dict[str, list[float]]:
    return model.fit(X, y, **FIT, **fit_args).history


@dataclass(frozen=True)
class Idiom:
    name: str
    run: Callable[[Any], Any]
    error: str | None = None  # nnlearn must raise a ValueError/TypeError whose message has it
    keras_raises: bool = True  # for an error idiom: whether Keras 3 raises too
    rtol: float = 1e-5


IDIOMS = [
    Idiom("CategoricalCrossentropy()(y_true, y_pred)", lambda lib: to_numpy(lib.losses.CategoricalCrossentropy()(ONE_HOT, PROBABILITIES))),  # noqa: E501
    Idiom("SparseCategoricalCrossentropy()(labels (n, 1), y_pred)", lambda lib: to_numpy(lib.losses.SparseCategoricalCrossentropy()(ONE_HOT.argmax(1)[:, None], PROBABILITIES))),  # noqa: E501
    Idiom("MeanSquaredError()(y_true, y_pred, sample_weight)", lambda lib: to_numpy(
        lib.losses.MeanSquaredError()(X[:, :2], X[:, 1:], sample_weight=WEIGHTS))),
    Idiom("compile(optimizer='sgd') first step", lambda lib: first_step(lib, "sgd")),
    Idiom("compile(optimizer='rmsprop') first step", lambda lib: first_step(lib, "rmsprop"), rtol=1e-3),  # noqa: E501
    Idiom("compile(optimizer='adagrad') first step", lambda lib: first_step(lib, "adagrad"), rtol=1e-3),  # noqa: E501
    Idiom("compile(optimizer='adam') first step", lambda lib: first_step(lib, "adam"), rtol=1e-3),
    Idiom("compile(loss=...) with the default optimizer: first step", first_step, rtol=1e-3),
    Idiom("layer.trainable = False, then fit", frozen_layer),
    Idiom("targets (n,) with Dense(1) and mse", lambda lib: fit_history(regressor(lib), TARGETS)),
    Idiom("fit(batch_size=None) means 32", lambda lib: batches_seen(lib, np.ones((40, 3), np.float32), batch_size=None)),  # noqa: E501
    Idiom("validation_split keeps floor(n (1 - split)) for training", lambda lib: batches_seen(lib, X, batch_size=1, validation_split=0.25)),  # noqa: E501
    Idiom("fit(class_weight={0: 1, 1: 3})", lambda lib: fit_history(classifier(lib, metrics=["accuracy"]), LABELS, class_weight={0: 1.0, 1: 3.0})),  # noqa: E501
    Idiom("fit(validation_data=(x, y))", lambda lib: fit_history(classifier(lib, metrics=["accuracy"]), LABELS, validation_data=(X[::2], LABELS[::2]))),  # noqa: E501
    Idiom("fit(sample_weight=w)", lambda lib: fit_history(classifier(lib, metrics=["accuracy"]), LABELS, sample_weight=WEIGHTS)),  # noqa: E501
    Idiom("a Loss subclass with call(y_true, y_pred)", custom_loss),
    Idiom("def on_train_begin(self, logs)", train_begin_without_default),
    Idiom("on_batch_end is called", batch_end_calls),
    Idiom("metrics=['mae', 'mse']", lambda lib: fit_history(regressor(lib, metrics=["mae", "mse"]), TARGETS)),  # noqa: E501
    Idiom("metrics=['sparse_categorical_accuracy']", lambda lib: fit_history(classifier(lib, metrics=["sparse_categorical_accuracy"]), LABELS)),  # noqa: E501
    Idiom("metrics=['categorical_accuracy']", lambda lib: fit_history(classifier(lib, "categorical_crossentropy", metrics=["categorical_accuracy"]), np.eye(2)[LABELS])),  # noqa: E501
    Idiom("metrics=['binary_accuracy']", lambda lib: fit_history(regressor(lib, metrics=["binary_accuracy"]), LABELS.astype(np.float32))),  # noqa: E501
    Idiom("get_weights layout, set_weights", weights_round_trip),
    Idiom("predict(x, verbose=0)", lambda lib: classifier(lib).predict(X, verbose=0)),
    Idiom("Dense(input_shape=...) builds; summary", built_from_input_shape),
    Idiom("model.build((None, 3))", built_by_build),
    Idiom("fit(batch_size=0)", lambda lib: regressor(lib).fit(X, TARGETS, batch_size=0, verbose=0), error="batch_size", keras_raises=False),  # noqa: E501
    Idiom("fit(batch_size=2.5)", lambda lib: regressor(lib).fit(X, TARGETS, batch_size=2.5, verbose=0), error="batch_size"),  # noqa: E501
    Idiom("fit(epochs=1.5)", lambda lib: regressor(lib).fit(X, TARGETS, epochs=1.5, verbose=0), error="epochs"),  # noqa: E501
    Idiom("string labels for a sparse loss", lambda lib: classifier(lib).fit(X, np.array(list("abababcabc")), verbose=0), error="label"),  # noqa: E501
]  # fmt: skip


def assert_same(result: Any, reference: Any, rtol: float, where: str = "result") -> None:
    """``result`` equals Keras's ``reference``: the same structure, numbers within ``rtol``."""
    if isinstance(reference, dict):
        assert isinstance(result, dict) and sorted(result) == sorted(reference), where
        for key in reference:
            assert_same(result[key], reference[key], rtol, f"{where}[{key!r}]")
    elif isinstance(reference, (list, tuple)):
        assert isinstance(result, (list, tuple)) and len(result) == len(reference), where
        for i, (mine, theirs) in enumerate(zip(result, reference, strict=True)):
            assert_same(mine, theirs, rtol, f"{where}[{i}]")
    elif isinstance(reference, (bool, str)):
        assert result == reference, where
    else:
        np.testing.assert_allclose(
            to_numpy(result), to_numpy(reference), rtol=rtol, atol=1e-7, err_msg=where
        )


SAME = [idiom for idiom in IDIOMS if idiom.error is None]
ERRORS = [idiom for idiom in IDIOMS if idiom.error is not None]


@pytest.mark.parametrize("idiom", SAME, ids=[idiom.name for idiom in SAME])
def test_idiom_gives_the_keras_result(idiom):
    assert_same(idiom.run(NNLEARN), idiom.run(keras), idiom.rtol)


@pytest.mark.parametrize("idiom", ERRORS, ids=[idiom.name for idiom in ERRORS])
def test_idiom_raises_a_clear_error(idiom):
    with pytest.raises((ValueError, TypeError), match=idiom.error):
        idiom.run(NNLEARN)
    if idiom.keras_raises:
        with pytest.raises(Exception):  # noqa: B017 (any error: Keras's own wording)
            idiom.run(keras)
    else:  # Keras accepts it silently (batch_size=0 means its default, 32)
        idiom.run(keras)
