"""Auditing a DP claim from the outside: lower bounds on ε that an attack actually achieves.

A DP guarantee is an *upper* bound on what any attacker can do. An attack that succeeds gives a
*lower* bound: if the lower bound ever exceeded the claimed ε (beyond chance), the claim — or the
code that implements it — would be wrong. Three tools:

* :func:`epsilon_lower_bound` — from a membership attack's TPR and FPR, with Clopper–Pearson
  confidence intervals (``ε̂ = ln((TPR − δ)/FPR)`` and its mirror image).
* :func:`one_run_audit` — Steinke, Nasr & Jagielski (NeurIPS 2023): m canaries, each included
  with probability ½, r guesses, v correct; one training run suffices.
The audit run end to end (canaries inserted, a model trained with DP-SGD, guesses scored) is an
experiment: :class:`medpriv_widgets.experiments.audit.CanaryAudit`. This module keeps only the
statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from .._validate import check_choice, check_int, check_open_unit, check_real
from ..errors import InvalidParameterError
from ..stats import clopper_pearson

__all__ = [
    "EpsilonLowerBound",
    "epsilon_lower_bound",
    "one_run_audit",
    "one_run_p_value",
]


# --------------------------------------------------------------------------- from TPR / FPR

@dataclass(frozen=True)
class EpsilonLowerBound:
    """ε implied by one operating point of a membership attack.

    ``epsilon_point`` uses the observed rates (can be ``inf`` when FPR = 0); ``epsilon_lower``
    holds with probability ≥ ``confidence`` over the members/non-members drawn (never < 0).
    """

    epsilon_point: float
    epsilon_lower: float
    tpr: float
    fpr: float
    tpr_lower: float      # one-sided Clopper–Pearson lower bound on TPR
    fpr_upper: float      # one-sided Clopper–Pearson upper bound on FPR
    n_members: int
    n_nonmembers: int
    delta: float
    confidence: float


def _cp_lower(k: int, n: int, a: float) -> float:
    """One-sided Clopper–Pearson lower bound at level 1 − a for k successes in n."""
    return clopper_pearson(successes=k, trials=n, confidence=1.0 - 2.0 * a)[0]


def _cp_upper(k: int, n: int, a: float) -> float:
    """One-sided Clopper–Pearson upper bound at level 1 − a."""
    return clopper_pearson(successes=k, trials=n, confidence=1.0 - 2.0 * a)[1]


def _log_ratio(num: float, den: float) -> float:
    """ln(num/den) clipped at 0 (ε ≥ 0); ``inf`` when den = 0 < num."""
    if num <= 0.0:
        return 0.0
    if den <= 0.0:
        return math.inf
    return max(0.0, math.log(num / den))


def _rate_to_count(name: str, rate, n: int) -> int:
    r = check_real(name, rate, low=0.0, high=1.0)
    k = round(r * n)
    # Rates come from counts; a rate that is not k/n for the n given is a mix-up of inputs.
    if abs(r * n - k) > 1e-6 * max(1, n):
        raise InvalidParameterError(
            f"`{name}` must be a count divided by its group size ({n}); got {rate!r}, which is "
            f"{r * n:.4f}/{n}. Pass the rate measured on exactly that many examples.")
    return k


def epsilon_lower_bound(*, tpr: float, fpr: float, n_members: int, n_nonmembers: int,
                        delta: float = 0.0, confidence: float = 0.95) -> EpsilonLowerBound:
    """Lower bound on ε from a membership attack at one threshold.

    Under (ε, δ)-DP every test satisfies ``TPR ≤ e^ε·FPR + δ`` and ``1 − FPR ≤ e^ε(1 − TPR) + δ``,
    so ``ε ≥ max{ln((TPR − δ)/FPR), ln((1 − FPR − δ)/(1 − TPR))}``. With sampling error: TPR is
    replaced by its one-sided Clopper–Pearson lower bound and FPR by its upper bound, each at level
    1 − (1 − confidence)/2, so the pair (and hence ``epsilon_lower``) holds with probability
    ≥ ``confidence`` (union bound).

    ``tpr``, ``fpr``: observed rates, each a count divided by ``n_members`` / ``n_nonmembers``.
    The threshold must have been chosen without these examples, or the confidence is void.
    """
    n_m = check_int("n_members", n_members, low=1)
    n_n = check_int("n_nonmembers", n_nonmembers, low=1)
    k_tp = _rate_to_count("tpr", tpr, n_m)
    k_fp = _rate_to_count("fpr", fpr, n_n)
    d = check_real("delta", delta, low=0.0, high=1.0, high_inclusive=False)
    conf = check_open_unit("confidence", confidence)

    a = (1.0 - conf) / 2.0
    tpr_hat, fpr_hat = k_tp / n_m, k_fp / n_n
    tpr_lo, fpr_hi = _cp_lower(k_tp, n_m, a), _cp_upper(k_fp, n_n, a)
    point = max(_log_ratio(tpr_hat - d, fpr_hat), _log_ratio(1.0 - fpr_hat - d, 1.0 - tpr_hat))
    lower = max(_log_ratio(tpr_lo - d, fpr_hi), _log_ratio(1.0 - fpr_hi - d, 1.0 - tpr_lo))
    return EpsilonLowerBound(epsilon_point=point, epsilon_lower=lower, tpr=tpr_hat, fpr=fpr_hat,
                             tpr_lower=tpr_lo, fpr_upper=fpr_hi, n_members=n_m,
                             n_nonmembers=n_n, delta=d, confidence=conf)


# --------------------------------------------------------------------------- one-run audit

def _p_value(m: int, r: int, v: int, eps: float, delta: float) -> float:
    """P[≥ v of r guesses correct] under (ε, δ)-DP (Steinke, Nasr & Jagielski 2023, Thm 5.2).

    δ = 0: the count of correct guesses is dominated by Binomial(r, e^ε/(1+e^ε)). δ > 0 adds
    2·m·δ·α, α = max_{i≤v} P[v − i ≤ Bin < v]/i (their Algorithm in the appendix).
    """
    p = 1.0 / (1.0 + math.exp(-eps))  # accuracy of ε-DP randomised response
    tail = float(binom.sf(v - 1, r, p))
    if delta == 0.0 or v == 0:
        return min(1.0, tail)
    pmf = binom.pmf(np.arange(v - 1, -1, -1), r, p)  # P[Bin = v−1], P[Bin = v−2], …, P[Bin = 0]
    alpha = float(np.max(np.cumsum(pmf) / np.arange(1, v + 1)))
    return min(1.0, tail + alpha * delta * 2.0 * m)


def _check_guesses(guesses_correct, guesses_made, n_canaries, delta):
    r = check_int("guesses_made", guesses_made, low=0)
    v = check_int("guesses_correct", guesses_correct, low=0, high=r,
                  hint="Correct guesses cannot outnumber guesses made.")
    d = check_real("delta", delta, low=0.0, high=1.0, high_inclusive=False)
    if n_canaries is None:
        if d > 0:
            raise InvalidParameterError(
                "`n_canaries` (the number m of canaries inserted) is required when `delta` > 0; "
                "got None. Pass it, or audit pure ε-DP with delta=0.")
        m = r
    else:
        m = check_int("n_canaries", n_canaries, low=max(r, 1),
                      hint="Every guess is about a different canary, so m ≥ guesses_made.")
    return r, v, m, d


def one_run_p_value(*, epsilon: float, guesses_correct: int, guesses_made: int,
                    n_canaries: int | None = None, delta: float = 0.0) -> float:
    """P[at least ``guesses_correct`` of ``guesses_made`` guesses right] if the run is (ε, δ)-DP."""
    r, v, m, d = _check_guesses(guesses_correct, guesses_made, n_canaries, delta)
    eps = check_real("epsilon", epsilon, low=0.0)
    return _p_value(m, r, v, eps, d)


def one_run_audit(*, guesses_correct: int, guesses_made: int, n_canaries: int | None = None,
                  delta: float = 0.0, confidence: float = 0.95) -> float:
    """Audited lower bound on ε from one training run (Steinke, Nasr & Jagielski 2023).

    m canaries were each included independently with probability ½; the auditor guessed
    "in" or "out" for ``guesses_made`` = r of them and got ``guesses_correct`` = v right. Returns
    the largest ε whose p-value for "≥ v correct" is ≤ β = 1 − ``confidence`` (0 when even ε = 0
    cannot be rejected): with probability ≥ ``confidence`` the true ε is at least this.

    ``delta`` > 0 audits (ε, δ)-DP and then needs ``n_canaries`` (m).
    """
    r, v, m, d = _check_guesses(guesses_correct, guesses_made, n_canaries, delta)
    conf = check_open_unit("confidence", confidence)
    beta = 1.0 - conf
    if r == 0 or _p_value(m, r, v, 0.0, d) > beta:
        return 0.0
    lo, hi = 0.0, 1.0
    while _p_value(m, r, v, hi, d) <= beta:  # the p-value rises to 1 (or 2mδα) as ε grows
        lo, hi = hi, 2.0 * hi
        if hi > 1e3:  # cannot happen for r ≥ 1 and β > 0; guard against a silent endless loop
            return math.inf
    for _ in range(60):  # bisection: keep p(lo) ≤ β < p(hi)
        mid = 0.5 * (lo + hi)
        if _p_value(m, r, v, mid, d) <= beta:
            lo = mid
        else:
            hi = mid
    return lo
