"""Weights between nnlearn and PyTorch (chapters 12 and 13): an nnlearn model's ``state_dict``.

A model's torch twin (:func:`~nnlearn.parity.twins.torch_twin`) fixes the PyTorch side: its
``state_dict()`` keys (``"0.0.weight"`` for the first Dense layer's kernel) and layouts
(``weight = kernel.T``). The twin's slots (:class:`~nnlearn.parity.twins.Slot`) say where each
nnlearn weight lives there and how its layout changes, so the three functions here never
repeat a layer's conversion:

* :func:`state_dict`: the model's weights as the twin's ``state_dict`` (torch tensors on the
  CPU, in the model's dtype, torch's layouts);
* :func:`load_state_dict`: such a dict back into the model, in place, with the checks of
  torch's ``load_state_dict(strict=True)``: every key present, no unknown key, every shape
  right (an error names the key, the layer and both shapes, and leaves the model untouched);
* :func:`copy_from_twin`: a twin's weights (say after training it on a GPU) into the model.

Entries of the twin's ``state_dict`` that no slot maps to an nnlearn weight (torch state that
nnlearn does not keep, such as a batch norm's ``num_batches_tracked`` counter) must be present,
as torch requires, and are otherwise ignored. Buffers that a slot maps (a moving mean) travel
like parameters. Layout changes are transpositions and values are copied unrounded, so a round
trip gives back the same bits; values of another dtype are cast to the model's, as torch's
``load_state_dict`` casts them to the module's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from nnlearn.parity.twins import torch_twin

if TYPE_CHECKING:
    import torch


def _reference_twin(model: Any) -> torch.nn.Module:
    """The model's twin on the CPU in its dtype. Building it draws torch's initial weights
    (then overwritten): the global random state is restored, so a call changes no later draw."""
    import torch

    with torch.random.fork_rng(devices=[]):
        return torch_twin(model)


def state_dict(model: Any) -> dict[str, torch.Tensor]:
    """The model's weights as its torch twin's ``state_dict``: torch's keys and layouts.

    For ``Sequential([Dense(64, ...), Dense(10, ...)])`` the keys are ``"0.0.weight"``
    (shape ``(64, in)``: the kernel transposed), ``"0.0.bias"``, ``"1.0.weight"``,
    ``"1.0.bias"``; the tensors are copies, on the CPU, in the model's dtype. A
    ``torch.nn.Module`` of the twin's architecture takes it with ``load_state_dict``.
    """
    return _reference_twin(model).state_dict()


def _where(model: Any, name: str) -> str:
    """Which layer an nnlearn parameter name belongs to, for messages:
    ``"layers.1.kernel"`` -> ``"layers.1.kernel, the kernel of layer 1 (Dense(10))"``."""
    *path, leaf = name.split(".")
    owner = model
    for part in path:
        owner = owner[int(part)] if part.isdigit() else getattr(owner, part)
    label = getattr(owner, "label", type(owner).__name__)
    layer = f"layer {path[-1]} ({label})" if path and path[-1].isdigit() else label
    return f"{name}, the {leaf} of {layer}"


def _as_numpy(value: Any) -> np.ndarray:
    """A state_dict value (a torch tensor on any device, or an array) as a numpy array.
    bfloat16, which numpy lacks, is widened to float32 exactly."""
    import torch

    tensor = torch.as_tensor(value).detach()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.cpu().numpy()


def load_state_dict(model: Any, state_dict: Mapping[str, Any]) -> None:
    """Overwrite the model's weights, in place, with a ``state_dict`` of its torch twin's keys
    and layouts (from :func:`state_dict`, a twin's ``state_dict()``, or a torch model of the
    same architecture). Tensors may live on any device.

    Checked first, as torch's ``load_state_dict(strict=True)`` checks: no key missing, no
    unexpected key, every tensor of the twin's shape. Any error names the keys (and for a
    shape, the layer and both shapes) and leaves the model as it was. Values are cast to
    the model's dtype; in place, so an optimizer's state for the weights stays attached.
    """
    reference = _reference_twin(model)
    expected = reference.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    if missing or unexpected:
        raise ValueError(
            f"load_state_dict: the state_dict does not match the model's torch twin; "
            f"missing keys: {missing or 'none'}; unexpected keys: {unexpected or 'none'}. "
            f"The twin's keys are {list(expected)}"
        )
    arrays = {}
    for key, value in state_dict.items():
        array = _as_numpy(value)
        want = tuple(expected[key].shape)
        if array.shape != want:
            owner = next(
                (
                    _where(model, n)
                    for n, s in reference.nnlearn_slots.items()
                    if s.torch_name == key
                ),
                "torch state that nnlearn does not keep",
            )
            raise ValueError(
                f"load_state_dict: {key!r} ({owner}) has shape {array.shape} in the "
                f"state_dict, but the model's twin has {want} there"
            )
        arrays[key] = array
    params = dict(model.named_parameters())
    for name, slot in reference.nnlearn_slots.items():
        params[name].data[...] = slot.to_nnlearn(arrays[slot.torch_name])


def copy_from_twin(model: Any, twin: torch.nn.Module) -> None:
    """Copy a twin's weights into the model, in place: after training the twin (on a GPU,
    say), the nnlearn model computes what the trained twin computes.

    ``twin`` is the model's :func:`~nnlearn.parity.twins.torch_twin` (any device and dtype)
    or any torch module with its ``state_dict`` keys and shapes.
    """
    load_state_dict(model, twin.state_dict())
