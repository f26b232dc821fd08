"""Chapter 03: each initialiser draws from the law its formula states, as torch.nn.init does.

Statistics of a large sample (240,000 weights) are checked against closed forms: the sample
variance of n draws has a relative standard error of about sqrt(2/n) = 0.3 %, so the 2 %
tolerance below is several standard errors wide, and the test is deterministic (fixed seed).
"""

import numpy as np
import pytest
import torch

import nnlearn as nl
from nnlearn import initializers as init

pytestmark = pytest.mark.chapter03

SHAPE = (400, 600)  # (fan_in, fan_out) in Keras's layout
FAN_IN, FAN_OUT = SHAPE
RTOL = 0.02

# name -> (variance, uniform half-width or None), from the formulas (not from the code).
LAWS = {
    "random_normal": (0.05**2, None),
    "random_uniform": (0.05**2 / 3, 0.05),
    "glorot_uniform": (2 / (FAN_IN + FAN_OUT), np.sqrt(6 / (FAN_IN + FAN_OUT))),
    "glorot_normal": (2 / (FAN_IN + FAN_OUT), None),
    "he_uniform": (2 / FAN_IN, np.sqrt(6 / FAN_IN)),
    "he_normal": (2 / FAN_IN, None),
    "lecun_normal": (1 / FAN_IN, None),
}

# The same law in torch.nn.init, on torch's (out, in) weight layout.
TORCH_TWINS = {
    "glorot_uniform": torch.nn.init.xavier_uniform_,
    "glorot_normal": torch.nn.init.xavier_normal_,
    "he_uniform": lambda w: torch.nn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "he_normal": lambda w: torch.nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "lecun_normal": lambda w: torch.nn.init.normal_(w, std=1 / np.sqrt(w.shape[1])),
    "random_normal": lambda w: torch.nn.init.normal_(w, std=0.05),
    "random_uniform": lambda w: torch.nn.init.uniform_(w, -0.05, 0.05),
}


def _sample(name, dtype=np.float64):
    return init.get(name)(SHAPE, np.random.default_rng(0), dtype)


def _kurtosis(x):
    x = np.asarray(x, dtype=np.float64).ravel()
    return float(np.mean((x - x.mean()) ** 4) / x.var() ** 2)


@pytest.mark.parametrize("name", LAWS)
def test_initializer_variance_and_bounds_follow_the_formula(name):
    variance, limit = LAWS[name]
    w = _sample(name)
    assert w.shape == SHAPE
    assert abs(w.mean()) < 5 * np.sqrt(variance / w.size)
    assert w.var() == pytest.approx(variance, rel=RTOL)
    if limit is not None:
        assert np.abs(w).max() <= limit
        assert np.abs(w).max() > 0.999 * limit  # the whole interval is used
        assert _kurtosis(w) == pytest.approx(1.8, rel=RTOL)  # a uniform law's kurtosis is 9/5
    else:
        assert _kurtosis(w) == pytest.approx(3.0, rel=RTOL)  # a normal's, untruncated


@pytest.mark.parametrize("name", TORCH_TWINS)
def test_initializer_matches_the_statistics_of_torch_nn_init(name):
    torch.manual_seed(0)
    theirs = TORCH_TWINS[name](torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64)).numpy()
    ours = _sample(name)
    assert ours.var() == pytest.approx(theirs.var(), rel=2 * RTOL)
    assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.1)
    assert _kurtosis(ours) == pytest.approx(_kurtosis(theirs), rel=2 * RTOL)


def test_constant_initializers():
    np.testing.assert_array_equal(init.zeros((2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(init.ones((4,)), np.ones(4))


@pytest.mark.parametrize("name", [*LAWS, "zeros", "ones"])
def test_initializer_returns_the_requested_dtype_and_the_default_otherwise(name):
    assert init.get(name)((3, 2), None, np.float64).dtype == np.float64
    assert init.get(name)((3, 2)).dtype == nl.get_default_dtype() == np.float32


def test_initializer_draws_from_nnlearn_rng_so_seeding_repeats_it():
    nl.seed_everything(3)
    first = init.glorot_uniform((5, 4))
    nl.seed_everything(3)
    np.testing.assert_array_equal(first, init.glorot_uniform((5, 4)))


def test_fans_of_dense_conv_and_bias_shapes():
    assert init.fans((100, 64)) == (100, 64)
    assert (init.fan_in((100, 64)), init.fan_out((100, 64))) == (100, 64)
    assert init.fans((3, 3, 16, 32)) == (3 * 3 * 16, 3 * 3 * 32)
    assert init.fans((10,)) == (10, 10)
    # torch computes them on its (out, in) layout: the same numbers for the transposed weight.
    fin, fout = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(64, 100))
    assert init.fans((100, 64)) == (fin, fout)


def test_get_accepts_names_any_case_and_functions_and_rejects_unknown_names():
    assert init.get("he_normal") is init.he_normal
    assert init.get("Glorot_Uniform") is init.glorot_uniform

    def custom(shape, rng=None, dtype=None):
        return np.full(shape, 0.5)

    assert init.get(custom) is custom
    with pytest.raises(ValueError, match="unknown initializer 'xavier'.*glorot_uniform"):
        init.get("xavier")
