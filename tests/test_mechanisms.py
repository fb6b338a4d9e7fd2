"""Mechanisms: calibration formulas, seeded sampling, neighbour distributions, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.privacy import mechanisms as M


# ----------------------------------------------------------------------------- Laplace
def test_laplace_scale_and_seeded_sampling():
    assert M.laplace_scale(epsilon=0.5, sensitivity=2.0) == 4.0
    a = M.laplace_mechanism(10.0, epsilon=1.0, seed=7)
    assert a == M.laplace_mechanism(10.0, epsilon=1.0, seed=7)
    assert a != M.laplace_mechanism(10.0, epsilon=1.0, seed=8)
    rng = np.random.default_rng(3)
    draws = M.laplace_mechanism(0.0, epsilon=0.5, seed=rng, size=20_000)
    assert draws.shape == (20_000,)
    # Laplace(b) has mean absolute deviation b = 2.
    assert np.mean(np.abs(draws)) == pytest.approx(2.0, rel=0.05)


# ----------------------------------------------------------------------------- Gaussian
@pytest.mark.parametrize("eps,delta", [(0.1, 1e-5), (0.5, 1e-6), (1.0, 1e-5), (4.0, 1e-8),
                                       (10.0, 1e-3)])
def test_analytic_gaussian_is_exactly_calibrated_and_matches_dp_accounting(eps, delta):
    from dp_accounting import gaussian_mechanism as G

    sigma = M.gaussian_sigma(epsilon=eps, delta=delta)
    assert M.gaussian_delta(epsilon=eps, sigma=sigma) <= delta
    assert M.gaussian_delta(epsilon=eps, sigma=sigma) == pytest.approx(delta, rel=1e-6)
    assert M.gaussian_delta(epsilon=eps, sigma=sigma * 0.99) > delta
    assert sigma == pytest.approx(G.get_sigma_gaussian(eps, delta), rel=1e-6)
    # Sensitivity scales σ linearly.
    assert M.gaussian_sigma(epsilon=eps, delta=delta, sensitivity=3.0) == pytest.approx(3 * sigma)


@pytest.mark.parametrize("eps", [0.05, 0.3, 0.9])
def test_classic_gaussian_is_valid_but_looser(eps):
    classic = M.gaussian_sigma(epsilon=eps, delta=1e-5, method="classic")
    assert classic == pytest.approx(math.sqrt(2 * math.log(1.25 / 1e-5)) / eps)
    assert M.gaussian_delta(epsilon=eps, sigma=classic) <= 1e-5
    assert M.gaussian_sigma(epsilon=eps, delta=1e-5) < classic


def test_classic_gaussian_refuses_large_epsilon():
    with pytest.raises(InvalidParameterError, match="analytic"):
        M.gaussian_sigma(epsilon=2.0, delta=1e-5, method="classic")


def test_gaussian_delta_matches_gdp_formula():
    from scipy.stats import norm

    mu, eps = 0.8, 1.3  # μ = Δ/σ
    expected = norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2)
    assert M.gaussian_delta(epsilon=eps, sigma=1 / mu) == pytest.approx(expected, rel=1e-10)


# ----------------------------------------------------------------------------- randomized response
def test_randomized_response_probability_and_unbiased_estimate():
    assert M.randomized_response_probability(epsilon=math.log(3)) == pytest.approx(0.75)
    truth = np.r_[np.ones(3000, bool), np.zeros(7000, bool)]
    answers = M.randomized_response(truth, epsilon=1.0, seed=0)
    assert answers.dtype == bool and answers.shape == truth.shape
    est, se = M.randomized_response_estimate(answers, epsilon=1.0)
    assert abs(est - 0.3) < 4 * se
    # Smaller ε: more lies, wider spread.
    _, se_small = M.randomized_response_estimate(
        M.randomized_response(truth, epsilon=0.2, seed=0), epsilon=0.2)
    assert se_small > 3 * se


def test_survey_spread_matches_standard_error():
    s = M.randomized_response_survey(n=400, true_fraction=0.25, epsilon=1.0, n_repeats=2000,
                                     seed=1)
    assert s.true_fraction == 0.25 and s.truth.sum() == 100
    assert np.mean(s.repeated_estimates) == pytest.approx(0.25, abs=0.02)
    assert np.std(s.repeated_estimates) == pytest.approx(s.std_error, rel=0.15)
    again = M.randomized_response_survey(n=400, true_fraction=0.25, epsilon=1.0,
                                         n_repeats=2000, seed=1)
    assert again.estimate == s.estimate


# ----------------------------------------------------------------------------- counts, attack
def test_counts_and_differencing_attack():
    labels = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    assert M.exact_count(labels) == 4
    exact = M.differencing_attack(labels, target_index=2)
    assert exact.difference == 1.0 and exact.correct and exact.success_rate == 1.0
    noisy = M.differencing_attack(labels, target_index=2, epsilon=0.1, n_trials=4000, seed=0)
    assert 0.4 < noisy.success_rate < 0.8  # blunted to near a coin flip
    loose = M.differencing_attack(labels, target_index=2, epsilon=5.0, n_trials=4000, seed=0)
    assert loose.success_rate > noisy.success_rate
    ans = M.noisy_count(labels, epsilon=1.0, seed=5)
    assert ans.noise_scale == 1.0 and ans.delta == 0.0 and not hasattr(ans, "true_count")
    g = M.noisy_count(labels, epsilon=1.0, mechanism="gaussian", delta=1e-5, seed=5)
    assert g.noise_scale == pytest.approx(M.gaussian_sigma(epsilon=1.0, delta=1e-5))


# ----------------------------------------------------------------------------- neighbours
@pytest.mark.parametrize("eps", [0.1, 1.0, 5.0])
def test_laplace_neighbours_ratio_bounded_by_e_eps(eps):
    nd = M.neighbour_distributions(value_d=312, value_d_prime=311, epsilon=eps)
    assert nd.x.shape == nd.density_d.shape == nd.log_ratio.shape == (801,)
    assert nd.max_abs_log_ratio == pytest.approx(eps, rel=1e-9)
    assert np.all(nd.density_d <= nd.band_high * (1 + 1e-9))
    assert np.all(nd.density_d >= nd.band_low * (1 - 1e-9))
    assert nd.prob_loss_above_epsilon == 0.0
    # Densities integrate to ~1 on the grid (8 scales each side).
    dx = nd.x[1] - nd.x[0]
    assert nd.density_d.sum() * dx == pytest.approx(1.0, abs=0.01)


def test_gaussian_neighbours_exceed_e_eps_only_with_small_probability():
    nd = M.neighbour_distributions(value_d=10, value_d_prime=9, epsilon=1.0,
                                   mechanism="gaussian", delta=1e-3)
    assert nd.max_abs_log_ratio > 1.0  # unbounded privacy loss in the tails ...
    assert 0 < nd.prob_loss_above_epsilon < 0.05  # ... with small probability
    # Monte Carlo check of that probability.
    rng = np.random.default_rng(0)
    y = 10 + rng.normal(0, nd.noise_scale, 200_000)
    loss = ((y - 9) ** 2 - (y - 10) ** 2) / (2 * nd.noise_scale**2)
    assert np.mean(loss > 1.0) == pytest.approx(nd.prob_loss_above_epsilon, abs=0.003)


def test_neighbours_must_differ_by_at_most_sensitivity():
    with pytest.raises(InvalidParameterError, match="one person"):
        M.neighbour_distributions(value_d=10, value_d_prime=8, epsilon=1.0)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("eps", [0.0, -1.0, float("nan"), float("inf"), None, "1"])
def test_bad_epsilon(eps):
    with pytest.raises(InvalidParameterError, match="epsilon"):
        M.laplace_mechanism(1.0, epsilon=eps, seed=0)


@pytest.mark.parametrize("delta", [0.0, 1.0, -0.1, float("nan")])
def test_bad_delta(delta):
    with pytest.raises(InvalidParameterError, match="delta"):
        M.gaussian_sigma(epsilon=1.0, delta=delta)


@pytest.mark.parametrize("sens", [0.0, -1.0, float("nan")])
def test_bad_sensitivity(sens):
    with pytest.raises(InvalidParameterError, match="sensitivity"):
        M.laplace_scale(epsilon=1.0, sensitivity=sens)


def test_bad_seed_and_answers():
    with pytest.raises(InvalidParameterError, match="seed"):
        M.laplace_mechanism(1.0, epsilon=1.0, seed=-1)
    with pytest.raises(InvalidParameterError, match="0/1"):
        M.randomized_response([0, 2, 1], epsilon=1.0, seed=0)
    with pytest.raises(InvalidParameterError, match="delta"):
        M.noisy_count([0, 1], epsilon=1.0, mechanism="gaussian")


# ----------------------------------------------------------------------------- spread, tiny ε
def test_repeat_spread_is_what_repeated_surveys_show():
    # ε = 3, n = 500: repeats of one class differ only by the coin flips (±1.05 %); the
    # standard error from the answers also counts sampling the class (±2.3 %).
    s = M.randomized_response_survey(n=500, true_fraction=0.3, epsilon=3.0, n_repeats=20_000,
                                     seed=0)
    assert s.repeat_spread == pytest.approx(0.0105, abs=2e-4)
    assert np.std(s.repeated_estimates) == pytest.approx(s.repeat_spread, rel=0.03)
    assert s.std_error > 2 * s.repeat_spread
    assert M.randomized_response_spread(n=500, epsilon=3.0) == s.repeat_spread


def test_survey_lab_title_states_the_spread_it_draws():
    from medpriv_widgets.widgets.dp_basics import RandomizedResponseLab

    lab = RandomizedResponseLab(n=500, true_fraction=0.3, epsilon=3.0, n_repeats=300, seed=1)
    s = lab.run()
    assert s.repeat_spread == pytest.approx(0.0105, abs=2e-4)
    # the spread of repeated surveys (±1.05 points), not the standard error (±2.3)
    assert "±1.1" in lab.fig.layout.title.text and "2.3" not in lab.fig.layout.title.text


def test_tiny_epsilon_is_estimated_or_refused_in_words():
    est, se = M.randomized_response_estimate(np.array([1, 0, 1]), epsilon=1e-20)
    assert math.isfinite(est) and math.isfinite(se) and se > 1e15  # honest: no information
    with pytest.raises(InvalidParameterError, match="at least 1e-300"):
        M.randomized_response_estimate(np.array([1, 0, 1]), epsilon=5e-324)
