"""Privacy accounting for DP-SGD (the Poisson-subsampled Gaussian mechanism), through Opacus.

Pure functions only: no state, no files. The stateful budget lives in :mod:`.ledger`.

Symbols: σ = ``noise_multiplier`` (noise standard deviation / clipping norm), q =
``sample_rate`` (probability that one example is in a batch, Poisson sampling), T = ``steps``
(optimizer steps), δ = ``delta``.

Accountants (``accountant=``):

- ``"prv"`` (default): Opacus ``PRVAccountant`` (Gopi, Lee & Wutschitz 2021), numerically tight.
  Opacus returns an *upper bound* ``ε_estimate + eps_error``. Opacus' default ``eps_error=0.01``
  is 10 % of ε at ε = 0.1, so we choose it relative to ε (see :func:`prv_eps_error`): 0.3 % of a
  fast first PRV estimate of ε (made at Opacus' default), at most 0.01, at least 1e-4, and
  coarser only when the discretisation grid would exceed ``PRV_MAX_POINTS`` points (very many
  steps), which keeps one call below ~2 s on a laptop core.
- ``"rdp"``: Opacus ``RDPAccountant`` (Mironov 2017; conversion of Balle et al. 2020). Looser
  (typically 5–30 % above PRV) but fast and robust.

Cross-checks against Google's dp-accounting (:func:`dp_accounting_epsilon`) live in
``tests/test_accounting.py``: RDP against ``dp_accounting.rdp.RdpAccountant`` with the same
orders, PRV against ``dp_accounting.pld.PLDAccountant``.

If the PRV computation fails numerically (it can for δ below ~1e-12, or ε in the hundreds), we fall back
to RDP — still a valid upper bound — and warn.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from ..errors import InvalidParameterError
from .._validate import check_choice, check_int, check_nonnegative, check_open_unit, check_real

__all__ = [
    "ACCOUNTANTS",
    "PRV_MAX_POINTS",
    "dpsgd_epsilon",
    "noise_multiplier_for_epsilon",
    "gdp_mu",
    "compose_epsilon",
    "gaussian_event",
    "prv_eps_error",
    "dp_accounting_epsilon",
]

#: Accountant names accepted by ``accountant=``.
ACCOUNTANTS = ("prv", "rdp")

#: Largest PRV discretisation grid we allow (points); beyond it eps_error is coarsened.
PRV_MAX_POINTS = 2_000_000

_REL_EPS_ERROR = 0.003   # eps_error as a fraction of the RDP upper bound on ε
_MAX_EPS_ERROR = 0.01    # Opacus' default; never looser than that unless the grid is too big
_MIN_EPS_ERROR = 1e-4    # below this the grid explodes and nobody needs the digits


# --------------------------------------------------------------------------- validation
def _check_sigma(value) -> float:
    return check_nonnegative("noise_multiplier", value,
                             hint="It is the noise standard deviation divided by the "
                                  "clipping norm; 0 means no noise (not private).")


def _check_q(value) -> float:
    return check_real("sample_rate", value, low=0.0, high=1.0, low_inclusive=False,
                      hint="It is batch size / dataset size (Poisson sampling).")


def _check_steps(value) -> int:
    return check_int("steps", value, low=1, hint="Count optimizer steps, e.g. epochs / sample_rate.")


def _check_delta(value) -> float:
    return check_open_unit("delta", value,
                           hint="Choose δ well below 1/(number of patients), e.g. 1e-5.")


History = tuple[tuple[float, float, int], ...]


def _merge(events: Iterable[tuple[float, float, int]]) -> History:
    """Merge identical (σ, q) events by summing steps, in first-seen order (as Opacus does)."""
    merged: dict[tuple[float, float], int] = {}
    for sigma, q, steps in events:
        merged[(float(sigma), float(q))] = merged.get((float(sigma), float(q)), 0) + int(steps)
    return tuple((s, q, t) for (s, q), t in merged.items())


# --------------------------------------------------------------------------- pure formulas
@functools.lru_cache(maxsize=4096)
def _rdp_per_step(sigma: float, q: float) -> tuple[float, ...]:
    """RDP of one subsampled-Gaussian step at Opacus' default orders (RDP adds over steps)."""
    from opacus.accountants import RDPAccountant
    from opacus.accountants.analysis import rdp as rdp_analysis

    return tuple(float(v) for v in rdp_analysis.compute_rdp(
        q=q, noise_multiplier=sigma, steps=1, orders=RDPAccountant.DEFAULT_ALPHAS))


@functools.lru_cache(maxsize=4096)
def _rdp_epsilon(history: History, delta: float) -> float:
    """Exactly what Opacus' ``RDPAccountant`` returns for this history (same orders and
    conversion), but the per-step RDP is cached per (σ, q), so sweeps over T are cheap."""
    from opacus.accountants import RDPAccountant
    from opacus.accountants.analysis import rdp as rdp_analysis

    rdp = sum(t * np.asarray(_rdp_per_step(s, q)) for s, q, t in history)
    with warnings.catch_warnings():
        # "Optimal order is the largest alpha": harmless, the bound is still valid.
        warnings.simplefilter("ignore", UserWarning)
        eps, _ = rdp_analysis.get_privacy_spent(orders=RDPAccountant.DEFAULT_ALPHAS, rdp=rdp,
                                                delta=delta)
    return float(eps)


def prv_eps_error(*, events: Sequence[tuple[float, float, int]], delta: float) -> float:
    """The ``eps_error`` we pass to Opacus' PRV accountant for these events (see module doc).

    ``events``: (noise_multiplier, sample_rate, steps) triples, all with σ > 0.
    """
    history = _merge(events)
    # Aim with the fast PRV estimate (upper bound at Opacus' default minus that default):
    # it is accurate to well under 1 %, unlike RDP, which can overstate ε 3-fold for few steps.
    eps_rough = _prv_epsilon(history, delta, _MAX_EPS_ERROR) - _MAX_EPS_ERROR
    err = min(_MAX_EPS_ERROR, max(_MIN_EPS_ERROR, _REL_EPS_ERROR * eps_rough))
    # Opacus' grid: mesh = eps_error / sqrt(T·ln(12/δ_err)/2) over [-L, L], L ≲ ε_RDP(δ_err/4)+3.
    total_steps = sum(t for _, _, t in history)
    delta_error = delta / 1000.0
    half_width = _rdp_epsilon(history, delta_error / 4.0) + 3.0
    points_per_unit_error = 2.0 * half_width * math.sqrt(total_steps * math.log(12.0 / delta_error) / 2.0)
    return float(max(err, points_per_unit_error / PRV_MAX_POINTS))


@functools.lru_cache(maxsize=4096)
def _prv_epsilon(history: History, delta: float, eps_error: float) -> float:
    from opacus.accountants import PRVAccountant

    acc = PRVAccountant()
    acc.history = [tuple(h) for h in history]
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Opacus' inner RDP domain estimate
            eps = float(acc.get_epsilon(delta=delta, eps_error=eps_error))
        if not math.isfinite(eps):
            raise FloatingPointError("PRV returned a non-finite epsilon")
    except (ValueError, RuntimeError, FloatingPointError, OverflowError, MemoryError) as exc:
        warnings.warn(f"The PRV accountant failed ({exc}); using the RDP accountant instead, "
                      f"which gives a valid but looser (larger) epsilon.", RuntimeWarning,
                      stacklevel=3)
        return _rdp_epsilon(history, delta)
    # ε is never negative; tiny negatives are discretisation noise at ε ≈ 0.
    return max(eps, 0.0)


# Below this noise multiplier Opacus' PRV grid grows so wide that one call takes tens of seconds
# to minutes (σ = 0.2: ~28 s, σ = 0.1: > 1 min on two cores), which freezes a slider. ε there
# is in the hundreds, where the tightness of PRV teaches nothing, so we use RDP: a valid upper
# bound that is never below PRV, so "more noise never raises ε" still holds across the switch.
PRV_MIN_NOISE_MULTIPLIER = 0.3


def _epsilon(history: History, delta: float, accountant: str) -> float:
    if any(s == 0.0 for s, _, _ in history):
        return math.inf  # no noise: no privacy at all
    if accountant == "rdp" or any(s < PRV_MIN_NOISE_MULTIPLIER for s, _, _ in history):
        return _rdp_epsilon(history, delta)
    return _prv_epsilon(history, delta, prv_eps_error(events=history, delta=delta))


def dpsgd_epsilon(*, noise_multiplier: float, sample_rate: float, steps: int, delta: float,
                  accountant: str = "prv") -> float:
    """ε after ``steps`` DP-SGD steps (Poisson sampling at rate q, Gaussian noise σ·C).

    Returns a float ≥ 0 (dimensionless; the guarantee is (ε, δ)-DP for add/remove-one-example
    neighbours); ``inf`` when ``noise_multiplier == 0`` (no noise: not private). More steps never
    lower ε; more noise never raises it.
    """
    sigma = _check_sigma(noise_multiplier)
    q = _check_q(sample_rate)
    t = _check_steps(steps)
    d = _check_delta(delta)
    accountant = check_choice("accountant", accountant, ACCOUNTANTS)
    return _epsilon(((sigma, q, t),), d, accountant)


def compose_epsilon(*, events: Sequence[tuple[float, float, int]], delta: float,
                    accountant: str = "prv") -> float:
    """ε of several (sub-sampled) Gaussian mechanisms composed together (tight, not summed).

    ``events``: sequence of ``(noise_multiplier, sample_rate, steps)``. A plain Gaussian
    mechanism with noise standard deviation s on a query of sensitivity Δ is
    ``gaussian_event(sigma=s, sensitivity=Δ)`` = ``(s/Δ, 1.0, 1)``. Empty → 0.0.
    """
    d = _check_delta(delta)
    accountant = check_choice("accountant", accountant, ACCOUNTANTS)
    checked = []
    for i, ev in enumerate(events):
        try:
            sigma, q, t = ev
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"`events[{i}]` must be a (noise_multiplier, sample_rate, steps) triple; "
                f"got {ev!r}.") from None
        checked.append((_check_sigma(sigma), _check_q(q), _check_steps(t)))
    if not checked:
        return 0.0
    return _epsilon(_merge(checked), d, accountant)


def gaussian_event(*, sigma: float, sensitivity: float = 1.0) -> tuple[float, float, int]:
    """The (noise_multiplier, sample_rate, steps) triple of one Gaussian-mechanism answer.

    ``sigma``: noise standard deviation, in the units of the query; ``sensitivity``: L2
    sensitivity Δ in the same units. σ/Δ plays the role of the noise multiplier, q = 1, T = 1.
    """
    s = check_real("sigma", sigma, low=0.0, low_inclusive=False)
    sens = check_real("sensitivity", sensitivity, low=0.0, low_inclusive=False)
    return (s / sens, 1.0, 1)


def noise_multiplier_for_epsilon(*, target_epsilon: float, sample_rate: float, steps: int,
                                 delta: float, accountant: str = "prv") -> float:
    """The noise multiplier σ whose DP-SGD run spends (just under) ``target_epsilon``.

    Guarantee: ``dpsgd_epsilon(noise_multiplier=result, …, accountant=same) <= target_epsilon``
    exactly, and in practice ≥ 0.99·target. We bracket with Opacus' ``get_noise_multiplier`` on
    the RDP accountant, aim with the fast PRV estimate, then step σ up by 0.1 % until our own
    :func:`dpsgd_epsilon` meets the target, so forward and inverse agree. (Opacus' helper works
    to an absolute tolerance of 0.01 in ε, which is 10 % at ε = 0.1.)
    """
    target = check_real("target_epsilon", target_epsilon, low=0.0, low_inclusive=False,
                        hint="ε must be positive; use a larger ε for a looser guarantee.")
    q = _check_q(sample_rate)
    t = _check_steps(steps)
    d = _check_delta(delta)
    accountant = check_choice("accountant", accountant, ACCOUNTANTS)
    return _noise_for_epsilon(target, q, t, d, accountant)


@functools.lru_cache(maxsize=1024)
def _noise_for_epsilon(target: float, q: float, t: int, d: float, accountant: str) -> float:
    from opacus.accountants.utils import get_noise_multiplier
    from scipy.optimize import brentq

    def eps(sigma: float) -> float:
        return _epsilon(((sigma, q, t),), d, accountant)

    if accountant == "prv":
        def eps_fast(sigma: float) -> float:
            # Opacus' PRV at its default eps_error=0.01 is fast, and its *estimate*
            # (upper bound − eps_error) is accurate to ~0.1 %: good enough to aim with.
            return max(_prv_epsilon(((sigma, q, t),), d, _MAX_EPS_ERROR) - _MAX_EPS_ERROR, 1e-12)
    else:
        eps_fast = eps

    # RDP ≥ PRV, so the RDP answer is an upper end of the bracket for both accountants.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            hi = float(get_noise_multiplier(target_epsilon=target, target_delta=d, sample_rate=q,
                                            steps=t, accountant="rdp",
                                            epsilon_tolerance=0.05 * target))
    except ValueError:
        raise InvalidParameterError(
            f"`target_epsilon` = {target!r} cannot be reached with sample_rate={q}, steps={t}, "
            f"delta={d} even with noise multiplier 1e6; allow a larger ε, fewer steps or a "
            f"smaller sample rate.") from None
    # Aim below the target by the error margin the exact call adds, so one exact check passes.
    margin = prv_eps_error(events=((hi, q, t),), delta=d) if accountant == "prv" else 0.0
    aim = target * (1.0 - 0.001) - margin
    if aim <= 0:
        aim = target * 0.5
    while eps_fast(hi) > aim:
        hi *= 1.01
    # PRV's σ is typically 0.85–1.0 × the RDP σ; widen the bracket only if needed.
    lo = hi * 0.75
    while eps_fast(lo) <= aim:
        hi, lo = lo, lo * 0.5
        if lo < 1e-6:
            break
    if eps_fast(lo) > aim:
        root = brentq(lambda x: math.log(eps_fast(math.exp(x))) - math.log(aim),
                      math.log(lo), math.log(hi), xtol=1e-5, rtol=1e-7, maxiter=60)
        cand = math.exp(root)
    else:
        cand = hi
    # The guarantee is on the exact function: step up until it holds.
    while eps(cand) > target:
        cand *= 1.001
    return float(cand)


def gdp_mu(*, noise_multiplier: float, sample_rate: float, steps: int) -> float:
    """μ of Gaussian DP for DP-SGD by the central-limit approximation (Dong, Roth & Su 2019).

    μ ≈ q·√(T·(e^{1/σ²} − 1)) (Opacus ``compute_mu_poisson``); ``inf`` for σ = 0 or when
    e^{1/σ²} overflows. Dimensionless. An approximation: it can under-state the privacy loss
    for few steps or large q; prefer :func:`dpsgd_epsilon` for guarantees.
    """
    sigma = _check_sigma(noise_multiplier)
    q = _check_q(sample_rate)
    t = _check_steps(steps)
    if sigma == 0.0:
        return math.inf
    with np.errstate(over="ignore"):
        growth = float(np.expm1(1.0 / sigma**2))
    if not math.isfinite(growth):
        return math.inf
    return float(q * math.sqrt(t * growth))


def dp_accounting_epsilon(*, noise_multiplier: float, sample_rate: float, steps: int,
                          delta: float, method: str = "pld",
                          value_discretization_interval: float = 1e-4,
                          orders: Sequence[float] | None = None) -> float:
    """The same ε computed with Google's dp-accounting library (an independent cross-check).

    ``method="pld"``: ``PLDAccountant`` on ``SelfComposedDpEvent(PoissonSampledDpEvent(q,
    GaussianDpEvent(σ)), T)`` (pessimistic discretisation at ``value_discretization_interval``).
    ``method="rdp"``: ``RdpAccountant`` with ``orders`` (default: Opacus' orders, so the two RDP
    numbers are comparable).
    """
    sigma = _check_sigma(noise_multiplier)
    q = _check_q(sample_rate)
    t = _check_steps(steps)
    d = _check_delta(delta)
    method = check_choice("method", method, ("pld", "rdp"))
    vdi = check_real("value_discretization_interval", value_discretization_interval, low=0.0,
                     low_inclusive=False)
    if sigma == 0.0:
        return math.inf
    from dp_accounting import dp_event

    event = dp_event.SelfComposedDpEvent(
        dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), t)
    if method == "pld":
        from dp_accounting.pld import PLDAccountant

        acc = PLDAccountant(value_discretization_interval=vdi)
    else:
        from dp_accounting.rdp import RdpAccountant
        from opacus.accountants import RDPAccountant

        acc = RdpAccountant(orders=list(orders) if orders is not None
                            else list(RDPAccountant.DEFAULT_ALPHAS))
    acc.compose(event)
    return float(acc.get_epsilon(d))
