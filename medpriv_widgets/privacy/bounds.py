"""What an attacker can achieve against a DP model: trade-off curves and reconstruction bounds.

Every function here returns numbers for plotting; none draws. The hypothesis-testing view of
differential privacy (Dong, Roth & Su 2022) says: for a membership test with false-positive rate
FPR = α, a mechanism whose trade-off function is ``f`` allows at most ``TPR = 1 − f(α)``. We
return that maximum TPR (the "bound curve" drawn over an attack's ROC), not ``f`` itself.

Three curves, from tight to loose:

* :func:`tradeoff_curve` — the curve of the actual accounted DP-SGD run (Poisson-subsampled
  Gaussian composed ``steps`` times), from the privacy-loss distribution (dp-accounting PLD, the
  default) or the Gaussian-DP central-limit approximation (``method="gdp"``).
* :func:`gdp_tradeoff` — μ-Gaussian DP, ``TPR = Φ(Φ⁻¹(FPR) + μ)``.
* :func:`eps_delta_region` — what a bare (ε, δ) claim alone promises; far looser.

:func:`rero_bound` turns any of these into a bound on reconstruction success for a prior κ
(Balle, Cherubin & Hayes 2022; Kaissis et al. 2023).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq
from scipy.special import erfinv
from scipy.stats import norm

from .._validate import check_choice, check_int, check_positive, check_real
from ..errors import InvalidParameterError
# μ of a DP-SGD run lives with the rest of the accounting; re-exported here for plotting code.
from .accounting import gdp_mu

__all__ = [
    "tradeoff_curve",
    "gdp_tradeoff",
    "gdp_mu",
    "gdp_delta",
    "gdp_mu_for_epsilon_delta",
    "eps_delta_region",
    "rero_bound",
    "dpsgd_pld_epsilon",
    "PLD_MAX_POINTS",
    "PLD_MIN_NOISE_MULTIPLIER",
]

# Resolution of the privacy-loss grid handed to dp-accounting. 1e-3 changes ε by < 0.1 % against
# 1e-4 in the regimes we teach (σ ≥ 0.5, T ≤ 10⁵) at a tenth of the time; the rounding is
# pessimistic either way, so the curve stays a valid upper bound.
_PLD_DISCRETIZATION = 1e-3


def _discretization(sigma: float) -> float:
    """Grid step for σ: privacy losses scale like 1/σ², so below σ = 0.5 the grid is widened in
    proportion (same relative precision; otherwise tiny σ takes minutes). Still pessimistic."""
    return _PLD_DISCRETIZATION * max(1.0, (0.5 / sigma) ** 2)
# ε grid for the (ε, δ(ε)) envelope. Any finite grid gives a valid (slightly looser) bound
# because each ε contributes a true constraint; 4001 points make the looseness invisible.
_N_EPSILON = 4001


# --------------------------------------------------------------------------- input checks

def _check_prob_array(name: str, values) -> tuple[np.ndarray, bool]:
    """Array of probabilities strictly inside (0, 1); returns (array, was_scalar)."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"`{name}` must be a number or an array of numbers in (0, 1); got {values!r}."
        ) from None
    if arr.size == 0:
        raise InvalidParameterError(f"`{name}` must hold at least one value in (0, 1); got an "
                                    f"empty array.")
    bad = ~((arr > 0.0) & (arr < 1.0))  # also catches NaN
    if bad.any():
        first = arr[bad].ravel()[0]
        raise InvalidParameterError(
            f"`{name}` must lie strictly between 0 and 1 (a rate, not a percentage); got "
            f"{first!r}{' among other values' if arr.size > 1 else ''}.")
    return arr, arr.ndim == 0


#: Smallest σ whose privacy-loss distribution we discretise (below it the losses are so large
#: that the grid step would exceed the losses themselves; such a run protects nothing).
PLD_MIN_NOISE_MULTIPLIER = 0.01


#: Most grid points the PLD of one run may need (memory grows with it; ~10⁴ in the lessons).
PLD_MAX_POINTS = 2_000_000


def _check_pld_size(sigma: float, q: float, steps: int) -> None:
    """Refuse, before dp-accounting allocates it, a PLD whose grid would exceed PLD_MAX_POINTS.

    The composed privacy loss lives (up to a tail of 1e-15) below ε(δ = 1e-15), which RDP
    bounds from above, and above minus that; the grid covers it at :func:`_discretization`.
    """
    from .accounting import _rdp_epsilon

    reach = _rdp_epsilon(((sigma, q, steps),), 1e-15)
    points = 2.0 * reach / _discretization(sigma)
    if not points <= PLD_MAX_POINTS:
        raise InvalidParameterError(
            f"The exact curve of a run with noise_multiplier={sigma}, sample_rate={q}, "
            f"steps={steps} would need a grid of about {points:,.0f} points (more than "
            f"{PLD_MAX_POINTS:,}). Use method='gdp' (the central-limit curve) for so many steps "
            f"or so little noise.")


def _check_dpsgd(noise_multiplier, sample_rate, steps) -> tuple[float, float, int]:
    sigma = check_real("noise_multiplier", noise_multiplier, low=PLD_MIN_NOISE_MULTIPLIER,
                       hint=f"σ = 0 means no privacy at all (the attacker bound is TPR = 1); "
                            f"below {PLD_MIN_NOISE_MULTIPLIER} the curve is TPR ≈ 1 as well: use "
                            f"method='gdp' or eps_delta_region for it.")
    q = check_real("sample_rate", sample_rate, low=0.0, high=1.0, low_inclusive=False)
    t = check_int("steps", steps, low=1)
    return sigma, q, t


# --------------------------------------------------------------------------- Gaussian DP

def gdp_delta(*, mu: float, epsilon) -> np.ndarray | float:
    """δ(ε) of a μ-GDP mechanism: ``Φ(−ε/μ + μ/2) − e^ε·Φ(−ε/μ − μ/2)``.

    ``epsilon``: scalar or array (≥ 0). Returns the same shape.
    """
    mu = check_positive("mu", mu)
    try:
        eps = np.asarray(epsilon, dtype=float)
    except (TypeError, ValueError):
        eps = None
    if eps is None or eps.size == 0 or np.isnan(eps).any() or (eps < 0).any():
        raise InvalidParameterError(f"`epsilon` must be a number or an array of numbers >= 0; "
                                    f"got {epsilon!r}.")
    # Written with log-CDFs so e^ε·Φ(·) does not overflow for large ε.
    out = norm.cdf(-eps / mu + mu / 2) - np.exp(eps + norm.logcdf(-eps / mu - mu / 2))
    out = np.clip(out, 0.0, 1.0)
    return float(out) if out.ndim == 0 else out


def gdp_mu_for_epsilon_delta(*, epsilon: float, delta: float) -> float:
    """The μ whose GDP curve has exactly δ(ε) = ``delta`` — "the matching GDP curve".

    Solves the conversion formula of :func:`gdp_delta` for μ (it is increasing in μ). At
    ε = 0 it is closed-form: δ(0) = erf(μ/(2√2)), so μ = 2√2·erfinv(δ).
    """
    eps = check_real("epsilon", epsilon, low=0.0)
    d = check_real("delta", delta, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    if eps == 0.0:
        return float(2.0 * math.sqrt(2.0) * erfinv(d))

    def gap(m: float) -> float:
        return gdp_delta(mu=m, epsilon=eps) - d

    lo, hi = 1e-6, 1.0
    while gap(lo) > 0:  # tiny ε and δ: the crossing is below 1e-6
        lo /= 1e3
        if lo < 1e-300:
            return float(lo)
    while gap(hi) < 0:  # δ(ε) → 1 as μ → ∞, but only beyond μ ≈ ε for a large ε
        hi *= 2.0
        if hi > _MU_MAX:
            raise InvalidParameterError(
                f"`epsilon` = {epsilon!r} with `delta` = {delta!r} matches no Gaussian-DP curve "
                f"with μ ≤ {_MU_MAX:g}: such an ε promises nothing. Use a smaller ε or δ.")
    return float(brentq(gap, lo, hi, xtol=1e-12 * lo, rtol=1e-12))


#: Largest μ the matching-curve search tries (μ = 1e6 allows any attacker anything).
_MU_MAX = 1e6


def gdp_tradeoff(*, mu: float, fpr) -> np.ndarray:
    """Max TPR of a μ-GDP mechanism at each FPR: ``Φ(Φ⁻¹(FPR) + μ)``.

    ``fpr``: scalar or array in (0, 1). Returns an array of the same shape (float for a scalar).
    """
    mu = check_real("mu", mu, low=0.0)
    alpha, scalar = _check_prob_array("fpr", fpr)
    tpr = norm.cdf(norm.ppf(alpha) + mu)
    return float(tpr) if scalar else tpr


# --------------------------------------------------------------------------- (ε, δ) region

def _envelope(alpha: np.ndarray, eps: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """min over the (ε_i, δ_i) pairs of the (ε, δ)-DP constraints on TPR at FPR α.

    Each pair says TPR ≤ e^ε·α + δ and TPR ≤ 1 − e^{−ε}(1 − δ − α) (the second is the same
    constraint with the roles of the two neighbouring data sets swapped).
    """
    a = alpha.reshape(-1, 1)
    e = eps.reshape(1, -1)
    d = delta.reshape(1, -1)
    # Process FPR values in chunks to keep the (n_fpr × n_eps) matrices small.
    out = np.empty(a.shape[0])
    chunk = max(1, 2_000_000 // max(1, e.shape[1]))
    for start in range(0, a.shape[0], chunk):
        aa = a[start:start + chunk]
        upper1 = np.exp(e) * aa + d
        upper2 = 1.0 - np.exp(-e) * (1.0 - d - aa)
        out[start:start + chunk] = np.minimum(upper1, upper2).min(axis=1)
    return np.clip(np.maximum(out, alpha.ravel()), 0.0, 1.0)


def eps_delta_region(*, epsilon: float, delta: float, fpr) -> np.ndarray:
    """Max TPR allowed by a bare (ε, δ)-DP claim at each FPR.

    ``TPR ≤ min{e^ε·FPR + δ, 1 − e^{−ε}(1 − δ − FPR)}`` (Kairouz, Oh & Viswanath 2015).
    ``epsilon`` ≥ 0 (``inf`` allowed: no bound, TPR ≤ 1), ``delta`` in [0, 1).
    """
    eps = check_real("epsilon", epsilon, low=0.0, allow_inf=True)
    d = check_real("delta", delta, low=0.0, high=1.0, high_inclusive=False)
    alpha, scalar = _check_prob_array("fpr", fpr)
    if math.isinf(eps):
        tpr = np.ones_like(alpha)
    else:
        tpr = _envelope(alpha.ravel(), np.array([eps]), np.array([d])).reshape(alpha.shape)
    return float(tpr) if scalar else tpr


# --------------------------------------------------------------------------- PLD curve

@functools.lru_cache(maxsize=32)
def _dpsgd_pld(sigma: float, q: float, steps: int, discretization: float):
    """PLD of Poisson-subsampled Gaussian (sensitivity 1, noise σ) composed ``steps`` times."""
    from dp_accounting.pld import privacy_loss_distribution as pld_lib

    single = pld_lib.from_gaussian_mechanism(
        standard_deviation=sigma, sensitivity=1.0, sampling_prob=q,
        value_discretization_interval=discretization, pessimistic_estimate=True)
    return single.self_compose(steps)


@functools.lru_cache(maxsize=32)
def _dpsgd_delta_curve(sigma: float, q: float, steps: int,
                       discretization: float) -> tuple[np.ndarray, np.ndarray]:
    """(ε grid, δ(ε)) of the composed mechanism; δ is the max over add and remove neighbours."""
    pld = _dpsgd_pld(sigma, q, steps, discretization)
    # Up to where δ(ε) is negligible; beyond that the constraints can no longer bind for any
    # FPR we plot (≥ 1e-9). Capped so a nearly non-private run still gets a finite grid.
    eps_hi = pld.get_epsilon_for_delta(1e-15)
    eps_hi = 60.0 if not math.isfinite(eps_hi) else min(max(eps_hi * 1.05, 1.0), 60.0)
    eps = np.linspace(0.0, eps_hi, _N_EPSILON)
    delta = np.clip(np.asarray(pld.get_delta_for_epsilon(eps), dtype=float), 0.0, 1.0)
    eps.setflags(write=False)
    delta.setflags(write=False)
    return eps, delta


def dpsgd_pld_epsilon(*, noise_multiplier: float, sample_rate: float, steps: int,
                      delta: float) -> float:
    """ε at ``delta`` of the same PLD that :func:`tradeoff_curve` uses (dp-accounting, pessimistic).

    Provided so a curve and its ε come from one computation; the project's accountant of record
    is :mod:`medpriv_widgets.privacy.accounting`.
    """
    sigma, q, t = _check_dpsgd(noise_multiplier, sample_rate, steps)
    d = check_real("delta", delta, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    _check_pld_size(sigma, q, t)
    return float(_dpsgd_pld(sigma, q, t, _discretization(sigma)).get_epsilon_for_delta(d))


def tradeoff_curve(*, noise_multiplier: float, sample_rate: float, steps: int, fpr,
                   method: str = "pld") -> np.ndarray:
    """Max TPR of any membership test against an accounted DP-SGD run, at each FPR.

    Parameters
    ----------
    noise_multiplier : σ > 0 (noise std / clipping norm).
    sample_rate : Poisson sampling rate q in (0, 1].
    steps : number of noisy steps T ≥ 1.
    fpr : scalar or array of false-positive rates in (0, 1).
    method : ``"pld"`` (default): exact up to discretisation, from dp-accounting's privacy-loss
        distribution; the curve is the envelope
        ``min_ε min{e^ε·α + δ(ε), 1 − e^{−ε}(1 − δ(ε) − α)}`` over a fine ε grid (Dong, Roth &
        Su 2022, Prop. 2.12), with δ(ε) the larger of the add and remove directions.
        ``"gdp"``: the central-limit approximation ``Φ(Φ⁻¹(α) + μ)`` with μ from :func:`gdp_mu`
        (fast; can be off when q is large or T small).

    Returns
    -------
    TPR with the shape of ``fpr`` (a float for a scalar), non-decreasing in FPR, ≥ FPR, ≤ 1.
    """
    sigma, q, t = _check_dpsgd(noise_multiplier, sample_rate, steps)
    alpha, scalar = _check_prob_array("fpr", fpr)
    method = check_choice("method", method, ("pld", "gdp"))
    if method == "gdp":
        tpr = norm.cdf(norm.ppf(alpha) + gdp_mu(noise_multiplier=sigma, sample_rate=q, steps=t))
    else:
        _check_pld_size(sigma, q, t)
        eps, delta = _dpsgd_delta_curve(sigma, q, t, _discretization(sigma))
        tpr = _envelope(alpha.ravel(), eps, delta).reshape(alpha.shape)
    return float(tpr) if scalar else tpr


# --------------------------------------------------------------------------- reconstruction

def rero_bound(*, kappa, epsilon: float | None = None, delta: float = 0.0,
               mu: float | None = None,
               tradeoff: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray | float:
    """Upper bound on reconstruction success for an attacker whose baseline (prior) success is κ.

    Give exactly one of:

    * ``epsilon`` (with optional ``delta``): ``min(1, e^ε·κ + δ)`` (Balle, Cherubin & Hayes 2022);
    * ``mu``: μ-GDP, ``Φ(Φ⁻¹(κ) + μ)``;
    * ``tradeoff``: any f-DP curve given as a callable FPR-array → max-TPR-array (for example
      ``lambda a: tradeoff_curve(noise_multiplier=1.0, sample_rate=0.01, steps=1000, fpr=a)``);
      the bound is ``1 − f(κ)``, i.e. that callable evaluated at κ (Kaissis et al. 2023).

    ``kappa``: scalar or array in (0, 1). Returns the same shape, values in [κ, 1].
    """
    k, scalar = _check_prob_array("kappa", kappa)
    given = [name for name, v in (("epsilon", epsilon), ("mu", mu), ("tradeoff", tradeoff))
             if v is not None]
    if len(given) != 1:
        raise InvalidParameterError(
            "Give exactly one of `epsilon`, `mu` or `tradeoff` to `rero_bound`; got "
            f"{', '.join(given) if given else 'none'}.")
    if epsilon is not None:
        eps = check_real("epsilon", epsilon, low=0.0, allow_inf=True)
        d = check_real("delta", delta, low=0.0, high=1.0, high_inclusive=False)
        with np.errstate(over="ignore"):
            out = np.minimum(1.0, np.exp(eps) * k + d) if math.isfinite(eps) else np.ones_like(k)
    elif mu is not None:
        m = check_real("mu", mu, low=0.0)
        out = norm.cdf(norm.ppf(k) + m)
    else:
        if not callable(tradeoff):
            raise InvalidParameterError(
                f"`tradeoff` must be a callable mapping an FPR array to the max-TPR array; got "
                f"{type(tradeoff).__name__}.")
        out = np.asarray(tradeoff(k), dtype=float)
        if out.shape != k.shape or np.isnan(out).any():
            raise InvalidParameterError(
                "`tradeoff` must return one max-TPR value per FPR value it is given (same shape, "
                f"no NaN); got shape {out.shape} for input shape {k.shape}.")
        out = np.clip(out, 0.0, 1.0)
    out = np.maximum(out, k)  # never below the prior: an attacker can always just guess
    return float(out) if scalar else out
