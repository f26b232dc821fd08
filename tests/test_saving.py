"""Chapter 13: checkpoints. ``model.save``/``load_model`` and ``save_weights``/``load_weights``
round-trip bit for bit; a model resumed from a checkpoint trains exactly as one never
interrupted (the reference); a writer killed while writing leaves the old checkpoint loadable
(a naive writer, planted, does not); truncated, corrupted, foreign, wrong-architecture and
pickle files are refused with clear errors and nothing in them runs.

The optimizer's ``state_dict`` is checked against torch's; get_config against Keras's in
test_saving_keras.py; weights to and from torch (``nnlearn.parity.interchange``) in
tests/parity/test_interchange_parity.py.
"""

import copy
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch

import nnlearn as nl
from nnlearn import saving
from nnlearn.models import load_model
from nnlearn.regularizers import L2

pytestmark = pytest.mark.chapter13

ROOT = Path(__file__).resolve().parents[1]
F64 = "float64"


def mlp(units=(8, 3), inputs=5, compiled=True, optimizer="adam", **dense):
    """A float64 MLP, softmax output, compiled with a sparse cross-entropy."""
    model = nl.Sequential(
        [nl.layers.Dense(units[0], activation="relu", input_shape=(inputs,), dtype=F64, **dense)]
        + [nl.layers.Dense(u, activation="tanh", dtype=F64) for u in units[1:-1]]
        + [nl.layers.Dense(units[-1], activation="softmax", dtype=F64)]
    )
    if compiled:
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["acc"])
    return model


def data(n=96, inputs=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, inputs))
    return x, (x @ rng.standard_normal((inputs, classes))).argmax(axis=1)


def same_weights(a, b) -> bool:
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights(), strict=True))


# --- round trips ---------------------------------------------------------------------------------
def test_load_model_gives_back_architecture_weights_and_compile_settings(tmp_path):
    nl.seed_everything(0)
    model = mlp(units=(8, 6, 3), kernel_regularizer=L2(0.01))
    model.layers[1].trainable = False
    x, y = data()
    model.fit(x, y, epochs=2, batch_size=32, verbose=0)
    model.save(tmp_path / "m.nnlearn")
    loaded = load_model(tmp_path / "m.nnlearn")
    assert repr(loaded) == repr(model) and same_weights(loaded, model)
    assert [layer.trainable for layer in loaded.layers] == [True, False, True]
    assert [layer.get_config() for layer in loaded.layers] == [
        layer.get_config() for layer in model.layers
    ]
    assert repr(loaded.optimizer) == repr(model.optimizer) and repr(loaded.loss) == repr(model.loss)
    assert loaded.metrics_names == model.metrics_names
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.evaluate(x, y) == model.evaluate(x, y)  # the L2 penalty included


@pytest.mark.parametrize(
    "loss",
    ["mse", nl.losses.CategoricalCrossentropy(label_smoothing=0.1, axis=-1), "huber"],
)
def test_losses_round_trip_with_their_options(tmp_path, loss):
    model = mlp(compiled=False)
    model.compile(optimizer=nl.optim.SGD(lr=0.1), loss=loss)
    model.save(tmp_path / "m.nnlearn")
    loaded = load_model(tmp_path / "m.nnlearn")
    assert repr(loaded.loss) == repr(model.loss) and loaded.loss.name == model.loss.name
    y = np.eye(3)[[0, 2, 1, 1]]
    x = data(4)[0]
    assert loaded.loss(y, loaded(x)).item() == model.loss(y, model(x)).item()


def test_uncompiled_model_and_compile_false_load_without_optimizer(tmp_path):
    mlp(compiled=False).save(tmp_path / "a.nnlearn")
    assert load_model(tmp_path / "a.nnlearn").loss is None
    mlp().save(tmp_path / "b.nnlearn")
    loaded = load_model(tmp_path / "b.nnlearn", compile=False)
    assert loaded.loss is None and loaded.optimizer is None


def test_save_weights_round_trip_and_load_weights_from_a_whole_model(tmp_path):
    nl.seed_everything(1)
    model, other, third = mlp(), mlp(), mlp()
    assert not same_weights(model, other)
    model.save_weights(tmp_path / "m.weights.safetensors")
    other.load_weights(tmp_path / "m.weights.safetensors")
    assert same_weights(model, other)
    model.save(tmp_path / "m.nnlearn")
    third.load_weights(tmp_path / "m.nnlearn")  # Keras's load_weights reads .keras files too
    assert same_weights(model, third)


def test_files_are_plain_safetensors_with_json_metadata(tmp_path):
    """Any safetensors reader opens a checkpoint; the architecture is readable JSON."""
    model = mlp()
    model.save(tmp_path / "m.nnlearn")
    arrays = safetensors.numpy.load_file(tmp_path / "m.nnlearn")
    for name, p in model.named_parameters():
        np.testing.assert_array_equal(arrays[name], p.data)
    with safetensors.safe_open(tmp_path / "m.nnlearn", "np") as file:
        document = json.loads(file.metadata()["nnlearn"])
    assert document["format"] == "nnlearn.model"
    assert [e["config"]["units"] for e in document["model"]["layers"]] == [8, 3]
    assert document["compile"]["optimizer"]["class_name"] == "Adam"


def test_pruning_masks_are_kept(tmp_path):
    model = mlp()
    kernel = model.layers[0].kernel
    kernel.mask = (np.arange(kernel.data.size).reshape(kernel.shape) % 2).astype(F64)
    kernel.data *= kernel.mask
    model.save(tmp_path / "m.nnlearn")
    loaded = load_model(tmp_path / "m.nnlearn")
    np.testing.assert_array_equal(loaded.layers[0].kernel.mask, kernel.mask)
    assert loaded.layers[1].kernel.mask is None


def test_load_model_draws_no_random_numbers(tmp_path):
    mlp().save(tmp_path / "m.nnlearn")
    nl.seed_everything(3)
    expected = copy.deepcopy(nl.rng()).random(4)
    load_model(tmp_path / "m.nnlearn")
    np.testing.assert_array_equal(nl.rng().random(4), expected)


# --- exact resume --------------------------------------------------------------------------------
OPTIMIZERS = {
    "adam": lambda: "adam",
    "sgd-nesterov": lambda: nl.optim.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
    "rmsprop-centered": lambda: nl.optim.RMSprop(lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda: "adagrad",
    "adamw-amsgrad": lambda: nl.optim.AdamW(lr=0.01, amsgrad=True),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_resumed_training_matches_an_uninterrupted_run_bit_for_bit(tmp_path, name):
    """Train 2 epochs, save, train 3 more: the reference. A model loaded from the checkpoint
    trains the same 3 epochs (same shuffles: the generator's state is the program's, kept
    here as a user would) to the same bits, losses included."""
    nl.seed_everything(0)
    x, y = data()
    model = mlp(optimizer=OPTIMIZERS[name]())
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(tmp_path / "m.nnlearn")
    shuffles = copy.deepcopy(nl.rng().bit_generator.state)
    reference = model.fit(x, y, epochs=5, initial_epoch=2, batch_size=16, verbose=0)

    resumed = load_model(tmp_path / "m.nnlearn")
    nl.rng().bit_generator.state = shuffles
    history = resumed.fit(x, y, epochs=5, initial_epoch=2, batch_size=16, verbose=0)
    assert history.history == reference.history
    assert same_weights(resumed, model)


def test_resume_is_exact_with_chapter_09_layers(tmp_path):
    """Dropout (it draws from nnlearn's generator), BatchNormalization's moving statistics
    (non-trainable weights, here of a frozen layer) and LayerNormalization resume exactly."""
    nl.seed_everything(0)
    x, y = data()
    model = nl.Sequential(
        [
            nl.layers.Dense(8, activation="relu", input_shape=(5,), dtype=F64),
            nl.layers.BatchNormalization(dtype=F64),
            nl.layers.Dropout(0.3),
            nl.layers.LayerNormalization(dtype=F64),
            nl.layers.Dense(3, activation="softmax", dtype=F64),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.layers[1].trainable = False
    model.save(tmp_path / "m.nnlearn")
    randomness = copy.deepcopy(nl.rng().bit_generator.state)
    reference = model.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)

    resumed = load_model(tmp_path / "m.nnlearn")
    assert [layer.trainable for layer in resumed.layers] == [True, False, True, True, True]
    nl.rng().bit_generator.state = randomness
    history = resumed.fit(x, y, epochs=4, initial_epoch=2, batch_size=16, verbose=0)
    assert history.history == reference.history and same_weights(resumed, model)


def test_resuming_with_weights_alone_does_not_match(tmp_path):
    """The control: without the optimizer's state (Adam's moments and step count restart)
    the same resumed run ends elsewhere, so the test above can fail."""
    nl.seed_everything(0)
    x, y = data()
    model = mlp()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, shuffle=False)
    model.save_weights(tmp_path / "m.weights.safetensors")
    model.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=False)
    fresh = mlp()
    fresh.load_weights(tmp_path / "m.weights.safetensors")
    fresh.fit(x, y, epochs=3, batch_size=16, verbose=0, shuffle=False)
    assert not same_weights(fresh, model)


# --- the optimizer's state_dict, against torch's ----------------------------------------------
@pytest.mark.parametrize("kind", ["Adam", "SGD", "RMSprop", "Adagrad"])
def test_optimizer_state_dict_matches_torch(kind):
    settings = {"SGD": {"momentum": 0.9}, "RMSprop": {"centered": True, "momentum": 0.3}}
    settings = settings.get(kind, {})
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((3, 2)), rng.standard_normal(2)]
    ours = [nl.Tensor(p.copy(), requires_grad=True) for p in start]
    theirs = [torch.tensor(p, requires_grad=True) for p in start]
    optimizer = getattr(nl.optim, kind)(ours, lr=0.1, **settings)
    reference = getattr(torch.optim, kind)(theirs, lr=0.1, **settings)
    for _ in range(3):
        grads = [rng.standard_normal(p.shape) for p in start]
        for p, t, g in zip(ours, theirs, grads, strict=True):
            p.grad, t.grad = g, torch.tensor(g)
        optimizer.step()
        reference.step()
    state, expected = optimizer.state_dict(), reference.state_dict()
    assert state["state"].keys() == expected["state"].keys()
    for i, entries in expected["state"].items():
        assert state["state"][i].keys() == entries.keys()
        for key, value in entries.items():
            np.testing.assert_allclose(state["state"][i][key], value.numpy(), rtol=1e-12)
    (group,), (torch_group,) = state["param_groups"], expected["param_groups"]
    assert {k: torch_group[k] for k in group} == group


def test_optimizer_load_state_dict_refuses_what_does_not_fit():
    params = [nl.Tensor(np.zeros((2, 2)), requires_grad=True)]
    adam = nl.optim.Adam(params)
    params[0].grad = np.ones((2, 2))
    adam.step()
    saved = adam.state_dict()
    with pytest.raises(ValueError, match=r"settings .* are not SGD's"):
        nl.optim.SGD([nl.Tensor(np.zeros((2, 2)), requires_grad=True)]).load_state_dict(saved)
    with pytest.raises(ValueError, match="the state is for 1 parameters, this optimizer holds 2"):
        two = [nl.Tensor(np.zeros(2), requires_grad=True) for _ in range(2)]
        nl.optim.Adam(two).load_state_dict(saved)
    other = nl.optim.Adam([nl.Tensor(np.zeros(3), requires_grad=True)], lr=0.5)
    with pytest.raises(ValueError, match=r"shape \(2, 2\), but the parameter has shape \(3,\)"):
        other.load_state_dict(saved)
    assert other.lr == 0.5 and other.state_dict()["state"] == {}  # left as it was


# --- atomic writes -------------------------------------------------------------------------------
WRITER = """
import resource, signal, sys
import numpy as np
import nnlearn as nl
from nnlearn import saving

path, how, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
units = int(sys.argv[4])
model = nl.Sequential([nl.layers.Dense(units, input_shape=(units,), dtype="float64")])
model.layers[0].kernel.data[...] = 1.0  # the new checkpoint differs from the old one
if how == "naive":  # planted: write the file in place, as open(path, "wb") does
    saving.atomic_write = lambda path, data: open(path, "wb").write(data)
if limit:  # the kernel kills the process (SIGXFSZ) when its write passes `limit` bytes
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)  # Python ignores it, turning it into EFBIG
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
model.save(path)
"""


def old_checkpoint(tmp_path: Path, units: int) -> tuple[Path, nl.Sequential]:
    model = nl.Sequential([nl.layers.Dense(units, input_shape=(units,), dtype=F64)])
    path = tmp_path / "m.nnlearn"
    model.save(path)
    return path, model


def writer(path: Path, how: str, limit: int, units: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-c", WRITER, str(path), how, str(limit), str(units)]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE)


def temporaries(path: Path) -> list[Path]:
    return list(path.parent.glob(f".{path.name}.*.tmp"))


@pytest.mark.parametrize("how", ["atomic", "naive"])
def test_writer_killed_mid_write_leaves_the_old_checkpoint(tmp_path, how):
    """The kernel kills the writer inside its write (SIGXFSZ at 64 KiB of a ~130 KiB file):
    the old checkpoint still loads, unchanged. The planted naive writer loses it."""
    path, old = old_checkpoint(tmp_path, units=128)
    process = writer(path, how, limit=1 << 16, units=128)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGXFSZ, process.stderr.read().decode()
    if how == "naive":
        with pytest.raises(ValueError, match="is truncated"):
            load_model(path)
        return
    (partial,) = temporaries(path)
    assert partial.stat().st_size == 1 << 16  # the new file was half written when it died
    assert same_weights(load_model(path), old)


@pytest.mark.parametrize("how", ["atomic", "naive"])
def test_writer_sigkilled_while_writing_leaves_the_old_checkpoint(tmp_path, how):
    """SIGKILL as soon as the writer starts writing 32 MB (its temporary file appears; for the
    planted naive writer, the old file changes): the old checkpoint still loads, unchanged
    (retried if the writer ever finishes first). The naive writer leaves a broken file."""
    path, old = old_checkpoint(tmp_path, units=8)
    size = path.stat().st_size
    started = {"atomic": lambda: temporaries(path), "naive": lambda: path.stat().st_size != size}
    for _ in range(5):
        process = writer(path, how, limit=0, units=2048)
        deadline = time.monotonic() + 60
        while not started[how]() and process.poll() is None and time.monotonic() < deadline:
            pass
        process.kill()
        process.wait(timeout=60)
        if process.returncode == -signal.SIGKILL and started[how]():
            break
    assert process.returncode == -signal.SIGKILL and started[how]()
    if how == "naive":
        with pytest.raises(ValueError, match="is truncated"):
            load_model(path)
    else:
        assert same_weights(load_model(path), old)


def test_failed_write_removes_its_temporary_file(tmp_path, monkeypatch):
    path, old = old_checkpoint(tmp_path, units=4)

    def broken_rename(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", broken_rename)
    with pytest.raises(OSError, match="disk gone"):
        mlp().save(path)
    monkeypatch.undo()
    assert temporaries(path) == [] and same_weights(load_model(path), old)


def test_overwrite_false_keeps_the_file(tmp_path):
    path, old = old_checkpoint(tmp_path, units=4)
    with pytest.raises(FileExistsError, match="overwrite=False"):
        mlp().save(path, overwrite=False)
    assert same_weights(load_model(path), old)


# --- files that are refused ----------------------------------------------------------------------
def saved_bytes(tmp_path: Path) -> bytes:
    mlp().save(tmp_path / "good.nnlearn")
    return (tmp_path / "good.nnlearn").read_bytes()


def test_truncated_files_are_refused_at_every_length(tmp_path):
    data = saved_bytes(tmp_path)
    header_end = 8 + int.from_bytes(data[:8], "little")
    for cut in sorted({0, 3, 8, 20, header_end - 1, header_end, header_end + 7, len(data) - 1}):
        (tmp_path / "cut.nnlearn").write_bytes(data[:cut])
        with pytest.raises(ValueError, match="is truncated"):
            load_model(tmp_path / "cut.nnlearn")


@pytest.mark.parametrize("where", ["an array", "the JSON", "the end"])
def test_corrupted_files_are_refused(tmp_path, where):
    data = bytearray(saved_bytes(tmp_path))
    header_end = 8 + int.from_bytes(data[:8], "little")
    if where == "an array":
        data[-5] ^= 0x01  # one bit of one weight
    elif where == "the JSON":
        at = data.index(b'"units\\": 8')  # a valid JSON edit: 8 units become 9
        data[at + 10 : at + 11] = b"9"
    else:
        data += b"\x00" * 16
    (tmp_path / "bad.nnlearn").write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is corrupted"):
        load_model(tmp_path / "bad.nnlearn")
    assert header_end < len(data)


class RunsCode:
    """A pickle that, when loaded, creates a marker file: what any code could do instead."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("name", ["m.nnlearn", "m.weights.safetensors"])
@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_pickles_are_refused_and_nothing_in_them_runs(tmp_path, name, writer):
    marker = tmp_path / "code-ran"
    payload = {"layers.0.kernel": torch.zeros(5, 8), "extra": RunsCode(marker)}
    path = tmp_path / name
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    with pytest.raises(ValueError, match="nnlearn never unpickles"):
        load_model(path) if name.endswith(".nnlearn") else mlp().load_weights(path)
    assert not marker.exists()
    pickle.loads(pickle.dumps(RunsCode(marker)))  # the control: unpickling does run it
    assert marker.exists()


def test_foreign_safetensors_files_are_refused(tmp_path):
    safetensors.numpy.save_file({"w": np.zeros(3)}, tmp_path / "m.weights.safetensors")
    with pytest.raises(ValueError, match="without nnlearn's metadata"):
        mlp().load_weights(tmp_path / "m.weights.safetensors")
    (tmp_path / "text.nnlearn").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a safetensors file"):
        load_model(tmp_path / "text.nnlearn")


def test_wrong_architecture_names_the_layer_and_both_shapes(tmp_path):
    mlp(units=(8, 3)).save_weights(tmp_path / "m.weights.safetensors")
    other = mlp(units=(8, 4))
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"layer 1 \(Dense\(4\)\): layers.1.kernel has shape "
                       r"\(8, 4\) in the model but \(8, 3\) in the file"):  # fmt: skip
        other.load_weights(tmp_path / "m.weights.safetensors")
    assert all(np.array_equal(a, b) for a, b in zip(before, other.get_weights(), strict=True))
    with pytest.raises(ValueError, match=r"layers.2.kernel .* is not in the file"):
        mlp(units=(8, 3, 3)).load_weights(tmp_path / "m.weights.safetensors")
    with pytest.raises(ValueError, match="has weights the model lacks: layers.1.bias"):
        nl.Sequential([nl.layers.Dense(8, input_shape=(5,))]).load_weights(
            tmp_path / "m.weights.safetensors"
        )
    with pytest.warns(UserWarning, match=r"skipped layer 1 \(Dense\(4\)\)"):
        other.load_weights(tmp_path / "m.weights.safetensors", skip_mismatch=True)
    source = nl.Sequential([nl.layers.Dense(8, input_shape=(5,), dtype=F64)])
    source.load_weights(tmp_path / "m.weights.safetensors", skip_mismatch=True)
    np.testing.assert_array_equal(other.layers[0].kernel.data, source.layers[0].kernel.data)


# --- suffixes and what cannot be saved -----------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "name", "message"),
    [
        ("save", "m.keras", r"Keras's formats .* '\*.nnlearn', e.g. 'm.nnlearn'"),
        ("save", "m.h5", r"Keras's formats .* e.g. 'm.nnlearn'"),
        ("save_weights", "m.weights.h5", r"Keras's .* e.g. 'm.weights.safetensors'"),
        ("save", "m.pt", r"must end in .nnlearn"),
        ("save_weights", "m.safetensors", r"must end in .weights.safetensors"),
        ("load_model", "m.keras", r"Keras's formats"),
        ("load_model", "m.weights.safetensors", r"holds weights only: .* model.load_weights"),
        ("load_weights", "m.weights.h5", r"Keras's formats"),
    ],
)
def test_other_suffixes_are_refused_with_the_reason(tmp_path, call, name, message):
    model = mlp()
    action = {
        "save": model.save,
        "save_weights": model.save_weights,
        "load_model": load_model,
        "load_weights": model.load_weights,
    }[call]
    with pytest.raises(ValueError, match=message):
        action(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_what_has_no_name_cannot_be_saved_and_nothing_is_written(tmp_path):
    def my_activation(x):
        return x

    class Custom(nl.layers.Layer):
        pass

    with pytest.raises(ValueError, match=r"Dense\(8\).get_config: its activation"):
        nl.Sequential([nl.layers.Dense(8, my_activation, input_shape=(2,))]).save(
            tmp_path / "a.nnlearn"
        )
    with pytest.raises(NotImplementedError, match="Custom has no get_config"):
        nl.Sequential([Custom(input_shape=(2,))]).save(tmp_path / "b.nnlearn")
    model = mlp(compiled=False)
    model.compile(optimizer="sgd", loss=lambda y_true, y_pred: (y_pred**2).mean())
    with pytest.raises(ValueError, match="your own, so the file cannot name them"):
        model.save(tmp_path / "c.nnlearn")
    with pytest.raises(ValueError, match="built Sequential"):
        nl.Sequential([nl.layers.Dense(2)]).save(tmp_path / "d.nnlearn")
    assert list(tmp_path.iterdir()) == []


def test_unknown_classes_in_a_file_are_not_looked_up_outside_nnlearn(tmp_path):
    """A crafted file may only name nnlearn's layers (or custom_objects), never a callable."""
    model = mlp(compiled=False)
    arrays = {name: p.data for name, p in model.named_parameters()}
    document = {"format": "nnlearn.model", "version": 1, "compile": None, "optimizer_state": None}
    document["model"] = saving.model_config(model)
    document["model"]["layers"][0]["class_name"] = "Affine"  # in nnlearn.layers, not a Layer
    saving.write_checkpoint(tmp_path / "m.nnlearn", arrays, document)
    with pytest.raises(ValueError, match="names a Layer 'Affine' that nnlearn.layers does not"):
        load_model(tmp_path / "m.nnlearn")
    loaded = load_model(tmp_path / "m.nnlearn", custom_objects={"Affine": nl.layers.Dense})
    assert same_weights(loaded, model)
