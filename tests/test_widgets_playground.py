"""Chapter 08: the playground. Its pure core (nnlearn.widgets.playground_run) trains in steps that
add up to one long run, with the data, noise, split and L2 penalty it states; its widget
(nnlearn.widgets.playground) is driven without a browser: controls start a new run, the epoch
slider trains up to where it points, a frame at a time, fast, and a diverging run says so."""

import statistics
import struct
import time

import numpy as np
import pytest
from ipywidgets.widgets.widget_link import DirectionalLink

import nnlearn as nl
from nnlearn.training import TrainingDiverged
from nnlearn.widgets import playground
from nnlearn.widgets.playground_run import PlaygroundRun, Settings, make_dataset, split_dataset

pytestmark = pytest.mark.chapter08

# Plain SGD on a deep linear network: the product of weights grows without bound at this rate.
DIVERGING = {"optimizer": "sgd", "lr": 10.0, "activation": "linear", "depth": 4, "width": 16}


def png_height(png: bytes) -> int:
    """The height in pixels from a PNG's IHDR chunk."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">I", png[20:24])[0]


# --- the pure core --------------------------------------------------------------------------------
def test_two_steps_of_k_epochs_equal_one_run_of_2k_epochs_whatever_else_draws_in_between():
    stepped, whole = PlaygroundRun(), PlaygroundRun()
    stepped.train(3)
    nl.rng().random(5)  # the learner's code draws from nnlearn's generator meanwhile
    stepped.train(3)
    whole.train(6)
    assert stepped.history == whole.history and len(whole.history["loss"]) == 7  # epochs 0..6
    for a, b in zip(stepped.model.get_weights(), whole.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert [s.epoch for s in stepped.snapshots] == [0, 3, 6]
    np.testing.assert_array_equal(stepped.snapshots[-1].weights[0], whole.model.get_weights()[0])


def test_a_run_leaves_nnlearns_generator_where_it_was():
    before = nl.rng().bit_generator.state
    playground.train_playground(epochs=2, steps=2)
    assert nl.rng().bit_generator.state == before


def test_the_default_run_learns_moons_and_reports_its_test_accuracy():
    run = playground.train_playground()
    assert run.accuracy > 0.9
    predicted = run.model.predict(run.x_test).argmax(axis=1)
    assert run.accuracy == pytest.approx(np.mean(predicted == run.y_test))
    assert len(run.history["loss"]) == 51 and run.history["loss"][-1] < run.history["loss"][0] / 4


def test_the_default_run_trains_in_under_two_seconds_of_cpu():
    playground.train_playground(epochs=1)  # first use imports sklearn and torch: not timed
    start = time.process_time()
    playground.train_playground()
    assert time.process_time() - start < 2.0


def test_l2_adds_lambda_times_each_parameter_to_its_gradient():
    # One full-batch SGD step from the same weights: the L2 run's step differs from the plain one
    # by exactly lr * lambda * theta, for kernels and biases alike (torch's weight_decay).
    common = {"optimizer": "sgd", "lr": 0.5, "batch_size": 400}
    plain, l2 = PlaygroundRun(Settings(**common)), PlaygroundRun(Settings(**common, l2=0.1))
    start = plain.model.get_weights()
    plain.train(1)
    l2.train(1)
    for before, p, q in zip(start, plain.model.get_weights(), l2.model.get_weights(), strict=True):
        np.testing.assert_allclose(q, p - 0.5 * 0.1 * before, atol=1e-6)


def test_l2_shrinks_the_weights_of_a_trained_network():
    def norm(run):
        return np.sqrt(sum(np.sum(w**2) for w in run.model.get_weights()))

    assert norm(playground.train_playground(l2=0.03)) < 0.7 * norm(playground.train_playground())


@pytest.mark.parametrize("noise", [0.0, 0.2])
def test_noise_is_the_moons_jitter_around_their_arcs(noise):
    x, y, x_test, y_test = split_dataset(Settings(noise=noise, n=2000))
    x, y = np.concatenate([x, x_test]), np.concatenate([y, y_test])
    # scikit-learn's moons: class 0 on the unit circle around (0, 0), class 1 around (1, 0.5).
    centres = np.where(y[:, None] == 0, [0.0, 0.0], [1.0, 0.5])
    off_arc = np.linalg.norm(x - centres, axis=1) - 1.0
    if noise == 0:
        np.testing.assert_allclose(off_arc, 0.0, atol=1e-12)
    else:  # jitter of standard deviation `noise` in each coordinate moves points off the arc
        assert 0.7 * noise < off_arc.std() < 1.3 * noise


def test_ratio_is_the_training_share_of_the_same_points():
    x, y, x_test, y_test = split_dataset(Settings(dataset="spirals", ratio=0.3, n=400))
    assert len(x) == 120 and len(x_test) == 280
    everything, labels = make_dataset("spirals", 400, seed=0)
    together = np.concatenate([x, x_test])
    order = np.lexsort(together.T)
    np.testing.assert_array_equal(together[order], everything[np.lexsort(everything.T)])
    assert set(y) == set(y_test) == {0, 1, 2}  # shuffled first: every arm in both parts
    assert np.bincount(np.concatenate([y, y_test])).tolist() == np.bincount(labels).tolist()


def test_a_diverging_run_keeps_the_message_and_refuses_to_go_on():
    run = PlaygroundRun(Settings(**DIVERGING))
    with pytest.raises(TrainingDiverged):
        run.train(5)
    assert "training diverged" in run.diverged and run.epoch == 0
    with pytest.raises(TrainingDiverged):
        run.train(5)


def test_unit_mosaic_colours_each_unit_by_the_sign_of_its_activation():
    points = playground.RESOLUTION**2
    rising = np.linspace(-1.0, 1.0, points)[:, None]  # grid order: bottom row first
    hidden = [np.hstack([rising, -rising]), rising * 2.0]  # layer 1: two units, layer 2: one
    picture, starts = playground.unit_mosaic(hidden)
    tile = playground.MAP_GAP + playground.RESOLUTION
    assert picture.shape == (2 * tile, playground.MAPS_PER_ROW * tile, 3) and starts == [0, 1]
    top, bottom = playground.MAP_GAP, tile - 1  # first and last pixel rows of a first-row tile

    def red(pixel):
        return pixel[0] > pixel[2] + 0.2

    def blue(pixel):
        return pixel[2] > pixel[0] + 0.2

    assert red(picture[top, 0]) and blue(picture[bottom, 0])  # unit 1.1: positive at the top
    assert blue(picture[top, tile]) and red(picture[bottom, tile])  # unit 1.2 = -unit 1.1
    assert red(picture[tile + top, 0]) and blue(picture[tile + bottom, 0])  # unit 2.1
    assert np.all(picture[:, 2 * tile :] == 1.0)  # no third unit: white


# --- the widget ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def explorer():
    """The default explorer, its first run trained through (every frame drawn)."""
    return playground.make_playground_widget(epochs=20)


def test_the_first_run_is_drawn_in_every_frame_for_the_book(explorer):
    frames, slider = explorer.frames, explorer.controls["epoch"]
    assert [label for label, _ in slider.options] == [str(2 * i) for i in range(11)]
    assert slider.index == 10 and explorer.readout is frames.readouts[10]
    assert all(f"<b>epoch {2 * i}</b>" in r.value for i, r in enumerate(frames.readouts))
    images = [image.value for image in frames.images]
    assert all(png[:4] == b"\x89PNG" for png in images) and len(set(images)) == 11
    assert sum(map(len, images)) < 600_000  # the book embeds them all


def test_play_moves_the_epoch_slider_in_the_browser(explorer):
    link = explorer.play_link
    # What jsdlink makes: a link the browser keeps (in the book too), from ▶ to the slider only.
    assert isinstance(link, DirectionalLink)
    assert link.source == (explorer.play, "value")
    assert link.target == (explorer.controls["epoch"], "index")
    assert explorer.play.max == 10 and explorer.play.value == 10


def test_a_control_starts_a_new_run_and_the_slider_trains_it_a_frame_at_a_time():
    widget = playground.make_playground_widget(epochs=20)
    first = widget.result
    widget.controls["dataset"].value = "spirals"
    run = widget.result
    assert run is not first and run.epoch == 0 and widget.controls["epoch"].index == 0
    assert widget.play.value == 0  # ▶ starts the new run from its beginning
    assert run.model.layers[-1].units == 3  # three spiral arms
    assert "not trained yet" in widget.frames.readouts[5].value
    widget.controls["epoch"].index = 3
    assert run.epoch == 6 and [s.epoch for s in run.snapshots] == [0, 2, 4, 6]
    assert "<b>epoch 6</b>" in widget.readout.value and widget.readout is widget.frames.readouts[3]
    assert "<b>epoch 4</b>" in widget.frames.readouts[2].value  # each step drew its own frame
    widget.controls["epoch"].index = 1  # scrubbing back shows a frame; it trains nothing
    assert run.epoch == 6 and widget.image is widget.frames.images[1]


def test_each_update_takes_under_a_second(explorer):
    explorer.controls["epochs"].value = 50  # restarts: 5 epochs a step, batches of 10
    seconds = []
    for step in (1, 2, 3):
        start = time.process_time()
        explorer.controls["epoch"].index = step
        seconds.append(time.process_time() - start)
    assert explorer.result.epoch == 15
    assert statistics.median(seconds) < 1.0, seconds
    assert explorer.play.interval >= 1000  # ▶ waits at least a second, longer if steps are slow


@pytest.mark.parametrize(("width", "depth"), [(1, 0), (8, 1), (32, 3)])
def test_width_and_depth_build_that_network(explorer, width, depth):
    explorer.controls["width"].value = width
    explorer.controls["depth"].value = depth
    explorer.controls["activation"].value = "relu"
    model = explorer.result.model
    assert len(model.layers) == depth + 1
    assert all(layer.units == width for layer in model.layers[:-1])
    assert all(layer.activation_name == "relu" for layer in model.layers[:-1])
    # Parameters: (2 + 1) * width, then (width + 1) * width per extra hidden layer, then the
    # output layer's (inputs + 1) * 2 classes.
    inputs = width if depth else 2
    expected = (3 * width + (depth - 1) * (width + 1) * width if depth else 0) + (inputs + 1) * 2
    assert playground.count_parameters(model) == expected


def test_unit_maps_are_drawn_for_a_small_network_and_explained_for_a_large_one(explorer):
    heights = {}
    for width in (8, 9):  # 16 hidden units, then 18
        explorer.controls["depth"].value = 2
        explorer.controls["width"].value = width
        heights[width] = png_height(explorer.image.value)
    assert heights[8] > heights[9]  # two rows of maps, then none
    assert "at most 16 units (this network has 18" in explorer.readout.value


def test_the_settings_controls_reach_the_run(explorer):
    values = {"noise": 0.3, "ratio": 0.7, "optimizer": "sgd", "lr": 0.1, "l2": 0.01}
    for name, value in {**values, "batch_size": 25}.items():
        explorer.controls[name].value = value
    settings = explorer.result.settings
    assert {name: getattr(settings, name) for name in values} == values
    assert settings.batch_size == 25 and len(explorer.result.x) == 280
    assert explorer.result.model.optimizer.hyperparameters["weight_decay"] == 0.01


def test_new_seed_draws_new_data_and_weights(explorer):
    before, seed = explorer.result, explorer.seed
    explorer.new_seed.click()
    assert explorer.seed == seed + 1 and explorer.result.settings.seed == seed + 1
    assert not np.array_equal(explorer.result.x, before.x)


def test_epochs_must_split_into_the_steps():
    with pytest.raises(ValueError, match="multiple of 10"):
        playground.make_playground_widget(epochs=25)


def test_a_diverging_run_says_so_in_the_readout():
    widget = playground.make_playground_widget(epochs=10, **DIVERGING)  # diverges at once
    assert "<b>training diverged</b>" in widget.readout.value
    assert all("training diverged" in r.value for r in widget.frames.readouts[1:])
    assert "<b>epoch 0</b>" in widget.frames.readouts[0].value


def test_no_control_is_a_float_slider_the_browser_would_round(explorer):
    # A browser rounds a FloatSlider's or FloatLogSlider's value to the slider's step when it
    # draws it (lr 0.03 came back as 0.0316) and sends it back: that started a new run, so the
    # trained first run was gone as soon as JupyterLab showed it. A SelectionSlider sends an index.
    for name, control in explorer.controls.items():
        assert "Float" not in type(control).__name__, name
