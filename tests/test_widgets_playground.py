"""Chapter 08: the playground (nnlearn.widgets.playground): it trains, fast, and its widget
builds the network its controls describe, driven without a browser."""

import time

import numpy as np
import pytest

from nnlearn.widgets import playground

pytestmark = pytest.mark.chapter08


def test_playground_trains_moons_above_85_percent():
    result = playground.train_playground("moons")
    assert result.accuracy > 0.85
    predicted = result.model.predict(result.x_test).argmax(axis=1)
    assert result.accuracy == pytest.approx(np.mean(predicted == result.y_test))
    assert len(result.history.history["loss"]) == 60
    assert result.history.history["loss"][-1] < result.history.history["loss"][0]


def test_playground_trains_in_under_two_seconds_at_defaults():
    playground.train_playground("moons", epochs=1)  # first use imports torch (seeding): not timed
    start = time.perf_counter()
    playground.train_playground()
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize(("width", "depth"), [(1, 0), (8, 1), (32, 3)])
def test_playground_widget_width_and_depth_build_that_network(width, depth):
    widget = playground.make_playground_widget(epochs=2)
    widget.controls["width"].value = width
    widget.controls["depth"].value = depth
    widget.controls["activation"].value = "relu"
    widget.train.click()
    model = widget.result.model
    assert len(model.layers) == depth + 1
    assert all(layer.units == width for layer in model.layers[:-1])
    assert all(layer.activation_name == "relu" for layer in model.layers[:-1])
    # Parameters: (2 + 1) * width, then (width + 1) * width per extra hidden layer, then the
    # output layer's (inputs + 1) * 2 classes.
    inputs = width if depth else 2
    expected = (3 * width + (depth - 1) * (width + 1) * width if depth else 0) + (inputs + 1) * 2
    assert playground.count_parameters(model) == expected


def test_playground_widget_trains_only_when_asked():
    widget = playground.make_playground_widget(epochs=2)
    first = widget.result
    widget.controls["dataset"].value = "spirals"
    assert widget.result is first  # controls alone do not retrain
    widget.train.click()
    assert widget.result is not first
    assert widget.result.model.layers[-1].units == 3  # three spiral arms
    assert "test accuracy" in widget.readout.value and widget.image.value[:4] == b"\x89PNG"
