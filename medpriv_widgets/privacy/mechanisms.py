"""Differential-privacy mechanisms for single answers: Laplace, Gaussian, randomized response.

Pure functions: calibration formulas, seeded sampling, and the output distributions on two
neighbouring datasets D and D′ (for plots that show why the answers cannot tell them apart).

Randomness: every sampling function takes ``seed`` (an int for reproducible lessons, a
``numpy.random.Generator`` to continue a stream, or None for fresh OS entropy, which is what a
real release must use: a fixed seed makes the noise predictable). This is teaching code:
NumPy's generator is not cryptographic and floating-point Laplace noise has known side channels
(Mironov 2012); production systems use vetted libraries.

Units: ``value`` and ``sensitivity`` are in the units of the query (for a count: people);
ε and δ are dimensionless.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from scipy import optimize, special, stats

from .._validate import check_choice, check_int, check_open_unit, check_real
from ..errors import InvalidParameterError

__all__ = [
    "laplace_scale", "laplace_mechanism",
    "gaussian_sigma", "gaussian_delta", "gaussian_mechanism",
    "randomized_response_probability", "randomized_response", "randomized_response_estimate",
    "randomized_response_spread", "randomized_response_survey", "RandomizedResponseSurvey",
    "exact_count", "noisy_count", "NoisyCount",
    "differencing_attack", "DifferencingAttack",
    "neighbour_distributions", "NeighbourDistributions",
]


#: Most respondents (or repeats) one simulated survey takes: memory grows with it.
MAX_RESPONDENTS = 10_000_000


# --------------------------------------------------------------------------- validation
#: Smallest ε accepted: noise of scale Δ/ε must stay a finite floating-point number.
MIN_EPSILON = 1e-300


def _eps(value) -> float:
    eps = check_real("epsilon", value, low=0.0, low_inclusive=False,
                     hint="ε must be a positive, finite number; smaller ε means more noise "
                          "and stronger privacy.")
    if eps < MIN_EPSILON:
        raise InvalidParameterError(
            f"`epsilon` must be at least {MIN_EPSILON:g}; got {value!r}. Smaller ε asks for more "
            f"noise than a floating-point number can hold; any ε below 1e-3 already hides "
            f"everything.")
    return eps


def _delta(value) -> float:
    return check_open_unit("delta", value,
                           hint="δ is a small failure probability, e.g. 1e-5 (well below "
                                "1/number of patients).")


def _sens(value) -> float:
    return check_real("sensitivity", value, low=0.0, low_inclusive=False,
                      hint="It is how much one person can change the answer (1 for a count).")


def _value(name: str, value) -> float:
    return check_real(name, value)


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise InvalidParameterError(
            f"`seed` must be a non-negative integer, a numpy.random.Generator or None; got {seed!r}.")
    return np.random.default_rng(int(seed))


def _size(size):
    if size is None:
        return None
    return check_int("size", size, low=1)


# --------------------------------------------------------------------------- Laplace
def laplace_scale(*, epsilon: float, sensitivity: float = 1.0) -> float:
    """Scale b = Δ/ε of the Laplace noise that makes a query ε-DP (query units)."""
    return _sens(sensitivity) / _eps(epsilon)


def laplace_mechanism(value: float, *, epsilon: float, sensitivity: float = 1.0, seed=None,
                      size: int | None = None):
    """``value`` + Laplace(0, Δ/ε) noise: an ε-DP answer (float, or array of ``size`` answers)."""
    v = _value("value", value)
    b = laplace_scale(epsilon=epsilon, sensitivity=sensitivity)
    out = v + _rng(seed).laplace(0.0, b, size=_size(size))
    return float(out) if size is None else out


# --------------------------------------------------------------------------- Gaussian
def _log_delta(eps: float, sigma: float, sens: float) -> float:
    """log δ(ε) of the Gaussian mechanism, exactly (Balle & Wang 2018, Theorem 8), stably.

    δ = Φ(Δ/(2σ) − εσ/Δ) − e^ε Φ(−Δ/(2σ) − εσ/Δ).
    """
    a = sens / (2 * sigma) - eps * sigma / sens
    b = -sens / (2 * sigma) - eps * sigma / sens
    la, lb = special.log_ndtr(a), special.log_ndtr(b)
    diff = eps + lb - la  # < 0 always: the bracket below is in (0, 1]
    return float(la + np.log(-np.expm1(diff)))


def gaussian_delta(*, epsilon: float, sigma: float, sensitivity: float = 1.0) -> float:
    """Smallest δ for which Gaussian noise of std ``sigma`` gives (ε, δ)-DP (exact, Balle & Wang)."""
    eps = check_real("epsilon", epsilon, low=0.0)
    s = check_real("sigma", sigma, low=0.0, low_inclusive=False)
    return math.exp(_log_delta(eps, s, _sens(sensitivity)))


def gaussian_sigma(*, epsilon: float, delta: float, sensitivity: float = 1.0,
                   method: str = "analytic") -> float:
    """Noise standard deviation σ (query units) that makes the Gaussian mechanism (ε, δ)-DP.

    ``method="classic"``: σ = Δ·√(2 ln(1.25/δ))/ε (Dwork & Roth, Theorem A.1), valid only for
    ε < 1. ``method="analytic"``: the smallest σ with δ(ε, σ) ≤ δ for the exact δ(ε, σ) of
    Balle & Wang 2018 (Theorem 8), found with scipy's brentq; valid for every ε > 0 and never
    larger than the classic σ.
    """
    eps, dlt, sens = _eps(epsilon), _delta(delta), _sens(sensitivity)
    method = check_choice("method", method, ("analytic", "classic"))
    if method == "classic":
        if eps >= 1:
            raise InvalidParameterError(
                f"`epsilon` must be below 1 for the classic Gaussian calibration; got {epsilon!r}. "
                f"Use method='analytic', which is valid for every ε.")
        return sens * math.sqrt(2 * math.log(1.25 / dlt)) / eps
    target = math.log(dlt)

    def f(log_sigma: float) -> float:
        return _log_delta(eps, math.exp(log_sigma), sens) - target

    # δ(σ) falls as σ grows: bracket the crossing by doubling / halving from Δ/ε.
    hi = lo = math.log(sens / eps)
    while f(hi) > 0:
        hi += math.log(2)
    while f(lo) <= 0:
        lo -= math.log(2)
    root = optimize.brentq(f, lo, hi, xtol=1e-13, rtol=1e-13, maxiter=200)
    sigma = math.exp(root)
    while _log_delta(eps, sigma, sens) > target:  # stay on the private side of the root
        sigma *= 1 + 1e-12
    return sigma


def gaussian_mechanism(value: float, *, epsilon: float, delta: float, sensitivity: float = 1.0,
                       method: str = "analytic", seed=None, size: int | None = None):
    """``value`` + N(0, σ²) with σ from :func:`gaussian_sigma`: an (ε, δ)-DP answer."""
    v = _value("value", value)
    s = gaussian_sigma(epsilon=epsilon, delta=delta, sensitivity=sensitivity, method=method)
    out = v + _rng(seed).normal(0.0, s, size=_size(size))
    return float(out) if size is None else out


# --------------------------------------------------------------------------- randomized response
def randomized_response_probability(*, epsilon: float) -> float:
    """Probability p = e^ε/(1+e^ε) that a respondent answers truthfully (ε-DP)."""
    eps = _eps(epsilon)
    return float(special.expit(eps))


def _rr_gap(eps: float) -> float:
    """2p − 1 = tanh(ε/2): how much more often the truth is told than a lie (exact for tiny ε,
    where 2·expit(ε) − 1 would round to 0)."""
    gap = math.tanh(eps / 2.0)
    if not gap > 0.0 or not math.isfinite(1.0 / gap):
        raise InvalidParameterError(
            f"`epsilon` must be at least 1e-300 for randomized response; got {eps!r}. With a "
            f"smaller ε every answer is a fair coin flip, from which nothing can be estimated.")
    return gap


def _bool_array(name: str, values) -> np.ndarray:
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"`{name}` must be a non-empty 1-D array of 0/1 answers; "
                                    f"got {type(values).__name__}.") from None
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidParameterError(f"`{name}` must be a non-empty 1-D array of 0/1 answers; "
                                    f"got shape {arr.shape}.")
    if arr.dtype != bool:
        ok = arr.dtype.kind in "iuf" and bool(np.isin(arr, (0, 1)).all())
        if not ok:
            raise InvalidParameterError(f"`{name}` must contain only 0/1 (or True/False) values.")
        arr = arr.astype(bool)
    return arr


def randomized_response(truth, *, epsilon: float, seed=None) -> np.ndarray:
    """Each respondent tells the truth with probability e^ε/(1+e^ε), else the opposite.

    ``truth``: 1-D array of 0/1; returns a bool array of the same shape (the reported answers).
    """
    t = _bool_array("truth", truth)
    p = randomized_response_probability(epsilon=epsilon)
    honest = _rng(seed).random(t.shape) < p
    return np.where(honest, t, ~t)


def randomized_response_estimate(answers, *, epsilon: float) -> tuple[float, float]:
    """Unbiased estimate of the true 'yes' fraction from randomized answers, and its std error.

    With y the observed 'yes' fraction and p the truth probability: π̂ = (y − (1−p))/(2p − 1),
    SE = √(y(1−y)/n)/(2p − 1) (the usual standard error: it treats the class as sampled from a
    population). π̂ can fall outside [0, 1] for small n; it is not clipped (clipping would bias
    it).
    """
    a = _bool_array("answers", answers)
    eps = _eps(epsilon)
    gap = _rr_gap(eps)
    y = float(a.mean())
    est = (y - 0.5) / gap + 0.5  # = (y − (1−p))/(2p − 1), without cancelling p against ½
    se = math.sqrt(y * (1 - y) / a.size) / gap
    return est, se


@dataclass(frozen=True)
class RandomizedResponseSurvey:
    """One simulated class survey and the spread of the estimate over repeated surveys."""

    truth: np.ndarray          # (n,) bool, what each respondent would truthfully answer
    answers: np.ndarray        # (n,) bool, what they reported
    true_fraction: float       # mean of truth
    estimate: float            # unbiased estimate from answers
    std_error: float           # its usual standard error (fraction units; see the estimate)
    repeated_estimates: np.ndarray  # (n_repeats,) estimates of independent repeats (for spread)
    truth_probability: float   # p = e^ε/(1+e^ε)
    epsilon: float
    repeat_spread: float = math.nan  # std of the estimate over repeats of this class (fraction)


def randomized_response_spread(*, n: int, epsilon: float) -> float:
    """Standard deviation of the estimate over repeated surveys of one fixed class of ``n``.

    Only the coin flips differ between repeats, so the number of 'yes' answers has variance
    n·p(1−p) whatever the truth is: spread = √(p(1−p)/n)/(2p − 1) (fraction units). It is
    what a histogram of repeated surveys shows; the standard error from the answers is larger
    because it also counts which class was sampled. ε = 3, n = 500: ±1.05 %.
    """
    n = check_int("n", n, low=1, hint="The number of respondents.")
    eps = _eps(epsilon)
    gap = _rr_gap(eps)
    p = float(special.expit(eps))
    return math.sqrt(p * (1.0 - p) / n) / gap


def randomized_response_survey(*, n: int, true_fraction: float, epsilon: float,
                               n_repeats: int = 200, seed=None) -> RandomizedResponseSurvey:
    """Simulate a class of ``n`` respondents answering a sensitive yes/no question privately.

    ``true_fraction``: share of true 'yes' (the class is built with exactly round(n·fraction)).
    ``n_repeats`` more surveys of the same class give the spread of the estimate
    (``repeat_spread`` is its exact value, :func:`randomized_response_spread`).
    """
    n = check_int("n", n, low=1, high=MAX_RESPONDENTS, hint="The number of respondents.")
    frac = check_real("true_fraction", true_fraction, low=0.0, high=1.0)
    eps = _eps(epsilon)
    gap = _rr_gap(eps)
    reps = check_int("n_repeats", n_repeats, low=1, high=MAX_RESPONDENTS)
    rng = _rng(seed)
    k = int(round(n * frac))
    truth = np.zeros(n, dtype=bool)
    truth[rng.permutation(n)[:k]] = True
    answers = randomized_response(truth, epsilon=eps, seed=rng)
    est, se = randomized_response_estimate(answers, epsilon=eps)
    p = randomized_response_probability(epsilon=eps)
    # Repeats, vectorised: the number of flipped answers among yes / no respondents.
    keep_yes = rng.binomial(k, p, size=reps)
    flip_no = rng.binomial(n - k, 1 - p, size=reps)
    y = (keep_yes + flip_no) / n
    repeated = (y - 0.5) / gap + 0.5
    return RandomizedResponseSurvey(truth=truth, answers=answers, true_fraction=k / n,
                                    estimate=est, std_error=se, repeated_estimates=repeated,
                                    truth_probability=p, epsilon=eps,
                                    repeat_spread=randomized_response_spread(n=n, epsilon=eps))


# --------------------------------------------------------------------------- counting queries
def _labels(labels) -> np.ndarray:
    try:
        arr = np.asarray(labels)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"`labels` must be a 1-D array (one label per patient); got "
                                    f"{type(labels).__name__} that is not one.") from None
    if arr.ndim != 1:
        raise InvalidParameterError(f"`labels` must be a 1-D array (one label per patient); "
                                    f"got shape {arr.shape}.")
    return arr


def exact_count(labels, *, value: int = 1) -> int:
    """How many entries of ``labels`` equal ``value`` (e.g. 1 = pneumonia). Not private."""
    return int(np.count_nonzero(_labels(labels) == value))


@dataclass(frozen=True)
class NoisyCount:
    """A privately released count (the true count is deliberately not part of it)."""

    answer: float        # the noisy count (people; not rounded, rounding is post-processing)
    epsilon: float
    delta: float         # 0 for Laplace
    mechanism: str       # "laplace" or "gaussian"
    noise_scale: float   # Laplace b or Gaussian σ, in people
    n_records: int       # size of the dataset queried (shown in the lesson; not protected here)


def noisy_count(labels, *, epsilon: float, value: int = 1, mechanism: str = "laplace",
                delta: float | None = None, seed=None) -> NoisyCount:
    """Noisy count of entries equal to ``value`` ("how many of these children have pneumonia?").

    A count changes by at most 1 when one patient is added or removed (sensitivity 1).
    ``mechanism="laplace"`` is ε-DP; ``"gaussian"`` needs ``delta`` and is (ε, δ)-DP.
    """
    arr = _labels(labels)
    mechanism = check_choice("mechanism", mechanism, ("laplace", "gaussian"))
    true = exact_count(arr, value=value)
    if mechanism == "laplace":
        if delta not in (None, 0, 0.0):
            raise InvalidParameterError(f"`delta` must be None or 0 for the Laplace mechanism; "
                                        f"got {delta!r}.")
        scale = laplace_scale(epsilon=epsilon)
        ans = laplace_mechanism(true, epsilon=epsilon, seed=seed)
        dlt = 0.0
    else:
        if delta is None:
            raise InvalidParameterError("`delta` is required for the Gaussian mechanism "
                                        "(e.g. delta=1e-5); got None.")
        dlt = _delta(delta)
        scale = gaussian_sigma(epsilon=epsilon, delta=dlt)
        ans = gaussian_mechanism(true, epsilon=epsilon, delta=dlt, seed=seed)
    return NoisyCount(answer=ans, epsilon=_eps(epsilon), delta=dlt, mechanism=mechanism,
                      noise_scale=scale, n_records=int(arr.size))


@dataclass(frozen=True)
class DifferencingAttack:
    """The attacker asks the count with and without one patient and subtracts."""

    answer_with: float        # count on D (target included)
    answer_without: float     # count on D′ (target removed)
    difference: float         # answer_with − answer_without
    guess: int                # attacker's guess of the target's label (1 if difference > 0.5)
    correct: bool             # whether the guess is right (scoring uses the truth, not the attacker)
    success_rate: float       # fraction of ``n_trials`` independent attacks that guessed right
    n_trials: int
    epsilon: float | None     # None = exact answers


def differencing_attack(labels, *, target_index: int, epsilon: float | None = None,
                        value: int = 1, n_trials: int = 1, seed=None) -> DifferencingAttack:
    """"Everyone else" attack: count(D) − count(D without the target) reveals her diagnosis.

    With ``epsilon=None`` the counts are exact and the attack always succeeds. With ε each count
    is a fresh Laplace answer (each costs ε, so the pair costs 2ε) and the success rate over
    ``n_trials`` repetitions shows how much noise blunts it.
    """
    arr = _labels(labels)
    idx = check_int("target_index", target_index, low=0, high=arr.size - 1)
    trials = check_int("n_trials", n_trials, low=1)
    truth = int(arr[idx] == value)
    without = np.delete(arr, idx)
    c_with, c_without = exact_count(arr, value=value), exact_count(without, value=value)
    if epsilon is None:
        a_with = np.full(trials, float(c_with))
        a_without = np.full(trials, float(c_without))
        eps = None
    else:
        eps = _eps(epsilon)
        rng = _rng(seed)
        b = laplace_scale(epsilon=eps)
        a_with = c_with + rng.laplace(0.0, b, size=trials)
        a_without = c_without + rng.laplace(0.0, b, size=trials)
    diff = a_with - a_without
    guesses = (diff > 0.5).astype(int)
    return DifferencingAttack(answer_with=float(a_with[0]), answer_without=float(a_without[0]),
                              difference=float(diff[0]), guess=int(guesses[0]),
                              correct=bool(guesses[0] == truth),
                              success_rate=float(np.mean(guesses == truth)), n_trials=trials,
                              epsilon=eps)


# --------------------------------------------------------------------------- neighbours
@dataclass(frozen=True)
class NeighbourDistributions:
    """Output densities of a mechanism on neighbouring datasets D and D′, for plotting.

    All arrays have shape (n_points,). ``x`` is in query units (people for a count).
    """

    x: np.ndarray
    density_d: np.ndarray        # density of the noisy answer when run on D
    density_d_prime: np.ndarray  # ... on D′
    log_ratio: np.ndarray        # privacy loss ln(p_D(x)/p_D′(x)) at each x
    band_low: np.ndarray         # e^−ε · p_D′(x): p_D must stay above this (where δ = 0)
    band_high: np.ndarray        # e^ε · p_D′(x): ... and below this
    max_abs_log_ratio: float     # max |privacy loss| on the grid (≤ ε for Laplace)
    prob_loss_above_epsilon: float  # P_D[privacy loss > ε] (0 for Laplace; small for Gaussian)
    value_d: float
    value_d_prime: float
    epsilon: float
    delta: float
    mechanism: str
    noise_scale: float           # Laplace b or Gaussian σ (query units)


def neighbour_distributions(*, value_d: float, value_d_prime: float, epsilon: float,
                            mechanism: str = "laplace", delta: float | None = None,
                            sensitivity: float = 1.0, n_points: int = 801,
                            width: float | None = None) -> NeighbourDistributions:
    """Densities of the noisy answer on D and D′ (and their ratio) on a grid of answers.

    ``value_d``/``value_d_prime``: the true answers on D and D′ (e.g. counts 312 and 311);
    they must differ by at most ``sensitivity``. ``width``: half-width of the x grid around the
    two values (default 8 noise scales).
    """
    vd, vdp = _value("value_d", value_d), _value("value_d_prime", value_d_prime)
    sens = _sens(sensitivity)
    if abs(vd - vdp) > sens * (1 + 1e-12):
        raise InvalidParameterError(
            f"`value_d` and `value_d_prime` must differ by at most the sensitivity {sens}; got "
            f"{vd} and {vdp}. Neighbouring datasets differ in one person.")
    eps = _eps(epsilon)
    mechanism = check_choice("mechanism", mechanism, ("laplace", "gaussian"))
    n = check_int("n_points", n_points, low=3, high=1_000_000)
    if mechanism == "laplace":
        if delta not in (None, 0, 0.0):
            raise InvalidParameterError(f"`delta` must be None or 0 for the Laplace mechanism; "
                                        f"got {delta!r}.")
        dlt = 0.0
        scale = laplace_scale(epsilon=eps, sensitivity=sens)
        dist_d, dist_dp = stats.laplace(vd, scale), stats.laplace(vdp, scale)
    else:
        if delta is None:
            raise InvalidParameterError("`delta` is required for the Gaussian mechanism; got None.")
        dlt = _delta(delta)
        scale = gaussian_sigma(epsilon=eps, delta=dlt, sensitivity=sens)
        dist_d, dist_dp = stats.norm(vd, scale), stats.norm(vdp, scale)
    half = 8 * scale if width is None else check_real("width", width, low=0.0, low_inclusive=False)
    centre = (vd + vdp) / 2
    x = np.linspace(centre - half, centre + half, n)
    log_pd, log_pdp = dist_d.logpdf(x), dist_dp.logpdf(x)
    loss = log_pd - log_pdp
    pdp = np.exp(log_pdp)
    # P_D[loss > ε] in closed form (the loss is monotone in x for both mechanisms).
    if mechanism == "laplace" or vd == vdp:
        p_above = 0.0
    else:
        # Gaussian: loss(x) = (vd − vdp)(2x − vd − vdp)/(2σ²) > ε  ⇔  x beyond a threshold.
        d = vd - vdp
        thr = (eps * scale**2 / d) + centre
        p_above = float(dist_d.sf(thr) if d > 0 else dist_d.cdf(thr))
    return NeighbourDistributions(
        x=x, density_d=np.exp(log_pd), density_d_prime=pdp, log_ratio=loss,
        band_low=np.exp(-eps) * pdp, band_high=np.exp(eps) * pdp,
        max_abs_log_ratio=float(np.max(np.abs(loss))), prob_loss_above_epsilon=p_above,
        value_d=vd, value_d_prime=vdp, epsilon=eps, delta=dlt, mechanism=mechanism,
        noise_scale=scale)
