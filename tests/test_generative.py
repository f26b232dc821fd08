"""Chapter 17: the VAE's formulas, the two-sample statistic, diffusion (nnlearn/generative.py).

References, none of them the code under test: numeric gradients (:func:`gradcheck`) of the
Functions on the parity cases of ``parity/test_generative_parity.py`` (torch's results there);
planted wrong formulas those cases catch, among them the slips a learner makes (a sign, the
1/2, the variance for the standard deviation), which numeric gradients alone cannot see; the KL
divergence by numerical integration; the MMD as a double loop, scikit-learn's kernel and
scipy's distances, and the population MMD of two Gaussians in closed form; the noising chain
simulated step by step; the sampler run with the exact noise predictor of Gaussian data.
PyTorch: parity/test_generative_parity.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from parity.planting import a_case_fails, functions_defined_in, planted_formula_test
from parity.test_generative_parity import GENERATIVE_CASES
from scipy.spatial.distance import pdist
from sklearn.metrics.pairwise import rbf_kernel

import nnlearn as nl
from nnlearn import generative
from nnlearn.generative import KLNormal, Reparameterize
from nnlearn.gradcheck import gradcheck

pytestmark = [pytest.mark.chapter17, pytest.mark.usefixtures("float64_default")]


# --- the Functions: numeric gradients and planted formulas ----------------------------------------
@pytest.mark.parametrize("case", GENERATIVE_CASES, ids=lambda c: c.name)
def test_function_backward_passes_a_numeric_gradient_check(case):
    gradcheck(case.nn_fn, *case.inputs(), names=["mu", "log_var"]).assert_ok()


def _cases_fail() -> bool:
    return a_case_fails(GENERATIVE_CASES, lambda c: c.inputs())


test_a_planted_wrong_formula_is_caught = planted_formula_test(
    functions_defined_in(generative), _cases_fail
)


def test_every_function_is_planted():
    assert {f.__name__ for f in functions_defined_in(generative)} == {"KLNormal", "Reparameterize"}


# A learner's slips, each written consistently (forward and its own derivative), so the numeric
# gradient check passes: only the comparison with torch's distributions catches them.
class KLWithoutTheHalf(KLNormal):
    def forward(self, mu, log_var):
        return 2.0 * super().forward(mu, log_var)

    def backward(self, g):
        return super().backward(2.0 * g)


class KLWithLogVarsSignFlipped(KLNormal):  # + log_var: 0.5 sum(mu^2 + e^v - 1 + v)
    def forward(self, mu, log_var):
        return super().forward(mu, log_var) + np.sum(log_var, axis=-1)

    def backward(self, g):
        grad_mu, grad_log_var = super().backward(g)
        return grad_mu, grad_log_var + g[..., None]


class ScaledByTheVariance(Reparameterize):  # z = mu + exp(log_var) eps: the variance, not sigma
    def forward(self, mu, log_var, *, noise):
        return super().forward(mu, 2.0 * log_var, noise=noise)

    def backward(self, g):
        grad_mu, grad_log_var = super().backward(g)
        return grad_mu, 2.0 * grad_log_var


class LogVarTakenForSigma(Reparameterize):  # z = mu + log_var * eps: the encoder's output as sigma
    def forward(self, mu, log_var, *, noise):
        self.noise = noise
        return mu + log_var * noise

    def backward(self, g):
        return g, g * self.noise


SLIPS = {
    "KLNormal": [KLWithoutTheHalf, KLWithLogVarsSignFlipped],
    "Reparameterize": [ScaledByTheVariance, LogVarTakenForSigma],
}
CASES_OF = {"KLNormal": "kl_normal", "Reparameterize": "sample_normal"}


@pytest.mark.parametrize(
    "original, slip",
    [(name, slip) for name, slips in SLIPS.items() for slip in slips],
    ids=lambda x: getattr(x, "__name__", x),
)
def test_a_learners_slip_passes_gradcheck_but_not_torch(original, slip, monkeypatch):
    assert not _cases_fail()
    monkeypatch.setattr(generative, original, slip)
    cases = [c for c in GENERATIVE_CASES if c.name.startswith(CASES_OF[original])]
    for case in cases:
        gradcheck(case.nn_fn, *case.inputs()).assert_ok()  # consistent: derivative matches
    assert _cases_fail(), f"torch's results did not catch {slip.__name__}"


# --- the KL term and the reparameterisation -------------------------------------------------------
@pytest.mark.parametrize("mu, log_var", [(0.0, 0.0), (1.5, 0.0), (-0.7, 1.2), (0.3, -2.0)])
def test_kl_is_the_integral_of_q_log_q_over_p(mu, log_var):
    sigma = np.exp(0.5 * log_var)
    x = np.linspace(mu - 14 * sigma, mu + 14 * sigma, 200_001)
    log_q = -0.5 * ((x - mu) / sigma) ** 2 - np.log(sigma * np.sqrt(2 * np.pi))
    log_p = -0.5 * x**2 - 0.5 * np.log(2 * np.pi)
    integral = np.trapezoid(np.exp(log_q) * (log_q - log_p), x)
    kl = generative.kl_normal([[mu]], [[log_var]])
    assert kl.shape == (1,)
    assert kl.item() == pytest.approx(integral, abs=1e-9)


def test_kl_adds_over_latent_dims_and_vanishes_only_at_the_prior():
    rng = np.random.default_rng(0)
    mu, log_var = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    per_dim = [generative.kl_normal(mu[:, [j]], log_var[:, [j]]).data for j in range(4)]
    np.testing.assert_allclose(generative.kl_normal(mu, log_var).data, sum(per_dim), rtol=1e-12)
    assert np.all(generative.kl_normal(mu, log_var).data > 0)
    np.testing.assert_array_equal(generative.kl_normal(np.zeros((2, 3)), np.zeros((2, 3))).data, 0)


def test_samples_have_the_mean_and_variance_asked_for():
    mu, log_var = np.array([[1.0, -2.0, 0.5]]), np.array([[0.0, 1.0, -1.5]])
    n = 40_000
    z = generative.sample_normal(
        np.repeat(mu, n, 0), np.repeat(log_var, n, 0), np.random.default_rng(1)
    ).data
    sigma = np.exp(0.5 * log_var[0])
    assert np.all(np.abs(z.mean(0) - mu[0]) < 5 * sigma / np.sqrt(n))
    assert np.all(np.abs(z.var(0) / sigma**2 - 1) < 5 * np.sqrt(2 / n))


def test_sampling_draws_from_the_generator_given():
    mu, log_var = np.zeros((3, 2)), np.zeros((3, 2))
    a = generative.sample_normal(mu, log_var, np.random.default_rng(9)).data
    b = generative.sample_normal(
        mu, log_var, noise=np.random.default_rng(9).standard_normal((3, 2))
    )
    np.testing.assert_array_equal(a, b.data)
    nl.seed_everything(4)
    first = generative.sample_normal(mu, log_var).data  # nnlearn's generator
    nl.seed_everything(4)
    np.testing.assert_array_equal(first, generative.sample_normal(mu, log_var).data)


def test_shape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"kl_normal.*\(4, 2\).*\(4, 3\)"):
        generative.kl_normal(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"sample_normal.*\(2, 2\).*\(4, 2\)"):
        generative.sample_normal(np.zeros((4, 2)), np.zeros((4, 2)), noise=np.zeros((2, 2)))


# --- the two-sample statistic ---------------------------------------------------------------------
def _mmd2_loops(x, y, h):
    def k(a, b):
        return np.exp(-np.sum((a - b) ** 2) / (2 * h * h))

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_is_the_double_sum_and_the_kernel_scikit_learns():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((13, 3)), rng.standard_normal((9, 3)) + 0.5
    np.testing.assert_allclose(
        generative.gaussian_kernel(x, y, 1.3), rbf_kernel(x, y, gamma=1 / (2 * 1.3**2)), rtol=1e-12
    )
    assert generative.mmd2(x, y, 1.3) == pytest.approx(_mmd2_loops(x, y, 1.3), rel=1e-12)
    assert generative.median_bandwidth(x, y) == pytest.approx(np.median(pdist(np.vstack([x, y]))))


def test_mmd2_estimates_the_population_mmd_of_two_gaussians():
    # x ~ N(0, s^2 I), y ~ N(delta, s^2 I) in d dims, kernel width h:
    # MMD^2 = 2 (h^2 / (h^2 + 2 s^2))^(d/2) (1 - exp(-|delta|^2 / (2 (h^2 + 2 s^2))))
    rng = np.random.default_rng(3)
    d, s, h, delta = 2, 1.0, 1.5, np.array([0.8, 0.0])
    scale = h**2 + 2 * s**2
    population = 2 * (h**2 / scale) ** (d / 2) * (1 - np.exp(-(delta @ delta) / (2 * scale)))
    estimates = [
        generative.mmd2(rng.standard_normal((400, d)), rng.standard_normal((400, d)) + delta, h)
        for _ in range(10)
    ]
    assert np.mean(estimates) == pytest.approx(population, rel=0.1)
    same = [
        generative.mmd2(rng.standard_normal((400, d)), rng.standard_normal((400, d)), h)
        for _ in range(10)
    ]
    assert abs(np.mean(same)) < 0.05 * population  # unbiased: about 0, either sign
    assert min(same) < 0 < max(same)


def test_the_permutation_test_separates_different_distributions_and_not_equal_ones():
    p_same, p_different = [], []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((60, 2))
        p_same.append(generative.mmd_test(x, rng.standard_normal((60, 2)), rng=rng).p_value)
        shifted = rng.standard_normal((100, 2)) + [1.0, 0.0]  # one standard deviation apart
        p_different.append(generative.mmd_test(x, shifted, rng=rng).p_value)
    # Equal distributions: p about uniform, so p < 0.05 about 2 times in 40 (7 would be 1e-3 rare).
    assert sum(p < 0.05 for p in p_same) <= 6
    assert 0.3 < np.median(p_same) < 0.7
    assert all(p < 0.01 for p in p_different)


# --- diffusion ------------------------------------------------------------------------------------
BETAS = generative.linear_betas(30, 1e-3, 0.25)


def test_alpha_bar_is_the_product_of_the_alphas():
    expected = [np.prod([1 - b for b in BETAS[: t + 1]]) for t in range(len(BETAS))]
    np.testing.assert_allclose(generative.alpha_bar(BETAS), expected, rtol=1e-12)


def test_noisy_draws_what_the_chain_of_small_steps_draws():
    rng = np.random.default_rng(6)
    x0 = np.array([[1.5, -0.5]])
    t, n = 12, 50_000
    chain = np.repeat(x0, n, 0)
    for beta in BETAS[: t + 1]:
        chain = np.sqrt(1 - beta) * chain + np.sqrt(beta) * rng.standard_normal(chain.shape)
    closed = generative.noisy(np.repeat(x0, n, 0), t, rng.standard_normal((n, 2)), BETAS)
    ab = generative.alpha_bar(BETAS)[t]
    for sample in (chain, closed):  # both N(sqrt(ab) x0, 1 - ab), within 5 standard errors
        assert np.all(np.abs(sample.mean(0) - np.sqrt(ab) * x0[0]) < 5 * np.sqrt((1 - ab) / n))
        assert np.all(np.abs(sample.var(0) / (1 - ab) - 1) < 5 * np.sqrt(2 / n))


def test_noisy_takes_one_step_per_row_and_keeps_the_dtype():
    x0, noise = np.ones((3, 2), np.float32), np.zeros((3, 2), np.float32)
    x_t = generative.noisy(x0, np.array([0, 5, 29]), noise, BETAS)
    assert x_t.dtype == np.float32
    np.testing.assert_allclose(x_t[:, 0], np.sqrt(generative.alpha_bar(BETAS)[[0, 5, 29]]))


def test_steps_out_of_the_schedule_are_refused():
    x = np.zeros((2, 2))
    for bad in (-1, 30, np.array([0, 30]), 1.5):
        with pytest.raises(ValueError, match="steps t must be integers 0 .. 29"):
            generative.noisy(x, bad, x, BETAS)
    with pytest.raises(ValueError, match="reverse_step: steps t"):
        generative.reverse_step(x, -1, x, BETAS, x)


def test_the_last_reverse_step_with_the_true_noise_returns_the_data():
    rng = np.random.default_rng(7)
    x0, noise = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    x_first = generative.noisy(x0, 0, noise, BETAS)
    back = generative.reverse_step(x_first, 0, noise, BETAS, rng.standard_normal((5, 2)))
    np.testing.assert_allclose(back, x0, rtol=1e-12, atol=1e-12)  # and no noise added at t = 0


def test_sampling_with_the_exact_noise_predictor_reproduces_gaussian_data():
    # Data N(m, s^2): x_t ~ N(sqrt(ab) m, ab s^2 + 1 - ab), and the best guess of the noise is
    # E[eps | x_t] = sqrt(1 - ab) (x_t - sqrt(ab) m) / (ab s^2 + 1 - ab).
    m, s = np.array([2.0, -1.0]), np.array([0.5, 1.5])
    betas = generative.linear_betas(200, 1e-4, 0.05)
    ab = generative.alpha_bar(betas)

    def exact(x_t, t):
        return np.sqrt(1 - ab[t]) * (x_t - np.sqrt(ab[t]) * m) / (ab[t] * s**2 + 1 - ab[t])

    samples = generative.sample_diffusion(exact, betas, (20_000, 2), np.random.default_rng(8))
    np.testing.assert_allclose(samples.mean(0), m, atol=0.05)
    np.testing.assert_allclose(samples.std(0), s, rtol=0.05)


# --- the GAN's toy data ---------------------------------------------------------------------------
def test_ring_of_gaussians_and_its_mode_counts():
    x, which = generative.ring_of_gaussians(4000, rng=np.random.default_rng(9))
    counts = generative.mode_counts(x)
    np.testing.assert_array_equal(
        np.bincount(which, minlength=8), generative.mode_counts(x, within=np.inf)
    )
    # In 2-D, P(|x - centre| < 3 std) = 1 - exp(-9 / 2) = 0.989; each mode holds about 500
    assert counts.sum() / 4000 == pytest.approx(1 - np.exp(-4.5), abs=0.01)
    assert counts.min() > 400
    assert generative.mode_counts(np.zeros((10, 2))).sum() == 0  # the centre of the ring: no mode
