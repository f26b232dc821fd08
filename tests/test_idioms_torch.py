"""PyTorch idioms, one line each, run on nnlearn and on torch: the same result, or a clear error.

Each idiom is written once as ``code(lib, *inputs)``, with ``lib`` the module (``nnlearn`` or
``torch``) and the inputs made by that library from the same float64 arrays. The test runs it
on both and asserts the same values, shapes, dtypes and Python types (and, with ``grad=True``,
the same gradients of the inputs), or that both raise the same exception type. Where nnlearn
documents that it cannot do what torch does, the idiom names the error nnlearn raises
instead (``nnlearn_raises``); the rule is in ``nnlearn/tensor.py``'s docstring.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch

import nnlearn as nl

pytestmark = pytest.mark.chapter06

_rng = np.random.default_rng(8)
X = _rng.standard_normal((3, 4))
Y = np.where(_rng.random((3, 4)) < 0.5, X, _rng.standard_normal((3, 4)))  # equal in places
COLUMN = _rng.standard_normal((3, 1))
X3 = _rng.standard_normal((2, 3, 4))
ONES_AROUND = _rng.standard_normal((1, 3, 1))
TIES = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
LOGITS, LABELS = _rng.standard_normal((8, 3)), _rng.integers(0, 3, 8)
W, XB, YB = _rng.standard_normal((4, 2)), _rng.standard_normal((5, 4)), _rng.standard_normal((5, 2))


@dataclass(frozen=True)
class Idiom:
    name: str
    code: Callable[..., Any]
    inputs: tuple[np.ndarray, ...] = (X,)
    grad: bool = False  # float inputs require grad; their gradients are compared afterwards
    nnlearn_raises: tuple[type[Exception], str] | None = None  # torch runs it, nnlearn refuses


def backward(y):
    """Backpropagate ``sum(k * y)``, k = 1, 2, 3, ... over the elements: an uneven upstream
    gradient, so a gradient sent to the wrong element shows. Returns ``y``."""
    k = np.arange(1.0, y.numel() + 1).reshape(tuple(y.shape))
    (y * (torch.tensor(k) if isinstance(y, torch.Tensor) else k)).sum().backward()
    return y


def sgd_loop(lib, w, x, y):
    """The hand-written training loop: the update must change ``w`` itself, or it never trains."""
    start = w
    for _ in range(5):
        loss = ((x @ w - y) ** 2).mean()
        loss.backward()
        with lib.no_grad():
            w -= 0.1 * w.grad
        w.grad = None
    return start, loss


def update_under_no_grad(lib, x):
    with lib.no_grad():
        x += 1
        x *= 2
    return x, x.requires_grad, x.is_leaf


def add_in_place(lib, x):
    x += 1


def add_in_place_in_graph(lib, x):
    y = x * 2
    y += 1
    return y


def accumulate_loss(lib, x):
    loss = 0
    for row in x:
        loss += (row**2).sum()
    return loss


def zero_under_no_grad(lib, x):
    with lib.no_grad():
        return x.zero_()


def copy_under_no_grad(lib, x, y):
    with lib.no_grad():
        return x.copy_(y)


def changed_after_use(lib, w, x):
    w.requires_grad_()
    y = (w * x).exp()
    with lib.no_grad():
        x += 1
    y.sum().backward()


def zero_grad_in_place(lib, x):
    (x**2).sum().backward()
    x.grad.zero_()


def detach(lib, x):
    y = (x * 2).detach()
    return y, y.requires_grad, y.is_leaf


IDIOMS = [
    # shapes
    Idiom("transpose_swaps_two_dims", lambda lib, x: x.transpose(0, 1)),
    Idiom("transpose_3d_negative_dim", lambda lib, x: x.transpose(-1, 0), (X3,)),
    Idiom("transpose_gradient", lambda lib, x: backward(x.transpose(0, 1)), grad=True),
    Idiom("transpose_without_dims", lambda lib, x: x.transpose()),
    Idiom("permute", lambda lib, x: x.permute(2, 0, 1), (X3,)),
    Idiom("permute_tuple", lambda lib, x: backward(x.permute((1, 2, 0))), (X3,), grad=True),
    Idiom("T", lambda lib, x: backward(x.T), grad=True),
    Idiom("view_flat", lambda lib, x: x.view(-1)),
    Idiom("view_infer", lambda lib, x: x.view(2, -1)),
    Idiom("reshape_tuple", lambda lib, x: x.reshape((4, 3))),
    Idiom("unsqueeze_0", lambda lib, x: x.unsqueeze(0)),
    Idiom("unsqueeze_last", lambda lib, x: backward(x.unsqueeze(-1)), grad=True),
    Idiom("squeeze_all", lambda lib, x: x.squeeze(), (ONES_AROUND,)),
    Idiom("squeeze_dim", lambda lib, x: x.squeeze(0), (ONES_AROUND,)),
    Idiom("squeeze_a_dim_longer_than_1", lambda lib, x: x.squeeze(1)),
    Idiom("flatten", lambda lib, x: x.flatten(), (X3,)),
    Idiom("flatten_from_1", lambda lib, x: backward(x.flatten(1)), (X3,), grad=True),
    Idiom("size", lambda lib, x: x.size()),
    Idiom("size_of_dim", lambda lib, x: (x.size(1), x.size(-1))),
    Idiom("numel_dim_shape", lambda lib, x: (x.numel(), x.dim(), tuple(x.shape), len(x))),
    Idiom("iterate_rows", lambda lib, x: [row.sum() for row in x]),
    Idiom("index_last_row", lambda lib, x: x[-1]),
    Idiom("iterate_a_0d_tensor", lambda lib, x: list(x.sum())),
    # reductions
    Idiom("sum_dim_keepdim", lambda lib, x: backward(x.sum(dim=1, keepdim=True)), grad=True),
    Idiom("sum_positional_dim", lambda lib, x: x.sum(1)),
    Idiom("mean_dim_0", lambda lib, x: backward(x.mean(dim=0)), grad=True),
    Idiom("mean_dims", lambda lib, x: x.mean(dim=(0, 2)), (X3,)),
    Idiom("max_dim_values", lambda lib, x: x.max(1)[0]),
    Idiom("max_dim_indices", lambda lib, x: x.max(1)[1]),
    Idiom("max_dim_named", lambda lib, x: (x.max(dim=1).values, x.max(dim=1).indices)),
    Idiom("max_dim_keepdim", lambda lib, x: x.max(0, keepdim=True), (TIES,)),
    Idiom("max_no_dim", lambda lib, x: x.max()),
    Idiom("max_dim_gradient_ties", lambda lib, x: backward(x.max(1).values), (TIES,), grad=True),
    Idiom("max_gradient_ties", lambda lib, x: backward(x.max()), (TIES,), grad=True),
    Idiom("min_dim_ties", lambda lib, x: backward(x.min(dim=0)[0]), (TIES,), grad=True),
    Idiom("amax_gradient_ties", lambda lib, x: backward(x.amax(dim=1)), (TIES,), grad=True),
    Idiom("argmax_dim", lambda lib, x: x.argmax(1)),
    Idiom("argmax_keepdim", lambda lib, x: x.argmax(dim=1, keepdim=True)),
    Idiom("argmax_flat", lambda lib, x: x.argmax()),
    Idiom("argmin_ties", lambda lib, x: x.argmin(0), (TIES,)),
    # comparisons and masks
    Idiom("equal_elementwise", lambda lib, x, y: x == y, (X, Y)),
    Idiom("not_equal", lambda lib, x, y: x != y, (X, Y)),
    Idiom("greater_than_zero", lambda lib, x: x > 0),
    Idiom("less_equal_broadcast", lambda lib, x, c: x <= c, (X, COLUMN)),
    Idiom("number_on_the_left", lambda lib, x: (0 < x, 0.5 >= x)),
    Idiom("compare_with_none", lambda lib, x: (x == None, x != None)),  # noqa: E711
    Idiom("any_all", lambda lib, x: ((x > 0).any(), (x > 0).all(dim=1), (x > -9).all())),
    Idiom("mask_needs_no_grad", lambda lib, x: ((x > 0).requires_grad, x > 0), grad=True),
    Idiom(
        "accuracy",
        lambda lib, logits, labels: (logits.argmax(1) == labels).float().mean(),
        (LOGITS, LABELS),
    ),
    Idiom("masked_select", lambda lib, x: backward(x[x > 0]), grad=True),
    Idiom("index_with_argmax", lambda lib, x: x[x.argmax(0)]),
    Idiom("mask_as_float", lambda lib, x: backward(x * (x > 0).double()), grad=True),
    Idiom(
        "mask_times_float",
        lambda lib, x: x * (x > 0),
        nnlearn_raises=(TypeError, r"Mul: a bool Tensor.*\.float\(\)"),
    ),
    Idiom(
        "count_correct",
        lambda lib, logits, labels: (logits.argmax(1) == labels).sum(),
        (LOGITS, LABELS),
        nnlearn_raises=(TypeError, r"Sum: a bool Tensor.*\.float\(\)"),
    ),
    # in place
    Idiom("sgd_loop", sgd_loop, (W, XB, YB), grad=True),
    Idiom("update_under_no_grad", update_under_no_grad, grad=True),
    Idiom("add_in_place_to_a_leaf_that_requires_grad", add_in_place, grad=True),
    Idiom("add_in_place_without_grad", lambda lib, x: (x.add_(1), x.mul_(2))),
    Idiom(
        "add_in_place_in_graph",
        add_in_place_in_graph,
        grad=True,
        nnlearn_raises=(RuntimeError, r"write x = x \+ y"),
    ),
    Idiom(
        "accumulate_loss_in_place",
        accumulate_loss,
        grad=True,
        nnlearn_raises=(RuntimeError, r"write x = x \+ y"),
    ),
    Idiom("zero_under_no_grad", zero_under_no_grad, grad=True),
    Idiom("zero_on_a_leaf_that_requires_grad", lambda lib, x: x.zero_(), grad=True),
    Idiom("copy_under_no_grad", copy_under_no_grad, (X, Y), grad=True),
    Idiom("changed_in_place_after_use", changed_after_use, (X, Y)),
    Idiom(
        "grad_zero_",
        zero_grad_in_place,
        grad=True,
        nnlearn_raises=(AttributeError, "zero_"),  # grad is a numpy array: write x.grad = None
    ),
    # Python numbers
    Idiom("rpow_gradient", lambda lib, x: backward(2**x), grad=True),
    Idiom("float_of_a_loss", lambda lib, x: float((x**2).mean()), grad=True),
    Idiom("item", lambda lib, x: (x**2).mean().item()),
    Idiom("int_of_one_element", lambda lib, x: int(x[0, 0] * 10)),
    Idiom("bool_of_one_element", lambda lib, x: bool(x[0, 0] > 0)),
    Idiom("bool_of_many_elements", lambda lib, x: bool(x > 0)),
    Idiom("if_on_a_tensor", lambda lib, x: "positive" if x.sum() > 0 else "negative"),
    Idiom("float_of_many_elements", lambda lib, x: float(x)),
    Idiom("format_a_loss", lambda lib, x: f"{(x**2).mean():.6f}"),
    # activations as methods, dtypes, graph
    Idiom("relu_method", lambda lib, x: backward(x.relu()), grad=True),
    Idiom("tanh_method", lambda lib, x: backward(x.tanh()), grad=True),
    Idiom("sigmoid_method", lambda lib, x: backward(x.sigmoid()), grad=True),
    Idiom("dtype_conversions", lambda lib, x: (x.float(), x.long(), x.bool(), (x > 0).double())),
    Idiom("detach", detach, grad=True),
    Idiom("requires_grad_", lambda lib, x: (x.requires_grad_() is x, x.requires_grad)),
    Idiom("dict_key", lambda lib, x, y: {x: "x", y: "y"}[x], (X, Y)),
]


def _make(lib, array: np.ndarray, grad: bool):
    if lib is torch:
        t = torch.tensor(array)
        return t.requires_grad_(grad and t.is_floating_point())
    return nl.Tensor(
        array.copy(), dtype=array.dtype, requires_grad=grad and array.dtype.kind == "f"
    )


def _run(lib, idiom: Idiom):
    inputs = [_make(lib, array, idiom.grad) for array in idiom.inputs]
    try:
        return inputs, idiom.code(lib, *inputs), None
    except Exception as error:  # noqa: BLE001 - an idiom may raise; the type is compared
        return inputs, None, error


def _plain(value: Any) -> Any:
    """Tensors (and nnlearn's numpy gradients) as arrays, tuples as lists, the rest as is."""
    if isinstance(value, torch.Tensor):
        return value.detach().numpy()
    if isinstance(value, nl.Tensor):
        return value.numpy()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _assert_same(ours: Any, theirs: Any, where: str) -> None:
    if isinstance(theirs, np.ndarray):
        assert isinstance(ours, np.ndarray), f"{where}: {type(ours).__name__}, torch a Tensor"
        assert (ours.shape, ours.dtype) == (theirs.shape, theirs.dtype), where
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12, err_msg=where)
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            _assert_same(a, b, f"{where}[{i}]")
    else:
        assert type(ours) is type(theirs), f"{where}: {type(ours)} vs torch's {type(theirs)}"
        assert (
            ours == pytest.approx(theirs, rel=1e-10) if isinstance(ours, float) else ours == theirs
        )


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True to a scalar")
@pytest.mark.parametrize("idiom", IDIOMS, ids=lambda i: i.name)
def test_idiom_gives_torchs_result_or_a_clear_error(idiom):
    torch_inputs, theirs, torch_error = _run(torch, idiom)
    inputs, ours, error = _run(nl, idiom)
    if idiom.nnlearn_raises:
        kind, message = idiom.nnlearn_raises
        assert torch_error is None, f"torch raised {torch_error!r}; the idiom documents a gap"
        assert isinstance(error, kind) and re.search(message, str(error)), repr(error)
        return
    if torch_error is not None:
        assert isinstance(error, type(torch_error)), f"torch: {torch_error!r}, nnlearn: {error!r}"
        return
    assert error is None, f"nnlearn raised {error!r}; torch returned {theirs!r}"
    _assert_same(_plain(ours), _plain(theirs), "result")
    for i, (x, tx) in enumerate(zip(inputs, torch_inputs, strict=True)):
        assert (x.grad is None) == (tx.grad is None), f"gradient of input {i}"
        if tx.grad is not None:
            _assert_same(_plain(x.grad), _plain(tx.grad), f"gradient of input {i}")
