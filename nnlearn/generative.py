"""Generative models (chapter 17): the VAE's two formulas, a two-sample test, diffusion's noising.

A **variational autoencoder** encodes an example into the mean ``mu`` and log-variance
``log_var`` of a Gaussian over latent codes, draws a code from it and decodes it. Two
formulas make that trainable; each is a fused :class:`~nnlearn.tensor.Function`, forward and
backward side by side, checked against ``torch.distributions`` and numeric gradients:

* :func:`kl_normal`, the KL divergence of ``N(mu, sigma^2)`` from the prior ``N(0, 1)`` in
  closed form (no sampling), summed over the latent dims;
* :func:`sample_normal`, the reparameterisation ``z = mu + exp(log_var / 2) * eps``: the
  randomness is the input ``eps ~ N(0, 1)``, so gradients flow into ``mu`` and ``log_var``.

Whether generated samples look like the data is a question for a **two-sample statistic**:
:func:`mmd2`, the squared maximum mean discrepancy with a Gaussian kernel, and
:func:`mmd_test`, its permutation test (numpy only).

A **denoising diffusion model** (Ho et al., 2020) learns to undo a fixed noising process.
:func:`alpha_bar` and :func:`noisy` give the noised data at any step in closed form,
:func:`reverse_step` one learned step back, :func:`sample_diffusion` the whole way from noise.
Steps are numbered ``t = 0 .. T-1`` (the paper's 1 .. T).

For the GAN's toy problem: :func:`ring_of_gaussians` and :func:`mode_counts`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from nnlearn.seeding import rng as nnlearn_rng
from nnlearn.tensor import Function, Tensor

__all__ = ["KLNormal", "Reparameterize", "kl_normal", "sample_normal"]  # the VAE
__all__ += ["MMDTest", "gaussian_kernel", "median_bandwidth", "mmd2", "mmd_test"]  # two samples
__all__ += ["alpha_bar", "linear_betas", "noisy", "reverse_step", "sample_diffusion"]  # diffusion
__all__ += ["mode_counts", "ring_of_gaussians"]  # the GAN's toy data


# --- the variational autoencoder ---------------------------------------------------------------
class KLNormal(Function):
    """``KL(N(mu, sigma^2) || N(0, 1))`` with ``sigma^2 = exp(log_var)``, summed over the last
    axis (the latent dims, independent Gaussians):

    .. math::

        \\mathrm{KL} = \\frac12 \\sum_j \\left(\\mu_j^2 + e^{v_j} - 1 - v_j\\right),
        \\qquad v = \\log \\sigma^2

    Shapes: ``mu``, ``log_var`` (..., latent) -> KL (...), e.g. (batch, latent) -> (batch,).
    """

    def forward(self, mu: np.ndarray, log_var: np.ndarray) -> np.ndarray:
        self.mu, self.variance = mu, np.exp(log_var)
        return 0.5 * np.sum(mu * mu + self.variance - 1.0 - log_var, axis=-1)

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """With ``g = dL/dKL`` (...,), broadcast over the latent axis:

        dL/dmu = g * mu,   dL/dlog_var = g * (exp(log_var) - 1) / 2   (both (..., latent)).

        The KL is smallest, 0, at mu = 0, log_var = 0: the prior itself.
        """
        g = g[..., None]
        return g * self.mu, 0.5 * g * (self.variance - 1.0)


class Reparameterize(Function):
    """``z = mu + exp(log_var / 2) * eps``: a draw from ``N(mu, exp(log_var))`` written as a
    differentiable function of ``mu`` and ``log_var``, the noise ``eps ~ N(0, 1)`` given.

    Shapes: ``mu``, ``log_var`` (..., latent); option ``noise`` ``eps`` the same shape; ``z`` too.
    """

    def forward(self, mu: np.ndarray, log_var: np.ndarray, *, noise: np.ndarray) -> np.ndarray:
        self.scaled_noise = np.exp(0.5 * log_var) * noise  # sigma * eps
        return mu + self.scaled_noise

    def backward(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """With ``g = dL/dz`` and ``sigma = exp(log_var / 2)``:

        dL/dmu = g,   dL/dlog_var = g * sigma * eps / 2   (d sigma / d log_var = sigma / 2).
        """
        return g, 0.5 * g * self.scaled_noise


def _latent_pair(name: str, mu: Any, log_var: Any) -> tuple[Tensor, Tensor]:
    mu, log_var = (x if isinstance(x, Tensor) else Tensor(x) for x in (mu, log_var))
    if mu.shape != log_var.shape or mu.ndim == 0:
        raise ValueError(
            f"{name}: mu and log_var must have one shape (..., latent), got mu {mu.shape} and "
            f"log_var {log_var.shape}; an encoder gives one of each per example"
        )
    return mu, log_var


def kl_normal(mu: Any, log_var: Any) -> Tensor:
    """The KL divergence of ``N(mu, exp(log_var))`` from ``N(0, 1)``, per example
    (:class:`KLNormal`): (batch, latent) -> (batch,). ``torch.distributions.kl_divergence(
    Normal(mu, exp(log_var / 2)), Normal(0, 1)).sum(-1)`` computes the same."""
    return KLNormal.apply(*_latent_pair("kl_normal", mu, log_var))


def sample_normal(
    mu: Any, log_var: Any, rng: np.random.Generator | None = None, *, noise: Any = None
) -> Tensor:
    """A code ``z ~ N(mu, exp(log_var))`` by the reparameterisation (:class:`Reparameterize`).

    Args:
        mu, log_var: the encoder's outputs, (..., latent).
        rng: the generator ``eps`` is drawn from (default: nnlearn's, :func:`nnlearn.rng`).
        noise: ``eps`` itself, instead of a draw (to repeat a draw, or give torch the same).
    """
    mu, log_var = _latent_pair("sample_normal", mu, log_var)
    if noise is None:
        noise = (rng or nnlearn_rng()).standard_normal(mu.shape)
    noise = np.asarray(noise, dtype=mu.dtype)
    if noise.shape != mu.shape:
        raise ValueError(f"sample_normal: noise has shape {noise.shape}, mu {mu.shape}")
    return Reparameterize.apply(mu, log_var, noise=noise)


# --- a two-sample statistic --------------------------------------------------------------------
def _squared_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``|x_i - y_j|^2`` for rows x (m, d), y (n, d): (m, n), as |x|^2 + |y|^2 - 2 x.y (one
    matrix product; no (m, n, d) array), clipped at 0 against rounding."""
    squared = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2.0 * x @ y.T
    return np.maximum(squared, 0.0)


def gaussian_kernel(x: np.ndarray, y: np.ndarray, bandwidth: float) -> np.ndarray:
    """``k(x_i, y_j) = exp(-|x_i - y_j|^2 / (2 h^2))`` for rows x (m, d), y (n, d): (m, n)."""
    return np.exp(-_squared_distances(x, y) / (2.0 * bandwidth**2))


def median_bandwidth(x: np.ndarray, y: np.ndarray | None = None) -> float:
    """The median distance between distinct points of ``x`` (and ``y``, pooled): the usual
    choice of the kernel's width ``h`` (the "median heuristic"). Compare several statistics
    with one fixed ``h``: a statistic depends on it."""
    pooled = np.asarray(x, dtype=np.float64) if y is None else np.concatenate([x, y])
    squared = _squared_distances(pooled, pooled)
    return float(np.sqrt(np.median(squared[np.triu_indices(len(pooled), k=1)])))


def _mmd2_of_kernel(kernel: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The unbiased MMD^2 of the pooled kernel matrix (N, N) for each column of ``first``
    (N, P), an indicator of the points that form the first sample (the others the second)."""
    m = first.sum(0)
    n = len(kernel) - m
    second = 1.0 - first
    k_first = kernel @ first  # (N, P): each point's kernel sum over the first sample
    within_x = (first * k_first).sum(0) - first.T @ np.diag(kernel)  # sum over i != j
    within_y = (second * (kernel @ second)).sum(0) - second.T @ np.diag(kernel)
    across = (second * k_first).sum(0)
    return within_x / (m * (m - 1)) + within_y / (n * (n - 1)) - 2.0 * across / (m * n)


def mmd2(x: np.ndarray, y: np.ndarray, bandwidth: float) -> float:
    """The unbiased squared maximum mean discrepancy of samples x (m, d) and y (n, d):

    .. math::

        \\widehat{\\mathrm{MMD}}^2 = \\frac{\\sum_{i \\ne j} k(x_i, x_j)}{m(m-1)}
        + \\frac{\\sum_{i \\ne j} k(y_i, y_j)}{n(n-1)} - \\frac{2 \\sum_{i,j} k(x_i, y_j)}{mn}

    with the Gaussian kernel of width ``bandwidth`` (Gretton et al., 2012). Its expectation is
    the distance between the two distributions' mean embeddings: 0 when they are the same
    (then a draw is as often slightly negative as positive), positive when they differ.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    pooled = np.concatenate([x, y])
    first = (np.arange(len(pooled)) < len(x)).astype(np.float64)[:, None]
    return float(_mmd2_of_kernel(gaussian_kernel(pooled, pooled, bandwidth), first)[0])


class MMDTest(NamedTuple):
    statistic: float  # mmd2(x, y, bandwidth)
    p_value: float  # (1 + #{permuted >= statistic}) / (1 + permutations)
    bandwidth: float


def mmd_test(
    x: np.ndarray,
    y: np.ndarray,
    bandwidth: float | None = None,
    permutations: int = 200,
    rng: np.random.Generator | None = None,
) -> MMDTest:
    """Are x and y drawn from one distribution? :func:`mmd2` and its permutation p-value.

    If they are, the labels "x" and "y" are arbitrary: shuffling the pooled points between
    the two samples gives statistics distributed like the observed one. The p-value is the
    share of ``permutations`` shuffles (plus the observed one, so it is never 0) whose
    statistic reaches the observed: under the hypothesis of one distribution it is (about)
    uniform on (0, 1], so ``p < 0.01`` happens for 1 % of same-distribution pairs, and reads
    "different". ``bandwidth``: default :func:`median_bandwidth` of the pooled points.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    pooled = np.concatenate([x, y])
    h = median_bandwidth(pooled) if bandwidth is None else float(bandwidth)
    kernel = gaussian_kernel(pooled, pooled, h)
    generator = rng or np.random.default_rng(0)
    labels = np.arange(len(pooled)) < len(x)
    shuffled = [labels] + [generator.permutation(labels) for _ in range(permutations)]
    statistics = _mmd2_of_kernel(kernel, np.stack(shuffled, axis=1).astype(np.float64))
    p_value = (1 + np.sum(statistics[1:] >= statistics[0])) / (1 + permutations)
    return MMDTest(float(statistics[0]), float(p_value), h)


# --- denoising diffusion -----------------------------------------------------------------------
def linear_betas(steps: int, start: float = 1e-4, end: float = 0.02) -> np.ndarray:
    """The noise schedule ``beta_t``, evenly from ``start`` to ``end`` (DDPM's defaults for
    1000 steps; fewer steps need larger betas to reach noise): (steps,)."""
    return np.linspace(start, end, steps)


def _steps(name: str, t: Any, betas: np.ndarray) -> np.ndarray:
    """``t`` as step indices, each in 0 .. T-1 (a negative one would wrap around silently)."""
    t = np.asarray(t)
    if not np.issubdtype(t.dtype, np.integer) or np.any((t < 0) | (t >= len(betas))):
        raise ValueError(f"{name}: steps t must be integers 0 .. {len(betas) - 1}, got {t}")
    return t


def alpha_bar(betas: np.ndarray) -> np.ndarray:
    """``alpha_bar_t = prod_{s <= t} (1 - beta_s)``: how much of the data is left at step t."""
    return np.cumprod(1.0 - np.asarray(betas, dtype=np.float64))


def noisy(x0: np.ndarray, t: Any, noise: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """``x_t`` drawn from ``q(x_t | x_0)`` in one go, for steps ``t`` (an int, or one per row):

    .. math::

        x_t = \\sqrt{\\bar\\alpha_t}\\, x_0 + \\sqrt{1 - \\bar\\alpha_t}\\, \\epsilon

    The chain ``x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t`` of t + 1 small steps
    gives the same Gaussian: its means multiply and its variances add up to ``1 - alpha_bar``.
    Shapes: x0, noise (batch, d); t () or (batch,); x_t (batch, d), x0's dtype.
    """
    ab = alpha_bar(betas)[_steps("noisy", t, betas)]
    ab = ab[..., None] if np.ndim(ab) else ab
    return (np.sqrt(ab) * x0 + np.sqrt(1.0 - ab) * noise).astype(np.asarray(x0).dtype)


def reverse_step(
    x_t: np.ndarray, t: int, predicted_noise: np.ndarray, betas: np.ndarray, noise: np.ndarray
) -> np.ndarray:
    """One step back, ``x_t -> x_{t-1}`` (DDPM's sampler), given the model's guess
    ``eps_hat`` of the noise in ``x_t``:

    .. math::

        x_{t-1} = \\frac{1}{\\sqrt{\\alpha_t}} \\left(x_t - \\frac{\\beta_t}
        {\\sqrt{1 - \\bar\\alpha_t}} \\hat\\epsilon\\right) + \\tilde\\beta_t^{1/2} z, \\qquad
        \\tilde\\beta_t = \\frac{1 - \\bar\\alpha_{t-1}}{1 - \\bar\\alpha_t} \\beta_t

    With the true noise the mean is the posterior mean of ``q(x_{t-1} | x_t, x_0)`` and
    ``tilde beta_t`` its variance (0 at t = 0: the last step adds no noise). ``noise`` is ``z``.
    Shapes: x_t, predicted_noise, noise (batch, d) -> x_{t-1} (batch, d).
    """
    betas = np.asarray(betas, dtype=np.float64)
    t = int(_steps("reverse_step", t, betas))
    ab = alpha_bar(betas)
    ab_before = ab[t - 1] if t > 0 else 1.0
    mean = (x_t - betas[t] / np.sqrt(1.0 - ab[t]) * predicted_noise) / np.sqrt(1.0 - betas[t])
    variance = (1.0 - ab_before) / (1.0 - ab[t]) * betas[t]
    return (mean + np.sqrt(variance) * noise).astype(np.asarray(x_t).dtype)


def sample_diffusion(
    predict_noise: Callable[[np.ndarray, int], np.ndarray],
    betas: np.ndarray,
    shape: tuple[int, ...],
    rng: np.random.Generator | None = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """Samples: ``x_{T-1} ~ N(0, 1)``, then :func:`reverse_step` for t = T-1, ..., 0.

    ``predict_noise(x_t, t)`` is the model: (batch, d) and the step -> its noise guess
    (batch, d). Returns x_{-1}, the generated data, of ``shape`` (batch, d).
    """
    generator = rng or nnlearn_rng()
    x = generator.standard_normal(shape).astype(dtype)
    for t in reversed(range(len(betas))):
        z = generator.standard_normal(shape).astype(dtype)
        x = reverse_step(x, t, predict_noise(x, t), betas, z)
    return x


# --- the GAN's toy problem ---------------------------------------------------------------------
def ring_of_gaussians(
    n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05, rng=None
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points from ``modes`` small Gaussians (``std``) evenly spaced on a circle of
    ``radius``, a mode drawn uniformly for each: points (n, 2) and their mode (n,)."""
    generator = rng or nnlearn_rng()
    which = generator.integers(0, modes, n)
    angle = 2.0 * np.pi * which / modes
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    return centres + std * generator.standard_normal((n, 2)), which


def mode_counts(
    samples: np.ndarray, modes: int = 8, radius: float = 2.0, within: float = 0.15
) -> np.ndarray:
    """How many ``samples`` (n, 2) have each centre of :func:`ring_of_gaussians` as their
    nearest and lie within ``within`` of it (default 0.15, 3 std of the default ring; give
    ``np.inf`` to count every sample at its nearest centre): (modes,)."""
    angle = 2.0 * np.pi * np.arange(modes) / modes
    centres = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    distance = np.linalg.norm(np.asarray(samples)[:, None, :] - centres[None], axis=-1)
    nearest = distance.argmin(axis=1)
    close = distance[np.arange(len(distance)), nearest] < within
    return np.bincount(nearest[close], minlength=modes)
