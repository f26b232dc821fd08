"""Chapter 06: the graph walk behind backward() (nnlearn.autograd) — accumulation, topological
order, no recursion, which Tensors keep grad, no_grad, and backward's errors — as in torch."""

import numpy as np
import pytest
from torch_reference import pair

import nnlearn as nl

pytestmark = pytest.mark.chapter06


def test_gradients_accumulate_until_zero_grad_as_in_torch():
    x, tx = pair([0.5, -1.0, 2.0])
    for _ in range(2):
        (x * x).sum().backward()
        (tx * tx).sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy())
    np.testing.assert_allclose(x.grad, 4 * x.data)  # two passes of d(x^2)/dx = 2x
    x.zero_grad()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_a_tensor_used_by_several_operations_sums_their_gradients():
    x, tx = pair([[0.3, -0.7], [1.1, 0.2]])
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
    x, tx = pair([1.0, 2.0])
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
