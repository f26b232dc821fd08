"""torch itself as the reference for the engine's tests (chapter 06).

* :func:`pair`: the same leaf in nnlearn and in torch.
* :func:`raises`: the exception type a call raises, to compare nnlearn's with torch's.
"""

from typing import Any

import numpy as np
import torch

import nnlearn as nl


def pair(values: Any, dtype: Any = np.float64) -> tuple[nl.Tensor, torch.Tensor]:
    """The same leaf in nnlearn and in torch."""
    array = np.asarray(values, dtype=dtype)
    return nl.Tensor(array.copy(), requires_grad=True), torch.tensor(array, requires_grad=True)


def raises(function: Any, *args: Any) -> type[Exception] | None:
    """The exception type ``function(*args)`` raises (None if it returns)."""
    try:
        function(*args)
    except Exception as error:  # noqa: BLE001 - the type is the result
        return type(error)
    return None
