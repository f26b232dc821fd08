"""Chapter 08: Sequential and compile / fit / evaluate / predict behave like Keras 3, checked
against Keras itself where Keras has the behaviour, and fail clearly where the data is wrong.

The callbacks' hooks, History and EarlyStopping are in test_training.py; Keras's whole-API
comparisons (hook order, EarlyStopping, evaluate's forms, the seed example trained by both) in
test_keras_reference.py. Step-by-step agreement of fit with a torch loop:
tests/parity/test_models_parity.py.
"""

import inspect
import time

import numpy as np
import pytest
import torch
from keras_reference import keras
from keras_reference import twins as keras_twins

import nnlearn as nl
from nnlearn.data import Standardizer, load_digits, train_val_test_split

pytestmark = [
    pytest.mark.chapter08,
    # Keras's own variables warn under numpy 2 when turned into arrays; not nnlearn's concern.
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning"),
]


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


def twins(units=(4, 3), activations=("tanh", "softmax")):
    """A Keras Sequential of Dense layers and its nnlearn twin with Keras's initial weights."""
    return keras_twins(
        lambda lib: [
            lib.layers.Dense(u, activation=a) for u, a in zip(units, activations, strict=True)
        ]
    )


X3 = np.random.default_rng(3).standard_normal((10, 3)).astype(np.float32)
LABELS = np.array([0, 1, 2, 1, 0, 2, 2, 1, 0, 1])


# --- the stack of layers ------------------------------------------------------------------------
def test_sequential_infers_every_size_from_the_first_input_shape():
    model = keras_example()
    assert model.built
    assert [layer.input_shape for layer in model.layers] == [(None, 100), (None, 64), (None, 64)]
    assert model.output_shape == (None, 10)
    assert model.count_params() == (100 * 64 + 64) + (64 * 64 + 64) + (64 * 10 + 10)
    assert len(model.parameters()) == len(model.weights) == 6


def test_sequential_built_lazily_from_the_first_batch_and_grown_with_add():
    model = nl.Sequential()
    model.add(nl.layers.Dense(5, activation="tanh"))
    model.add(nl.layers.Activation("relu"))
    model.add(nl.layers.Dense(2))
    assert not model.built and model.get_weights() == []
    assert model(np.ones((3, 7))).shape == (3, 2)
    assert model.built and model.input_shape == (None, 7) and model.output_shape == (None, 2)
    model.add(nl.layers.Dense(4))  # a built model builds a new last layer at once
    assert model.layers[-1].kernel.shape == (2, 4) and model.output_shape == (None, 4)


def test_build_with_a_shape_or_from_the_first_layers_input_shape():
    keras_model = keras.Sequential([keras.layers.Dense(4), keras.layers.Dense(2)])
    model = nl.Sequential([nl.layers.Dense(4), nl.layers.Dense(2)])
    for m in (keras_model, model):
        m.build((None, 3))
    assert model.built and model.count_params() == keras_model.count_params() == 26
    model = nl.Sequential()
    model.add(nl.layers.Dense(4, input_shape=(3,)))
    model.build()  # from the first layer's input_shape
    assert model.output_shape == (None, 4)
    with pytest.raises(ValueError, match=r"build\(\): the input shape is unknown"):
        nl.Sequential([nl.layers.Dense(2)]).build()


def test_sequential_nests_and_collects_parameters_of_inner_models():
    inner = nl.Sequential([nl.layers.Dense(3, activation="relu")])
    model = nl.Sequential([nl.layers.Dense(4, input_shape=(2,)), inner, nl.layers.Dense(1)])
    assert model(np.ones((5, 2))).shape == (5, 1)
    assert [name for name, _ in model.named_parameters()] == [
        "layers.0.kernel",
        "layers.0.bias",
        "layers.1.layers.0.kernel",
        "layers.1.layers.0.bias",
        "layers.2.kernel",
        "layers.2.bias",
    ]


def test_sequential_rejects_a_layer_built_for_another_input_size():
    with pytest.raises(
        ValueError, match=r"built for inputs of shape \(None, 5\).*gives \(None, 3\)"
    ):
        nl.Sequential([nl.layers.Dense(3, input_shape=(2,)), nl.layers.Dense(1, input_shape=(5,))])


def test_sequential_rejects_non_layers_and_running_empty():
    with pytest.raises(TypeError, match="expected a layer"):
        nl.Sequential([np.tanh])
    with pytest.raises(ValueError, match="no layers"):
        nl.Sequential()(np.ones((1, 2)))


def test_summary_lists_layers_output_shapes_and_parameter_counts():
    printed = []
    model = keras_example()
    model.layers[0].trainable = False
    model.summary(print_fn=printed.append)
    text = "\n".join(printed)
    lines = text.splitlines()
    for layer, shape, count in [
        ("Dense(64, activation='relu')", "(None, 64)", "6,464"),
        ("Dense(10, activation='softmax')", "(None, 10)", "650"),
    ]:
        assert any(layer in line and shape in line and line.endswith(count) for line in lines)
    assert text.endswith(
        "Total params: 11,274\nTrainable params: 4,810\nNon-trainable params: 6,464"
    )


def test_summary_of_an_unbuilt_model_says_how_to_build_it():
    with pytest.raises(ValueError, match="input_shape"):
        nl.Sequential([nl.layers.Dense(3)]).summary()


# --- weights, as Keras lays them out ------------------------------------------------------------
def test_get_and_set_weights_move_weights_between_keras_and_nnlearn():
    keras_model, model = twins()
    assert [w.shape for w in model.get_weights()] == [w.shape for w in keras_model.get_weights()]
    np.testing.assert_allclose(
        model.predict(X3), keras_model.predict(X3, verbose=0), rtol=1e-5, atol=1e-7
    )
    model.set_weights([2.0 * w for w in model.get_weights()])
    keras_model.set_weights(model.get_weights())  # and back the other way
    np.testing.assert_allclose(
        model.predict(X3), keras_model.predict(X3, verbose=0), rtol=1e-5, atol=1e-7
    )
    assert model.weights == [p for layer in model.layers for p in (layer.kernel, layer.bias)]


def test_set_weights_with_a_wrong_shape_names_the_layer_and_both_shapes():
    model = keras_example()
    weights = model.get_weights()
    weights[2] = weights[2].T  # the second layer's kernel, transposed
    with pytest.raises(ValueError, match=r"Dense\(64\).*kernel has shape \(64, 64\)") as error:
        model.set_weights(weights[:2] + [np.zeros((32, 64))] + weights[3:])
    assert "(32, 64)" in str(error.value)
    with pytest.raises(ValueError, match=r"the model has 6 weights.*5 arrays"):
        model.set_weights(weights[:5])


# --- trainable ---------------------------------------------------------------------------------
def test_frozen_weights_do_not_move_and_leave_trainable_weights_like_keras():
    keras_model, model = twins()
    for m in (keras_model, model):
        m.layers[0].trainable = False
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert len(model.trainable_weights) == len(keras_model.trainable_weights) == 2
    before = model.get_weights()
    model.fit(X3, LABELS, epochs=2, batch_size=4, verbose=0)
    moved = [not np.array_equal(a, b) for a, b in zip(model.get_weights(), before, strict=True)]
    assert moved == [False, False, True, True]


def test_a_frozen_model_trains_nothing_and_says_so():
    model = keras_example()
    model.trainable = False
    assert model.trainable_weights == [] and not any(layer.trainable for layer in model.layers)
    before = model.get_weights()
    with pytest.warns(UserWarning, match="no trainable weights"):
        history = model.fit(*random_data(32), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before, strict=True))
    model.trainable = True
    assert len(model.trainable_weights) == 6


def test_freezing_after_compile_takes_effect_at_once():
    nl.seed_everything(0)
    model = keras_example()
    model.fit(*random_data(32), epochs=1, verbose=0)
    model.layers[-1].trainable = False  # Keras asks to compile again; nnlearn reads it now
    last = model.layers[-1].get_weights()
    model.fit(*random_data(32), epochs=1, verbose=0)
    assert all(
        np.array_equal(a, b) for a, b in zip(model.layers[-1].get_weights(), last, strict=True)
    )


# --- compile, fit -------------------------------------------------------------------------------
def test_the_keras_example_runs_as_written_and_trains():
    nl.seed_everything(0)
    model = keras_example()
    x, y = random_data()
    history = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0)
    assert list(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(values) == 3 for values in history.history.values())
    assert history.epoch == [0, 1, 2] and model.history is history
    assert history.history["loss"][-1] < history.history["loss"][0]
    probabilities = model.predict(x)
    assert probabilities.shape == (96, 10) and probabilities.dtype == np.float32
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_compile_defaults_to_rmsprop_as_keras():
    model = nl.Sequential([nl.layers.Dense(1)])
    model.compile(loss="mse")
    assert isinstance(model.optimizer, nl.optim.RMSprop)
    assert inspect.signature(keras.Model.compile).parameters["optimizer"].default == "rmsprop"


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
    model.fit(x, 3 * x[:, 0] - 1, epochs=150, batch_size=32, verbose=0)  # targets (n,)
    np.testing.assert_allclose(model.layers[0].kernel.data, [[3.0]], atol=1e-3)
    np.testing.assert_allclose(model.layers[0].bias.data, [-1.0], atol=1e-3)


def test_batch_logs_are_running_means_and_history_keys_follow_keras():
    """The loss in on_train_batch_end is the mean over the epoch so far, as Keras reports it;
    metric names keep the spelling given ("acc", a function's name)."""

    def first_probability(y_true, y_pred):  # numpy here, torch in Keras: both index alike
        return y_pred[:, 0]

    recorded, keys = {}, {}
    for name, model in zip(("keras", "nnlearn"), twins(), strict=True):
        model.compile(
            optimizer="sgd",
            loss="sparse_categorical_crossentropy",
            metrics=["acc", "sparse_categorical_accuracy", first_probability],
        )
        callback = batch_losses(CALLBACK[name])
        history = model.fit(X3, LABELS, epochs=2, batch_size=4, shuffle=False, verbose=0,
                            validation_split=0.2, callbacks=[callback])  # fmt: skip
        recorded[name], keys[name] = callback.seen, list(history.history)
    assert keys["nnlearn"] == keys["keras"]
    np.testing.assert_allclose(recorded["nnlearn"], recorded["keras"], rtol=1e-5)


CALLBACK = {"keras": keras.callbacks.Callback, "nnlearn": nl.training.Callback}


def batch_losses(base):
    """A callback of the library whose base class is ``base`` recording each batch's loss."""

    class BatchLosses(base):
        def on_train_batch_end(self, batch, logs=None):
            self.seen.append(logs["loss"])

    callback = BatchLosses()
    callback.seen = []
    return callback


def batch_counter(base):
    """A callback recording "predict" or "test" for each batch of predict and evaluate."""

    class Count(base):
        def on_predict_batch_end(self, batch, logs=None):
            self.seen.append("predict")

        def on_test_batch_end(self, batch, logs=None):
            self.seen.append("test")

    callback = Count()
    callback.seen = []
    return callback


def test_a_metric_returning_one_number_per_batch_is_averaged_per_batch_as_keras():
    def batch_size(y_true, y_pred):
        return float(len(y_pred))

    results = {}
    for name, model in zip(("keras", "nnlearn"), twins(), strict=True):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=[batch_size])
        results[name] = model.evaluate(X3, LABELS, batch_size=4, verbose=0, return_dict=True)
    assert results["nnlearn"]["batch_size"] == pytest.approx(results["keras"]["batch_size"])
    assert results["nnlearn"]["batch_size"] == pytest.approx((4 + 4 + 2) / 3)


def test_sample_weight_in_fit_and_evaluate_and_validation_data_as_keras():
    weights = np.linspace(0.5, 2.0, 10).astype(np.float32)
    results = {}
    for name, model in zip(("keras", "nnlearn"), twins(), strict=True):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["acc"])
        history = model.fit(
            X3[:6], LABELS[:6], sample_weight=weights[:6], epochs=2, batch_size=4, shuffle=False,
            validation_data=(X3[6:], LABELS[6:], weights[6:]), verbose=0,
        ).history  # fmt: skip
        evaluated = model.evaluate(X3, LABELS, sample_weight=weights, verbose=0)
        results[name] = [*history["loss"], *history["val_loss"], *evaluated]
    np.testing.assert_allclose(results["nnlearn"], results["keras"], rtol=1e-5)


def test_class_weight_and_sample_weight_together_are_refused_as_in_keras():
    model = keras_example()
    with pytest.raises(ValueError, match="class_weight or sample_weight, not both"):
        model.fit(*random_data(8), class_weight={0: 2.0}, sample_weight=np.ones(8), verbose=0)


def test_predict_and_evaluate_default_to_batches_of_32_as_keras():
    counts = {}
    for name, model in zip(("keras", "nnlearn"), twins(), strict=True):
        count = batch_counter(CALLBACK[name])
        x = np.ones((70, 3), np.float32)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        model.predict(x, verbose=0, callbacks=[count])
        model.evaluate(x, np.zeros(70), verbose=0, callbacks=[count])
        counts[name] = count.seen
    assert counts["nnlearn"] == counts["keras"] == ["predict"] * 3 + ["test"] * 3


def test_evaluate_follows_keras_return_convention_and_matches_the_loss_of_predict():
    nl.seed_everything(0)
    model = keras_example()
    x, y = random_data()
    loss, accuracy = model.evaluate(x, y)
    logs = model.evaluate(x, y, return_dict=True)
    assert logs == {"accuracy": accuracy, "loss": loss}
    probabilities = torch.tensor(model.predict(x), dtype=torch.float64)
    expected = torch.nn.functional.nll_loss(probabilities.log(), torch.tensor(y)).item()
    assert loss == pytest.approx(expected, rel=1e-5)
    assert accuracy == pytest.approx(np.mean(probabilities.numpy().argmax(1) == y))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert isinstance(model.evaluate(x, y), float)


def test_softmax_and_crossentropy_are_fused_so_saturated_outputs_stay_exact():
    # Logits 200 apart: softmax gives exactly 0 in float32; the loss uses the logits (Keras 3).
    model = nl.Sequential([nl.layers.Dense(2, activation="softmax", input_shape=(1,))])
    model.layers[0].kernel.data[...] = [[100.0, -100.0]]
    x, y = np.ones((4, 1)), np.array([1, 1, 1, 1])
    for loss in ("sparse_categorical_crossentropy", nl.losses.SparseCategoricalCrossentropy()):
        model.compile(optimizer="adam", loss=loss)
        assert model.evaluate(x, y) == pytest.approx(200.0)  # = cross-entropy of the logits
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    assert model.evaluate(x, np.eye(2)[y]) == pytest.approx(200.0)
    assert model.predict(x)[0, 1] == 0.0  # predict still returns probabilities


def test_metrics_receive_the_models_probabilities():
    received = []

    def mean_top_probability(y_true, y_pred):
        received.append(y_pred)
        return np.max(y_pred, axis=1)

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
    np.testing.assert_array_equal(final_kernel(True, 1), final_kernel(True, 1))
    assert not np.array_equal(final_kernel(True, 1), final_kernel(True, 2))


# --- errors that say what is wrong ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("x", "y", "options", "message"),
    [
        (np.zeros((0, 100)), np.zeros(0), {}, r"fit: x is empty"),
        (np.zeros((5, 100)), np.zeros(4), {}, r"fit: x has 5 examples but y has 4"),
        (np.zeros((5, 99)), np.zeros(5), {}, r"x has shape \(5, 99\), but Dense\(64\), the first layer, expects inputs of shape \(examples, 100\)"),  # noqa: E501
        (np.zeros((5, 2, 100)), np.zeros(5), {}, r"x has shape \(5, 2, 100\), but Dense\(64\).*flatten each example"),  # noqa: E501
        (np.zeros(5), np.zeros(5), {}, r"x must have shape \(examples, features\)"),
        (np.zeros((3, 100)), np.array([0, 10, 2]), {}, r"integers in \[0, 10\).*value 10"),
        (np.zeros((3, 100)), np.array([0, -1, 2]), {}, r"integers in \[0, 10\).*value -1"),
        (np.zeros((2, 100)), np.array([0.5, 1.0]), {}, r"integers in \[0, 10\).*value 0.5"),
        (np.zeros((2, 100)), np.array(["cat", "dog"]), {}, r"'cat'.*integer class labels 0..9.*np.unique"),  # noqa: E501
        (np.zeros((2, 100)), np.zeros((2, 10)), {}, r"outputs have shape \(2, 10\).*y of shape \(2, 10\)"),  # noqa: E501
        (np.zeros((4, 100)), np.zeros(4), {"batch_size": 0}, r"batch_size must be an integer >= 1, got 0"),  # noqa: E501
        (np.zeros((4, 100)), np.zeros(4), {"batch_size": 2.5}, r"batch_size must be an integer >= 1, got 2.5"),  # noqa: E501
        (np.zeros((4, 100)), np.zeros(4), {"epochs": 1.5}, r"epochs must be an integer >= 0, got 1.5"),  # noqa: E501
        (np.zeros((4, 100)), np.zeros(4), {"sample_weight": np.ones(3)}, r"sample_weight must hold one weight per example, shape \(4,\)"),  # noqa: E501
        (np.zeros((4, 100)), np.zeros(4), {"validation_split": 1.5}, r"validation_split must be in \(0, 1\)"),  # noqa: E501
    ],
    ids=["empty", "length", "features", "3-d", "1-d", "label-10", "label-negative",
         "label-fraction", "label-strings", "one-hot-for-sparse", "batch-0", "batch-float",
         "epochs-float", "sample-weight", "split"],
)  # fmt: skip
def test_fit_rejects_bad_data_with_a_clear_message(x, y, options, message):
    with pytest.raises(ValueError, match=message):
        keras_example().fit(x, y, verbose=0, **options)


def test_a_3d_x_to_an_unbuilt_dense_model_names_the_shape_and_the_layer():
    model = nl.Sequential([nl.layers.Dense(8), nl.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"x has shape \(6, 4, 2\), so Dense\(8\).*flatten"):
        model.fit(np.zeros((6, 4, 2)), np.zeros(6), verbose=0)


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


# --- whole runs ---------------------------------------------------------------------------------
def test_binary_classifier_on_moons_with_sigmoid_and_accuracy():
    nl.seed_everything(0)
    x, y = nl.data.make_moons(200, noise=0.1, seed=0)
    model = nl.Sequential([
        nl.layers.Dense(16, activation="tanh", input_shape=(2,)),
        nl.layers.Dense(1, activation="sigmoid"),
    ])  # fmt: skip
    model.compile(optimizer=nl.optim.Adam(lr=0.05), loss="binary_crossentropy", metrics=["acc"])
    history = model.fit(x, y, epochs=25, batch_size=32, verbose=0)  # labels (n,), as Keras
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
    weights = np.linspace(0.5, 1.5, 64)  # float64 too
    model.fit(x, y, epochs=1, batch_size=32, validation_split=0.5, sample_weight=weights, verbose=0)
    assert {dtype for _, dtype in dtypes} == {"float32"}, sorted(dtypes)
    assert incoming == {"float32"}
    states = [a for state in model.optimizer.state.values() for a in state.values()]
    assert {a.dtype.name for a in states if isinstance(a, np.ndarray)} == {"float32"}


def test_compile_takes_keras_argument_order_so_a_third_positional_is_not_metrics():
    """Keras's third parameter is loss_weights: compile("adam", "mse", ["mae"]) must not quietly
    read ["mae"] as metrics (in Keras it is a loss weight)."""
    assert (
        list(inspect.signature(keras.Model.compile).parameters)[1:4]
        == list(inspect.signature(nl.Sequential.compile).parameters)[1:4]
    )
    with pytest.raises(TypeError, match=r"loss_weights.*metrics=\["):
        keras_example().compile("adam", "mse", ["mae"])
