"""Chapter 07: the learning-rate schedules' bookkeeping and checks (nnlearn.schedules). Their
rates and steps against torch.optim.lr_scheduler: tests/parity/test_schedules_parity.py."""

import pytest
import torch

from nnlearn import optim, schedules

pytestmark = pytest.mark.chapter07


def test_a_schedule_starts_at_the_base_rate_and_reports_a_list():
    opt = optim.SGD(lr=0.3)
    schedule = schedules.ExponentialLR(opt, gamma=0.5)
    assert schedule.get_last_lr() == [0.3] and schedule.base_lr == 0.3
    schedule.step()
    assert schedule.get_last_lr() == [0.15] and opt.lr == 0.15


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda opt: schedules.StepLR(opt, step_size=0), "StepLR: step_size must be a positive"),
        (lambda opt: schedules.StepLR(opt, step_size=2.5), "StepLR: step_size"),
        (lambda opt: schedules.CosineAnnealingLR(opt, T_max=0), "CosineAnnealingLR: T_max"),
    ],
)
def test_schedule_lengths_must_be_positive_whole_epochs(make, message):
    with pytest.raises(ValueError, match=message):
        make(optim.SGD())


def test_a_schedule_needs_an_optimizer_with_an_lr():
    torch_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)])
    with pytest.raises(TypeError, match="StepLR: SGD has no learning rate lr.*lr_scheduler"):
        schedules.StepLR(torch_opt, step_size=2)
