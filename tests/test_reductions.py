"""Chapter 06: reductions (nnlearn.reductions) take PyTorch's dim=/keepdim= or numpy's
axis=/keepdims=, never both. Each reduction against torch: tests/parity/test_functional_parity.py
(the operation table) and test_properties.py (any shape and dims)."""

import numpy as np
import pytest

import nnlearn as nl

pytestmark = pytest.mark.chapter06


def test_dim_and_axis_are_two_spellings_never_both():
    x = nl.Tensor(np.ones((2, 3)))
    assert x.sum(axis=1).shape == x.sum(dim=1).shape == x.sum(1).shape == (2,)
    assert x.mean(axis=0, keepdims=True).shape == x.mean(0, keepdim=True).shape == (1, 3)
    with pytest.raises(TypeError, match="not both"):
        x.sum(dim=0, axis=0)
    with pytest.raises(TypeError, match="not both"):
        x.argmax(dim=1, keepdims=True)
    with pytest.raises(TypeError, match="dim must be one int"):
        x.max(dim=(0, 1))  # torch.max too; amax takes several
    assert x.amax(dim=(0, 1)).shape == ()
