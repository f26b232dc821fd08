"""Chapter 03: each initialiser draws from the law its formula states, as Keras 3 (the names are
Keras's) and torch.nn.init (the same laws) do.

Statistics of a large sample (240,000 weights) are checked against closed forms: the sample
variance of n draws has a relative standard error of about sqrt(2/n) = 0.3 %, so the 2 %
tolerance below is several standard errors wide, and the test is deterministic (fixed seed).
"""

import math
import os

import numpy as np
import pytest
import torch

import nnlearn as nl
from nnlearn import initializers as init

pytestmark = pytest.mark.chapter03

SHAPE = (400, 600)  # (fan_in, fan_out) in Keras's layout
FAN_IN, FAN_OUT = SHAPE
RTOL = 0.02


def _truncated_moments(c: float = 2.0) -> tuple[float, float]:
    """Variance and kurtosis of a standard normal cut to (-c, c), in closed form:
    with Z = 2 Phi(c) - 1, E[x^2] = 1 - 2 c phi(c) / Z and E[x^4] = 3 - 2 phi(c) (c^3 + 3c) / Z."""
    phi, mass = math.exp(-c * c / 2) / math.sqrt(2 * math.pi), math.erf(c / math.sqrt(2))
    second = 1 - 2 * c * phi / mass
    fourth = 3 - 2 * phi * (c**3 + 3 * c) / mass
    return second, fourth / second**2


TRUNCATED_VARIANCE, TRUNCATED_KURTOSIS = _truncated_moments()  # 0.7737..., 2.36...

# name -> (variance, half-width of the support or None, kurtosis), from the formulas (not from
# the code): a uniform law's kurtosis is 9/5, a normal's 3, a normal cut at 2 sigma's the above,
# and its sigma is widened so that the variance stays the formula's.
LAWS = {
    "random_normal": (0.05**2, None, 3.0),
    "random_uniform": (0.05**2 / 3, 0.05, 1.8),
    "glorot_uniform": (2 / (FAN_IN + FAN_OUT), np.sqrt(6 / (FAN_IN + FAN_OUT)), 1.8),
    "glorot_normal": (2 / (FAN_IN + FAN_OUT), "2 sigma", TRUNCATED_KURTOSIS),
    "he_uniform": (2 / FAN_IN, np.sqrt(6 / FAN_IN), 1.8),
    "he_normal": (2 / FAN_IN, "2 sigma", TRUNCATED_KURTOSIS),
    "lecun_normal": (1 / FAN_IN, "2 sigma", TRUNCATED_KURTOSIS),
}


def _trunc_normal(variance):
    """torch's twin of Keras's truncated normal: sigma widened, cut at 2 sigma."""
    sigma = math.sqrt(variance / TRUNCATED_VARIANCE)
    return lambda w: torch.nn.init.trunc_normal_(w, std=sigma, a=-2 * sigma, b=2 * sigma)


# The same law in torch.nn.init, on torch's (out, in) weight layout.
TORCH_TWINS = {
    "glorot_uniform": torch.nn.init.xavier_uniform_,
    "glorot_normal": _trunc_normal(2 / (FAN_IN + FAN_OUT)),
    "he_uniform": lambda w: torch.nn.init.kaiming_uniform_(w, nonlinearity="relu"),
    "he_normal": _trunc_normal(2 / FAN_IN),
    "lecun_normal": _trunc_normal(1 / FAN_IN),
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
    variance, limit, kurtosis = LAWS[name]
    if limit == "2 sigma":
        limit = 2 * math.sqrt(variance / TRUNCATED_VARIANCE)
    w = _sample(name)
    assert w.shape == SHAPE
    assert abs(w.mean()) < 5 * np.sqrt(variance / w.size)
    assert w.var() == pytest.approx(variance, rel=RTOL)
    if limit is not None:
        assert np.abs(w).max() <= limit
        assert np.abs(w).max() > 0.999 * limit  # the whole support is used
    assert _kurtosis(w) == pytest.approx(kurtosis, rel=RTOL)


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


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras


@pytest.mark.parametrize("name", LAWS)
def test_initializer_matches_the_statistics_of_keras(name, keras):
    """The same name in Keras 3 draws from the same law: variance, tails and shape.

    The tails are compared by the 99.9th percentile of |w|, not the maximum: Keras's torch
    backend redraws a truncated value at most 3 times, so about one weight in 240,000 falls
    outside the cut (a Keras shortcut nnlearn does not copy)."""
    keras.utils.set_random_seed(0)
    theirs = np.asarray(keras.initializers.get(name)(SHAPE, dtype="float64"))
    ours = _sample(name)
    assert ours.var() == pytest.approx(theirs.var(), rel=2 * RTOL)
    tail = [np.quantile(np.abs(w), 0.999) for w in (ours, theirs)]
    assert tail[0] == pytest.approx(tail[1], rel=0.02)
    assert _kurtosis(ours) == pytest.approx(_kurtosis(theirs), rel=2 * RTOL)
