"""Chapter 10: the MLflow bridge — a fit logged through MLflowCallback into a SQLite store in a
temporary folder comes back from MLflow's own search_runs and metric history as nnlearn's History
and tracker recorded it, offline (no network connection is even attempted), telemetry off."""

import os
import socket
import sys

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

import nnlearn as nl
from nnlearn import tracking
from nnlearn.tracking.mlflow_bridge import tracking_uri

pytestmark = [
    pytest.mark.chapter10,
    # MLflow's own use of SQLAlchemy (mlflow/store/tracking/sqlalchemy_store.py), not ours.
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),
]


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to open a network connection, recorded and refused."""
    attempts = []
    connect = socket.socket.connect

    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"the test forbids network connections ({address})")
        return connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    return attempts


@pytest.fixture
def mlflow_state():
    """MLflow's global tracking URI, put back after the test."""
    before = mlflow.get_tracking_uri()
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(before)


def test_a_fit_logged_to_mlflow_comes_back_from_search_runs_as_history_recorded_it(
    tmp_path, monkeypatch, no_network, mlflow_state
):
    monkeypatch.chdir(tmp_path)  # MLflow's defaults would write here: nothing may appear
    root = tmp_path / "store"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 5))
    y = (x @ rng.standard_normal((5, 3))).argmax(axis=1)
    nl.seed_everything(0)
    model = nl.Sequential(
        [
            nl.layers.Dense(8, activation="relu", input_shape=(5,)),
            nl.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    ml = tracking.setup_mlflow(root)
    with ml.start_run(run_name="round trip") as active, tracking.start_run(root=root) as run:
        callbacks = [tracking.MLflowCallback(), tracking.TrackingCallback(run)]
        history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
                            callbacks=callbacks)  # fmt: skip

    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    assert (root / "mlflow.db").is_file()
    assert ml.get_tracking_uri() == tracking_uri(root) == f"sqlite:///{root.as_posix()}/mlflow.db"
    (found,) = ml.search_runs(experiment_names=["nnlearn"]).to_dict("records")
    assert found["run_id"] == active.info.run_id and found["status"] == "FINISHED"
    assert found["tags.mlflow.runName"] == "round trip"
    params = {k.removeprefix("params."): v for k, v in found.items() if k.startswith("params.")}
    assert params == {key: str(value) for key, value in run.params.items()}  # MLflow: strings
    assert params["epochs"] == "3" and params["steps"] == "3" and params["optimizer"] == "Adam"
    assert params["lr"] == str(model.optimizer.lr) and params["eps"] == "1e-07"  # Keras's "adam"
    client = MlflowClient()
    for key, values in history.history.items():
        logged = client.get_metric_history(active.info.run_id, key)
        assert [m.value for m in logged] == values, key
        assert [m.step for m in logged] == [0, 1, 2], key
        assert found[f"metrics.{key}"] == values[-1]
    assert no_network == []
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"


def test_the_callback_needs_an_active_mlflow_run(tmp_path, mlflow_state):
    mlflow.set_tracking_uri(tracking_uri(tmp_path))  # (no store is made: nothing is logged)
    model = nl.Sequential([nl.layers.Dense(2, activation="softmax", input_shape=(3,))])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(RuntimeError, match="with mlflow.start_run"):
        model.fit(np.ones((4, 3)), np.zeros(4), verbose=0, callbacks=[tracking.MLflowCallback()])
    assert list(tmp_path.iterdir()) == []


def test_without_the_extra_the_error_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if it were not installed
    with pytest.raises(ModuleNotFoundError, match=r"pip install -e \.\[mlflow\]"):
        tracking.MLflowCallback()
