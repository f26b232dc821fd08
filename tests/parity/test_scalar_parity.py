"""Chapter 05: the scalar Value engine matches torch.autograd, value and gradient."""

import math

import pytest
import torch

from nnlearn.scalar import Value

pytestmark = pytest.mark.chapter05


def _neuron(x1, x2, w1, w2, b, tanh, relu, exp, log):
    """A small expression using every operation: a tanh neuron plus extras."""
    n = x1 * w1 + x2 * w2 + b
    o = tanh(n)
    extra = relu(n * 2 - 1) + exp(w1 / 4) ** 2 - (x1 - w2) ** 3 / (2 + b * b)
    return o * 3 + extra - o * o + log(1 + exp(-n))


INPUTS = {"x1": 2.0, "x2": -0.5, "w1": -1.5, "w2": 1.25, "b": 0.75}


def test_value_and_gradients_match_torch():
    values = {k: Value(v) for k, v in INPUTS.items()}
    out = _neuron(**values, tanh=Value.tanh, relu=Value.relu, exp=Value.exp, log=Value.log)
    out.backward()

    tensors = {
        k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in INPUTS.items()
    }
    ref = _neuron(**tensors, tanh=torch.tanh, relu=torch.relu, exp=torch.exp, log=torch.log)
    ref.backward()

    assert out.data == pytest.approx(ref.item(), rel=1e-12)
    for name, value in values.items():
        assert value.grad == pytest.approx(tensors[name].grad.item(), rel=1e-10, abs=1e-12), name


def test_relu_at_zero_has_zero_slope_like_torch():
    v = Value(0.0)
    v.relu().backward()
    t = torch.tensor(0.0, requires_grad=True)
    torch.relu(t).backward()
    assert v.grad == t.grad.item() == 0.0


def test_gradients_accumulate_until_zero_grad():
    x = Value(3.0)
    y = x * x  # dy/dx = 6
    y.backward()
    y.backward()
    assert x.grad == 12.0
    y.zero_grad()
    y.backward()
    assert x.grad == 6.0


def test_a_node_used_twice_gets_both_contributions():
    x = Value(0.5)
    y = x.tanh() * x.exp()  # d/dx = (1 - tanh^2) e^x + tanh e^x
    y.backward()
    t = math.tanh(0.5)
    assert x.grad == pytest.approx((1 - t * t) * math.exp(0.5) + t * math.exp(0.5), rel=1e-12)


@pytest.mark.parametrize(
    ("name", "expression"),
    [
        ("a + a", lambda a: a + a),
        ("a * a", lambda a: a * a),
        ("a * a.exp()", lambda a: a * a.exp()),
    ],
)
def test_an_input_used_twice_sums_both_uses_like_torch(name, expression):
    v = Value(0.7)
    expression(v).backward()
    t = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    expression(t).backward()
    assert v.grad == pytest.approx(t.grad.item(), rel=1e-12), name


def test_overwriting_instead_of_adding_is_caught(monkeypatch):
    def backward_that_overwrites(self):
        grads = {id(self): 1.0}
        for node in reversed(self.topological_order()):
            node.grad += grads[id(node)]
            for child, local in zip(node.children, node.local_grads, strict=True):
                grads[id(child)] = grads[id(node)] * local  # "=" loses the other users' share

    monkeypatch.setattr(Value, "backward", backward_that_overwrites)
    with pytest.raises(AssertionError):
        test_an_input_used_twice_sums_both_uses_like_torch("a + a", lambda a: a + a)


def test_a_planted_wrong_local_derivative_is_caught(monkeypatch):
    def wrong_tanh(self):
        y = math.tanh(self.data)
        return Value(y, (self,), (1.0 - y,), "tanh")  # forgot to square y

    monkeypatch.setattr(Value, "tanh", wrong_tanh)
    with pytest.raises(AssertionError):
        test_value_and_gradients_match_torch()


def test_deep_chain_needs_no_recursion():
    x = Value(1.0)
    y = x
    for _ in range(5000):
        y = y + 1.0
    y.backward()
    assert x.grad == 1.0 and y.data == 5001.0


def test_topological_order_puts_every_node_after_its_children():
    a, b = Value(1.0, label="a"), Value(2.0, label="b")
    c = a * b
    out = (c + a).tanh() * c
    order = out.topological_order()
    position = {id(node): i for i, node in enumerate(order)}
    assert len(order) == 6 and order[-1] is out
    for node in order:
        assert all(position[id(child)] < position[id(node)] for child in node.children)
