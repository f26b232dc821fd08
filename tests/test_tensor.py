"""Chapter 06: the engine's rules — graph walk, accumulation, no_grad, dtypes, in-place updates
and errors, checked against torch where torch has the same rule. (tests/test_idioms_torch.py
runs PyTorch idioms on both libraries.)"""

import numpy as np
import pytest
import torch

import nnlearn as nl


def _pair(values, dtype=np.float64):
    """The same leaf in nnlearn and in torch."""
    array = np.asarray(values, dtype=dtype)
    return nl.Tensor(array.copy(), requires_grad=True), torch.tensor(array, requires_grad=True)


def test_gradients_accumulate_until_zero_grad_as_in_torch():
    x, tx = _pair([0.5, -1.0, 2.0])
    for _ in range(2):
        (x * x).sum().backward()
        (tx * tx).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    np.testing.assert_allclose(x.grad, 4 * x.data)  # two passes of d(x^2)/dx = 2x
    x.zero_grad()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_a_tensor_used_by_several_operations_sums_their_gradients():
    x, tx = _pair([[0.3, -0.7], [1.1, 0.2]])
    y = (x * x.exp() + x @ x - x.sum(axis=0)).mean()
    ty = (tx * tx.exp() + tx @ tx - tx.sum(dim=0)).mean()
    y.backward()
    ty.backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-12)


def test_topological_order_puts_every_input_before_its_users():
    a = nl.Tensor([1.0], requires_grad=True)
    b = a * 2
    c = a + b
    d = c * b
    order = d.topological_order()
    position = {id(t): i for i, t in enumerate(order)}
    for node in order:
        if node.grad_fn is not None:
            for parent in filter(lambda t: t.requires_grad, node.grad_fn.parents):
                assert position[id(parent)] < position[id(node)]
    assert order[-1] is d and len(order) == 4


def test_a_deep_chain_needs_no_recursion():
    x = nl.Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + 1.0
    y.sum().backward()
    assert x.grad.tolist() == [1.0] and y.data.tolist() == [5001.0]


def test_only_leaves_keep_grad_unless_retain_grad():
    x, tx = _pair([1.0, 2.0])
    hidden, thidden = x * 3, tx * 3
    kept, tkept = hidden.exp(), thidden.exp()
    kept.retain_grad()
    tkept.retain_grad()
    kept.sum().backward()
    tkept.sum().backward()
    assert hidden.grad is None
    np.testing.assert_allclose(kept.grad, tkept.grad.numpy())
    np.testing.assert_allclose(x.grad, tx.grad.numpy())


def test_no_grad_records_no_graph_as_context_and_decorator():
    x = nl.Tensor([1.0, 2.0], requires_grad=True)
    with nl.no_grad():
        assert not nl.is_grad_enabled()
        y = x * 2
    assert nl.is_grad_enabled() and not y.requires_grad and y.is_leaf

    @nl.no_grad()
    def evaluate(t):
        return t.exp()

    assert not evaluate(x).requires_grad
    assert (x * 2).requires_grad


def test_backward_of_a_non_scalar_needs_a_gradient_and_says_what_to_pass():
    y = nl.Tensor(np.ones((2, 3)), requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"shape \(2, 3\).*t\.backward\(np\.ones\(\(2, 3\)\)\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\).*shape \(2, 3\)"):
        y.backward(np.ones(3))


def test_backward_needs_something_that_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        nl.Tensor([1.0]).sum().backward()


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (lambda a, b: a + b, r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"),
        (lambda a, b: a * b, r"mul: shapes \(2, 3\) and \(4,\)"),
        (lambda a, b: a @ b, r"matmul: shapes \(2, 3\) and \(4,\) do not match"),
        (lambda a, b: nl.concatenate([a, b]), r"concatenate: shapes \(2, 3\), \(4,\)"),
        (lambda a, b: a.reshape(4, 2), r"reshape: cannot reshape shape \(2, 3\)"),
    ],
)
def test_a_shape_mismatch_names_the_operation_and_both_shapes(expression, message):
    a, b = nl.Tensor(np.ones((2, 3))), nl.Tensor(np.ones(4))
    with pytest.raises(ValueError, match=message):
        expression(a, b)


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


def _raises(function, *args):
    """The exception type ``function(*args)`` raises (None if it returns)."""
    try:
        function(*args)
    except Exception as error:  # noqa: BLE001 - the type is the result
        return type(error)
    return None


def test_transpose_swaps_two_dims_as_torch_and_rejects_numpy_style_calls():
    x, tx = _pair(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.transpose(0, 1).numpy(), tx.transpose(0, 1).detach().numpy())
    assert x.transpose(1, 0).shape == (3, 2)  # numpy's transpose(1, 0) order would be the same
    with pytest.raises(TypeError, match=r"transpose\(dim0, dim1\).*\.T.*permute"):
        x.transpose()
    with pytest.raises(TypeError, match="got 3 arguments"):
        nl.Tensor(np.ones((2, 3, 4))).transpose(2, 0, 1)
    assert _raises(tx.transpose) is TypeError  # torch refuses too


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
    x, tx = _pair([1.0, 2.0])

    def add_one(t):
        t += 1

    assert _raises(add_one, tx) is RuntimeError
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
    assert _raises(run, torch, torch_make) is RuntimeError
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


def test_comparisons_are_elementwise_bool_tensors_outside_the_graph():
    x = nl.Tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    for result in (x == x, x != 2.0, x < x * 2, x <= 2, x > np.array([0.0]), x >= 2):
        assert result.dtype == np.bool_ and not result.requires_grad and result.is_leaf
    assert (x == nl.Tensor([1.0, 0.0, 3.0], dtype="float64")).numpy().tolist() == [
        True,
        False,
        True,
    ]
    with pytest.raises(ValueError, match=r"shapes \(3,\) and \(2,\)"):
        _ = x == np.ones(2)


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
            assert _raises(convert, ours) is _raises(convert, theirs), (convert, values)
            if _raises(convert, theirs) is None:
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


def test_requires_grad_switch_and_rpow_base_follow_torch():
    x = nl.Tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    with pytest.raises(RuntimeError, match="leaves"):
        (x * 2).requires_grad_(False)
    with pytest.raises(ValueError, match="positive base"):
        (-2.0) ** x
