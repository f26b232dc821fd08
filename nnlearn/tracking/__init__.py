"""Experiment tracking (chapter 10): runs kept as folders, a ``fit`` callback, runs compared.

A run is a folder under a root (default ``runs/`` in the current directory)::

    runs/20261201-153105-a1b2c3/
        run.json           name, status, start and end time, the error that ended it
        params.json        the parameters, each logged once
        metrics.jsonl      one line per logged value: {"key", "value", "step", "epoch", "time"}
        environment.json   Python, platform, package versions, BLAS threads, seed, git commit
        artifacts/         figures, checkpoints, any file

Writes only ever add. A metric is one line appended to ``metrics.jsonl`` and flushed at once; a
parameter, once logged, cannot change (as in MLflow: a second value is an error); the small JSON
files are replaced whole (written to a temporary file, then renamed), so no reader sees half of
one. A run whose process is killed keeps the status ``"running"`` (unfinished): its folder still
reads up to the last complete line. The status is ``"finished"`` after :meth:`Run.finish`, or
``"failed"`` (with the error) when an exception leaves its ``with`` block.

The API is MLflow's in miniature, so what is learnt here carries over::

    with tracking.start_run(name="adam", params={"width": 64}, seed=0) as run:
        model.fit(x, y, epochs=5, callbacks=[tracking.TrackingCallback(run)])
        run.log_metric("test_accuracy", model.evaluate(x_test, y_test)[1])
    tracking.list_runs()            # a DataFrame: one row per run, params.* and metrics.*

Three modules: :mod:`~nnlearn.tracking.runs` (the runs and the fit callback),
:mod:`~nnlearn.tracking.plots` (metric curves, parallel coordinates) and
:mod:`~nnlearn.tracking.mlflow_bridge` (the same callback logging to MLflow, the industry's
tracker, with a local SQLite store and telemetry off). pandas, matplotlib and mlflow are
imported inside the functions that need them, so importing this package costs nothing more.
"""

from nnlearn.tracking.mlflow_bridge import MLflowCallback, setup_mlflow
from nnlearn.tracking.plots import parallel_coordinates, plot_metric
from nnlearn.tracking.runs import (
    ROOT,
    STATUSES,
    Run,
    TrackingCallback,
    environment,
    fit_params,
    list_runs,
    load_run,
    normalized,
    start_run,
)

__all__ = [
    "ROOT",
    "STATUSES",
    "MLflowCallback",
    "Run",
    "TrackingCallback",
    "environment",
    "fit_params",
    "list_runs",
    "load_run",
    "normalized",
    "parallel_coordinates",
    "plot_metric",
    "setup_mlflow",
    "start_run",
]
