r"""A tiny autograd on single numbers: the first intuition for backpropagation (chapter 05).

Each operation computes its value *and*, right beside it, the local derivative of that value
with respect to each input. ``backward()`` then applies the chain rule along the graph in
reverse topological order. The gradient of a node is the sum over its users of
(user's gradient) x (local derivative of the user with respect to the node), the
multivariable chain rule:

.. math:: \frac{\partial L}{\partial v} = \sum_{u \in \mathrm{users}(v)}
          \frac{\partial L}{\partial u} \, \frac{\partial u}{\partial v}.

So a node's gradient is complete only once every user has added its share, and the reverse
topological order visits a node after all of its users. A node used twice (``a + a``, or a
hidden value read by two units) receives two contributions: gradients are *added* (``+=``),
never overwritten.

As in PyTorch, gradients also accumulate across calls: every ``backward()`` adds into ``grad``
of every node that leads to the output, so call ``zero_grad()`` before the next pass.
"""

from __future__ import annotations

import math
from typing import Any


class Value:
    """A number that records the operation that produced it and its local derivatives.

    Attributes:
        data: the number.
        grad: d(output)/d(self), filled in by ``output.backward()``; 0 until then.
        children: the Values this one was computed from (empty for an input).
        local_grads: d(self)/d(child), one per child, computed by the forward pass.
        op: the operation's name ("+", "*", "tanh", ...; "" for an input).
        label: an optional name, shown by :func:`nnlearn.graph_view.draw_graph`.
    """

    __slots__ = ("children", "data", "grad", "label", "local_grads", "op")

    def __init__(
        self,
        data: float,
        children: tuple[Value, ...] = (),
        local_grads: tuple[float, ...] = (),
        op: str = "",
        label: str = "",
    ) -> None:
        self.data = float(data)
        self.grad = 0.0
        self.children = children
        self.local_grads = local_grads
        self.op = op
        self.label = label

    def __repr__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        return f"Value({name}data={self.data:.6g}, grad={self.grad:.6g})"

    # --- operations: value and local derivatives side by side ---------------------------------
    def __add__(self, other: Any) -> Value:
        """y = a + b;  dy/da = 1,  dy/db = 1."""
        other = _as_value(other)
        return Value(self.data + other.data, (self, other), (1.0, 1.0), "+")

    def __mul__(self, other: Any) -> Value:
        """y = a * b;  dy/da = b,  dy/db = a."""
        other = _as_value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data), "*")

    def __pow__(self, exponent: float) -> Value:
        """y = a ** p for a number p;  dy/da = p * a ** (p - 1)."""
        if not isinstance(exponent, (int, float)):
            raise TypeError("Value ** p: p must be a number (a Value exponent is not supported)")
        local = exponent * self.data ** (exponent - 1)
        return Value(self.data**exponent, (self,), (local,), f"**{exponent:g}")

    def exp(self) -> Value:
        """y = e ** a;  dy/da = e ** a = y."""
        y = math.exp(self.data)
        return Value(y, (self,), (y,), "exp")

    def log(self) -> Value:
        """y = ln a (a > 0);  dy/da = 1 / a."""
        return Value(math.log(self.data), (self,), (1.0 / self.data,), "log")

    def tanh(self) -> Value:
        """y = tanh(a);  dy/da = 1 - y ** 2."""
        y = math.tanh(self.data)
        return Value(y, (self,), (1.0 - y * y,), "tanh")

    def relu(self) -> Value:
        """y = max(a, 0);  dy/da = 1 if a > 0 else 0 (0 at a = 0, as in PyTorch)."""
        return Value(max(self.data, 0.0), (self,), (float(self.data > 0),), "relu")

    # Everything else is built from the operations above.
    def __neg__(self) -> Value:
        return self * -1.0

    def __sub__(self, other: Any) -> Value:
        return self + (-_as_value(other))

    def __truediv__(self, other: Any) -> Value:
        return self * _as_value(other) ** -1

    def __radd__(self, other: Any) -> Value:
        return self + other

    def __rmul__(self, other: Any) -> Value:
        return self * other

    def __rsub__(self, other: Any) -> Value:
        return _as_value(other) - self

    def __rtruediv__(self, other: Any) -> Value:
        return _as_value(other) / self

    # --- backpropagation ----------------------------------------------------------------------
    def topological_order(self) -> list[Value]:
        """Every node leading to this one, each after all of its inputs."""
        return topological_order(self)

    def backward(self) -> None:
        """Add d(self)/d(node) into ``node.grad`` for every node leading to this one.

        The walk keeps this pass's gradients apart (in ``grads``) from what ``grad`` already
        holds, so an earlier pass's gradients are added to, never passed on again.
        """
        order = topological_order(self)
        grads = {id(self): 1.0}
        for node in reversed(order):
            node_grad = grads[id(node)]
            node.grad += node_grad
            for child, local in zip(node.children, node.local_grads, strict=True):
                # += : a child used by several nodes sums what each of them sends back
                grads[id(child)] = grads.get(id(child), 0.0) + node_grad * local

    def zero_grad(self) -> None:
        """Set ``grad`` to 0 on this node and every node leading to it."""
        for node in self.topological_order():
            node.grad = 0.0


def topological_order(output: Any) -> list[Any]:
    """Every node leading to ``output``, each after all of its children.

    An iterative depth-first search (no recursion limit on long chains): a node is appended
    once all of its children have been. It needs only ``children``, so it also orders the
    graph of any Value-like class (chapter 05 writes one inline).
    """
    order, visited, stack = [], set(), [(output, False)]
    while stack:
        node, children_done = stack.pop()
        if children_done:
            order.append(node)
        elif id(node) not in visited:
            visited.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in node.children if id(child) not in visited)
    return order


def _as_value(x: Any) -> Value:
    return x if isinstance(x, Value) else Value(x)
