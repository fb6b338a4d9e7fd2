"""Statistics that attacks, audits and metrics share: exact binomial intervals and the rank AUC.

One copy of each, so a membership ROC, an audit's ε lower bound and a classifier's AUC are
computed the same way everywhere. scikit-learn is not a dependency: the AUC is the Mann–Whitney
rank formula (ties get average ranks, which counts a tied positive/negative pair as ½)::

    AUC = (sum of the positives' ranks − n₁(n₁+1)/2) / (n₁ · n₀)
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import beta, rankdata

from ._validate import check_array, check_mask, check_open_unit, check_real
from .errors import InvalidParameterError

__all__ = ["clopper_pearson", "clopper_pearson_arrays", "rank_auc"]


def _whole(name: str, value, *, low: int, high: float = math.inf) -> int:
    v = check_real(name, value, low=low, high=high,
                   hint="It counts examples, so it must be a whole number.")
    if not float(v).is_integer():
        raise InvalidParameterError(f"`{name}` must be a whole number; got {value!r}.")
    return int(v)


def clopper_pearson(*, successes: int, trials: int, confidence: float = 0.95
                    ) -> tuple[float, float]:
    """Exact two-sided binomial interval for a proportion (Clopper & Pearson 1934).

    Returns (low, high) with P(low ≤ p ≤ high) ≥ ``confidence``; low = 0 when successes = 0 and
    high = 1 when successes = trials. Each end alone is a one-sided bound at level
    1 − (1 − confidence)/2.
    """
    n = _whole("trials", trials, low=1)
    k = _whole("successes", successes, low=0, high=n)
    conf = check_open_unit("confidence", confidence)
    low, high = clopper_pearson_arrays(np.array([k]), n, conf)
    return float(low[0]), float(high[0])


def clopper_pearson_arrays(successes: np.ndarray, trials: int, confidence: float
                           ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`clopper_pearson` for an array of whole counts in [0, ``trials``] out of the same
    ``trials``; returns (low, high) arrays shaped like ``successes``."""
    n = _whole("trials", trials, low=1)
    confidence = check_open_unit("confidence", confidence)
    k = check_array("successes", successes, min_size=0,
                    hint="Pass whole counts of successes, one per interval.")
    if k.size and (np.any(k != np.round(k)) or k.min() < 0 or k.max() > n):
        raise InvalidParameterError(
            f"`successes` must be whole counts from 0 to `trials` = {n}; got values from "
            f"{k.min():g} to {k.max():g}. Pass the number of successes out of {n} trials.")
    a = (1.0 - confidence) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(k == 0, 0.0, beta.ppf(a, np.maximum(k, 1), n - k + 1))
        high = np.where(k == n, 1.0, beta.ppf(1 - a, k + 1, np.maximum(n - k, 1)))
    return low.astype(float), high.astype(float)


def rank_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(a random positive scores higher than a random negative), ties counting ½; NaN when
    one class is absent. ``scores`` float (N,) (±inf allowed, not NaN), ``positive`` bool (N,)
    (or 1/0)."""
    scores = check_array("scores", scores, ndim=1, min_size=0, allow_inf=True,
                         hint="Pass one score per example, higher = more likely positive.")
    pos = check_mask("positive", positive, ndim=1,
                     hint="Pass one True (positive) or False (negative) per score.")
    if pos.shape != scores.shape:
        raise InvalidParameterError(f"`scores` and `positive` must have one entry per example; "
                                    f"got lengths {scores.size} and {pos.size}.")
    n1 = int(pos.sum())
    n0 = pos.size - n1
    if n1 == 0 or n0 == 0:
        return math.nan
    ranks = rankdata(np.asarray(scores, dtype=np.float64))  # average ranks for ties
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))
