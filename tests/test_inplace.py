"""Chapter 06: in-place updates (nnlearn.inplace) follow PyTorch's rules — the same Tensor and
array under no_grad, an error on a leaf that requires grad or inside a graph, backward refused
after a saved value changed, shape and dtype kept."""

import numpy as np
import pytest
import torch
from torch_reference import pair, raises

import nnlearn as nl

pytestmark = pytest.mark.chapter06


def test_in_place_update_under_no_grad_keeps_the_same_tensor_and_array():
    w = nl.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    same, array = w, w.data
    with nl.no_grad():
        w -= 0.5 * np.array([2.0, 2.0])
        w *= 2
        w += nl.Tensor(np.ones(2))
        w /= 2
    assert w is same and w.data is array and w.is_leaf and w.requires_grad
    np.testing.assert_allclose(w.data, [0.5, 1.5])


def test_in_place_on_a_leaf_that_requires_grad_raises_as_in_torch():
    x, tx = pair([1.0, 2.0])

    def add_one(t):
        t += 1

    assert raises(add_one, tx) is RuntimeError
    with pytest.raises(RuntimeError, match="leaf Tensor that requires grad.*no_grad"):
        add_one(x)
    with pytest.raises(RuntimeError, match="leaf"):
        x.zero_()
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


def test_in_place_in_a_graph_raises_and_says_to_write_a_new_tensor():
    x = nl.Tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"x = x \+ y"):
        y += 1
    total = nl.Tensor([0.0, 0.0])
    with pytest.raises(RuntimeError, match=r"x = x - y"):
        total -= x  # would make ``total`` join the graph
    np.testing.assert_array_equal(total.data, [0.0, 0.0])


@pytest.mark.parametrize(
    "change",
    [
        lambda inputs, output: inputs.__iadd__(1.0),  # an input the product saved
        lambda inputs, output: output.zero_(),  # the output exp saved
    ],
    ids=["input", "output"],
)
def test_a_value_changed_in_place_after_use_makes_backward_refuse_as_in_torch(change):
    def run(lib, make):
        w, x = make([0.5, -1.0], True), make([2.0, 3.0], False)
        y = (w * x).exp()
        with lib.no_grad():
            change(x, y)
        y.sum().backward()

    torch_make = lambda v, g: torch.tensor(v, dtype=torch.float64, requires_grad=g)  # noqa: E731
    assert raises(run, torch, torch_make) is RuntimeError
    with pytest.raises(RuntimeError, match="changed in place"):
        run(nl, lambda v, g: nl.Tensor(np.array(v), requires_grad=g))


def test_in_place_keeps_shape_and_dtype_or_explains():
    x = nl.Tensor(np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"\+=: a value of shape \(2, 3\) does not fit"):
        x += np.ones((2, 3))
    with pytest.raises(TypeError, match="cannot mix float32 and float64"):
        x += nl.Tensor(np.ones(3))
    x += np.ones(3)  # numpy arrays and numbers take the Tensor's dtype
    x.copy_(np.array([1.0, 2.0, 3.0]))  # float64 values, converted as torch's copy_ does
    assert x.dtype == np.float32 and x.numpy().tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(x.zero_().data, np.zeros(3))
    with pytest.raises(ValueError, match="copy_"):
        x.copy_(np.ones(4))
