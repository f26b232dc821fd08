"""Chapter 10: nnlearn.tracking — a run is a folder written only by appending, a killed run stays
readable, the fit callback logs what History records (and PyTorch's twin computes), runs compare
in a DataFrame and in figures, and one seed repeats a run exactly."""

import copy
import json
import math
import platform
import subprocess
import sys
import textwrap

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

import nnlearn as nl
from nnlearn import tracking
from nnlearn.parity import compare, fit_twin, torch_twin

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytestmark = pytest.mark.chapter10


def small_model(width=8, dtype="float64", lr=0.01):
    model = nl.Sequential(
        [
            nl.layers.Dense(width, activation="tanh", input_shape=(4,), dtype=dtype),
            nl.layers.Dense(3, activation="softmax", dtype=dtype),
        ]
    )
    optimizer = nl.optim.Adam(lr=lr)
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def small_data(n=50, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4))
    return x, (x @ rng.standard_normal((4, 3))).argmax(axis=1)


def test_a_run_is_a_folder_of_params_metrics_environment_and_artifacts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a git repository: no commit
    with tracking.start_run("first", params={"width": 8, "betas": (0.9, 0.99)}, seed=3) as run:
        run.log_metric("loss", 0.5, step=1)
        fig, ax = plt.subplots()
        ax.plot([1, 2])
        figure = run.log_artifact(fig, "curve.png")
        plt.close(fig)
        (tmp_path / "weights.bin").write_bytes(b"\x00\x01")
        copied = run.log_artifact(tmp_path / "weights.bin")
    folder = tmp_path / "runs" / run.run_id
    assert sorted(p.name for p in folder.iterdir()) == [
        "artifacts",
        "environment.json",
        "metrics.jsonl",
        "params.json",
        "run.json",
    ]
    assert json.loads((folder / "params.json").read_text()) == {"width": 8, "betas": [0.9, 0.99]}
    (record,) = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert {k: record[k] for k in ("key", "value", "step", "epoch")} == {
        "key": "loss",
        "value": 0.5,
        "step": 1,
        "epoch": None,
    }
    info = json.loads((folder / "run.json").read_text())
    assert info["name"] == "first" and info["status"] == "finished" and info["error"] is None
    assert info["start_time"] <= record["time"] <= info["end_time"]
    assert figure == folder / "artifacts" / "curve.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert copied.read_bytes() == b"\x00\x01"
    environment = json.loads((folder / "environment.json").read_text())
    assert environment["python"] == platform.python_version()
    assert environment["packages"]["numpy"] == np.__version__
    assert environment["packages"]["torch"] == torch.__version__
    assert environment["seed"] == 3 and environment["git_commit"] is None


def test_the_environment_records_the_git_commit_and_uncommitted_changes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "a.txt").write_text("a")
    subprocess.run([*git, "add", "a.txt"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "a"], check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert tracking.environment()["git_commit"] == head.strip()
    assert tracking.environment()["git_dirty"] is False
    (tmp_path / "a.txt").write_text("changed")
    assert tracking.environment()["git_dirty"] is True


def test_metrics_are_appended_line_by_line_and_earlier_lines_never_change(tmp_path):
    run = tracking.start_run(root=tmp_path)
    path = run.path / "metrics.jsonl"
    run.log_metrics({"loss": 1.0, "accuracy": np.float32(0.25)}, step=0)
    before = path.read_bytes()
    assert before.count(b"\n") == 2  # written before the run finishes: readable at once
    run.log_metric("loss", np.array(0.5), step=1)
    after = path.read_bytes()
    assert after.startswith(before) and after.count(b"\n") == 3
    table = run.metrics()
    assert table[["key", "value", "step"]].values.tolist() == [
        ["loss", 1.0, 0],
        ["accuracy", 0.25, 0],
        ["loss", 0.5, 1],
    ]
    with pytest.raises(TypeError, match="'loss' must be a number"):
        run.log_metric("loss", "low")
    with pytest.raises(TypeError):
        run.log_metric("loss", 0.1, step=1.5)
    assert path.read_bytes() == after


def test_a_parameter_is_logged_once(tmp_path):
    run = tracking.start_run(params={"lr": 0.1, "betas": (0.9, 0.999)}, root=tmp_path)
    run.log_params({"lr": 0.1, "betas": [0.9, 0.999], "width": 16})  # the same values: fine
    before = (run.path / "params.json").read_text()
    with pytest.raises(ValueError, match="already has the parameter 'lr' = 0.1"):
        run.log_params({"width": 16, "lr": 0.01})
    assert (run.path / "params.json").read_text() == before
    assert run.params == {"lr": 0.1, "betas": [0.9, 0.999], "width": 16}


def test_an_error_in_the_with_block_marks_the_run_failed_and_goes_on(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with tracking.start_run("broken", root=tmp_path) as run:
            run.log_metric("loss", 1.0)
            1 / 0  # noqa: B018
    loaded = tracking.load_run(run.run_id, tmp_path)
    assert loaded.status == "failed" and loaded.error == "ZeroDivisionError: division by zero"
    with pytest.raises(RuntimeError, match="is failed: nothing more can be logged"):
        loaded.log_metric("loss", 0.5)
    with pytest.raises(FileNotFoundError, match="no run 'nope'"):
        tracking.load_run("nope", tmp_path)


def test_an_artifact_is_never_overwritten(tmp_path):
    run = tracking.start_run(root=tmp_path)
    run.log_artifact(__file__, name="code.py")
    with pytest.raises(FileExistsError, match="already has the artifact 'code.py'"):
        run.log_artifact(__file__, name="code.py")


CRASHING_FIT = """
import json, sys, time
import numpy as np
import nnlearn as nl
from nnlearn import tracking

class Crash(nl.training.Callback):
    def on_epoch_end(self, epoch, logs=None):
        print(json.dumps(logs), flush=True)
        if epoch == 2:
            time.sleep(120)  # the parent kills the process here, in the middle of fit

rng = np.random.default_rng(0)
x = rng.standard_normal((40, 4))
y = (x @ rng.standard_normal((4, 3))).argmax(axis=1)
model = nl.Sequential([nl.layers.Dense(3, activation="softmax", input_shape=(4,))])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
run = tracking.start_run("doomed", params={"batch_size": 8}, root=sys.argv[1])
print(run.run_id, flush=True)
model.fit(x, y, epochs=10, batch_size=8, verbose=0,
          callbacks=[tracking.TrackingCallback(run), Crash()])
"""


def test_a_killed_run_leaves_a_readable_unfinished_folder(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", CRASHING_FIT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        run_id = child.stdout.readline().strip()
        epochs = [json.loads(child.stdout.readline()) for _ in range(3)]
    finally:
        child.kill()  # SIGKILL: nothing of the run's own code runs after this
        child.wait(timeout=30)
    assert child.returncode != 0
    (tmp_path / run_id / "metrics.jsonl").open("a").write('{"key": "loss", "val')  # torn line
    run = tracking.load_run(run_id, tmp_path)
    assert run.status == "running" and run.end_time is None
    assert run.params["batch_size"] == 8 and run.params["epochs"] == 10
    logged = run.metrics().query("key == 'loss'")
    assert logged["value"].tolist() == [logs["loss"] for logs in epochs]
    assert logged["step"].tolist() == [0, 1, 2]
    (row,) = tracking.list_runs(tmp_path).to_dict("records")
    assert row["status"] == "running" and math.isnan(row["duration"])
    assert row["metrics.loss"] == epochs[-1]["loss"]


def test_list_runs_holds_each_runs_params_status_and_last_metric_values(tmp_path):
    with tracking.start_run("a", params={"lr": 0.1, "width": 8}, root=tmp_path) as a:
        a.log_metric("loss", 3.0, step=2)
        a.log_metric("loss", 9.0, step=1)  # logged later, at an earlier step
        a.log_metric("accuracy", 0.5, step=0)
    b = tracking.start_run("b", params={"lr": 0.01}, root=tmp_path)
    b.log_metric("loss", 4.0, step=0)
    (tmp_path / "mlflow.db").write_bytes(b"")  # other things in the root are not runs
    (tmp_path / "mlartifacts").mkdir()
    table = tracking.list_runs(tmp_path)
    assert table.attrs["root"] == str(tmp_path)
    assert table[["run_id", "name", "status"]].values.tolist() == [
        [a.run_id, "a", "finished"],
        [b.run_id, "b", "running"],
    ]
    assert table["params.lr"].tolist() == [0.1, 0.01]
    assert table["params.width"].iloc[0] == 8 and math.isnan(table["params.width"].iloc[1])
    assert table["metrics.loss"].tolist() == [3.0, 4.0]
    assert table["metrics.accuracy"].iloc[0] == 0.5
    assert table["duration"].iloc[0] == pytest.approx(a.end_time - a.start_time)
    assert table["start_time"].iloc[0] == pd.Timestamp(a.start_time, unit="s", tz="UTC")
    empty = tracking.list_runs(tmp_path / "none")
    assert empty.empty and list(empty.columns)[:3] == ["run_id", "name", "status"]


class StepLosses(nl.training.Callback):
    def on_train_begin(self, logs=None):
        self.losses = []

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(logs["loss"])


def test_the_callback_logs_what_history_records_and_torchs_twin_computes(tmp_path):
    nl.seed_everything(0)
    x, y = small_data(50)
    model = small_model()
    twin, shuffles = torch_twin(model), copy.deepcopy(nl.rng())
    steps = StepLosses()
    with tracking.start_run(root=tmp_path) as run:
        callback = tracking.TrackingCallback(run, log_batches=True)
        history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.2, verbose=0,
                            callbacks=[callback, steps])  # fmt: skip
    twin_history = fit_twin(
        twin, x[:40], y[:40], loss=model.loss, optimizer=model.optimizer, epochs=3,
        batch_size=16, rng=shuffles,
    )  # fmt: skip
    table = run.metrics()
    epochs = table[~table["key"].str.startswith("batch_")]
    logged = {key: group["value"].tolist() for key, group in epochs.groupby("key")}
    assert logged == history.history  # every epoch value, exactly
    assert (epochs["step"] == epochs["epoch"]).all()
    batches = table.query("key == 'batch_loss'")
    assert batches["value"].tolist() == steps.losses
    assert batches["step"].tolist() == list(range(9))  # 3 epochs of 3 batches
    assert batches["epoch"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    compare(
        {"loss": logged["loss"], "batch_loss": batches["value"].tolist()},
        {"loss": twin_history["loss"], "batch_loss": twin_history["batch_loss"]},
        np.float64,
        "tracked fit vs its torch twin",
    ).assert_ok()
    params = run.params
    assert {k: params[k] for k in ("epochs", "steps", "optimizer", "lr", "eps", "loss")} == {
        "epochs": 3,
        "steps": math.ceil(40 / 16),
        "optimizer": "Adam",
        "lr": 0.01,
        "eps": 1e-8,  # nl.optim.Adam keeps torch's default
        "loss": "sparse_categorical_crossentropy",
    }
    assert params["betas"] == [0.9, 0.999] and params["metrics"] == ["accuracy"]
    assert params["layers"] == ["Dense(8, activation='tanh')", "Dense(3, activation='softmax')"]
    assert params["parameters"] == sum(w.size for w in model.get_weights())


def tracked_fit(root, seed):
    with tracking.start_run(root=root, seed=seed) as run:
        model = small_model(dtype="float32")
        model.fit(*small_data(60), epochs=3, batch_size=8, verbose=0,
                  callbacks=[tracking.TrackingCallback(run)])  # fmt: skip
    return run.metrics()[["key", "value", "step"]]


def test_two_fits_with_one_seed_log_identical_metrics_and_another_seed_does_not(tmp_path):
    first, second = tracked_fit(tmp_path, 5), tracked_fit(tmp_path, 5)
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    assert not tracked_fit(tmp_path, 6)["value"].equals(first["value"])
    assert tracking.list_runs(tmp_path)["run_id"].is_unique  # the seed does not repeat the id


def test_plot_metric_draws_each_runs_logged_curve(tmp_path):
    for name, values in {"a": [3.0, 2.0, 1.0], "b": [4.0, 1.0]}.items():
        with tracking.start_run(name, root=tmp_path) as run:
            for step, value in enumerate(values):
                run.log_metric("loss", value, step)
    ax = tracking.plot_metric(tracking.list_runs(tmp_path), "loss")
    curves = {line.get_label(): list(line.get_ydata()) for line in ax.lines}
    assert curves == {"a": [3.0, 2.0, 1.0], "b": [4.0, 1.0]}
    plt.close("all")


def test_parallel_coordinates_scales_each_axis_from_its_lowest_to_its_highest_value(tmp_path):
    settings = [(1e-3, 16, "adam", 0.8), (1e-2, 64, "sgd", 0.9), (1e-1, 32, "adam", 0.6)]
    for lr, width, optimizer, accuracy in settings:
        params = {"lr": lr, "width": width, "optimizer": optimizer}
        with tracking.start_run(params=params, root=tmp_path) as run:
            run.log_metric("accuracy", accuracy)
    table = tracking.list_runs(tmp_path)
    ax = tracking.parallel_coordinates(table, ["lr", "width", "optimizer"], "accuracy", log=["lr"])
    expected = [[0.0, 0.0, 0.0, 2 / 3], [0.5, 1.0, 1.0, 1.0], [1.0, 1 / 3, 0.0, 0.0]]
    drawn = [list(line.get_ydata()) for line in ax.lines[:3]]
    np.testing.assert_allclose(drawn, expected, atol=1e-12)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["lr (log)", "width", "optimizer", "accuracy"]
    written = {(x, round(y, 9)): a.get_text() for a in ax.texts for x, y in [a.xy]}
    assert written == {
        (0, 0.0): "0.001", (0, 0.5): "0.01", (0, 1.0): "0.1",
        (1, 0.0): "16", (1, round(1 / 3, 9)): "32", (1, 1.0): "64",
        (2, 0.0): "adam", (2, 1.0): "sgd",
        (3, 0.0): "0.6", (3, 1.0): "0.9",  # the metric's axis: its lowest and highest
    }  # fmt: skip
    plt.close("all")


def test_parallel_coordinates_labels_no_two_values_of_an_axis_on_top_of_each_other(tmp_path):
    rates = [1e-3, 1.1e-3, 1.3e-3, 3e-3, 9e-3, 1e-2, 1.05e-2, 1e-1]  # crowded, as a search gives
    for lr in rates:
        with tracking.start_run(params={"lr": lr}, root=tmp_path) as run:
            run.log_metric("accuracy", lr)
    table = tracking.list_runs(tmp_path)
    ax = tracking.parallel_coordinates(table, ["lr"], "accuracy", log=["lr"])
    heights = sorted(a.xy[1] for a in ax.texts if a.xy[0] == 0)
    assert heights[0] == 0.0 and heights[-1] == 1.0  # the lowest and highest always
    assert 3 <= len(heights) < len(rates)  # some between, not all
    assert min(np.diff(heights)) >= tracking.plots.MIN_GAP
    plt.close("all")


def test_importing_tracking_loads_neither_pandas_nor_matplotlib_nor_mlflow():
    code = textwrap.dedent(
        """
        import sys
        import nnlearn.tracking
        print(*[m for m in ("pandas", "matplotlib", "mlflow", "torch") if m in sys.modules])
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == []
