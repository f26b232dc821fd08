"""Runs kept as folders (chapter 10): :class:`Run`, :func:`start_run`, :func:`load_run`,
:func:`list_runs`, the environment a run records, and :class:`TrackingCallback`, which logs a
``fit`` to a run. The layout of a run's folder and the rules of its writes are in
:mod:`nnlearn.tracking`'s docstring.
"""

from __future__ import annotations

import json
import math
import operator
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nnlearn.seeding import seed_everything
from nnlearn.training import Callback

ROOT = "runs"
STATUSES = ("running", "finished", "failed", "killed")
_METRICS = "metrics.jsonl"


# --- files: JSON values, whole files replaced atomically, lines appended ------------------------
def _jsonable(value: Any) -> Any:
    """A value json cannot write: a numpy scalar or array as a number or list, else its str."""
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)


def normalized(value: Any) -> Any:
    """``value`` as it reads back from JSON: tuples become lists, numpy numbers plain ones."""
    return json.loads(json.dumps(value, default=_jsonable))


def _write_json(path: Path, data: Any) -> None:
    """Replace ``path`` whole: a reader sees the old file or the new one, never half of one."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def _read_json(path: Path, default: Any = None) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default


def _read_lines(path: Path) -> list[dict]:
    """The records of a JSON-lines file. A last line without its newline is one a killed
    process was writing: it is left out."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    return [json.loads(line) for line in lines[:-1] if line]


# --- a run -------------------------------------------------------------------------------------
class Run:
    """One run's folder, to log to (while its status is ``"running"``) and to read.

    Made by :func:`start_run` (a new folder) or :func:`load_run` (an existing one). A context
    manager: leaving the ``with`` block finishes the run, ``"failed"`` when an exception left it
    (``"killed"`` for KeyboardInterrupt, as MLflow), and the exception goes on.

    Attributes:
        run_id, name, path: the run's id (its folder's name), its name, its folder;
            ``path / "artifacts"`` holds its artifacts.
        status, error, start_time, end_time: from ``run.json`` (times in seconds since 1970).
    """

    _INFO = ("run_id", "name", "status", "error", "start_time", "end_time")  # run.json

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).absolute()  # still the run when the working folder changes
        info = _read_json(self.path / "run.json")
        if info is None:
            raise FileNotFoundError(f"{self.path} is not a run folder: it has no run.json")
        self.run_id, self.name, self.status, self.error, self.start_time, self.end_time = (
            info.get(key) for key in self._INFO
        )

    @property
    def params(self) -> dict[str, Any]:
        """The parameters logged so far."""
        return _read_json(self.path / "params.json", {})

    @property
    def environment(self) -> dict[str, Any]:
        """What the run ran on (see :func:`environment`)."""
        return _read_json(self.path / "environment.json", {})

    def _check_running(self) -> None:
        if self.status != "running":
            raise RuntimeError(
                f"run {self.run_id!r} is {self.status}: nothing more can be logged to it; "
                "start a new run"
            )

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log parameters. Each is logged once: the same value again is fine, another value
        for a logged key is an error (MLflow's rule), so a run's parameters never change."""
        self._check_running()
        logged = self.params
        for key, value in params.items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"a parameter's name must be a non-empty str, not {key!r}")
            value = normalized(value)
            if key in logged and logged[key] != value:
                raise ValueError(
                    f"run {self.run_id!r} already has the parameter {key!r} = {logged[key]!r}; "
                    f"it cannot become {value!r} (parameters are logged once): log it under "
                    "another name, or start a new run"
                )
            logged[key] = value
        _write_json(self.path / "params.json", logged)

    def log_metrics(
        self, metrics: Mapping[str, Any], step: int | None = None, *, epoch: int | None = None
    ) -> None:
        """Append one line per value of ``metrics`` (``{key: number}``) to ``metrics.jsonl``,
        each flushed at once. ``step`` is an integer, 0 when None (as in MLflow); ``epoch``, the
        epoch the values belong to, when there is one (the fit callback gives it)."""
        self._check_running()
        step = 0 if step is None else operator.index(step)
        epoch = None if epoch is None else operator.index(epoch)
        records = []
        for key, value in metrics.items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"metric {key!r} must be a number, not {value!r}") from None
            records.append({"key": key, "value": value, "step": step, "epoch": epoch})
        with open(self.path / _METRICS, "a", encoding="utf-8") as file:
            for record in records:
                file.write(json.dumps({**record, "time": time.time()}) + "\n")
                file.flush()  # in the operating system's hands: it survives a killed process

    def log_metric(self, key: str, value: Any, step: int | None = None) -> None:
        """Log one value of the metric ``key`` at ``step`` (see :meth:`log_metrics`)."""
        self.log_metrics({key: value}, step)

    def log_artifact(self, path_or_figure: Any, name: str | None = None) -> Path:
        """Copy a file or folder (a checkpoint) into ``artifacts/``, or save a matplotlib
        figure there (``name`` default ``"figure.png"``). An artifact is never overwritten:
        an existing name is an error. Returns the artifact's path."""
        self._check_running()
        figure = hasattr(path_or_figure, "savefig")
        name = name or ("figure.png" if figure else Path(path_or_figure).name)
        target = self.path / "artifacts" / name
        if target.exists():
            raise FileExistsError(f"run {self.run_id!r} already has the artifact {name!r}")
        if figure:
            path_or_figure.savefig(target)
        elif Path(path_or_figure).is_dir():
            shutil.copytree(path_or_figure, target)
        else:
            shutil.copyfile(path_or_figure, target)
        return target

    def finish(self, status: str = "finished", error: str | None = None) -> None:
        """End the run: ``status`` is ``"finished"``, ``"failed"`` or ``"killed"``."""
        if status not in STATUSES[1:]:
            raise ValueError(f"finish: status must be one of {STATUSES[1:]}, not {status!r}")
        self._check_running()
        self.status, self.error, self.end_time = status, error, time.time()
        self._write_info()

    def metrics(self) -> Any:
        """Every logged value, a long pandas DataFrame: key, value, step, epoch, time."""
        import pandas as pd

        columns = ["key", "value", "step", "epoch", "time"]
        table = pd.DataFrame(_read_lines(self.path / _METRICS), columns=columns)
        return table.astype({"value": float, "step": int, "epoch": "Int64", "time": float})

    def _write_info(self) -> None:
        _write_json(self.path / "run.json", {key: getattr(self, key) for key in self._INFO})

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, traceback: Any) -> None:
        if self.status != "running":  # finished inside the block
            return
        if error is None:
            self.finish()
        else:
            status = "failed" if isinstance(error, Exception) else "killed"
            self.finish(status, f"{kind.__name__}: {error}")

    def __repr__(self) -> str:
        return f"Run({self.run_id!r}, name={self.name!r}, status={self.status!r})"


def start_run(
    name: str | None = None,
    params: Mapping[str, Any] | None = None,
    root: str | Path = ROOT,
    seed: int | None = None,
) -> Run:
    """Make a new run's folder under ``root`` and return it (a context manager too).

    Args:
        name: a name for tables and legends (default: the run's id).
        params: parameters to log at once.
        root: the folder of runs (made if missing).
        seed: when given, :func:`nnlearn.seed_everything` (seed) first, and it is recorded.
    """
    if seed is not None:
        seed_everything(seed)
    # The id comes from the clock and the operating system's randomness, which no seed repeats.
    run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
    path = Path(root) / run_id
    (path / "artifacts").mkdir(parents=True)
    (path / _METRICS).touch()
    _write_json(path / "environment.json", environment(seed))
    info = {"run_id": run_id, "name": name or run_id, "status": "running"}
    _write_json(path / "run.json", {**info, "error": None, "start_time": time.time()})
    run = Run(path)
    if params:
        run.log_params(params)
    return run


def load_run(run_id: str, root: str | Path = ROOT) -> Run:
    """The run ``run_id`` under ``root``, to read (``.params``, ``.metrics()``, ...)."""
    path = Path(root) / run_id
    if not (path / "run.json").exists():
        known = [p.name for p in sorted(Path(root).glob("*/run.json"))]
        raise FileNotFoundError(f"no run {run_id!r} under {root}; the runs there: {known}")
    return Run(path)


def list_runs(root: str | Path = ROOT) -> Any:
    """The runs under ``root`` as a pandas DataFrame, one row per run, in the order they
    started: ``run_id``, ``name``, ``status``, ``start_time``, ``duration`` (seconds; NaN while
    running), then ``params.<key>`` and ``metrics.<key>`` (its value at the last step) columns,
    named as MLflow's ``search_runs`` names them. ``table.attrs["root"]`` is ``root``."""
    import pandas as pd

    rows = []
    runs = [Run(path.parent) for path in Path(root).glob("*/run.json")]  # other files skipped
    for run in sorted(runs, key=lambda run: (run.start_time, run.run_id)):
        last = run.metrics().sort_values("step", kind="stable").groupby("key")["value"].last()
        end = math.nan if run.end_time is None else run.end_time - run.start_time
        row = {"run_id": run.run_id, "name": run.name, "status": run.status}
        row |= {"start_time": pd.to_datetime(run.start_time, unit="s", utc=True), "duration": end}
        row |= {f"params.{key}": value for key, value in run.params.items()}
        rows.append(row | {f"metrics.{key}": value for key, value in last.items()})
    base = ["run_id", "name", "status", "start_time", "duration"]
    table = pd.DataFrame(rows, columns=None if rows else base)
    table.attrs["root"] = str(root)
    return table


# --- the environment ---------------------------------------------------------------------------
def _git(*arguments: str) -> str | None:
    """``git <arguments>``'s output in the current folder; None outside a repository or
    without git."""
    try:
        done = subprocess.run(["git", *arguments], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def environment(seed: int | None = None) -> dict[str, Any]:
    """What a run ran on: Python, the platform, the versions of nnlearn, numpy and torch (read
    from the installed packages' metadata: torch is not imported for it), the BLAS libraries
    loaded and their threads, the seed, and the git commit with whether the working tree had
    uncommitted changes (None outside a git repository)."""
    import platform
    from importlib import metadata

    from threadpoolctl import threadpool_info

    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    commit = _git("rev-parse", "HEAD")
    changes = _git("status", "--porcelain", "--untracked-files=no") if commit else None
    blas = [
        {key: pool.get(key) for key in ("internal_api", "version", "num_threads")}
        for pool in threadpool_info()
    ]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {package: version(package) for package in ("nnlearn", "numpy", "torch")},
        "blas": blas,
        "seed": seed,
        "git_commit": commit,
        "git_dirty": None if changes is None else bool(changes),
    }


# --- the fit callback --------------------------------------------------------------------------
def fit_params(model: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """What a fit callback can know of a training: fit's ``epochs`` and ``steps`` (batches per
    epoch), the optimizer's class and hyperparameters (torch's names, ``lr`` first), the loss
    and metrics, the layers and the number of weights.

    fit does not tell callbacks its ``batch_size`` (nor does Keras 3): log it yourself, e.g.
    ``start_run(params={"batch_size": 32})``.
    """
    optimizer = model.optimizer
    return {
        "epochs": params["epochs"],
        "steps": params["steps"],
        "optimizer": type(optimizer).__name__,
        "lr": optimizer.lr,
        **optimizer.hyperparameters,
        "loss": getattr(model.loss, "name", repr(model.loss)),
        "metrics": list(model.metric_functions),
        "layers": [repr(layer) for layer in model.layers],
        "parameters": model.count_params(),
    }


class TrackingCallback(Callback):
    """Logs a ``fit`` to a run: :func:`fit_params` when training begins, each epoch's logs
    (``loss``, ``accuracy``, ``val_...``: what the History records) at step = epoch, and with
    ``log_batches`` each training batch's logs as ``batch_<key>`` (Keras's running mean of the
    epoch so far) at step = the number of batches trained before it.

    Args:
        run: a :class:`Run`, or anything with its ``log_params`` and ``log_metrics``.
        log_batches: also log every training batch.
    """

    def __init__(self, run: Any, log_batches: bool = False) -> None:
        self.run, self.log_batches = run, log_batches
        self.epoch = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.run.log_params(fit_params(self.model, self.params))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.log_batches:
            step = self.epoch * self.params["steps"] + batch
            values = {f"batch_{key}": value for key, value in (logs or {}).items()}
            self.run.log_metrics(values, step=step, epoch=self.epoch)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.run.log_metrics(logs or {}, step=epoch, epoch=epoch)
