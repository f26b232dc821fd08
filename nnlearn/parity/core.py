"""The basics of a parity check: the device and dtype, the tolerances (the rule is stated in
:mod:`nnlearn.parity`), conversion between nnlearn and torch, :func:`compare`, and
:func:`check_function` (one computation beside torch's). torch is imported only when a
function needs it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from nnlearn.gradcheck import relative_error
from nnlearn.report import Report, Row
from nnlearn.tensor import Tensor

if TYPE_CHECKING:
    import torch

TOLERANCES = {
    np.dtype(np.float64): {"rtol": 1e-7, "atol": 1e-9},
    np.dtype(np.float32): {"rtol": 1e-4, "atol": 1e-5},
}
DEVICE_VARIABLE = "NNLEARN_DEVICE"


def _mps_available(torch_module: Any) -> bool:
    backend = getattr(torch_module.backends, "mps", None)
    return bool(backend and backend.is_available())


def available_devices() -> list[str]:
    """Every torch device usable here: ``"cpu"``, then ``"cuda"`` and ``"mps"`` if present."""
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices.append("cuda")
    if _mps_available(torch):
        devices.append("mps")
    return devices


def choose_device() -> str:
    """The device to check against: CUDA, then Apple MPS, then CPU.

    The environment variable ``NNLEARN_DEVICE`` (``cpu``, ``cuda`` or ``mps``) forces one; an
    unavailable forced device is an error rather than a silent fall-back.
    """
    devices = available_devices()
    forced = os.environ.get(DEVICE_VARIABLE, "").strip().lower()
    if forced:
        if forced not in devices:
            raise RuntimeError(
                f"{DEVICE_VARIABLE}={forced!r}, but the devices available here are {devices}"
            )
        return forced
    return devices[-1] if len(devices) > 1 else "cpu"


def check_dtype(device: str) -> np.dtype:
    """The dtype used to check on ``device``: float64 on the CPU, float32 on accelerators."""
    return np.dtype(np.float64 if device == "cpu" else np.float32)


def tolerances(dtype: Any) -> dict[str, float]:
    """``{"rtol": ..., "atol": ...}`` for a dtype (see the module docstring)."""
    return TOLERANCES[np.dtype(dtype)]


def device_and_dtype(device: str | None, dtype: Any) -> tuple[str, np.dtype]:
    """``device`` (default: :func:`choose_device`) and ``dtype`` (default: :func:`check_dtype`
    of the device) for a check; MPS has no float64, so float64 there is an error."""
    device = device or choose_device()
    dtype = np.dtype(dtype) if dtype is not None else check_dtype(device)
    if device == "mps" and dtype == np.float64:
        raise ValueError(
            "MPS has no float64: check float64 on the CPU (device='cpu'), or float32 on MPS"
        )
    return device, dtype


def to_torch(
    x: Tensor | np.ndarray, device: str = "cpu", dtype: Any = None, requires_grad: bool = False
) -> torch.Tensor:
    """A torch tensor with ``x``'s values (copied) on ``device``, as ``dtype`` if given."""
    import torch

    array = x.data if isinstance(x, Tensor) else np.asarray(x)
    if dtype is not None:
        array = array.astype(dtype)
    out = torch.tensor(array, device=device)
    return out.requires_grad_(requires_grad)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """The values of a torch tensor as a numpy array on the CPU: a copy, so later steps that
    update the tensor in place leave it as it was."""
    return t.detach().cpu().numpy().copy()


@contextlib.contextmanager
def exact_float32() -> Iterator[None]:
    """Switch off TF32 (reduced-precision float32 matrix products on recent GPUs) inside."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def compare(
    actual: Mapping[str, np.ndarray],
    expected: Mapping[str, np.ndarray],
    dtype: Any,
    title: str = "Parity with PyTorch",
) -> Report:
    """Compare named nnlearn results with named PyTorch results at ``dtype``'s tolerances.

    Every name of ``expected`` is a row; ``actual`` must have it too. The report keeps both
    sets of values (as float64 arrays) in ``report.actual`` and ``report.expected``.
    """
    tol = tolerances(dtype)
    rows, kept_actual, kept_expected = [], {}, {}
    for name, want in expected.items():
        want = kept_expected[name] = np.asarray(want, dtype=np.float64)
        got = kept_actual[name] = np.asarray(actual[name], dtype=np.float64)
        if got.shape != want.shape:
            rows.append(
                Row(
                    f"{name} (shape {got.shape} vs {want.shape})", want.shape, np.inf, np.inf, False
                )
            )
            continue
        rows.append(
            Row(
                name,
                want.shape,
                float(np.max(np.abs(got - want), initial=0.0)),
                relative_error(got, want),
                bool(np.allclose(got, want, rtol=tol["rtol"], atol=tol["atol"])),
            )
        )
    criterion = f"ok: |nnlearn - torch| <= {tol['atol']:g} + {tol['rtol']:g} * |torch| everywhere"
    return Report(title, criterion, rows, kept_actual, kept_expected)


def check_function(
    nn_fn: Callable[..., Tensor],
    torch_fn: Callable[..., torch.Tensor],
    *inputs: np.ndarray,
    device: str | None = None,
    dtype: Any = None,
    names: Sequence[str] | None = None,
    seed: int = 0,
) -> Report:
    """Run ``nn_fn`` (nnlearn) and ``torch_fn`` (PyTorch on ``device``) on the same inputs.

    Both outputs are backpropagated with the same random upstream gradient; the report
    compares the outputs and the gradient of every input.

    Args:
        nn_fn: a function of nnlearn Tensors.
        torch_fn: the same computation written with torch's own operations.
        inputs: arrays to differentiate with respect to.
        device: the torch device (default: :func:`choose_device`).
        dtype: the dtype of both computations (default: :func:`check_dtype` of the device).
        names: names of the inputs in the report (default x0, x1, ...).
        seed: seed of the upstream gradient.
    """
    device, dtype = device_and_dtype(device, dtype)
    names = list(names) if names else [f"x{i}" for i in range(len(inputs))]
    arrays = [np.asarray(x).astype(dtype) for x in inputs]

    tensors = [Tensor(x.copy(), requires_grad=True) for x in arrays]
    out = nn_fn(*tensors)
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    out.backward(upstream)

    with exact_float32():
        torch_inputs = [to_torch(x, device, requires_grad=True) for x in arrays]
        torch_out = torch_fn(*torch_inputs)
        torch_out.backward(to_torch(upstream, device))

    actual = {"output": out.data}
    expected = {"output": to_numpy(torch_out)}
    for name, tensor, torch_tensor in zip(names, tensors, torch_inputs, strict=True):
        actual[f"d/d{name}"] = np.zeros(tensor.shape) if tensor.grad is None else tensor.grad
        expected[f"d/d{name}"] = (
            np.zeros(tensor.shape) if torch_tensor.grad is None else to_numpy(torch_tensor.grad)
        )
    title = f"Parity with PyTorch on {device}, {dtype}"
    return compare(actual, expected, dtype, title)
