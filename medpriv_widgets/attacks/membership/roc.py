"""ROC curves, AUC and TPR at a fixed low FPR with exact (Clopper–Pearson) intervals.

Membership attacks are judged at low false-positive rates (Carlini et al. 2022): an attack that
is right about a few patients with near certainty matters more than one that is slightly better
than chance on average. Scores are "higher = more likely a member" throughout.

With a few dozen members the measured curve is noisy: :func:`roc_band` gives its pointwise
Clopper–Pearson range and :func:`compare_with_bound` says whether a curve that pokes above a DP
bound is explained by that noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..._validate import check_array, check_mask, check_open_unit
from ...errors import InvalidParameterError
from ...stats import clopper_pearson, clopper_pearson_arrays, rank_auc


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
    s = check_array("scores", scores, allow_inf=True,
                    hint="Pass one membership score per patient, higher = more likely a member.")
    s = s.ravel()
    m = check_mask("is_member", is_member,
                   hint="Pass one True (member) or False (non-member) per score.").ravel()
    if s.shape != m.shape:
        raise InvalidParameterError(f"`scores` and `is_member` must have the same length; got "
                                    f"{s.shape[0]} and {m.shape[0]}.")
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
    return rank_auc(s, m)


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


def _counts(rates: np.ndarray, n: int, name: str) -> np.ndarray:
    k = np.rint(rates * n)
    if np.any(np.abs(rates * n - k) > 1e-6 * max(1, n)):
        raise InvalidParameterError(
            f"`{name}` = {n} does not match the curve: its rates are not whole counts out of {n}. "
            f"Pass the number of patients the curve was measured on.")
    return k.astype(int)


@dataclass(frozen=True)
class RocBand:
    """Pointwise uncertainty of an empirical ROC: arrays shaped like the curve's ``fpr``.

    ``tpr_low[i]``, ``tpr_high[i]``: two-sided Clopper–Pearson interval at ``confidence`` for the
    true-positive rate of the threshold behind point i (``tpr[i]·n_members`` members found out of
    ``n_members``). ``fpr_high[i]``: the Clopper–Pearson upper end of that threshold's
    false-positive rate (from ``n_nonmembers``), or None when ``n_nonmembers`` was not given.
    Pointwise: each point's interval covers its true rate with probability ≥ ``confidence``; the
    band as a whole covers the whole curve less often.
    """

    fpr: np.ndarray
    tpr: np.ndarray
    tpr_low: np.ndarray
    tpr_high: np.ndarray
    n_members: int
    confidence: float
    fpr_high: np.ndarray | None = None
    n_nonmembers: int | None = None


def roc_band(*, curve: RocCurve, n_members: int, n_nonmembers: int | None = None,
             confidence: float = 0.95) -> RocBand:
    """The 95 % (``confidence``) range of a measured ROC's TPR at each of its points.

    ``curve``: a :class:`RocCurve` from :func:`roc_curve`; ``n_members`` (and optionally
    ``n_nonmembers``): the counts it was measured on (the TPRs must be whole counts out of
    ``n_members``). With a few dozen members the range is wide: 2 of 59 found (3.4 %) is
    consistent with a true rate from 0.4 % to 12 %. Drawing it keeps a measured curve that pokes
    above a DP bound from reading as "the attack beats the guarantee" when it is sampling noise.
    """
    if isinstance(n_members, bool) or int(n_members) != n_members or n_members < 1:
        raise InvalidParameterError(f"`n_members` must be an integer >= 1; got {n_members!r}.")
    n = int(n_members)
    conf = check_open_unit("confidence", confidence)
    fpr, tpr = np.asarray(curve.fpr, dtype=float), np.asarray(curve.tpr, dtype=float)
    low, high = clopper_pearson_arrays(_counts(tpr, n, "n_members"), n, conf)
    fpr_high = m = None
    if n_nonmembers is not None:
        if isinstance(n_nonmembers, bool) or int(n_nonmembers) != n_nonmembers or n_nonmembers < 1:
            raise InvalidParameterError(
                f"`n_nonmembers` must be an integer >= 1 or None; got {n_nonmembers!r}.")
        m = int(n_nonmembers)
        fpr_high = clopper_pearson_arrays(_counts(fpr, m, "n_nonmembers"), m, conf)[1]
    return RocBand(fpr=fpr.copy(), tpr=tpr.copy(), tpr_low=low, tpr_high=high, n_members=n,
                   confidence=conf, fpr_high=fpr_high, n_nonmembers=m)


@dataclass(frozen=True)
class BoundCheck:
    """How a measured ROC (with its :class:`RocBand`) sits against a DP bound curve.

    ``above``: the measured TPR exceeds the bound at some ROC point (what a reader sees as
    "the attack beats the guarantee"). ``within_band``: at every such point the band's lower end
    reaches the bound (TPR sampling noise explains it). ``within_fpr_range``: at every such point
    the band's lower end reaches the bound evaluated at the upper end of that point's FPR range
    (sampling noise in both rates explains it; True whenever ``within_band`` is). ``worst_fpr``:
    the FPR where the measured curve exceeds the bound most (nan when not ``above``).
    """

    above: bool
    within_band: bool
    within_fpr_range: bool
    worst_fpr: float


def compare_with_bound(*, band: RocBand, bound_fpr, bound_tpr) -> BoundCheck:
    """Compare a measured ROC band with a bound given on a grid (``bound_fpr`` increasing, in
    (0, 1]; ``bound_tpr`` the most TPR any attack can have there). The bound is interpolated
    linearly between grid points (below the true, concave bound: a cautious comparison); a grid
    that stops short of FPR 1 is closed with the point (1, 1), which holds for every bound; below
    the grid's first FPR the first value is used.
    """
    bf = np.asarray(bound_fpr, dtype=float).ravel()
    bt = np.asarray(bound_tpr, dtype=float).ravel()
    if bf.shape != bt.shape or bf.size < 2 or np.any(np.diff(bf) <= 0):
        raise InvalidParameterError("`bound_fpr` must be increasing and as long as `bound_tpr` "
                                    f"(at least 2 points); got {bf.size} and {bt.size} points.")
    if bf[-1] < 1.0:
        bf, bt = np.r_[bf, 1.0], np.r_[bt, 1.0]
    slack = 1e-9
    at = np.interp(band.fpr, bf, bt)
    over = band.tpr > at + slack
    if not over.any():
        return BoundCheck(above=False, within_band=True, within_fpr_range=True, worst_fpr=math.nan)
    within_band = bool(np.all(band.tpr_low[over] <= at[over] + slack))
    if band.fpr_high is None:
        within_fpr = within_band
    else:
        at_high = np.interp(band.fpr_high, bf, bt)
        within_fpr = bool(np.all(band.tpr_low[over] <= np.maximum(at, at_high)[over] + slack))
    worst = int(np.argmax(np.where(over, band.tpr - at, -np.inf)))
    return BoundCheck(above=True, within_band=within_band, within_fpr_range=within_fpr,
                      worst_fpr=float(band.fpr[worst]))
