"""Chapter 07: nnlearn's learning-rate schedules set the rates torch.optim.lr_scheduler sets,
epoch after epoch, and a scheduled optimizer takes torch's steps on every device."""

import numpy as np
import pytest
import torch
from test_optim_parity import _trajectory

import nnlearn as nl
from nnlearn import optim, parity, schedules

pytestmark = pytest.mark.chapter07


EPOCHS = 30
SCHEDULES = [
    (schedules.StepLR, torch.optim.lr_scheduler.StepLR, {"step_size": 7, "gamma": 0.5}),
    (schedules.StepLR, torch.optim.lr_scheduler.StepLR, {"step_size": 3}),
    (schedules.ExponentialLR, torch.optim.lr_scheduler.ExponentialLR, {"gamma": 0.9}),
    # T_max below the epoch count: past it the rate climbs back, in torch too.
    (schedules.CosineAnnealingLR, torch.optim.lr_scheduler.CosineAnnealingLR, {"T_max": 12}),
    (
        schedules.CosineAnnealingLR,
        torch.optim.lr_scheduler.CosineAnnealingLR,
        {"T_max": EPOCHS, "eta_min": 0.01},
    ),
]


def _lr_sequence(optimizer, schedule) -> np.ndarray:
    """get_last_lr() at creation and after each of EPOCHS epochs."""
    rates = [schedule.get_last_lr()]
    for _ in range(EPOCHS):
        optimizer.step()  # torch warns when a schedule steps before its optimizer
        schedule.step()
        rates.append(schedule.get_last_lr())
    return np.array(rates)


@pytest.mark.parametrize(
    "ours, theirs, settings",
    SCHEDULES,
    ids=[f"{ours.__name__}({settings})" for ours, _, settings in SCHEDULES],
)
def test_schedule_rates_match_torch_lr_scheduler(ours, theirs, settings):
    param = nl.Tensor(np.zeros(2), requires_grad=True)
    torch_param = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    optimizer = optim.SGD([param], lr=0.2)
    torch_optimizer = torch.optim.SGD([torch_param], lr=0.2)
    got = _lr_sequence(optimizer, ours(optimizer, **settings))
    want = _lr_sequence(torch_optimizer, theirs(torch_optimizer, **settings))
    assert got.shape == want.shape == (EPOCHS + 1, 1)
    parity.compare({"lr": got}, {"lr": want}, np.float64, f"{ours.__name__}{settings}").assert_ok()


def test_a_scheduled_optimizer_takes_torchs_steps(device_dtype):
    """The rate a schedule sets is the one the next steps use."""
    device, dtype = device_dtype
    initial, grads = _trajectory(seed=1)
    params = [nl.Tensor(p.astype(dtype), requires_grad=True) for p in initial]
    torch_params = [parity.to_torch(p, device, dtype, requires_grad=True) for p in initial]
    ours = optim.SGD(params, lr=0.1, momentum=0.9)
    theirs = torch.optim.SGD(torch_params, lr=0.1, momentum=0.9)
    schedule = schedules.StepLR(ours, step_size=2, gamma=0.5)
    torch_schedule = torch.optim.lr_scheduler.StepLR(theirs, step_size=2, gamma=0.5)
    for epoch_grads in grads[:8]:
        for p, tp, g in zip(params, torch_params, epoch_grads, strict=True):
            p.grad = None if g is None else g.astype(dtype)
            tp.grad = None if g is None else parity.to_torch(g, device, dtype)
        ours.step()
        theirs.step()
        schedule.step()
        torch_schedule.step()
    parity.compare(
        {str(i): p.data for i, p in enumerate(params)},
        {str(i): parity.to_numpy(tp) for i, tp in enumerate(torch_params)},
        dtype,
    ).assert_ok()
