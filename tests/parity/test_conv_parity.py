"""Chapter 14: the convolutional layers match PyTorch, on every device.

* :data:`CONV_CASES`: one line per case of the fused Functions (:mod:`nnlearn.conv`),
  nnlearn's channels-last computation beside torch's channels-first one written here with
  ``torch.nn.functional`` (``conv2d``, ``max_pool2d``, ``avg_pool2d``) and explicit permutes;
  the padding of each case is written out by hand (TensorFlow's "same" rule, worked out in
  the comment), or left to torch's own ``padding="same"`` for stride 1. The same cases are
  checked against numeric gradients and planted wrong formulas in ``tests/test_conv.py``.
* Each layer and a small CNN against its torch twin (:mod:`nnlearn.parity.conv_twins`):
  output, every gradient, a few SGD and Adam steps, and ``fit`` against ``fit_twin``.

Needs only numpy, torch and pytest.
"""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from parity.op_cases import OpCase

import nnlearn as nl
from nnlearn import layers
from nnlearn.conv import AveragePool, Convolution, MaxPool
from nnlearn.parity import (
    check_function,
    check_model,
    compare,
    fit_twin,
    to_numpy,
    to_torch,
    torch_twin,
    twin_parameters,
)
from nnlearn.parity.conv_twins import hwio_to_oihw

pytestmark = [
    pytest.mark.chapter14,
    # torch's own padding="same" with an even kernel pads a copy of the input; it says so.
    pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning"),
]

NONE = ((0, 0), (0, 0))  # nnlearn's pads: ((top, bottom), (left, right))


def _nchw(x):
    return x.permute(0, 3, 1, 2)


def _nhwc(x):
    return x.permute(0, 2, 3, 1)


def _torch_order(pads):
    """nnlearn's ((top, bottom), (left, right)) as F.pad's (left, right, top, bottom)."""
    (top, bottom), (left, right) = pads
    return left, right, top, bottom


def _conv(strides=(1, 1), pads=NONE):
    def nn_fn(x, kernel, *bias):
        return Convolution.apply(x, kernel, *bias, strides=strides, pads=pads)

    return nn_fn


def _torch_conv(strides=1, pads=NONE, padding=0):
    """conv2d on NCHW, the kernel HWIO -> OIHW; explicit pads, or torch's ``padding``."""

    def torch_fn(x, kernel, bias=None):
        x = F.pad(_nchw(x), _torch_order(pads))
        return _nhwc(F.conv2d(x, kernel.permute(3, 2, 0, 1), bias, strides, padding))

    return torch_fn


def _pool(function, pool, strides, pads=NONE):
    return lambda x: function.apply(x, pool=pool, strides=strides, pads=pads)


def _torch_max_pool(pool, strides, pads=NONE):
    """The -inf border never wins, as nnlearn's."""
    return lambda x: _nhwc(
        F.max_pool2d(F.pad(_nchw(x), _torch_order(pads), value=-np.inf), pool, strides)
    )


def _torch_average_of_covered(pool, strides, pads):
    """Window sums of the zero-padded input over the count of input values each covers."""

    def torch_fn(x):
        def sums(t):
            return F.avg_pool2d(F.pad(t, _torch_order(pads)), pool, strides, divisor_override=1)

        return _nhwc(sums(_nchw(x)) / sums(torch.ones_like(_nchw(x))))

    return torch_fn


# Hand-worked "same" pads: positions = ceil(n / s), total = (positions - 1) s + k - n,
# before = total // 2, after = the rest.
#   n=7, k=3, s=2: 4 positions, total 2 -> (1, 1);  n=8, k=3, s=2: 4, total 1 -> (0, 1)
#   n=5, k=2, s=2: 3 positions, total 1 -> (0, 1);  n=6, k=2, s=2: 3, total 0 -> (0, 0)
SAME_7x8_K3_S2 = ((1, 1), (0, 1))
CONV_CASES = [
    OpCase("conv_valid", _conv(), _torch_conv(), ((2, 6, 7, 3), (3, 3, 3, 4), (4,))),
    OpCase(
        "conv_same_stride_1",
        _conv(pads=((1, 1), (1, 1))),
        _torch_conv(padding="same"),
        ((2, 6, 7, 3), (3, 3, 3, 4), (4,)),
    ),
    OpCase(
        "conv_same_even_kernel_stride_1",  # total 1: the extra zero after (torch's rule too)
        _conv(pads=((0, 1), (0, 1))),
        _torch_conv(padding="same"),
        ((2, 5, 6, 2), (2, 2, 2, 3), (3,)),
    ),
    OpCase(
        "conv_same_stride_2_asymmetric",
        _conv((2, 2), SAME_7x8_K3_S2),
        _torch_conv(2, SAME_7x8_K3_S2),
        ((2, 7, 8, 2), (3, 3, 2, 3), (3,)),
    ),
    OpCase(
        "conv_rectangular_kernel_and_strides",
        _conv((2, 1)),
        _torch_conv((2, 1)),
        ((2, 7, 6, 2), (2, 3, 2, 3), (3,)),
    ),
    OpCase("conv_without_bias", _conv(), _torch_conv(), ((2, 5, 5, 2), (3, 3, 2, 2))),
    OpCase(
        "max_pool_2x2",
        _pool(MaxPool, (2, 2), (2, 2)),
        _torch_max_pool((2, 2), (2, 2)),
        ((2, 6, 8, 3),),
    ),
    OpCase(
        "max_pool_overlapping_3x3_stride_1",
        _pool(MaxPool, (3, 3), (1, 1)),
        _torch_max_pool((3, 3), (1, 1)),
        ((2, 5, 6, 2),),
    ),
    OpCase(
        "max_pool_same_3x3_stride_2",
        _pool(MaxPool, (3, 3), (2, 2), SAME_7x8_K3_S2),
        _torch_max_pool((3, 3), (2, 2), SAME_7x8_K3_S2),
        ((2, 7, 8, 2),),
    ),
    OpCase(
        "max_pool_ties_go_to_the_first",
        _pool(MaxPool, (2, 2), (2, 2)),
        _torch_max_pool((2, 2), (2, 2)),
        ((2, 6, 6, 3),),
        "ties",
    ),
    OpCase(
        "average_pool_2x2",
        _pool(AveragePool, (2, 2), (2, 2)),
        lambda x: _nhwc(F.avg_pool2d(_nchw(x), 2)),
        ((2, 6, 8, 3),),
    ),
    OpCase(
        "average_pool_same_symmetric",  # torch's own padding, the padding not counted
        _pool(AveragePool, (3, 3), (1, 1), ((1, 1), (1, 1))),
        lambda x: _nhwc(F.avg_pool2d(_nchw(x), 3, 1, padding=1, count_include_pad=False)),
        ((2, 5, 6, 2),),
    ),
    OpCase(
        "average_pool_same_asymmetric",
        _pool(AveragePool, (3, 3), (2, 2), SAME_7x8_K3_S2),
        _torch_average_of_covered((3, 3), (2, 2), SAME_7x8_K3_S2),
        ((2, 7, 8, 2),),
    ),
    OpCase(
        "average_pool_same_even_window",  # n=5, 6, k=2, s=2: pads (0, 1) and (0, 0)
        _pool(AveragePool, (2, 2), (2, 2), ((0, 1), (0, 0))),
        _torch_average_of_covered((2, 2), (2, 2), ((0, 1), (0, 0))),
        ((2, 5, 6, 2),),
    ),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: c.name)
def test_function_matches_torch(device_dtype, case):
    device, dtype = device_dtype
    check_function(
        case.nn_fn, case.torch_fn, *case.inputs(), device=device, dtype=dtype
    ).assert_ok()


def test_the_tie_case_has_ties_and_the_gradient_goes_to_the_first_maximum():
    (x,) = CONV_CASES[9].inputs()
    windows = x.reshape(2, 3, 2, 3, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, 3, 3, 3, 4)
    maxima = windows == windows.max(axis=-1, keepdims=True)
    assert (maxima.sum(axis=-1) > 1).mean() > 0.5  # most windows have a tie
    t = nl.Tensor(x, requires_grad=True)
    MaxPool.apply(t, pool=(2, 2), strides=(2, 2), pads=NONE).sum().backward()
    first = np.zeros_like(windows)
    np.put_along_axis(first, maxima.argmax(axis=-1)[..., None], 1.0, axis=-1)  # first True
    expected = first.reshape(2, 3, 3, 3, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(x.shape)
    np.testing.assert_array_equal(t.grad, expected)


# --- layers and models against their twins ------------------------------------------------------
X = np.random.default_rng(5).standard_normal((3, 9, 8, 2))
LAYERS = {
    "conv_valid_relu": lambda dt: layers.Conv2D(4, 3, activation="relu", dtype=dt),
    "conv_same": lambda dt: layers.Conv2D(4, 3, padding="same", dtype=dt),
    "conv_same_stride_2": lambda dt: layers.Conv2D(3, (2, 3), strides=2, padding="same", dtype=dt),
    "conv_even_same_no_bias": lambda dt: layers.Conv2D(
        3, 4, padding="same", use_bias=False, dtype=dt
    ),
    "max_pooling": lambda dt: layers.MaxPooling2D(dtype=dt),
    "max_pooling_same_stride_2": lambda dt: layers.MaxPooling2D(3, 2, "same", dtype=dt),
    "average_pooling": lambda dt: layers.AveragePooling2D(dtype=dt),
    "average_pooling_same_asymmetric": lambda dt: layers.AveragePooling2D(3, 2, "same", dtype=dt),
    "average_pooling_same_symmetric": lambda dt: layers.AveragePooling2D(3, 1, "same", dtype=dt),
    "global_average_pooling": lambda dt: layers.GlobalAveragePooling2D(dtype=dt),
    "global_average_pooling_keepdims": lambda dt: layers.GlobalAveragePooling2D(
        keepdims=True, dtype=dt
    ),
    "flatten": lambda dt: layers.Flatten(dtype=dt),
}


@pytest.mark.parametrize("make", LAYERS.values(), ids=LAYERS.keys())
def test_layer_matches_its_twin(device_dtype, make):
    device, dtype = device_dtype
    nl.seed_everything(0)
    layer = make(dtype)
    layer.build(X.shape)
    for p in layer.parameters():  # a bias away from 0, so that a lost bias shows
        p.data[...] = np.random.default_rng(1).standard_normal(p.shape) * 0.5
    optimizer = "adam" if layer.parameters() else None  # pooling layers learn nothing
    check_model(layer, X, device=device, dtype=dtype, optimizer=optimizer, steps=2).assert_ok()


def small_cnn(dtype, head=None):
    """Conv(relu) -> MaxPool -> Conv same (relu) -> Flatten or GlobalAveragePooling -> Dense."""
    nl.seed_everything(0)
    head = head or layers.Flatten(dtype=dtype)
    return nl.Sequential(
        [
            layers.Conv2D(4, 3, activation="relu", input_shape=X.shape[1:], dtype=dtype),
            layers.MaxPooling2D(dtype=dtype),
            layers.Conv2D(5, 2, strides=2, padding="same", activation="relu", dtype=dtype),
            head,
            layers.Dense(3, activation="softmax", dtype=dtype),
        ]
    )


@pytest.mark.parametrize("optimizer", [nl.optim.SGD(lr=0.1, momentum=0.9), "adam"], ids=repr)
def test_a_small_cnn_takes_torchs_steps(device_dtype, optimizer):
    device, dtype = device_dtype
    labels = np.random.default_rng(2).integers(0, 3, len(X))
    options = {"loss": "sparse_categorical_crossentropy", "optimizer": optimizer, "steps": 3}
    for head in (None, layers.GlobalAveragePooling2D(dtype=dtype)):
        report = check_model(
            small_cnn(dtype, head), X, labels, device=device, dtype=dtype, **options
        )
        report.assert_ok()


def test_fit_trains_like_fit_twin(device_dtype):
    device, dtype = device_dtype
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((24, 9, 8, 2)), rng.integers(0, 3, 24)
    model = small_cnn(dtype).compile(
        optimizer=nl.optim.Adam(lr=0.01), loss="sparse_categorical_crossentropy"
    )
    twin = torch_twin(model, device, dtype)
    order = copy.deepcopy(nl.rng())
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    theirs = fit_twin(
        twin, x, y, loss=model.loss, optimizer=model.optimizer, epochs=2, batch_size=8, rng=order
    )
    weights = {name: p.data for name, p in model.named_parameters()}
    compare(
        {"loss": history.history["loss"], **weights},
        {"loss": theirs["loss"], **twin_parameters(twin)},
        dtype,
        "a small CNN: fit vs fit_twin",
    ).assert_ok()


def test_the_twin_holds_the_kernel_as_oihw_and_flattens_channels_last():
    model = small_cnn(np.float64)
    twin = torch_twin(model)
    weight = twin.get_parameter("0.0.1.weight")
    np.testing.assert_array_equal(to_numpy(weight), hwio_to_oihw(model.layers[0].kernel.data))
    assert tuple(weight.shape) == (4, 2, 3, 3)  # (out, in, kh, kw)
    # Flattened channels-first, the features reach the Dense layer in another order: the
    # output changes. The twin flattens NHWC, Keras's order (check_model above agrees).
    with torch.no_grad():
        features = twin[:3](to_torch(X))  # NHWC, (3, 2, 2, 5)
        keras_order, torch_order = twin[3:](features), twin[4](_nchw(features).flatten(1))
    assert not np.allclose(to_numpy(keras_order), to_numpy(torch_order), atol=1e-3)
    np.testing.assert_allclose(to_numpy(keras_order), model(X).data, rtol=1e-12)


def test_a_same_layer_built_for_any_image_size_has_no_twin():
    layer = layers.Conv2D(2, 3, strides=2, padding="same")
    layer.build((None, None, None, 1))
    with pytest.raises(ValueError, match="images of any size"):
        torch_twin(layer)
