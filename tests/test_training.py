"""Chapter 08: compile / fit / evaluate / predict behave like Keras and fail clearly.

Step-by-step agreement of fit with a torch training loop is in
tests/parity/test_layers_parity.py; here: the Keras example as written, the History, the
progress bar, validation, callbacks, the fused softmax cross-entropy, and every error.
"""

import time

import numpy as np
import pytest
import torch

import nnlearn as nl
from nnlearn.data import Standardizer, load_digits, train_val_test_split
from nnlearn.training import Callback, EarlyStopping, TrainingDiverged


def keras_example():
    """The classic Keras example, exactly as written in the course."""
    model = nl.Sequential([
        nl.layers.Dense(64, activation='relu', input_shape=(100,)),
        nl.layers.Dense(64, activation='relu'),
        nl.layers.Dense(10, activation='softmax'),
    ])  # fmt: skip
    model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['accuracy'])  # noqa: E501  # fmt: skip
    return model


def random_data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 100)), rng.integers(0, 10, n)


def test_the_keras_example_runs_as_written_and_trains():
    nl.seed_everything(0)
    model = keras_example()
    x, y = random_data()
    history = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 3 for values in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert history.history["loss"][-1] < history.history["loss"][0]
    probabilities = model.predict(x)
    assert probabilities.shape == (96, 10) and probabilities.dtype == np.float32
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_optimizer_named_in_compile_gets_the_parameters_once_the_model_is_built():
    model = nl.Sequential([nl.layers.Dense(4, activation="relu"), nl.layers.Dense(3)])
    model.compile(optimizer="sgd", loss="mse")
    assert model.optimizer.params == []  # no sizes known yet
    model.fit(np.ones((8, 5)), np.zeros((8, 3)), epochs=1, verbose=0)
    assert [id(p) for p in model.optimizer.params] == [id(p) for p in model.parameters()]
    model.fit(np.ones((8, 5)), np.zeros((8, 3)), epochs=1, verbose=0)  # not added twice
    assert len(model.optimizer.params) == 4


def test_an_optimizer_object_is_used_as_given():
    nl.seed_everything(0)
    model = nl.Sequential([nl.layers.Dense(1, input_shape=(1,))])
    optimizer = nl.optim.SGD(lr=0.1)
    model.compile(optimizer=optimizer, loss="mse")
    assert model.optimizer is optimizer and len(optimizer.params) == 2
    x = np.linspace(-1, 1, 32)[:, None]
    model.fit(x, 3 * x - 1, epochs=150, batch_size=32, verbose=0)
    np.testing.assert_allclose(model.layers[0].kernel.data, [[3.0]], atol=1e-3)
    np.testing.assert_allclose(model.layers[0].bias.data, [-1.0], atol=1e-3)


def test_evaluate_follows_keras_return_convention_and_matches_the_loss_of_predict():
    nl.seed_everything(0)
    model = keras_example()
    x, y = random_data()
    loss, accuracy = model.evaluate(x, y)
    logs = model.evaluate(x, y, return_dict=True)
    assert logs == {"loss": loss, "accuracy": accuracy}
    probabilities = torch.tensor(model.predict(x), dtype=torch.float64)
    expected = torch.nn.functional.nll_loss(probabilities.log(), torch.tensor(y)).item()
    assert loss == pytest.approx(expected, rel=1e-5)
    assert accuracy == np.mean(probabilities.numpy().argmax(1) == y)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert isinstance(model.evaluate(x, y), float)


def test_softmax_and_crossentropy_are_fused_so_saturated_outputs_stay_exact():
    # Logits 200 apart: softmax gives exactly 0 in float32, log(0) would be clamped at -100.
    model = nl.Sequential([nl.layers.Dense(2, activation="softmax", input_shape=(1,))])
    model.layers[0].kernel.data[...] = [[100.0, -100.0]]
    x, y = np.ones((4, 1)), np.array([1, 1, 1, 1])
    for loss in ("sparse_categorical_crossentropy", nl.losses.SparseCategoricalCrossentropy()):
        model.compile(optimizer="adam", loss=loss)
        assert model.evaluate(x, y) == pytest.approx(200.0)  # = cross-entropy of the logits
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    assert model.evaluate(x, np.eye(2)[y]) == pytest.approx(200.0)
    assert model.predict(x)[0, 1] == 0.0  # predict still returns probabilities
    # The same with the softmax as a layer of its own.
    dense = nl.layers.Dense(2, input_shape=(1,))
    dense.kernel.data[...] = [[100.0, -100.0]]
    model = nl.Sequential([dense, nl.layers.Activation("softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert model.evaluate(x, y) == pytest.approx(200.0)


def test_metrics_of_a_fused_model_receive_probabilities_like_keras():
    received = []

    def mean_top_probability(y_true, y_pred):
        received.append(y_pred)
        return float(np.max(y_pred, axis=1).mean())

    model = keras_example()
    model.compile(loss="sparse_categorical_crossentropy", metrics=[mean_top_probability])
    x, y = random_data(32)
    logs = model.evaluate(x, y, return_dict=True)
    np.testing.assert_allclose(received[0], model.predict(x), rtol=1e-5, atol=1e-7)
    assert set(logs) == {"loss", "mean_top_probability"}


def test_evaluate_and_predict_record_no_graph():
    seen = []

    def spy_relu(x):
        seen.append(nl.is_grad_enabled())
        return nl.activations.relu(x)

    model = nl.Sequential([nl.layers.Dense(3, activation=spy_relu, input_shape=(2,))])
    model.compile(loss="mse")
    model.fit(np.ones((4, 2)), np.ones((4, 3)), epochs=1, verbose=0)
    model.evaluate(np.ones((4, 2)), np.ones((4, 3)))
    model.predict(np.ones((4, 2)))
    assert seen == [True, False, False]


def test_validation_data_and_split_hold_out_the_right_examples():
    nl.seed_everything(0)
    x, y = random_data(100)
    model = keras_example()
    history = model.fit(x, y, epochs=2, validation_data=(x[:10], y[:10]), verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x[:10], y[:10])[0])
    model = keras_example()
    history = model.fit(x, y, epochs=1, validation_split=0.2, shuffle=False, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(model.evaluate(x[80:], y[80:])[0])


def test_shuffle_false_repeats_exactly_and_shuffle_true_changes_the_order():
    x, y = random_data(64)

    def final_kernel(shuffle, seed):
        nl.seed_everything(0)
        model = keras_example()
        nl.seed_everything(seed)
        model.fit(x, y, epochs=1, batch_size=16, shuffle=shuffle, verbose=0)
        return model.layers[0].kernel.data.copy()

    np.testing.assert_array_equal(final_kernel(False, 1), final_kernel(False, 2))
    assert not np.array_equal(final_kernel(True, 1), final_kernel(True, 2))


def test_verbose_1_shows_a_progress_bar_2_a_line_per_epoch_0_nothing(capsys):
    model = keras_example()
    x, y = random_data(64)
    model.fit(x, y, epochs=2, verbose=0)
    assert capsys.readouterr() == ("", "")
    model.fit(x, y, epochs=2, verbose=1)
    err = capsys.readouterr().err
    assert "Epoch 1/2" in err and "Epoch 2/2" in err and "2/2" in err and "loss:" in err
    model.fit(x, y, epochs=2, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/2", "Epoch 2/2"]
    assert "accuracy:" in lines[0]


def test_callbacks_are_called_in_order_with_logs():
    class Recorder(Callback):
        def __init__(self):
            self.calls = []

        def on_train_begin(self, logs=None):
            self.calls.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            self.calls.append(f"epoch_begin {epoch}")

        def on_train_batch_end(self, batch, logs=None):
            self.calls.append(f"batch {batch} {sorted(logs)}")

        def on_epoch_end(self, epoch, logs=None):
            self.calls.append(f"epoch_end {epoch} {sorted(logs)}")

        def on_train_end(self, logs=None):
            self.calls.append("train_end")

    recorder = Recorder()
    model = keras_example()
    model.fit(*random_data(40), epochs=1, batch_size=32, verbose=0, callbacks=[recorder])
    assert recorder.model is model
    assert recorder.calls == [
        "train_begin",
        "epoch_begin 0",
        "batch 0 ['loss']",
        "batch 1 ['loss']",
        "epoch_end 0 ['accuracy', 'loss']",
        "train_end",
    ]


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    class WorseEachEpoch(Callback):
        """Fakes a monitored value that is best at epoch 1 and worse after."""

        def on_epoch_end(self, epoch, logs=None):
            logs["score"] = abs(epoch - 1)
            self.weights.append(self.model.layers[0].kernel.data.copy())

    fake = WorseEachEpoch()
    fake.weights = []
    stopper = EarlyStopping(monitor="score", patience=2, restore_best_weights=True)
    model = keras_example()
    history = model.fit(*random_data(), epochs=20, verbose=0, callbacks=[fake, stopper])
    assert history.epoch == [0, 1, 2, 3] and stopper.stopped_epoch == 3
    np.testing.assert_array_equal(model.layers[0].kernel.data, fake.weights[1])


def test_early_stopping_mode_auto_maximizes_accuracies_and_names_missing_keys():
    assert EarlyStopping(monitor="val_accuracy").sign == -1.0
    assert EarlyStopping(monitor="val_loss").sign == 1.0
    with pytest.raises(ValueError, match="'val_loss'.*validation_split"):
        keras_example().fit(*random_data(), epochs=1, verbose=0, callbacks=[EarlyStopping()])


def test_a_nan_loss_raises_training_diverged_naming_epoch_batch_and_a_remedy():
    x, y = random_data(64)
    x[40, 0] = np.nan  # in the second batch of 32
    model = keras_example()
    with pytest.raises(TrainingDiverged, match=r"nan at epoch 1, batch 2.*smaller learning rate"):
        model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    assert issubclass(TrainingDiverged, RuntimeError)


def test_a_huge_learning_rate_diverges_to_inf_and_is_caught():
    nl.seed_everything(0)
    model = nl.Sequential([nl.layers.Dense(1, input_shape=(1,))])
    model.compile(optimizer=nl.optim.SGD(lr=10.0), loss="mse")
    x = np.linspace(0, 10, 32)[:, None]
    with pytest.raises(TrainingDiverged, match="the loss became (inf|nan)"):
        model.fit(x, x, epochs=100, batch_size=8, verbose=0)


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        (np.zeros((0, 100)), np.zeros(0), r"fit: x is empty"),
        (np.zeros((5, 100)), np.zeros(4), r"fit: x has 5 examples but y has 4"),
        (np.zeros((5, 99)), np.zeros(5), r"expects x of shape \(examples, 100\), got \(5, 99\)"),
        (np.zeros(5), np.zeros(5), r"x must have shape \(examples, features\)"),
        (np.zeros((3, 100)), np.array([0, 10, 2]), r"integers in \[0, 10\).*value 10"),
        (np.zeros((3, 100)), np.array([0, -1, 2]), r"integers in \[0, 10\).*value -1"),
        (np.zeros((2, 100)), np.array([0.5, 1.0]), r"integers in \[0, 10\).*value 0.5"),
    ],
    ids=["empty", "length", "features", "1-d", "label-10", "label-negative", "label-fraction"],
)
def test_fit_rejects_bad_data_with_a_clear_message(x, y, message):
    with pytest.raises(ValueError, match=message):
        keras_example().fit(x, y, verbose=0)


def test_sparse_labels_may_be_a_column_as_in_keras():
    nl.seed_everything(0)
    x, y = random_data(32)
    first = keras_example().evaluate(x, y)
    nl.seed_everything(0)
    assert keras_example().evaluate(x, y[:, None].astype(np.float64)) == first


def test_fit_before_compile_says_to_compile():
    model = nl.Sequential([nl.layers.Dense(2, input_shape=(3,))])
    with pytest.raises(RuntimeError, match=r"compile the model first"):
        model.fit(np.zeros((4, 3)), np.zeros((4, 2)))


def test_compile_rejects_unknown_names():
    model = nl.Sequential([nl.layers.Dense(2)])
    with pytest.raises(ValueError, match="unknown metric 'precision'"):
        model.compile(loss="mse", metrics=["precision"])
    with pytest.raises(ValueError, match="give a loss"):
        model.compile(optimizer="adam")


def test_binary_classifier_on_moons_with_sigmoid_and_accuracy():
    nl.seed_everything(0)
    x, y = nl.data.make_moons(200, noise=0.1, seed=0)
    model = nl.Sequential([
        nl.layers.Dense(16, activation="tanh", input_shape=(2,)),
        nl.layers.Dense(1, activation="sigmoid"),
    ])  # fmt: skip
    model.compile(optimizer=nl.optim.Adam(lr=0.05), loss="binary_crossentropy", metrics=["acc"])
    history = model.fit(x, y[:, None], epochs=25, batch_size=32, verbose=0)
    assert history.history["acc"][-1] > 0.95


def test_digits_mlp_reaches_97_5_percent_test_accuracy_in_seconds():
    nl.seed_everything(0)
    train, val, test = train_val_test_split(*load_digits(), seed=0)
    scaler = Standardizer().fit(train[0])
    model = nl.Sequential([
        nl.layers.Dense(128, activation="relu", input_shape=(64,)),
        nl.layers.Dense(128, activation="relu"),
        nl.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(
        scaler.transform(train[0]),
        train[1],
        epochs=15,
        batch_size=32,
        validation_data=(scaler.transform(val[0]), val[1]),
        verbose=0,
    )
    seconds = time.perf_counter() - start
    _, test_accuracy = model.evaluate(scaler.transform(test[0]), test[1])
    assert test_accuracy >= 0.975, f"test accuracy {test_accuracy:.4f} after {seconds:.1f} s"


def test_float32_training_stays_float32_in_every_operation(monkeypatch):
    """No silent float64 upcast (e.g. from a Python constant) anywhere in the hot path."""
    dtypes = set()
    original_apply = nl.Function.apply.__func__

    def recording_apply(cls, *inputs, **options):
        out = original_apply(cls, *inputs, **options)
        dtypes.add((cls.__name__, out.dtype.name))
        return out

    monkeypatch.setattr(nl.Function, "apply", classmethod(recording_apply))
    # The engine casts a leaf's incoming gradient to the leaf's dtype: record it before that,
    # so a float64 gradient anywhere upstream in the backward pass would show.
    incoming = set()
    original_accumulate = nl.Tensor._accumulate

    def recording_accumulate(self, grad):
        incoming.add(grad.dtype.name)
        original_accumulate(self, grad)

    monkeypatch.setattr(nl.Tensor, "_accumulate", recording_accumulate)
    model = keras_example()
    x, y = random_data(64)  # float64 data: fit converts it once to the model's float32
    model.fit(x, y, epochs=1, batch_size=32, validation_split=0.5, verbose=0)
    assert {dtype for _, dtype in dtypes} == {"float32"}, sorted(dtypes)
    assert incoming == {"float32"}
    states = [a for state in model.optimizer.state.values() for a in state.values()]
    assert {a.dtype.name for a in states if isinstance(a, np.ndarray)} == {"float32"}
