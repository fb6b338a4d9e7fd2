"""DP-SGD accounting: agreement with Google's dp-accounting, monotonicity, inverse round trips.

Pairs compared (each an independent implementation of the same quantity):

- our ``accountant="rdp"`` (Opacus' RDP analysis at ``RDP_ORDERS``) vs
  ``dp_accounting.rdp.RdpAccountant`` with the same orders: same analysis, so they should agree
  to rounding; 1 % covers dp-accounting dropping a fractional order whose series does not
  converge (seen: +0.5 % at σ = 0.8, q = 0.05).
- our ``accountant="prv"`` (Opacus PRV, upper bound ε̂ + eps_error, eps_error ≤ 0.3 % of ε) vs
  ``dp_accounting.pld.PLDAccountant`` (pessimistic discretisation at 1e-4): two numerically
  tight upper bounds on the same ε whose discretisation errors are each a few tenths of a
  percent, hence 1 %. Points with ε below 0.05 are left out of the relative check: there the
  fixed absolute error floors (1e-4) are no longer small relative to ε.

Measured (Opacus 1.6.0, dp-accounting 0.6.0): RDP max relative difference 0.84 % over the 225
of 252 points with ε ≤ 50 (0.47 % for ε ≤ 20; median 4e-14); PRV vs PLD max 0.33 % (median
0.31 %: PRV's eps_error margin) over the 45 of 48 points with ε ≥ 0.05.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.privacy import accounting as A

DELTA = 1e-5

# 6 × 7 × 6 = 252 points spanning the teaching range (full-batch q = 1 included).
RDP_Q = (0.001, 0.003, 0.01, 0.03, 0.1, 1.0)
RDP_SIGMA = (0.7, 1.0, 1.5, 2.0, 3.0, 8.0, 20.0)
RDP_T = (1, 10, 100, 1_000, 3_000, 10_000)
# Above ε ≈ 50 the best RDP order is a fraction below 2, where the two libraries' series
# differ (up to 38 % at ε = 300; dp-accounting even drops orders it cannot converge). Such ε
# mean no protection anyway; there we only check that Opacus is never the looser one.
RDP_COMPARE_MAX_EPS = 50.0

# 3 × 4 × 4 = 48 points: a PRV call at 0.3 % precision costs 0.1–1.5 s of CPU (most for tiny
# ε), a PLD call at 1e-4 up to 1 s (large ε), so this grid is smaller; the ≥ 200-point agreement
# check is the RDP one above.
PRV_Q = (0.005, 0.02, 0.08)
PRV_SIGMA = (0.9, 1.3, 2.0, 3.0)
PRV_T = (5, 40, 200, 600)


@pytest.fixture(scope="module")
def rdp_grid():
    """ε from us and from dp-accounting on the RDP grid, shape (q, σ, T)."""
    from dp_accounting import dp_event
    from dp_accounting.rdp import RdpAccountant, rdp_privacy_accountant

    orders = list(A.RDP_ORDERS)
    ours = np.empty((len(RDP_Q), len(RDP_SIGMA), len(RDP_T)))
    ref = np.empty_like(ours)
    for i, q in enumerate(RDP_Q):
        for j, s in enumerate(RDP_SIGMA):
            # RDP adds over steps: one composition per (q, σ), then T × rdp for each T.
            acc = RdpAccountant(orders=orders)
            acc.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(s)))
            one_step = np.asarray(acc._rdp)
            for k, t in enumerate(RDP_T):
                ours[i, j, k] = A.dpsgd_epsilon(noise_multiplier=s, sample_rate=q, steps=t,
                                                delta=DELTA, accountant="rdp")
                ref[i, j, k] = rdp_privacy_accountant.compute_epsilon(
                    orders, t * one_step, DELTA)[0]
    return ours, ref


@pytest.fixture(scope="module")
def prv_grid():
    ours = np.empty((len(PRV_Q), len(PRV_SIGMA), len(PRV_T)))
    ref = np.empty_like(ours)
    for (i, q), (j, s), (k, t) in itertools.product(enumerate(PRV_Q), enumerate(PRV_SIGMA),
                                                    enumerate(PRV_T)):
        ours[i, j, k] = A.dpsgd_epsilon(noise_multiplier=s, sample_rate=q, steps=t, delta=DELTA)
        ref[i, j, k] = A.dp_accounting_epsilon(noise_multiplier=s, sample_rate=q, steps=t,
                                               delta=DELTA, method="pld",
                                               value_discretization_interval=1e-4)
    return ours, ref


def _monotone(eps: np.ndarray) -> None:
    # axis 1: σ ascending → ε must not rise; axis 2: T ascending → ε must not fall.
    assert np.all(np.diff(eps, axis=2) >= 0), "more steps lowered ε"
    assert np.all(np.diff(eps, axis=1) <= 0), "more noise raised ε"


def test_rdp_agrees_with_dp_accounting_on_over_200_points(rdp_grid):
    ours, ref = rdp_grid
    assert np.all(np.isfinite(ours))
    compared = ref <= RDP_COMPARE_MAX_EPS
    assert compared.sum() >= 200
    rel = np.abs(ours - ref)[compared] / ref[compared]
    assert rel.max() <= 0.01, f"max relative difference {rel.max():.3%}"
    assert np.all(ours <= ref * (1 + 1e-9)), "Opacus RDP looser than dp-accounting RDP"


def test_rdp_monotone_in_steps_and_noise(rdp_grid):
    _monotone(rdp_grid[0])


@pytest.mark.slow
def test_prv_agrees_with_dp_accounting_pld(prv_grid):
    ours, ref = prv_grid
    meaningful = ref >= 0.05
    assert meaningful.sum() >= 40
    rel = np.abs(ours - ref)[meaningful] / ref[meaningful]
    assert rel.max() <= 0.01, f"max relative difference {rel.max():.3%}"


@pytest.mark.slow
def test_prv_monotone_and_never_looser_than_rdp(prv_grid):
    ours, _ = prv_grid
    _monotone(ours)
    for (i, q), (j, s), (k, t) in itertools.product(enumerate(PRV_Q), enumerate(PRV_SIGMA),
                                                    enumerate(PRV_T)):
        rdp = A.dpsgd_epsilon(noise_multiplier=s, sample_rate=q, steps=t, delta=DELTA,
                              accountant="rdp")
        assert ours[i, j, k] <= rdp * (1 + 1e-9), (q, s, t)


def test_prv_matches_opacus_prv_accountant_directly():
    from opacus.accountants import PRVAccountant

    acc = PRVAccountant()
    for _ in range(400):
        acc.step(noise_multiplier=1.1, sample_rate=0.02)
    theirs = acc.get_epsilon(delta=DELTA)  # Opacus default eps_error = 0.01 (upper bound)
    ours = A.dpsgd_epsilon(noise_multiplier=1.1, sample_rate=0.02, steps=400, delta=DELTA)
    # Ours uses a smaller eps_error, so it is the tighter upper bound, within Opacus' 0.01.
    assert ours <= theirs + 1e-9
    assert theirs - ours <= 0.0101


@pytest.mark.parametrize("accountant", ["prv", "rdp"])
@pytest.mark.parametrize("target,q,steps", [(1.0, 0.01, 2000), (8.0, 0.05, 600)])
def test_inverse_round_trip(accountant, target, q, steps):
    sigma = A.noise_multiplier_for_epsilon(target_epsilon=target, sample_rate=q, steps=steps,
                                           delta=DELTA, accountant=accountant)
    eps = A.dpsgd_epsilon(noise_multiplier=sigma, sample_rate=q, steps=steps, delta=DELTA,
                          accountant=accountant)
    assert eps <= target
    assert eps >= 0.99 * target
    # A little less noise must overshoot: σ is (nearly) the smallest that meets the target.
    assert A.dpsgd_epsilon(noise_multiplier=sigma * 0.98, sample_rate=q, steps=steps,
                           delta=DELTA, accountant=accountant) > target


def test_inverse_close_to_opacus_helper():
    from opacus.accountants.utils import get_noise_multiplier

    ours = A.noise_multiplier_for_epsilon(target_epsilon=2.0, sample_rate=0.01, steps=1000,
                                          delta=DELTA, accountant="rdp")
    theirs = get_noise_multiplier(target_epsilon=2.0, target_delta=DELTA, sample_rate=0.01,
                                  steps=1000, accountant="rdp", epsilon_tolerance=0.001)
    assert ours == pytest.approx(theirs, rel=0.01)


def test_zero_noise_is_infinite_epsilon():
    assert A.dpsgd_epsilon(noise_multiplier=0, sample_rate=0.1, steps=1, delta=DELTA) == math.inf
    assert A.gdp_mu(noise_multiplier=0, sample_rate=0.1, steps=1) == math.inf
    assert A.gdp_mu(noise_multiplier=0.01, sample_rate=0.1, steps=1) == math.inf  # overflow


def test_gdp_mu_formula_and_opacus():
    from opacus.accountants.analysis.gdp import compute_mu_poisson

    for s, q, t in [(1.0, 0.01, 1000), (2.0, 0.1, 10), (0.8, 0.004, 5000)]:
        mu = A.gdp_mu(noise_multiplier=s, sample_rate=q, steps=t)
        assert mu == pytest.approx(q * math.sqrt(t * (math.exp(1 / s**2) - 1)), rel=1e-12)
        assert mu == pytest.approx(compute_mu_poisson(steps=t, noise_multiplier=s,
                                                      sample_rate=q), rel=1e-12)
    assert A.gdp_mu(noise_multiplier=1.0, sample_rate=0.01, steps=2000) > \
        A.gdp_mu(noise_multiplier=1.0, sample_rate=0.01, steps=1000)


def test_compose_heterogeneous_is_tighter_than_summing():
    events = [(1.0, 0.01, 300), A.gaussian_event(sigma=5.0, sensitivity=1.0), (1.0, 0.01, 200)]
    joint = A.compose_epsilon(events=events, delta=DELTA)
    # Merged identical events are one 500-step run; the Gaussian answer adds a little.
    run = A.dpsgd_epsilon(noise_multiplier=1.0, sample_rate=0.01, steps=500, delta=DELTA)
    assert run < joint
    parts = (A.dpsgd_epsilon(noise_multiplier=1.0, sample_rate=0.01, steps=300, delta=DELTA)
             + A.dpsgd_epsilon(noise_multiplier=1.0, sample_rate=0.01, steps=200, delta=DELTA)
             + A.compose_epsilon(events=[events[1]], delta=DELTA))
    assert joint < parts
    assert A.compose_epsilon(events=[], delta=DELTA) == 0.0


@pytest.mark.parametrize("kwargs,name", [
    (dict(noise_multiplier=-1), "noise_multiplier"),
    (dict(noise_multiplier=float("nan")), "noise_multiplier"),
    (dict(sample_rate=0.0), "sample_rate"),
    (dict(sample_rate=1.5), "sample_rate"),
    (dict(steps=0), "steps"),
    (dict(steps=2.5), "steps"),
    (dict(steps=True), "steps"),
    (dict(delta=0.0), "delta"),
    (dict(delta=1.0), "delta"),
    (dict(accountant="gdp"), "accountant"),
])
def test_bad_input_names_the_parameter(kwargs, name):
    args = dict(noise_multiplier=1.0, sample_rate=0.01, steps=10, delta=DELTA) | kwargs
    with pytest.raises(InvalidParameterError, match=name):
        A.dpsgd_epsilon(**args)


def test_bad_target_epsilon():
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InvalidParameterError, match="target_epsilon"):
            A.noise_multiplier_for_epsilon(target_epsilon=bad, sample_rate=0.01, steps=10,
                                           delta=DELTA)


def test_tiny_noise_uses_rdp_fast_and_stays_monotone():
    # PRV would take minutes here; RDP answers at once and is never below PRV, so ε keeps
    # falling as σ rises across the switch-over point.
    kw = dict(sample_rate=0.01, steps=1000, delta=DELTA)
    below = A.dpsgd_epsilon(noise_multiplier=A.PRV_MIN_NOISE_MULTIPLIER * 0.99, **kw)
    assert below == A.dpsgd_epsilon(noise_multiplier=A.PRV_MIN_NOISE_MULTIPLIER * 0.99,
                                    accountant="rdp", **kw)
    tiny = A.dpsgd_epsilon(noise_multiplier=0.1, **kw)
    above = A.dpsgd_epsilon(noise_multiplier=A.PRV_MIN_NOISE_MULTIPLIER, **kw)
    assert tiny > below > above > 0


@pytest.mark.parametrize("accountant", ["prv", "rdp"])
def test_huge_noise_is_accounted_at_the_cap_never_below(accountant):
    from medpriv_widgets.privacy.accounting import SIGMA_ACCOUNTED_MAX

    kw = dict(sample_rate=0.01, steps=1000, delta=1e-5, accountant=accountant)
    at_cap = A.dpsgd_epsilon(noise_multiplier=SIGMA_ACCOUNTED_MAX, **kw)
    below = A.dpsgd_epsilon(noise_multiplier=SIGMA_ACCOUNTED_MAX / 10, **kw)
    for sigma in (1e6, 1e300):  # overflowed inside Opacus before (a raw OverflowError)
        eps = A.dpsgd_epsilon(noise_multiplier=sigma, **kw)
        assert eps == at_cap and 0.0 <= eps <= below < 0.01
