"""Chapter 17: the generative models' formulas match PyTorch, on every device.

* :data:`GENERATIVE_CASES`: one line per case of the fused Functions (:mod:`nnlearn.generative`):
  the KL term against ``torch.distributions.kl_divergence`` of two ``Normal`` distributions,
  the reparameterisation against ``mu + exp(log_var / 2) * eps`` in torch. The same cases are
  checked against numeric gradients and planted wrong formulas in ``tests/test_generative.py``.
* The reparameterisation against torch's own ``Normal(mu, sigma).rsample()``, its noise
  recovered from torch's draw (as dropout's mask is in chapter 09).
* Diffusion's closed-form noising against the step-by-step chain worked out in torch (the
  coefficient of x0 and the noise's variance by recursion), and the reverse step's mean
  against the posterior mean of ``q(x_{t-1} | x_t, x_0)`` (Ho et al., eq. 7).
* A whole VAE: loss, every gradient and three Adam steps against the torch twins of its
  encoder and decoder under the same noise; the decoder alone through ``check_model``.

Needs only numpy, torch and pytest.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from parity.op_cases import OpCase
from torch.distributions import Normal, kl_divergence

import nnlearn as nl
from nnlearn import generative
from nnlearn.layers import Dense
from nnlearn.parity import (
    check_function,
    check_model,
    compare,
    exact_float32,
    to_numpy,
    to_torch,
    torch_twin,
    twin_gradients,
    twin_optimizer,
    twin_parameters,
)

pytestmark = pytest.mark.chapter17

NOISE = np.random.default_rng(17).standard_normal((6, 3))


def _torch_kl(mu, log_var):
    prior = Normal(torch.zeros_like(mu), torch.ones_like(mu))
    return kl_divergence(Normal(mu, torch.exp(0.5 * log_var)), prior).sum(-1)


def _torch_reparameterised(mu, log_var):
    eps = torch.as_tensor(NOISE, dtype=mu.dtype, device=mu.device)
    return mu + torch.exp(0.5 * log_var) * eps


GENERATIVE_CASES = [
    OpCase("kl_normal", generative.kl_normal, _torch_kl, ((6, 3), (6, 3))),
    OpCase("kl_normal_batched", generative.kl_normal, _torch_kl, ((2, 4, 3), (2, 4, 3))),
    OpCase("kl_normal_one_dim", generative.kl_normal, _torch_kl, ((5, 1), (5, 1))),
    OpCase(
        "sample_normal",
        lambda mu, log_var: generative.sample_normal(mu, log_var, noise=NOISE),
        _torch_reparameterised,
        ((6, 3), (6, 3)),
    ),
]


@pytest.mark.parametrize("case", GENERATIVE_CASES, ids=lambda c: c.name)
def test_function_matches_torch(case, device_dtype):
    device, dtype = device_dtype
    report = check_function(
        case.nn_fn, case.torch_fn, *case.inputs(), device=device, dtype=dtype, names=["mu", "lv"]
    )
    report.assert_ok()


def test_reparameterisation_is_torchs_rsample_under_its_own_noise(device_dtype):
    device, dtype = device_dtype
    rng = np.random.default_rng(3)
    mu, log_var = rng.standard_normal((8, 2)), rng.standard_normal((8, 2))
    upstream = rng.standard_normal((8, 2))
    t_mu, t_lv = (to_torch(a, device, dtype, requires_grad=True) for a in (mu, log_var))
    torch.manual_seed(0)
    with exact_float32():
        z = Normal(t_mu, torch.exp(0.5 * t_lv)).rsample()  # torch draws eps itself
        (z * to_torch(upstream, device, dtype)).sum().backward()
        eps = to_numpy((z - t_mu) / torch.exp(0.5 * t_lv))  # the noise torch drew
    n_mu, n_lv = (nl.Tensor(a.astype(dtype), requires_grad=True) for a in (mu, log_var))
    ours = generative.sample_normal(n_mu, n_lv, noise=eps)
    ours.backward(upstream.astype(dtype))
    compare(
        {"z": ours.data, "d/dmu": n_mu.grad, "d/dlog_var": n_lv.grad},
        {"z": to_numpy(z), "d/dmu": to_numpy(t_mu.grad), "d/dlog_var": to_numpy(t_lv.grad)},
        dtype,
    ).assert_ok()


# --- diffusion --------------------------------------------------------------------------------
BETAS = generative.linear_betas(40, 1e-3, 0.2)


def _chain_in_torch(betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x_t = sqrt(1 - beta_t) x_{t-1} + sqrt(beta_t) eps_t, step by step, written as
    x_t = c_t x_0 + (noise of variance v_t): c_t = sqrt(1 - beta_t) c_{t-1},
    v_t = (1 - beta_t) v_{t-1} + beta_t, from c = 1, v = 0 (independent noises add variances)."""
    c, v, coefficients, variances = 1.0, 0.0, [], []
    for beta in betas:
        c, v = torch.sqrt(1 - beta) * c, (1 - beta) * v + beta
        coefficients.append(c)
        variances.append(v)
    return torch.stack(coefficients), torch.stack(variances)


def test_closed_form_noising_is_the_chain_of_small_steps(device_dtype):
    device, dtype = device_dtype
    rng = np.random.default_rng(5)
    x0, noise = rng.standard_normal((40, 2)), rng.standard_normal((40, 2))
    t = rng.permutation(40)  # every step once, in no order
    coefficients, variances = _chain_in_torch(to_torch(BETAS, device, dtype))
    expected_x = coefficients[t, None] * to_torch(x0, device, dtype)
    expected_x = expected_x + torch.sqrt(variances[t, None]) * to_torch(noise, device, dtype)
    ab = generative.alpha_bar(BETAS)
    compare(
        {
            "sqrt(alpha_bar)": np.sqrt(ab),
            "1 - alpha_bar": 1 - ab,
            "x_t": generative.noisy(x0.astype(dtype), t, noise.astype(dtype), BETAS),
        },
        {
            "sqrt(alpha_bar)": to_numpy(coefficients),
            "1 - alpha_bar": to_numpy(variances),
            "x_t": to_numpy(expected_x),
        },
        dtype,
    ).assert_ok()


@pytest.mark.parametrize("t", [0, 1, 17, 39])
def test_reverse_step_with_the_true_noise_is_the_posterior_mean(device_dtype, t):
    device, dtype = device_dtype
    rng = np.random.default_rng(t)
    x0, noise = rng.standard_normal((16, 2)), rng.standard_normal((16, 2))
    x_t = generative.noisy(x0, t, noise, BETAS)
    # q(x_{t-1} | x_t, x_0) = N(mean, var): mean = sqrt(ab_{t-1}) beta_t / (1 - ab_t) x_0
    #   + sqrt(alpha_t) (1 - ab_{t-1}) / (1 - ab_t) x_t, var = (1 - ab_{t-1}) / (1 - ab_t) beta_t
    betas = to_torch(BETAS, device, dtype)
    ab = torch.cumprod(1 - betas, 0)
    ab_before = ab[t - 1] if t > 0 else torch.ones((), dtype=ab.dtype, device=ab.device)
    mean = torch.sqrt(ab_before) * betas[t] / (1 - ab[t]) * to_torch(x0, device, dtype)
    mean = mean + torch.sqrt(1 - betas[t]) * (1 - ab_before) / (1 - ab[t]) * to_torch(
        x_t, device, dtype
    )
    std = torch.sqrt((1 - ab_before) / (1 - ab[t]) * betas[t])
    z = rng.standard_normal((16, 2))
    ours = generative.reverse_step(x_t.astype(dtype), t, noise.astype(dtype), BETAS, z)
    expected = mean + std * to_torch(z, device, dtype)
    compare({"x_{t-1}": ours}, {"x_{t-1}": to_numpy(expected)}, dtype).assert_ok()


# --- a whole VAE ------------------------------------------------------------------------------
FEATURES, LATENT, HIDDEN = 8, 2, 16


def _vae(dtype):
    nl.seed_everything(17)
    encoder = nl.Sequential(
        [
            Dense(HIDDEN, activation="relu", input_shape=(FEATURES,), dtype=dtype),
            Dense(2 * LATENT, dtype=dtype),
        ]
    )
    decoder = nl.Sequential(
        [
            Dense(HIDDEN, activation="relu", input_shape=(LATENT,), dtype=dtype),
            Dense(FEATURES, dtype=dtype),
        ]
    )
    return encoder, decoder


def _nn_loss(encoder, decoder, x, eps):
    """The negative ELBO per example, averaged: FEATURES * mean BCE (a sum over pixels) + KL."""
    h = encoder(x)
    mu, log_var = h[:, :LATENT], h[:, LATENT:]
    logits = decoder(generative.sample_normal(mu, log_var, noise=eps))
    reconstruction = nl.losses.binary_crossentropy(x, logits, from_logits=True) * FEATURES
    return (reconstruction + generative.kl_normal(mu, log_var)).mean()


def _torch_loss(encoder, decoder, x, eps):
    h = encoder(x)
    mu, log_var = h[:, :LATENT], h[:, LATENT:]
    z = mu + torch.exp(0.5 * log_var) * eps
    reconstruction = F.binary_cross_entropy_with_logits(decoder(z), x, reduction="none").sum(-1)
    return (reconstruction + _torch_kl(mu, log_var)).mean()


def test_vae_loss_gradients_and_adam_steps_match_the_twins(device_dtype):
    device, dtype = device_dtype
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, (10, FEATURES)).astype(dtype)  # intensities, as digits / 16
    noises = [rng.standard_normal((10, LATENT)).astype(dtype) for _ in range(3)]
    encoder, decoder = _vae(dtype)
    twins = [torch_twin(m, device, dtype) for m in (encoder, decoder)]
    ours = nl.optim.Adam(encoder.parameters() + decoder.parameters(), lr=0.01)
    theirs = twin_optimizer(ours, [p for twin in twins for p in twin.parameters()])
    actual, expected = {}, {}
    t_x = to_torch(x, device, dtype)
    for step, eps in enumerate(noises):
        loss = _nn_loss(encoder, decoder, x, eps)
        ours.zero_grad()
        loss.backward()
        ours.step()
        with exact_float32():
            t_loss = _torch_loss(*twins, t_x, to_torch(eps, device, dtype))
            theirs.zero_grad()
            t_loss.backward()
        actual[f"loss, step {step}"], expected[f"loss, step {step}"] = loss.item(), t_loss.item()
        if step == 0:
            for prefix, model, twin in zip(
                ("encoder", "decoder"), (encoder, decoder), twins, strict=True
            ):
                actual |= {f"d/d{prefix}.{n}": p.grad for n, p in model.named_parameters()}
                grads = twin_gradients(twin).items()
                expected |= {f"d/d{prefix}.{n}": g for n, g in grads}
        with exact_float32():
            theirs.step()
    for prefix, model, twin in zip(("encoder", "decoder"), (encoder, decoder), twins, strict=True):
        actual |= {f"{prefix}.{n} after 3 steps": p.data for n, p in model.named_parameters()}
        expected |= {f"{prefix}.{n} after 3 steps": a for n, a in twin_parameters(twin).items()}
    compare(actual, expected, dtype, f"a VAE vs its torch twins on {device}").assert_ok()


def test_decoder_trains_as_its_twin_with_a_logits_cross_entropy(device_dtype):
    device, dtype = device_dtype
    rng = np.random.default_rng(6)
    z, x = rng.standard_normal((12, LATENT)), rng.uniform(0, 1, (12, FEATURES))
    _, decoder = _vae(dtype)
    check_model(
        decoder,
        z,
        x,
        loss=nl.losses.BinaryCrossentropy(from_logits=True),
        optimizer=nl.optim.Adam(lr=0.01),
        steps=3,
        device=device,
        dtype=dtype,
    ).assert_ok()
