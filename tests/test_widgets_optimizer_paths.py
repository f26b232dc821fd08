"""Chapter 07: the optimizer-paths explorer (nnlearn.widgets.optimizer_paths), driven without a
browser.

The pure functions are checked against torch (autograd for the surfaces' gradients,
``torch.optim`` for the paths) and closed forms; the widget by setting its controls and reading
``.result``.
"""

import numpy as np
import pytest
import torch
from widget_cases import check_frame_explorer

from nnlearn.widgets import optimizer_paths as paths

pytestmark = pytest.mark.chapter07


# The torch.optim twin of each explorer optimizer (same hyperparameters as paths.OPTIMIZERS).
TORCH_OPTIMIZERS = {
    "SGD": (torch.optim.SGD, {}),
    "Momentum": (torch.optim.SGD, {"momentum": 0.9}),
    "Nesterov": (torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    "AdaGrad": (torch.optim.Adagrad, {}),
    "RMSProp": (torch.optim.RMSprop, {}),
    "Adam": (torch.optim.Adam, {}),
    "AdamW": (torch.optim.AdamW, {}),
}


@pytest.mark.parametrize("surface", list(paths.SURFACES.values()), ids=list(paths.SURFACES))
def test_surface_gradient_matches_torch_autograd(surface):
    points = np.random.default_rng(0).uniform(-2.0, 2.0, (20, 2))
    xy = torch.tensor(points, requires_grad=True)
    surface.loss(xy[:, 0], xy[:, 1]).sum().backward()
    analytic = np.stack(surface.gradient(points[:, 0], points[:, 1]), axis=1)
    np.testing.assert_allclose(analytic, xy.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(surface.loss(*np.array(surface.minimum)), 0.0, atol=1e-15)


def test_sgd_path_on_the_bowl_is_the_closed_form():
    lr, steps = 0.03, 40
    path = paths.run_optimizer("SGD", "elongated bowl", lr=lr, steps=steps)
    t = np.arange(steps + 1)
    x0, y0 = paths.BOWL.start
    expected = np.stack([x0 * (1 - lr) ** t, y0 * (1 - 20 * lr) ** t], axis=1)
    np.testing.assert_allclose(path.points, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", list(paths.OPTIMIZERS))
@pytest.mark.parametrize("surface", list(paths.SURFACES))
def test_paths_match_torch_optim(name, surface):
    spec = paths.SURFACES[surface]
    lr, steps = spec.default_lr, 60
    ours = paths.run_optimizer(name, surface, lr=lr, steps=steps)
    optimizer_class, settings = TORCH_OPTIMIZERS[name]
    theta = torch.tensor(spec.start, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_class([theta], lr=lr, **settings)
    expected = [theta.detach().clone().numpy()]
    for _ in range(steps):
        optimizer.zero_grad()
        spec.loss(theta[0], theta[1]).backward()
        optimizer.step()
        expected.append(theta.detach().clone().numpy())
    assert not ours.diverged
    np.testing.assert_allclose(ours.points, np.array(expected), rtol=1e-7, atol=1e-9)


def test_diverging_path_stops_and_is_reported():
    # lr 0.2 > 2/20: the steep direction grows by |1 - 20 * 0.2| = 3 per step.
    path = paths.run_optimizer("SGD", "elongated bowl", lr=0.2, steps=1000)
    assert path.diverged and path.final_loss == float("inf")
    assert len(path.points) < 1000 and np.all(np.isfinite(path.points))


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="rosenbrock"):
        paths.optimizer_paths("himmelblau")
    with pytest.raises(ValueError, match="Adam"):
        paths.run_optimizer("LBFGS", "rosenbrock", lr=0.1, steps=1)


def test_paths_widget_higher_learning_rate_changes_the_path():
    widget = paths.make_optimizer_paths_widget(optimizers=("SGD",), lr=0.01, steps=50)
    before = widget.result.paths["SGD"].points
    widget.controls["lr"].value = 0.05
    after = widget.result.paths["SGD"].points
    assert widget.result.lr == {"SGD": pytest.approx(0.05)}
    # A bigger step goes further along the shallow x direction after the same 50 steps.
    assert abs(after[-1, 0]) < abs(before[-1, 0])


def test_paths_widget_more_steps_lower_final_loss_on_the_bowl():
    widget = paths.make_optimizer_paths_widget(
        "elongated bowl", ("SGD", "Momentum", "Adam"), steps=20
    )
    few = widget.result.final_losses
    widget.controls["steps"].value = 200
    many = widget.result.final_losses
    assert widget.result.steps == 200
    for name in few:
        assert many[name] < few[name], name


def test_paths_widget_optimizer_and_surface_controls():
    widget = paths.make_optimizer_paths_widget()
    widget.controls["optimizers"].value = ("AdaGrad", "AdamW")
    assert list(widget.result.paths) == ["AdaGrad", "AdamW"]
    image_before = widget.image.value
    widget.controls["surface"].value = "rosenbrock"
    assert widget.result.surface is paths.ROSENBROCK
    assert widget.result.lr["AdamW"] == pytest.approx(paths.ROSENBROCK.default_lr)
    assert widget.image.value != image_before and widget.image.value[:4] == b"\x89PNG"
    assert "AdamW" in widget.readout.value


def test_paths_widget_learning_rate_slider_has_a_frame_per_rate_and_none_stale():
    widget = paths.make_optimizer_paths_widget(optimizers=("SGD", "Adam"), lr=0.03, steps=40)
    assert widget.controls["lr"].value == 0.02  # the nearest of the slider's rates
    assert widget.frames.values == list(paths.LEARNING_RATES)
    for surface in paths.SURFACES.values():
        assert surface.default_lr in paths.LEARNING_RATES, surface.name
    check_frame_explorer(
        widget,
        "lr",
        lambda lr: paths.paths_frame("elongated bowl", ("SGD", "Adam"), lr, steps=60),
        other="steps",
        new_value=60,
    )
    # lr 1 on the bowl: SGD's steep direction grows by |1 - 20| per step
    assert widget.result.lr == {"SGD": 1.0, "Adam": 1.0} and widget.result.paths["SGD"].diverged
    assert "diverged" in widget.readout.value
