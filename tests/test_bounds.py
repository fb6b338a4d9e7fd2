"""Trade-off curves and ReRo bounds: against each other, an independent accountant, and the
worked numbers in PRIVACY_FACTS.md."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.privacy.bounds import (
    dpsgd_pld_epsilon,
    eps_delta_region,
    gdp_delta,
    gdp_mu,
    gdp_mu_for_epsilon_delta,
    gdp_tradeoff,
    rero_bound,
    tradeoff_curve,
)

FPR = np.logspace(-5, math.log10(0.99), 200)


def test_worked_numbers_from_privacy_facts():
    """FPR 0.1 %, δ 1e-5: (ε,δ) region vs the GDP curve with the same δ(ε) (PRIVACY_FACTS.md)."""
    published = {1.0: (0.27, 0.24), 4.0: (5.5, 1.5), 8.0: (99.97, 7.7)}  # percent
    for eps, (region_pct, gdp_pct) in published.items():
        region = eps_delta_region(epsilon=eps, delta=1e-5, fpr=1e-3)
        mu = gdp_mu_for_epsilon_delta(epsilon=eps, delta=1e-5)
        assert gdp_delta(mu=mu, epsilon=eps) == pytest.approx(1e-5, rel=1e-6)
        gdp = gdp_tradeoff(mu=mu, fpr=1e-3)
        # Published figures are rounded to the digits shown.
        digits = len(f"{region_pct}".split(".")[1])
        assert round(100 * region, digits) == pytest.approx(region_pct)
        assert round(100 * gdp, len(f"{gdp_pct}".split(".")[1])) == pytest.approx(gdp_pct)
        assert gdp < region


def test_pld_curve_matches_gdp_in_clt_regime():
    # Many steps, small q: the CLT approximation should be close to the exact curve ...
    kw = dict(noise_multiplier=2.0, sample_rate=0.01, steps=10_000, fpr=FPR)
    exact = tradeoff_curve(**kw)
    approx = tradeoff_curve(**kw, method="gdp")
    assert np.max(np.abs(exact - approx)) < 0.005


@pytest.mark.parametrize("sigma,steps", [(0.5, 1), (1.0, 1), (2.0, 4)])
def test_pld_curve_is_exact_for_full_batch_gaussian(sigma, steps):
    # q = 1: T Gaussian mechanisms compose to exactly (√T/σ)-GDP, so the curve built from the
    # PLD's δ(ε) must reproduce Φ(Φ⁻¹(α) + √T/σ) (up to the PLD's discretisation).
    curve = tradeoff_curve(noise_multiplier=sigma, sample_rate=1.0, steps=steps, fpr=FPR)
    exact = gdp_tradeoff(mu=math.sqrt(steps) / sigma, fpr=FPR)
    assert np.all(curve >= exact - 1e-9)     # pessimistic rounding: never below the truth
    assert np.max(curve - exact) < 1e-4


@pytest.mark.parametrize("sigma,q,steps", [(1.0, 0.01, 1000), (0.8, 0.02, 500), (2.0, 0.05, 300)])
def test_pld_curve_inside_eps_delta_region_of_independent_accountant(sigma, q, steps):
    from opacus.accountants import PRVAccountant

    acc = PRVAccountant()
    acc.history = [(sigma, q, steps)]
    eps_opacus = acc.get_epsilon(delta=1e-5)
    eps_pld = dpsgd_pld_epsilon(noise_multiplier=sigma, sample_rate=q, steps=steps, delta=1e-5)
    assert eps_pld == pytest.approx(eps_opacus, rel=0.02)  # two accountants agree

    curve = tradeoff_curve(noise_multiplier=sigma, sample_rate=q, steps=steps, fpr=FPR)
    region = eps_delta_region(epsilon=eps_opacus, delta=1e-5, fpr=FPR)
    assert np.all(curve <= region + 1e-9)
    assert np.all(np.diff(curve) >= -1e-12)          # monotone in FPR
    assert np.all(curve >= FPR) and np.all(curve <= 1.0)
    # The actual mechanism is far tighter than the bare (ε, δ) claim at low FPR.
    assert curve[np.searchsorted(FPR, 1e-3)] < 0.8 * region[np.searchsorted(FPR, 1e-3)]


def test_large_noise_gives_no_advantage_and_more_noise_never_hurts():
    prev = None
    for sigma in (0.7, 2.0, 10.0, 1000.0):
        curve = tradeoff_curve(noise_multiplier=sigma, sample_rate=0.1, steps=100, fpr=FPR)
        if prev is not None:
            assert np.all(curve <= prev + 1e-9)
        prev = curve
    assert np.max(prev - FPR) < 0.005


def test_gdp_mu_formula_and_limits():
    mu = gdp_mu(noise_multiplier=1.0, sample_rate=0.01, steps=1000)
    assert mu == pytest.approx(0.01 * math.sqrt(1000 * (math.e - 1)))
    assert gdp_tradeoff(mu=0.0, fpr=0.3) == pytest.approx(0.3)
    tpr = gdp_tradeoff(mu=1.0, fpr=FPR)
    assert np.allclose(tpr, norm.cdf(norm.ppf(FPR) + 1.0))
    # δ(ε) of GDP is decreasing in ε and increasing in μ.
    d = gdp_delta(mu=1.0, epsilon=np.linspace(0, 5, 50))
    assert np.all(np.diff(d) < 0)
    assert gdp_delta(mu=2.0, epsilon=1.0) > gdp_delta(mu=1.0, epsilon=1.0)


def test_eps_delta_region_shape():
    r = eps_delta_region(epsilon=1.0, delta=0.0, fpr=FPR)
    assert np.allclose(r, np.minimum(np.e * FPR, 1 - np.exp(-1.0) * (1 - FPR)))
    assert np.all(eps_delta_region(epsilon=math.inf, delta=1e-5, fpr=FPR) == 1.0)
    assert eps_delta_region(epsilon=0.0, delta=0.0, fpr=0.2) == pytest.approx(0.2)


def test_rero_bounds():
    kappa = np.array([1e-4, 1e-2, 0.3])
    assert np.allclose(rero_bound(kappa=kappa, epsilon=1.0), np.minimum(1, np.e * kappa))
    assert rero_bound(kappa=0.5, epsilon=2.0) == 1.0
    assert np.allclose(rero_bound(kappa=kappa, mu=1.0), norm.cdf(norm.ppf(kappa) + 1.0))
    # f-DP with the GDP curve equals the μ form; with the DP-SGD curve it is that curve at κ.
    f_gdp = rero_bound(kappa=kappa, tradeoff=lambda a: gdp_tradeoff(mu=1.0, fpr=a))
    assert np.allclose(f_gdp, rero_bound(kappa=kappa, mu=1.0))
    kw = dict(noise_multiplier=1.0, sample_rate=0.01, steps=1000)
    f_pld = rero_bound(kappa=kappa, tradeoff=lambda a: tradeoff_curve(**kw, fpr=a))
    assert np.allclose(f_pld, tradeoff_curve(**kw, fpr=kappa))
    # The tight curve bounds reconstruction far below the ε-only bound at the same ε.
    eps = dpsgd_pld_epsilon(**kw, delta=1e-5)
    assert np.all(f_pld <= rero_bound(kappa=kappa, epsilon=eps, delta=1e-5) + 1e-12)
    assert np.all(f_pld >= kappa)


@pytest.mark.parametrize("call", [
    lambda: tradeoff_curve(noise_multiplier=1.0, sample_rate=0.01, steps=10, fpr=0.0),
    lambda: tradeoff_curve(noise_multiplier=1.0, sample_rate=0.01, steps=10, fpr=[0.1, 1.5]),
    lambda: tradeoff_curve(noise_multiplier=0.0, sample_rate=0.01, steps=10, fpr=0.1),
    lambda: tradeoff_curve(noise_multiplier=1.0, sample_rate=0.0, steps=10, fpr=0.1),
    lambda: tradeoff_curve(noise_multiplier=1.0, sample_rate=1.2, steps=10, fpr=0.1),
    lambda: tradeoff_curve(noise_multiplier=1.0, sample_rate=0.1, steps=0, fpr=0.1),
    lambda: tradeoff_curve(noise_multiplier=1.0, sample_rate=0.1, steps=10, fpr=0.1, method="x"),
    lambda: gdp_tradeoff(mu=1.0, fpr=[float("nan")]),
    lambda: rero_bound(kappa=0.0, epsilon=1.0),
    lambda: rero_bound(kappa=1.0, mu=1.0),
    lambda: rero_bound(kappa=0.1),
    lambda: rero_bound(kappa=0.1, epsilon=1.0, mu=1.0),
    lambda: eps_delta_region(epsilon=-1.0, delta=0.0, fpr=0.1),
])
def test_bad_input_is_refused_with_a_sentence(call):
    with pytest.raises(InvalidParameterError) as info:
        call()
    msg = str(info.value)
    assert msg.endswith(".") and "`" in msg


@pytest.mark.parametrize("eps,delta", [(0.0, 1e-5), (0.0, 1e-12), (1e-300, 1e-12), (1.0, 1e-5),
                                       (700.0, 0.999999)])
def test_matching_gdp_curve_at_the_edges(eps, delta):
    from medpriv_widgets.privacy.bounds import gdp_delta, gdp_mu_for_epsilon_delta

    mu = gdp_mu_for_epsilon_delta(epsilon=eps, delta=delta)
    assert mu > 0 and gdp_delta(mu=mu, epsilon=eps) == pytest.approx(delta, rel=1e-3)
