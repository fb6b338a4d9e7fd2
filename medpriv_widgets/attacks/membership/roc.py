"""ROC curves, AUC and TPR at a fixed low FPR with exact (Clopper–Pearson) intervals.

Membership attacks are judged at low false-positive rates (Carlini et al. 2022): an attack that
is right about a few patients with near certainty matters more than one that is slightly better
than chance on average. Scores are "higher = more likely a member" throughout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import beta, rankdata

from ..._validate import check_open_unit
from ...errors import InvalidParameterError


@dataclass(frozen=True)
class RocCurve:
    """Empirical ROC: arrays of equal length, starting at (0, 0) and ending at (1, 1).

    ``thresholds[i]`` is the score cut giving ``(fpr[i], tpr[i])``: predict "member" when
    score ≥ threshold (the first threshold is +inf).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


@dataclass(frozen=True)
class OperatingPoint:
    """The attack's best TPR among thresholds whose FPR does not exceed ``target_fpr``.

    ``tpr_low``/``tpr_high``: two-sided Clopper–Pearson interval at ``confidence`` for the TPR
    (``true_positives`` out of ``n_members``). ``fpr`` is the FPR actually reached (≤ target);
    ``fpr_high`` its Clopper–Pearson upper end (the true FPR of that threshold may be larger
    than the one measured on few non-members; compare bounds there).
    """

    target_fpr: float
    fpr: float
    tpr: float
    tpr_low: float
    tpr_high: float
    threshold: float
    true_positives: int
    false_positives: int
    n_members: int
    n_nonmembers: int
    confidence: float
    fpr_high: float = 1.0


def _check_scores(scores, is_member) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float).ravel()
    m = np.asarray(is_member).ravel()
    if s.shape != m.shape:
        raise InvalidParameterError(f"`scores` and `is_member` must have the same length; got "
                                    f"{s.shape[0]} and {m.shape[0]}.")
    if m.dtype != bool:
        if not np.isin(m, (0, 1)).all():
            raise InvalidParameterError("`is_member` must hold only True/False (or 1/0).")
        m = m.astype(bool)
    if np.isnan(s).any():
        raise InvalidParameterError(f"`scores` must not contain NaN; got {int(np.isnan(s).sum())} NaN values.")
    if m.all() or not m.any():
        raise InvalidParameterError("`is_member` must contain both members and non-members; "
                                    f"got {int(m.sum())} members out of {m.size}.")
    return s, m


def roc_curve(*, scores, is_member) -> RocCurve:
    """ROC of a membership score. ``scores``, ``is_member``: arrays of shape (N,).

    Tied scores form one point (no interpolation inside ties).
    """
    s, m = _check_scores(scores, is_member)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, m_sorted = s[order], m[order]
    tp = np.cumsum(m_sorted)
    fp = np.cumsum(~m_sorted)
    last_of_tie = np.r_[np.diff(s_sorted) != 0, True]
    tp, fp, thr = tp[last_of_tie], fp[last_of_tie], s_sorted[last_of_tie]
    n_pos, n_neg = m.sum(), (~m).sum()
    return RocCurve(fpr=np.r_[0.0, fp / n_neg], tpr=np.r_[0.0, tp / n_pos],
                    thresholds=np.r_[np.inf, thr])


def roc_auc(*, scores, is_member) -> float:
    """Area under the ROC = P(score of a random member > that of a random non-member), ties ½."""
    s, m = _check_scores(scores, is_member)
    ranks = rankdata(s)
    n_pos, n_neg = m.sum(), (~m).sum()
    return float((ranks[m].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def clopper_pearson(*, successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided binomial interval for a proportion (Clopper & Pearson 1934).

    Returns (low, high) with P(low ≤ p ≤ high) ≥ ``confidence``; low = 0 when successes = 0 and
    high = 1 when successes = trials.
    """
    if isinstance(trials, bool) or int(trials) != trials or trials < 1:
        raise InvalidParameterError(f"`trials` must be an integer >= 1; got {trials!r}.")
    if isinstance(successes, bool) or int(successes) != successes or not 0 <= successes <= trials:
        raise InvalidParameterError(f"`successes` must be an integer in [0, trials={trials}]; got {successes!r}.")
    conf = check_open_unit("confidence", confidence)
    a = (1.0 - conf) / 2.0
    k, n = int(successes), int(trials)
    low = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return low, high


def tpr_at_fpr(*, scores, is_member, fpr: float, confidence: float = 0.95) -> OperatingPoint:
    """Best TPR at a false-positive rate of at most ``fpr`` (a probability in (0, 1)).

    With n non-members, an FPR of at most ``fpr`` allows ⌊fpr·n⌋ false accusations; with fewer
    than 1/fpr non-members only a threshold with no false positive qualifies (say so in figures).
    """
    target = check_open_unit("fpr", fpr, hint="It is a false-positive rate, e.g. 0.001 for 0.1 %.")
    s, m = _check_scores(scores, is_member)
    curve = roc_curve(scores=s, is_member=m)
    ok = np.flatnonzero(curve.fpr <= target + 1e-12)
    best = ok[np.argmax(curve.tpr[ok])]
    n_pos, n_neg = int(m.sum()), int((~m).sum())
    tp = int(round(curve.tpr[best] * n_pos))
    low, high = clopper_pearson(successes=tp, trials=n_pos, confidence=confidence)
    fp = int(round(curve.fpr[best] * n_neg))
    fpr_high = clopper_pearson(successes=fp, trials=n_neg, confidence=confidence)[1]
    return OperatingPoint(target_fpr=target, fpr=float(curve.fpr[best]), tpr=float(curve.tpr[best]),
                          tpr_low=low, tpr_high=high, threshold=float(curve.thresholds[best]),
                          true_positives=tp, false_positives=fp, n_members=n_pos,
                          n_nonmembers=n_neg, confidence=confidence, fpr_high=fpr_high)
