"""Privacy accounting for DP-SGD (the Poisson-subsampled Gaussian mechanism), through Opacus.

Pure functions only: no state, no files. The stateful budget lives in :mod:`.ledger`; the rule
by which its spends add up is :func:`compose_budget` here.

Symbols: σ = ``noise_multiplier`` (noise standard deviation / clipping norm), q =
``sample_rate`` (probability that one example is in a batch, Poisson sampling), T = ``steps``
(optimizer steps), δ = ``delta``.

Accountants (``accountant=``):

- ``"prv"`` (default): Opacus ``PRVAccountant`` (Gopi, Lee & Wutschitz 2021), numerically tight.
  Opacus returns an *upper bound* ``ε_estimate + eps_error``. Opacus' default ``eps_error=0.01``
  is 10 % of ε at ε = 0.1, so we choose it relative to ε (see :func:`prv_eps_error`): 0.3 % of a
  first, coarse PRV estimate of ε, at most 0.01, at least 1e-4. We report the smaller of this
  bound and the RDP bound (both are valid upper bounds on the same ε).
- ``"rdp"``: Opacus' RDP analysis (Mironov 2017; conversion of Balle et al. 2020) at
  :data:`RDP_ORDERS`: Opacus' default orders (up to 63) plus larger ones up to 1024, as
  dp-accounting uses. With Opacus' orders alone ε can never be certified below about 0.1 at
  δ = 1e-5, however much noise is added; the larger orders lower that floor to about 0.005.
  Where the best order is at most 63 the result is exactly Opacus' ``RDPAccountant``'s.

Bounded memory and time. Opacus discretises the PRV on a grid whose size grows with √T and with
the width of the privacy-loss distribution; unchecked, σ = 0.6, q = 0.2, T = 39,811 needs more
than 21 GB. Before any PRV call we compute that grid size exactly as Opacus will
(:func:`prv_grid_points`) and coarsen ``eps_error`` until the grid fits
:data:`PRV_MEMORY_BUDGET_MB` (measured: 170-245 bytes per grid point plus about 22 per point
and distinct event). When even ``eps_error`` = :data:`PRV_MAX_EPS_ERROR` does not fit, when there are
more than :data:`PRV_MAX_EVENTS` distinct (σ, q) events, or when δ is too small for the grid's
floating-point precision, we use RDP and say so with a :class:`RuntimeWarning`. RDP costs one
vector of :data:`RDP_ORDERS` values per distinct (σ, q), whatever T is. Below
:data:`PRV_MIN_NOISE_MULTIPLIER` RDP is used without a warning (ε there is in the hundreds).

Cross-checks against Google's dp-accounting (:func:`dp_accounting_epsilon`) live in
``tests/test_accounting.py``: RDP against ``dp_accounting.rdp.RdpAccountant`` with the same
orders, PRV against ``dp_accounting.pld.PLDAccountant``.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from .._validate import check_choice, check_int, check_nonnegative, check_open_unit, check_real
from ..errors import InvalidParameterError

__all__ = [
    "ACCOUNTANTS",
    "MAX_STEPS",
    "MIN_DELTA",
    "PRV_MAX_EPS_ERROR",
    "PRV_MAX_EVENTS",
    "PRV_MEMORY_BUDGET_MB",
    "PRV_MIN_NOISE_MULTIPLIER",
    "RDP_ORDERS",
    "check_delta",
    "compose_budget",
    "compose_epsilon",
    "dp_accounting_epsilon",
    "dpsgd_epsilon",
    "gaussian_event",
    "gdp_mu",
    "noise_multiplier_for_epsilon",
    "prv_eps_error",
    "prv_grid_points",
]

try:  # glibc only; elsewhere freed memory is left to the allocator
    import ctypes

    _MALLOC_TRIM = ctypes.CDLL("libc.so.6").malloc_trim
except (OSError, AttributeError):
    _MALLOC_TRIM = None

#: Accountant names accepted by ``accountant=``.
ACCOUNTANTS = ("prv", "rdp")

#: Opacus' default RDP orders (``RDPAccountant.DEFAULT_ALPHAS``), then larger integer orders up to
#: 1024 (dp-accounting's largest default order; beyond it Opacus' binomial coefficients overflow).
RDP_ORDERS: tuple[float, ...] = tuple(
    [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
    + [80, 96, 128, 160, 192, 256, 320, 384, 512, 640, 768, 1024])

#: Memory one PRV computation may use, above what the process already holds (MiB).
PRV_MEMORY_BUDGET_MB = 300.0
#: Peak of Opacus' PRV per grid point (bytes), and per point and distinct event: measured
#: 170-245 and 21-22 on this project's machines, rounded up for a margin.
_BYTES_PER_POINT = 260.0
_BYTES_PER_POINT_AND_EVENT = 40.0
#: Coarsest eps_error we hand to Opacus (its domain rule is only argued for eps_error < 1).
PRV_MAX_EPS_ERROR = 0.5
#: More distinct (σ, q) events than this: RDP (each PRV event costs 0.2-1.4 s of numerical
#: integration; 16 events took 23 s on two busy cores).
PRV_MAX_EVENTS = 8
#: Most optimizer steps accepted (far beyond any training run; larger counts overflow floats).
MAX_STEPS = 10**15
#: Smallest δ accepted anywhere: far below any meaningful failure probability, and the
#: accountants' floating-point precision ends well before it.
MIN_DELTA = 1e-30

_REL_EPS_ERROR = 0.003   # eps_error as a fraction of the coarse ε estimate
_MAX_EPS_ERROR = 0.01    # Opacus' default; never looser than that unless the grid is too big
_MIN_EPS_ERROR = 1e-4    # below this the grid explodes and nobody needs the digits

# Below this noise multiplier Opacus' PRV grid grows so wide that one call takes tens of seconds
# to minutes (σ = 0.2: ~28 s, σ = 0.1: > 1 min on two cores), which freezes a slider. ε there
# is in the hundreds, where the tightness of PRV teaches nothing, so we use RDP: a valid upper
# bound that is never below PRV, so "more noise never raises ε" still holds across the switch.
PRV_MIN_NOISE_MULTIPLIER = 0.3


# --------------------------------------------------------------------------- validation
def _check_sigma(value) -> float:
    return check_nonnegative("noise_multiplier", value,
                             hint="It is the noise standard deviation divided by the "
                                  "clipping norm; 0 means no noise (not private).")


def _check_q(value) -> float:
    return check_real("sample_rate", value, low=0.0, high=1.0, low_inclusive=False,
                      hint="It is batch size / dataset size (Poisson sampling).")


def _check_steps(value) -> int:
    return check_int("steps", value, low=1, high=MAX_STEPS,
                     hint="Count optimizer steps, e.g. epochs / sample_rate.")


def check_delta(delta, *, n_records: int | None = None, name: str = "delta") -> float:
    """δ as a float after checking it means a privacy guarantee at all.

    δ is the probability that the guarantee fails outright. Refused: anything outside
    [:data:`MIN_DELTA`, 0.5); and, when the number of people ``n_records`` is known, δ ≥ 1/N (a
    mechanism could then publish one person's record in the clear and still claim (ε, δ)-DP).
    """
    hint = "Choose δ well below 1/(number of patients), e.g. 1e-5."
    d = check_open_unit(name, delta, hint=hint)
    if d >= 0.5:
        raise InvalidParameterError(
            f"`{name}` must be below 0.5; got {delta!r}. δ is the probability that the privacy "
            f"guarantee fails outright, so at 0.5 or more there is no guarantee at all. {hint}")
    if d < MIN_DELTA:
        raise InvalidParameterError(
            f"`{name}` must be at least {MIN_DELTA:g}; got {delta!r}. A smaller δ changes nothing "
            f"in practice, and the accountants cannot compute with it precisely. {hint}")
    if n_records is not None:
        n = check_int("n_records", n_records, low=1)
        if d >= 1.0 / n:
            suggestion = 10.0 ** (math.floor(math.log10(1.0 / n)) - 1)
            raise InvalidParameterError(
                f"`{name}` must be below 1/N = {1.0 / n:.3g} for N = {n:,} records; got "
                f"{delta!r}. With δ ≥ 1/N a mechanism could publish one patient's record "
                f"outright and still claim (ε, δ)-DP. Choose e.g. δ = {suggestion:g}.")
    return d


def _check_events(events) -> list[tuple[float, float, int]]:
    if isinstance(events, (str, bytes, Mapping)) or not isinstance(events, Iterable):
        raise InvalidParameterError(
            f"`events` must be a list of (noise_multiplier, sample_rate, steps) triples; got "
            f"{type(events).__name__}. Pass [] for no events.")
    checked = []
    for i, ev in enumerate(events):
        try:
            sigma, q, t = ev
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"`events[{i}]` must be a (noise_multiplier, sample_rate, steps) triple; "
                f"got {ev!r}.") from None
        checked.append((_check_sigma(sigma), _check_q(q), _check_steps(t)))
    return checked


History = tuple[tuple[float, float, int], ...]


def _merge(events: Iterable[tuple[float, float, int]]) -> History:
    """Merge identical (σ, q) events by summing steps, in first-seen order (as Opacus does)."""
    merged: dict[tuple[float, float], int] = {}
    for sigma, q, steps in events:
        merged[(float(sigma), float(q))] = merged.get((float(sigma), float(q)), 0) + int(steps)
    return tuple((s, q, t) for (s, q), t in merged.items())


# --------------------------------------------------------------------------- RDP
@functools.lru_cache(maxsize=4096)
def _rdp_per_step(sigma: float, q: float) -> tuple[float, ...]:
    """RDP of one subsampled-Gaussian step at :data:`RDP_ORDERS` (RDP adds over steps)."""
    from opacus.accountants.analysis import rdp as rdp_analysis

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return tuple(float(v) for v in rdp_analysis.compute_rdp(
            q=q, noise_multiplier=sigma, steps=1, orders=list(RDP_ORDERS)))


@functools.lru_cache(maxsize=4096)
def _rdp_epsilon(history: History, delta: float) -> float:
    """Opacus' RDP-to-(ε, δ) conversion at :data:`RDP_ORDERS`; the per-step RDP is cached per
    (σ, q), so sweeps over T are cheap. Never negative: for δ near ½ the conversion formula
    dips below 0, and ε = 0 is the true floor."""
    from opacus.accountants.analysis import rdp as rdp_analysis

    with np.errstate(all="ignore"):
        rdp = sum(t * np.asarray(_rdp_per_step(s, q)) for s, q, t in history)
        # An order whose RDP overflowed (inf or nan) says nothing; the others still bound ε.
        rdp = np.where(np.isfinite(rdp), rdp, np.inf)
        with warnings.catch_warnings():
            # "Optimal order is the largest alpha": harmless, the bound is still valid.
            warnings.simplefilter("ignore", UserWarning)
            eps, _ = rdp_analysis.get_privacy_spent(orders=list(RDP_ORDERS), rdp=rdp,
                                                    delta=delta)
    eps = float(eps)
    return math.inf if math.isnan(eps) else max(eps, 0.0)


# --------------------------------------------------------------------------- PRV, bounded
@functools.lru_cache(maxsize=4096)
def _prv_half_width(history: History, delta_error: float) -> float:
    """Opacus' safe domain half-width L before the ``max(·, eps_error)`` (``L_max + 3``)."""
    from opacus.accountants.analysis.prv import PoissonSubsampledGaussianPRV, compute_safe_domain_size

    prvs = [PoissonSubsampledGaussianPRV(q, s) for s, q, _ in history]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(compute_safe_domain_size(prvs=prvs, max_self_compositions=[t for *_, t in history],
                                              eps_error=0.0, delta_error=delta_error))


def _fast_even(n: int) -> int:
    """The smallest even n' ≥ n whose FFT is fast (factors 2, 3, 5 only)."""
    from scipy.fft import next_fast_len

    m = next_fast_len(int(n), real=True)
    while m % 2:
        m = next_fast_len(m + 1, real=True)
    return m


def _grid_points(half_width: float, eps_error: float, total_steps: int, delta_error: float) -> float:
    # Opacus: mesh = eps_error / sqrt(T·ln(12/δ_err)/2) over [-L, L], L = max(L_max, eps_error) + 3,
    # widened to a fast FFT length (see _prv_accountant).
    span = 2.0 * max(half_width, eps_error + 3.0)
    points = span * math.sqrt(total_steps * math.log(12.0 / delta_error) / 2.0) / eps_error + 4.0
    return float(_fast_even(points)) if points < 1e12 else points


@functools.lru_cache(maxsize=1)
def _prv_accountant():
    """Opacus' PRV accountant on a grid widened to a fast FFT length.

    Opacus sizes its grid from ε's error and δ, so nearly every call has a new length, mostly
    with large prime factors. scipy's FFT keeps its last 16 plans, and a plan for such a length
    (Bluestein's algorithm) holds about 37 MB at 720,000 points: a search over σ grew by 44 MB a
    call, to 600 MB. For lengths with factors 2, 3 and 5 only, plans are small and the FFT
    faster. Widening the grid symmetrically (same mesh, a larger domain: less truncation) keeps
    every guarantee of Opacus' discretisation.
    """
    from opacus.accountants import PRVAccountant
    from opacus.accountants.analysis.prv import Domain

    class FastGridPRVAccountant(PRVAccountant):
        def _get_domain(self, prvs, num_self_compositions, eps_error, delta_error):
            domain = super()._get_domain(prvs=prvs, num_self_compositions=num_self_compositions,
                                         eps_error=eps_error, delta_error=delta_error)
            # Opacus' domain is [-k·dt, (k+1)·dt], size 2k + 2: its FFT composition counts on
            # that symmetry, so both ends move.
            size = _fast_even(domain.size)
            half = (size - 2) // 2
            dt = domain.dt
            return Domain(t_min=-half * dt, t_max=(half + 1) * dt, size=size)

    return FastGridPRVAccountant


def prv_grid_points(*, events: Sequence[tuple[float, float, int]], delta: float,
                    eps_error: float) -> float:
    """How many points Opacus' PRV accountant would discretise on for these events, δ and
    ``eps_error`` (its own domain rule, evaluated without building the grid)."""
    history = _merge(_check_events(events))
    d = check_delta(delta)
    err = check_real("eps_error", eps_error, low=0.0, low_inclusive=False)
    if not history:
        return 0.0
    return _grid_points(_prv_half_width(history, d / 1000.0), err,
                        sum(t for *_, t in history), d / 1000.0)


def _max_points(n_events: int) -> float:
    per_point = _BYTES_PER_POINT + _BYTES_PER_POINT_AND_EVENT * n_events
    return PRV_MEMORY_BUDGET_MB * 2**20 / per_point


def _coarsest_needed(history: History, delta: float) -> float:
    """The smallest eps_error whose grid fits the memory budget (inf when none does)."""
    delta_error = delta / 1000.0
    total = sum(t for *_, t in history)
    root = math.sqrt(total * math.log(12.0 / delta_error) / 2.0)
    budget = _max_points(len(history)) - 4.0
    half = _prv_half_width(history, delta_error)
    # With eps_error ≤ half − 3 the grid is 2·half·root/eps_error points ...
    err = 2.0 * half * root / budget
    if err + 3.0 > half:
        # ... beyond it 2·(eps_error + 3)·root/eps_error, which needs 2·root < budget.
        if 2.0 * root >= budget:
            return math.inf
        err = max(6.0 * root / (budget - 2.0 * root), half - 3.0)
    # The grid is then widened to a fast FFT length (a few per cent): coarsen to match.
    for _ in range(20):
        points = _grid_points(half, err, total, delta_error)
        if points <= budget + 4.0:
            return err
        err *= points / (budget + 4.0) * (1 + 1e-9)
    return math.inf


def _prv_usable(history: History, delta: float, eps_error: float) -> str:
    """Why Opacus' PRV cannot run here with this eps_error ('' when it can)."""
    if len(history) > PRV_MAX_EVENTS:
        return (f"{len(history)} different (noise, sampling rate) settings are more than the "
                f"{PRV_MAX_EVENTS} the PRV accountant composes in reasonable time")
    if eps_error > PRV_MAX_EPS_ERROR:
        return (f"its grid would need more than {PRV_MEMORY_BUDGET_MB:.0f} MB of memory for "
                f"{sum(t for *_, t in history):,} steps")
    points = _grid_points(_prv_half_width(history, delta / 1000.0), eps_error,
                          sum(t for *_, t in history), delta / 1000.0)
    if float(np.finfo(np.longdouble).eps) * points > delta * 0.999:
        return f"δ = {delta:g} is below the precision of its {points:,.0f}-point grid"
    return ""


def _fallback(history: History, delta: float, why: str) -> float:
    warnings.warn(f"The PRV accountant cannot be used here ({why}); using the RDP accountant "
                  f"instead, which gives a valid but looser (larger) epsilon.", RuntimeWarning,
                  stacklevel=4)
    return _rdp_epsilon(history, delta)


@functools.lru_cache(maxsize=4096)
def _prv_epsilon(history: History, delta: float, eps_error: float) -> float:
    """Opacus' PRV upper bound at this eps_error (the caller has checked the grid fits)."""
    acc = _prv_accountant()()
    acc.history = [tuple(h) for h in history]
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # Opacus' inner RDP domain estimate
            eps = float(acc.get_epsilon(delta=delta, eps_error=eps_error))
        if not math.isfinite(eps):
            raise FloatingPointError("PRV returned a non-finite epsilon")
    except (ValueError, RuntimeError, FloatingPointError, OverflowError, MemoryError) as exc:
        return _fallback(history, delta, f"it failed numerically: {exc}")
    finally:
        # Hand the grid back to the operating system now: glibc keeps freed blocks under its
        # (growing) mmap threshold in its heap, as training.loop.release_freed_memory found for
        # DP-SGD steps. (The larger creep, 44 MB a call, was scipy's FFT plans: _prv_accountant.)
        del acc
        if _MALLOC_TRIM is not None:
            _MALLOC_TRIM(0)
    # ε is never negative; tiny negatives are discretisation noise at ε ≈ 0.
    return max(eps, 0.0)


def _prv_error(history: History, delta: float) -> float:
    """The eps_error for the final PRV call (inf when PRV cannot run at all)."""
    coarsest = _coarsest_needed(history, delta)
    rough_error = max(_MAX_EPS_ERROR, coarsest)
    if _prv_usable(history, delta, rough_error):
        return math.inf
    # Aim with a coarse PRV estimate (upper bound minus its error): accurate to well under
    # 1 %, unlike RDP, which can overstate ε 3-fold for few steps.
    eps_rough = max(_prv_epsilon(history, delta, rough_error) - rough_error, 0.0)
    wanted = min(_MAX_EPS_ERROR, max(_MIN_EPS_ERROR, _REL_EPS_ERROR * eps_rough))
    return float(max(wanted, coarsest))


def prv_eps_error(*, events: Sequence[tuple[float, float, int]], delta: float) -> float:
    """The ``eps_error`` we pass to Opacus' PRV accountant for these events (see module doc);
    ``inf`` when PRV cannot be used within the memory budget (RDP is used instead).

    ``events``: (noise_multiplier, sample_rate, steps) triples, all with σ > 0.
    """
    history = _merge(_check_events(events))
    d = check_delta(delta)
    if not history:
        return 0.0
    if any(s == 0.0 for s, _, _ in history):
        raise InvalidParameterError("`events` must all have noise_multiplier > 0 for PRV "
                                    "accounting; with no noise ε is infinite.")
    return _prv_error(history, d)


def _bounded_prv(history: History, delta: float) -> float:
    rdp = _rdp_epsilon(history, delta)
    coarsest = _coarsest_needed(history, delta)
    why = _prv_usable(history, delta, max(_MAX_EPS_ERROR, coarsest))
    if why:
        return _fallback(history, delta, why)
    err = _prv_error(history, delta)
    if err >= rdp:  # PRV's bound is at least its error: it cannot beat RDP
        return rdp
    return min(_prv_epsilon(history, delta, err), rdp)


#: Below this noise multiplier σ² underflows: the privacy loss is beyond floating point (∞).
_SIGMA_NO_PRIVACY = 1e-150
#: Above this noise multiplier the accountants overflow (σ = 1e300) or take tens of seconds
#: (σ = 1e6). ε never grows with σ, so ε at this σ is an upper bound for any larger σ: reported
#: instead, it can only overstate the risk, never understate it (ε ≈ 0.0006 for q = 0.01 and
#: 1,000 steps).
SIGMA_ACCOUNTED_MAX = 1e4


def _epsilon(history: History, delta: float, accountant: str) -> float:
    if any(s < _SIGMA_NO_PRIVACY for s, _, _ in history):
        return math.inf  # no noise (or too little for floating point): no privacy at all
    history = tuple((min(s, SIGMA_ACCOUNTED_MAX), q, t) for s, q, t in history)
    if accountant == "rdp" or any(s < PRV_MIN_NOISE_MULTIPLIER for s, _, _ in history):
        return _rdp_epsilon(history, delta)
    return _bounded_prv(history, delta)


# --------------------------------------------------------------------------- public
def dpsgd_epsilon(*, noise_multiplier: float, sample_rate: float, steps: int, delta: float,
                  accountant: str = "prv") -> float:
    """ε after ``steps`` DP-SGD steps (Poisson sampling at rate q, Gaussian noise σ·C).

    Returns a float ≥ 0 (dimensionless; the guarantee is (ε, δ)-DP for add/remove-one-example
    neighbours); ``inf`` when ``noise_multiplier == 0`` (no noise: not private). More steps never
    lower ε; more noise never raises it. Memory and time are bounded (see the module doc).
    """
    sigma = _check_sigma(noise_multiplier)
    q = _check_q(sample_rate)
    t = _check_steps(steps)
    d = check_delta(delta)
    accountant = check_choice("accountant", accountant, ACCOUNTANTS)
    return _epsilon(((sigma, q, t),), d, accountant)


def compose_epsilon(*, events: Sequence[tuple[float, float, int]], delta: float,
                    accountant: str = "prv") -> float:
    """ε of several (sub-sampled) Gaussian mechanisms composed together (tight, not summed).

    ``events``: sequence of ``(noise_multiplier, sample_rate, steps)``. A plain Gaussian
    mechanism with noise standard deviation s on a query of sensitivity Δ is
    ``gaussian_event(sigma=s, sensitivity=Δ)`` = ``(s/Δ, 1.0, 1)``. Empty → 0.0.
    """
    checked = _check_events(events)
    d = check_delta(delta)
    accountant = check_choice("accountant", accountant, ACCOUNTANTS)
    if not checked:
        return 0.0
    return _epsilon(_merge(checked), d, accountant)


def compose_budget(*, basic: Sequence[tuple[float, float]],
                   gaussian: Sequence[tuple[float, float, int]], delta_budget: float,
                   accountant: str = "prv") -> tuple[float, float]:
    """(ε, δ) of a privacy ledger's spends together — the rule a budget is charged by.

    - ``basic``: (ε, δ) of each release of any (ε, δ)-DP mechanism (Laplace, randomized
      response, …). These add up (basic composition): Σε, Σδ.
    - ``gaussian``: (noise_multiplier, sample_rate, steps) of each Gaussian answer or DP-SGD run.
      These are composed *jointly and tightly* (:func:`compose_epsilon`) and charged all the δ
      the basic spends leave: δ_G = ``delta_budget`` − Σδ_basic; their ε is evaluated at δ_G.

    Returns (Σε_basic, Σδ_basic) without Gaussian spends, else (Σε_basic + ε_G(δ_G),
    ``delta_budget``); ε is ``inf`` when the basic spends leave no usable δ for the Gaussian
    ones. So ten DP-SGD epochs recorded one by one cost exactly what one ten-epoch run costs.
    """
    dlt_budget = check_delta(delta_budget, name="delta_budget")
    if isinstance(basic, (str, bytes, Mapping)) or not isinstance(basic, Iterable):
        raise InvalidParameterError(f"`basic` must be a list of (epsilon, delta) pairs; got "
                                    f"{type(basic).__name__}. Pass [] for none.")
    pairs = list(basic)
    try:  # checked as one array: a classroom ledger holds thousands of basic spends
        raw = np.asarray(pairs)
        arr = raw.astype(float).reshape(len(pairs), 2) if raw.dtype.kind in "fiu" else None
    except (TypeError, ValueError):
        arr = None
    if arr is None:
        for i, pair in enumerate(pairs):
            try:
                e, d = pair
            except (TypeError, ValueError):
                raise InvalidParameterError(f"`basic[{i}]` must be an (epsilon, delta) pair; "
                                            f"got {pair!r}.") from None
            check_real(f"basic[{i}] epsilon", e, low=0.0)
            check_real(f"basic[{i}] delta", d, low=0.0, high=1.0, high_inclusive=False)
        arr = np.array([[float(e), float(d)] for e, d in pairs], dtype=float).reshape(-1, 2)
    bad = ~(np.isfinite(arr).all(axis=1) & (arr[:, 0] >= 0) & (arr[:, 1] >= 0) & (arr[:, 1] < 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidParameterError(
            f"`basic[{i}]` must be an (epsilon, delta) pair with finite ε ≥ 0 and 0 ≤ δ < 1; "
            f"got {pairs[i]!r}.")
    eps_parts, dlt_parts = arr[:, 0].tolist(), arr[:, 1].tolist()
    events = _check_events(gaussian)
    accountant = check_choice("accountant", accountant, ACCOUNTANTS)
    eps_b, dlt_b = math.fsum(eps_parts), math.fsum(dlt_parts)
    if not events:
        return eps_b, dlt_b
    delta_g = dlt_budget - dlt_b
    if delta_g < MIN_DELTA:
        return math.inf, dlt_budget
    return eps_b + _epsilon(_merge(events), delta_g, accountant), dlt_budget


def gaussian_event(*, sigma: float, sensitivity: float = 1.0) -> tuple[float, float, int]:
    """The (noise_multiplier, sample_rate, steps) triple of one Gaussian-mechanism answer.

    ``sigma``: noise standard deviation, in the units of the query; ``sensitivity``: L2
    sensitivity Δ in the same units. σ/Δ plays the role of the noise multiplier, q = 1, T = 1.
    """
    s = check_real("sigma", sigma, low=0.0, low_inclusive=False)
    sens = check_real("sensitivity", sensitivity, low=0.0, low_inclusive=False)
    ratio = s / sens
    if not math.isfinite(ratio) or ratio == 0.0:
        raise InvalidParameterError(
            f"`sigma` / `sensitivity` must be a finite positive number; got {sigma!r} / "
            f"{sensitivity!r}. Give both in the same units (e.g. people for a count).")
    return (ratio, 1.0, 1)


# --------------------------------------------------------------------------- inverse
#: The largest noise multiplier the inverse tries: beyond it ε changes by less than the
#: accountants' own precision.
_SIGMA_MAX = 1e4


def noise_multiplier_for_epsilon(*, target_epsilon: float, sample_rate: float, steps: int,
                                 delta: float, accountant: str = "prv") -> float:
    """The noise multiplier σ whose DP-SGD run spends (just under) ``target_epsilon``.

    Guarantee: ``dpsgd_epsilon(noise_multiplier=result, …, accountant=same) <= target_epsilon``
    exactly, and in practice ≥ 0.99·target: σ is aimed with a coarse PRV estimate (bracketed
    up to σ = 10⁴, so a target that some σ reaches is never refused), then bracketed and narrowed
    by bisection on :func:`dpsgd_epsilon` itself to 0.15 %. A target below what the accountant
    can certify with any σ up to 10⁴ is refused with a sentence that says that smallest ε.
    """
    target = check_real("target_epsilon", target_epsilon, low=0.0, low_inclusive=False,
                        hint="ε must be positive; use a larger ε for a looser guarantee.")
    q = _check_q(sample_rate)
    t = _check_steps(steps)
    d = check_delta(delta)
    accountant = check_choice("accountant", accountant, ACCOUNTANTS)
    return _noise_for_epsilon(target, q, t, d, accountant)


@functools.lru_cache(maxsize=1024)
def _noise_for_epsilon(target: float, q: float, t: int, d: float, accountant: str) -> float:
    from scipy.optimize import brentq

    def eps(sigma: float) -> float:
        with warnings.catch_warnings():
            # Fallback warnings of intermediate trials are noise; the answer's own ε is exact.
            warnings.simplefilter("ignore", RuntimeWarning)
            return _epsilon(((sigma, q, t),), d, accountant)

    if accountant == "prv":
        def rough(sigma: float) -> float:
            # A PRV estimate on a coarse grid (upper bound minus its error): within ~0.1 % of
            # the exact value at a fraction of its cost; used to aim, never as the answer.
            history = ((sigma, q, t),)
            if sigma < _SIGMA_NO_PRIVACY:
                return math.inf
            if sigma < PRV_MIN_NOISE_MULTIPLIER:
                return _rdp_epsilon(history, d)
            err = max(_MAX_EPS_ERROR, _coarsest_needed(history, d))
            if _prv_usable(history, d, err):
                return _rdp_epsilon(history, d)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return max(_prv_epsilon(history, d, err) - err, 1e-12)
    else:
        rough = eps

    # 1. Bracket with the cheap estimate: rough(lo) > target ≥ rough(hi).
    hi = 1.0
    while rough(hi) > target and hi < _SIGMA_MAX:
        hi = min(hi * 4.0, _SIGMA_MAX)
    lo = hi / 4.0
    while rough(lo) <= target and lo > 1e-6:
        hi, lo = lo, lo / 4.0
    # 2. Aim at the crossing of the estimate.
    try:
        aim = math.exp(brentq(lambda x: math.log(max(rough(math.exp(x)), 1e-300)) - math.log(target),
                              math.log(lo), math.log(hi), xtol=1e-4, maxiter=60))
    except (ValueError, RuntimeError):
        aim = hi  # the estimate did not cross on [lo, hi]
    # 3. Bracket the exact function around the aim: eps(lo) > target ≥ eps(hi).
    hi = None
    for factor in (1.0005, 1.002, 1.01, 1.05, 1.25, 2.0, 4.0):
        s = min(aim * factor, _SIGMA_MAX)
        if eps(s) <= target:
            hi = s
            break
        lo = s
        if s >= _SIGMA_MAX:
            break
    if hi is None:
        from ..explain.numbers import format_number

        floor = format_number(eps(_SIGMA_MAX), rounding="up")  # a target this large is met
        other = " or accountant='prv'" if accountant == "rdp" else ""
        raise InvalidParameterError(
            f"`target_epsilon` = {target!r} cannot be reached with sample_rate={q}, "
            f"steps={t}, delta={d}: even noise multiplier {_SIGMA_MAX:g} gives ε = {floor}, "
            f"the smallest the {accountant.upper()} accountant can certify here. Allow "
            f"ε ≥ {floor}, fewer steps, a smaller sample rate or a larger δ{other}.")
    if hi < aim * 1.0005 * (1 + 1e-12):  # the first probe met the target: look below too
        lo = None
        for factor in (0.999, 0.995, 0.98, 0.9, 0.5, 0.1):
            s = aim * factor
            if eps(s) > target:
                lo = s
                break
            hi = s
        if lo is None:
            return float(hi)  # even a tenth of the aim meets the target (ε is flat here)
    # 4. Narrow on the exact function to 0.15 %.
    for _ in range(40):
        if hi / lo <= 1.0015:
            break
        mid = math.sqrt(lo * hi)
        if eps(mid) <= target:
            hi = mid
        else:
            lo = mid
    return float(hi)


# --------------------------------------------------------------------------- GDP, cross-check
def gdp_mu(*, noise_multiplier: float, sample_rate: float, steps: int) -> float:
    """μ of Gaussian DP for DP-SGD by the central-limit approximation (Dong, Roth & Su 2019).

    μ ≈ q·√(T·(e^{1/σ²} − 1)) (Opacus ``compute_mu_poisson``); ``inf`` for σ = 0 or when
    e^{1/σ²} overflows. Dimensionless. An approximation: it can under-state the privacy loss
    for few steps or large q; prefer :func:`dpsgd_epsilon` for guarantees.
    """
    sigma = _check_sigma(noise_multiplier)
    q = _check_q(sample_rate)
    t = _check_steps(steps)
    if sigma < 1e-150:  # 1/σ² overflows: no privacy to speak of
        return math.inf
    with np.errstate(over="ignore"):
        growth = float(np.expm1(1.0 / sigma**2))
    if not math.isfinite(growth):
        return math.inf
    mu = q * math.sqrt(t * growth)
    return float(mu) if math.isfinite(mu) else math.inf


def dp_accounting_epsilon(*, noise_multiplier: float, sample_rate: float, steps: int,
                          delta: float, method: str = "pld",
                          value_discretization_interval: float = 1e-4,
                          orders: Sequence[float] | None = None) -> float:
    """The same ε computed with Google's dp-accounting library (an independent cross-check).

    ``method="pld"``: ``PLDAccountant`` on ``SelfComposedDpEvent(PoissonSampledDpEvent(q,
    GaussianDpEvent(σ)), T)`` (pessimistic discretisation at ``value_discretization_interval``).
    ``method="rdp"``: ``RdpAccountant`` with ``orders`` (default: :data:`RDP_ORDERS`, so the
    two RDP numbers are comparable). Not bounded in memory like :func:`dpsgd_epsilon`: meant
    for tests and studies, not for sliders.
    """
    sigma = _check_sigma(noise_multiplier)
    q = _check_q(sample_rate)
    t = _check_steps(steps)
    d = check_delta(delta)
    method = check_choice("method", method, ("pld", "rdp"))
    vdi = check_real("value_discretization_interval", value_discretization_interval, low=1e-6,
                     hint="Finer grids than 1e-6 need unbounded memory.")
    if orders is not None:
        if isinstance(orders, (str, bytes)) or not isinstance(orders, Iterable):
            raise InvalidParameterError(f"`orders` must be a list of RDP orders > 1; got "
                                        f"{type(orders).__name__}.")
        orders = [check_real("orders", o, low=1.0, low_inclusive=False) for o in orders]
        if not orders:
            raise InvalidParameterError("`orders` must hold at least one RDP order > 1; got [].")
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

        acc = RdpAccountant(orders=list(orders) if orders is not None else list(RDP_ORDERS))
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            acc.compose(event)
            eps = float(acc.get_epsilon(d))
    except (OverflowError, ValueError, FloatingPointError, MemoryError) as exc:
        raise InvalidParameterError(
            f"dp-accounting cannot compute ε for noise_multiplier={sigma!r}, sample_rate={q!r}, "
            f"steps={t!r} ({type(exc).__name__}: {exc}); the privacy loss is too large or the "
            f"grid too fine to represent. Use it as a cross-check in the teaching range (σ ≥ "
            f"0.3), or dpsgd_epsilon, whose memory is bounded.") from None
    return max(eps, 0.0) if not math.isnan(eps) else math.inf
