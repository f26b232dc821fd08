"""Cross-checking nnlearn against PyTorch: one home for every parity check.

PyTorch is the reference: every hand-built part is run beside PyTorch's own implementation
on the same inputs, and outputs and gradients are compared within the tolerances of the
dtype in use:

* float64 (on the CPU): ``rtol=1e-7, atol=1e-9``;
* float32 (on an accelerator, or to check nnlearn's float32 path): ``rtol=1e-4, atol=1e-5``,
  with TF32 switched off while checking so matrix products are true float32.

A value passes when ``|actual - expected| <= atol + rtol * |expected|`` elementwise (numpy's
``allclose``). Every check returns a :class:`~nnlearn.report.Report` (a table that can raise;
several join into one with ``Report.join``). torch is imported only when a check runs.

Four modules, each using only the ones before it:

* :mod:`~nnlearn.parity.core`: device choice, dtypes and tolerances, conversion,
  :func:`compare`, and :func:`check_function` (one operation against torch's);
* :mod:`~nnlearn.parity.twins`: :func:`torch_twin` (a registry: every layer type says how it
  becomes a torch module), and the torch twins of activations, losses and optimizers;
* :mod:`~nnlearn.parity.checks`: :func:`check_model`, :func:`check_optimizer`, :func:`fit_twin`;
* :mod:`~nnlearn.parity.interchange`: weights to and from PyTorch (:func:`state_dict`,
  :func:`load_state_dict`, :func:`copy_from_twin`: torch's keys and layouts, bit for bit).

The layers of later chapters register their twins in their own modules
(:mod:`~nnlearn.parity.regularization_twins`, ``conv_twins``, ``recurrent_twins``,
``attention_twins``), imported here so that ``torch_twin`` knows them.
"""

# The later chapters' layers register their twins in their own modules, imported here so that
# ``torch_twin`` knows them.
from nnlearn.parity import (  # noqa: F401
    attention_twins,  # chapter 16
    conv_twins,  # chapter 14
    recurrent_twins,  # chapter 15
    regularization_twins,  # chapter 09
)
from nnlearn.parity.checks import check_model, check_optimizer, fit_twin
from nnlearn.parity.core import (
    DEVICE_VARIABLE,
    TOLERANCES,
    available_devices,
    check_dtype,
    check_function,
    choose_device,
    compare,
    device_and_dtype,
    exact_float32,
    to_numpy,
    to_torch,
    tolerances,
)
from nnlearn.parity.interchange import copy_from_twin, load_state_dict, state_dict
from nnlearn.parity.twins import (
    Slot,
    register_twin,
    torch_twin,
    transposed,
    twin_activation,
    twin_gradients,
    twin_loss,
    twin_optimizer,
    twin_parameters,
)
from nnlearn.report import Report, Row, ToleranceError

__all__ = [
    "copy_from_twin",
    "load_state_dict",
    "state_dict",
    "DEVICE_VARIABLE",
    "TOLERANCES",
    "Report",
    "Row",
    "Slot",
    "ToleranceError",
    "available_devices",
    "check_dtype",
    "check_function",
    "check_model",
    "check_optimizer",
    "choose_device",
    "compare",
    "device_and_dtype",
    "exact_float32",
    "fit_twin",
    "register_twin",
    "to_numpy",
    "to_torch",
    "tolerances",
    "torch_twin",
    "transposed",
    "twin_activation",
    "twin_gradients",
    "twin_loss",
    "twin_optimizer",
    "twin_parameters",
]
