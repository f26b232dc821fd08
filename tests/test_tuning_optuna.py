"""Chapter 11: Optuna with nnlearn (nnlearn.tuning_optuna), offline: the pruning callback
reports every epoch and prunes a deliberately bad trial by Optuna's median rule; a seeded TPE
study repeats exactly; a missing Optuna is a clear error."""

import sys

import numpy as np
import optuna
import pytest

import nnlearn as nl
from nnlearn.tuning_optuna import PruningCallback, create_study, import_optuna

pytestmark = pytest.mark.chapter11
optuna.logging.set_verbosity(optuna.logging.WARNING)

RNG = np.random.default_rng(0)
X = RNG.standard_normal((200, 8))
Y = (X @ RNG.standard_normal((8, 3))).argmax(axis=1)  # (200,) labels 0..2, linearly separable
X_TRAIN, Y_TRAIN, X_VAL, Y_VAL = X[:150], Y[:150], X[150:], Y[150:]
EPOCHS = 6


def objective(trial):
    """A small classifier whose learning rate the trial suggests; validation accuracy."""
    lr = trial.suggest_float("lr", 1e-7, 1e-1, log=True)
    nl.seed_everything(0)
    model = nl.Sequential(
        [nl.layers.Dense(16, "relu", input_shape=(8,)), nl.layers.Dense(3, "softmax")]
    )
    model.compile(nl.optim.Adam(lr=lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        X_TRAIN,
        Y_TRAIN,
        epochs=EPOCHS,
        batch_size=16,
        validation_data=(X_VAL, Y_VAL),
        verbose=0,
        callbacks=[PruningCallback(trial, monitor="val_accuracy")],
    )
    return history.history["val_accuracy"][-1]


def test_a_deliberately_bad_trial_is_pruned_by_the_median_rule():
    study = create_study("maximize", seed=0, n_startup_trials=2)
    for lr in (1e-2, 3e-2, 1e-7):  # two good trials, then a learning rate that cannot learn
        study.enqueue_trial({"lr": lr})
    study.optimize(objective, n_trials=3)
    good, other, bad = study.trials
    states = optuna.trial.TrialState
    assert good.state == other.state == states.COMPLETE and bad.state == states.PRUNED
    assert len(good.intermediate_values) == EPOCHS  # one report per epoch
    # Optuna's MedianPruner, by hand: prune at the first step where the trial's value is below
    # the median of the earlier trials' values at that step.
    medians = [
        np.median([good.intermediate_values[s], other.intermediate_values[s]])
        for s in range(EPOCHS)
    ]
    first_below = next(
        s for s in range(EPOCHS) if bad.intermediate_values.get(s, np.inf) < medians[s]
    )
    assert max(bad.intermediate_values) == first_below < EPOCHS - 1  # stopped there: fewer epochs


def test_reported_values_are_the_history_of_fit():
    study = create_study("maximize", seed=0)
    study.enqueue_trial({"lr": 1e-2})
    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    values = [trial.intermediate_values[s] for s in range(EPOCHS)]
    assert values[-1] == trial.value and all(0 <= v <= 1 for v in values)


def test_seeded_tpe_study_repeats_exactly():
    def quadratic(trial):
        x = trial.suggest_float("x", -5, 5)
        width = trial.suggest_categorical("width", [16, 32, 64])
        return (x - 1.5) ** 2 + width / 64

    runs = []
    for _ in range(2):
        study = create_study("minimize", seed=3, n_startup_trials=4)
        study.optimize(quadratic, n_trials=12)
        runs.append([(t.params["x"], t.params["width"], t.value) for t in study.trials])
    assert runs[0] == runs[1]
    other = create_study("minimize", seed=4, n_startup_trials=4)
    other.optimize(quadratic, n_trials=12)
    assert [t.params["x"] for t in other.trials] != [x for x, _, _ in runs[0]]


def test_a_seeded_study_of_nnlearn_trials_repeats_exactly():
    results = []
    for _ in range(2):
        study = create_study("maximize", seed=1, n_startup_trials=2)
        study.optimize(objective, n_trials=3)
        results.append([(t.params["lr"], t.state, t.value) for t in study.trials])
    assert results[0] == results[1]


def test_a_missing_monitor_warns_and_does_not_prune():
    study = create_study("maximize")
    trial = study.ask()
    callback = PruningCallback(trial, monitor="val_accuracy")
    with pytest.warns(UserWarning, match="'val_accuracy' is not in the epoch logs"):
        callback.on_epoch_end(0, {"loss": 1.0})
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {}


def test_without_optuna_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now fails
    with pytest.raises(ImportError, match=r"pip install -e \.\[optuna\]"):
        import_optuna()
    with pytest.raises(ImportError, match="optional extra"):
        create_study()
