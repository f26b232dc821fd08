"""Chapter 06: the Tensor itself — dtypes and how they meet, conversions to Python numbers,
item, transpose, hashing, bool and int64 Tensors, the requires_grad switch — checked against
torch where torch has the same rule. (tests/test_idioms_torch.py runs PyTorch idioms on both
libraries; the graph walk is in test_autograd.py, in-place updates in test_inplace.py.)"""

import numpy as np
import pytest
import torch
from torch_reference import pair, raises

import nnlearn as nl

pytestmark = pytest.mark.chapter06


def test_two_tensors_of_different_dtypes_do_not_mix():
    a = nl.Tensor(np.ones(2, dtype=np.float32))
    b = nl.Tensor(np.ones(2, dtype=np.float64))
    with pytest.raises(TypeError, match="Add: cannot mix float32 and float64"):
        a + b
    assert (a.astype("float64") + b).dtype == np.float64


def test_numbers_and_numpy_arrays_take_the_tensor_dtype():
    a = nl.Tensor(np.ones(3, dtype=np.float32))
    assert (a * 2.5).dtype == np.float32
    assert (a + np.ones(3, dtype=np.float64)).dtype == np.float32
    result = np.ones(3) + a  # numpy defers to Tensor
    assert isinstance(result, nl.Tensor) and result.dtype == np.float32


def test_lists_and_integers_become_the_default_dtype_and_float_arrays_keep_theirs():
    assert nl.Tensor([1, 2]).dtype == np.float32 == nl.get_default_dtype()
    assert nl.Tensor(np.arange(3)).dtype == np.float32
    assert nl.Tensor(np.zeros(2)).dtype == np.float64
    nl.set_default_dtype("float64")
    try:
        assert nl.Tensor([1.0]).dtype == np.float64
    finally:
        nl.set_default_dtype("float32")
    with pytest.raises(TypeError, match="float32 or float64 or int64 or bool, not int32"):
        nl.Tensor([1.0], dtype="int32")


def test_astype_sends_gradients_back_in_the_original_dtype():
    x = nl.Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    (x.astype("float64") * 3).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.tolist() == [3.0, 3.0]


def test_item_and_pow_with_a_tensor_exponent_explain_themselves():
    assert nl.Tensor([[2.5]]).item() == 2.5
    with pytest.raises(RuntimeError, match=r"2 elements \(shape \(2,\)\)"):
        nl.Tensor([1.0, 2.0]).item()
    with pytest.raises(TypeError, match="exponent must be a number"):
        nl.Tensor([1.0]) ** nl.Tensor([2.0])


def test_transpose_swaps_two_dims_as_torch_and_rejects_numpy_style_calls():
    x, tx = pair(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.transpose(0, 1).numpy(), tx.transpose(0, 1).detach().numpy())
    assert x.transpose(1, 0).shape == (3, 2)  # numpy's transpose(1, 0) order would be the same
    with pytest.raises(TypeError, match=r"transpose\(dim0, dim1\).*\.T.*permute"):
        x.transpose()
    with pytest.raises(TypeError, match="got 3 arguments"):
        nl.Tensor(np.ones((2, 3, 4))).transpose(2, 0, 1)
    assert raises(tx.transpose) is TypeError  # torch refuses too


def test_tensors_hash_by_identity_and_nnlearn_never_uses_equality_for_identity():
    a, b = nl.Tensor([1.0]), nl.Tensor([1.0])
    assert {a: "a", b: "b"}[b] == "b" and len({a, b}) == 2
    # ``list.index`` and ``in`` try ``==`` on every other item, here and in torch: so nnlearn
    # finds Tensors by identity (ids, dicts, sets), never with a list's ``index``.
    assert [b, a].index(a) == 0 == [torch.ones(1), torch.ones(1)].index(torch.ones(1))


def test_bool_float_int_of_a_tensor_follow_torch():
    for values in ([2.5], [[0.0]], [1.0, 2.0], []):
        ours, theirs = nl.Tensor(values), torch.tensor(values)
        for convert in (bool, float, int):
            assert raises(convert, ours) is raises(convert, theirs), (convert, values)
            if raises(convert, theirs) is None:
                assert convert(ours) == convert(theirs)
    with pytest.raises(RuntimeError, match="more than one value is ambiguous"):
        bool(nl.Tensor([1.0, 2.0]))


def test_bool_and_int64_tensors_never_require_grad_and_refuse_differentiable_operations():
    x = nl.Tensor([-1.0, 2.0], requires_grad=True)  # float32
    mask, index = x > 0, x.argmax()
    assert index.dtype == np.int64 and not index.requires_grad
    with pytest.raises(TypeError, match=r"Mul: a bool Tensor.*\.float\(\)"):
        x * mask
    with pytest.raises(TypeError, match=r"Sum: a int64 Tensor.*\.double\(\)"):
        index.sum()
    with pytest.raises(RuntimeError, match="only float Tensors can require gradients"):
        mask.requires_grad_()
    with pytest.raises(RuntimeError, match="only float"):
        nl.Tensor([1, 2], dtype="int64", requires_grad=True)
    assert x.long().dtype == np.int64 and not x.long().requires_grad
    (x * mask.float()).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0])
    assert mask.detach().dtype == np.bool_ and mask.reshape(2, 1).dtype == np.bool_


def test_requires_grad_switch_and_rpow_base_follow_torch():
    x = nl.Tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    with pytest.raises(RuntimeError, match="leaves"):
        (x * 2).requires_grad_(False)
    with pytest.raises(ValueError, match="positive base"):
        (-2.0) ** x
