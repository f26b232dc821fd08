"""MLflow, the industry's tracker, from nnlearn (chapter 10): a local store and a fit callback.

MLflow is an optional extra (``pip install -e .[mlflow]``): its light distribution,
``mlflow-skinny``, with SQLAlchemy and Alembic for a SQLite store. Nothing runs in the
background and nothing leaves the machine:

* :func:`setup_mlflow` switches MLflow's telemetry off (``MLFLOW_DISABLE_TELEMETRY=true``, set
  before mlflow is imported), points it at a SQLite file inside the project,
  ``<root>/mlflow.db`` (artifacts in ``<root>/mlartifacts``), selects an experiment, and
  returns the ``mlflow`` module;
* :class:`MLflowCallback` logs what :class:`~nnlearn.tracking.TrackingCallback` logs, to the
  active MLflow run, as ``mlflow.keras.MlflowCallback`` does for Keras::

      mlflow = setup_mlflow("runs")
      with mlflow.start_run(run_name="adam"):
          model.fit(x, y, epochs=5, callbacks=[MLflowCallback()])
      mlflow.search_runs()          # params.*, metrics.*: a pandas DataFrame

MLflow keeps every parameter as a string (``str`` of the value nnlearn logs, after tuples
became lists, as :func:`~nnlearn.tracking.normalized` makes them). To browse the runs, run
``mlflow ui --backend-store-uri sqlite:///<root>/mlflow.db`` in a terminal (it needs the full
``mlflow`` package) and open the address it prints.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nnlearn.tracking.runs import ROOT, TrackingCallback, normalized

INSTALL = (
    "MLflow is an optional extra of nnlearn: install it with `pip install -e .[mlflow]` in the "
    "course folder (or `pip install mlflow-skinny sqlalchemy alembic`)"
)


def import_mlflow() -> Any:
    """The ``mlflow`` module, imported with its telemetry off; a clear error when the extra
    is not installed."""
    # MLflow reads the variable when it starts its telemetry (on import) and before each event.
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    missing = [m for m in ("mlflow", "sqlalchemy", "alembic") if not importlib.util.find_spec(m)]
    if missing:
        raise ModuleNotFoundError(f"{INSTALL}; missing: {', '.join(missing)}")
    import mlflow

    return mlflow


def tracking_uri(root: str | Path = ROOT) -> str:
    """``sqlite:///<root>/mlflow.db`` with ``root`` made absolute (the store does not move
    when the working folder does)."""
    return "sqlite:///" + (Path(root).resolve() / "mlflow.db").as_posix()


def setup_mlflow(root: str | Path = ROOT, experiment: str = "nnlearn") -> Any:
    """MLflow ready for the course: telemetry off, the SQLite store ``<root>/mlflow.db``
    (made on first use, which takes a few seconds), the experiment ``experiment`` (made with
    its artifacts in ``<root>/mlartifacts``, not MLflow's default ``./mlruns``) selected.
    Returns the ``mlflow`` module."""
    mlflow = import_mlflow()
    Path(root).mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri(root))
    # A new store logs every table it creates at INFO level: quiet while it is made.
    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        client = mlflow.MlflowClient()
        if client.get_experiment_by_name(experiment) is None:
            artifacts = (Path(root).resolve() / "mlartifacts").as_uri()
            client.create_experiment(experiment, artifact_location=artifacts)
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
    mlflow.set_experiment(experiment)
    return mlflow


class _ActiveMLflowRun:
    """The active MLflow run, with :class:`~nnlearn.tracking.Run`'s two logging methods."""

    def __init__(self) -> None:
        self.mlflow = import_mlflow()

    def _check_active(self) -> None:
        if self.mlflow.active_run() is None:
            raise RuntimeError(
                "MLflowCallback logs to the active MLflow run: train inside "
                "`with mlflow.start_run(): model.fit(..., callbacks=[MLflowCallback()])`"
            )

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._check_active()
        self.mlflow.log_params({key: normalized(value) for key, value in params.items()})

    def log_metrics(
        self, metrics: Mapping[str, Any], step: int | None = None, *, epoch: int | None = None
    ) -> None:
        """MLflow has no epoch of its own: the step says it."""
        self._check_active()
        self.mlflow.log_metrics({key: float(value) for key, value in metrics.items()}, step=step)


class MLflowCallback(TrackingCallback):
    """:class:`~nnlearn.tracking.TrackingCallback` logging to the active MLflow run (start one
    with ``mlflow.start_run()``): the same parameters (as strings, MLflow's way), the same
    metrics at the same steps (``log_batches`` too)."""

    def __init__(self, log_batches: bool = False) -> None:
        super().__init__(_ActiveMLflowRun(), log_batches)
