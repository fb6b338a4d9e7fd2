"""Judging an attack against the truth: the full ROC, low-FPR operating points, an audited ε.

Kept apart from the attacks (which never see who was a member). For membership scores
(higher = "more likely a member"):

* AUC and TPR at each of :data:`~.scenarios.REPORT_FPRS` with exact Clopper–Pearson
  intervals (:func:`medpriv_widgets.attacks.membership.roc.tpr_at_fpr`);
* whether that FPR is *resolved*: with n non-members an FPR of f allows ⌊f·n⌋ false
  accusations, so below n = 1/f the operating point is the zero-false-positive point and says
  nothing about f itself;
* an audited lower bound on ε (:func:`medpriv_widgets.privacy.audit.epsilon_lower_bound`): the
  threshold is chosen on one random half of the X-rays and the bound evaluated on the other,
  so the choice does not spend the bound's confidence.
"""

from __future__ import annotations

import math

import numpy as np

from .._validate import check_array, check_int, check_mask, check_open_unit, check_real
from ..errors import InvalidParameterError
from ..stats import clopper_pearson_arrays
from .scenarios import REPORT_FPRS


def resolved(n_nonmembers: int, fpr: float) -> bool:
    """True when ``n_nonmembers`` non-members allow at least one false accusation at ``fpr``."""
    n = check_int("n_nonmembers", n_nonmembers, low=0)
    f = check_real("fpr", fpr, low=0.0, high=1.0, hint="Give a false-positive rate such as 0.001.")
    return math.floor(n * f + 1e-9) >= 1


def _check_membership(scores, is_member) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N,) float and is_member (N,) bool, or InvalidParameterError with a sentence."""
    s = check_array("scores", scores, hint="Give one membership score per X-ray.").ravel()
    m = check_mask("is_member", is_member, hint="Give one True/False per X-ray.").ravel()
    if s.shape != m.shape:
        raise InvalidParameterError(f"`scores` and `is_member` must have the same length; got "
                                    f"{s.size} and {m.size}.")
    if m.all() or not m.any():
        raise InvalidParameterError(f"`is_member` must contain both members and non-members; "
                                    f"got {int(m.sum())} members out of {m.size}. Score X-rays "
                                    f"from both groups.")
    return s, m


def _check_delta(delta) -> float:
    return check_real("delta", delta, low=0.0, high=1.0, high_inclusive=False,
                      hint="δ of the claimed guarantee, e.g. 1e-5.")


def _lower_bounds(tp: np.ndarray, fp: np.ndarray, n_m: int, n_n: int, delta: float,
                  confidence: float) -> np.ndarray:
    """ε lower bound at every threshold (counts tp, fp), as in ``epsilon_lower_bound``."""
    a = (1.0 - confidence) / 2.0
    tpr_lo = clopper_pearson_arrays(tp, n_m, 1.0 - 2.0 * a)[0]
    fpr_hi = clopper_pearson_arrays(fp, n_n, 1.0 - 2.0 * a)[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        one = np.where(fpr_hi > 0, np.log(np.maximum(tpr_lo - delta, 1e-300) / fpr_hi), np.inf)
        one = np.where(tpr_lo - delta > 0, one, 0.0)
        two = np.where(1 - tpr_lo > 0,
                       np.log(np.maximum(1 - fpr_hi - delta, 1e-300) / (1 - tpr_lo)), np.inf)
        two = np.where(1 - fpr_hi - delta > 0, two, 0.0)
    return np.maximum(0.0, np.maximum(one, two))


def _counts_at(scores: np.ndarray, member: np.ndarray, thresholds: np.ndarray):
    """True and false positives of "member if score ≥ t" for every t."""
    pos = np.sort(scores[member])
    neg = np.sort(scores[~member])
    tp = len(pos) - np.searchsorted(pos, thresholds, side="left")
    fp = len(neg) - np.searchsorted(neg, thresholds, side="left")
    return tp, fp


def audited_epsilon(*, scores, is_member, delta: float, confidence: float = 0.95,
                    seed: int = 0) -> float:
    """Lower bound on ε (holds with probability ≥ ``confidence``) from a membership score.

    Half the X-rays (a seeded random half) choose the threshold that gives the largest bound
    on them; the bound reported is the one that threshold gives on the other half. 0 when the
    attack shows nothing. Both halves need members and non-members.
    """
    s, m = _check_membership(scores, is_member)
    conf = check_open_unit("confidence", confidence)
    d = _check_delta(delta)
    rng = np.random.default_rng([check_int("seed", seed, low=0), 8080])
    choose = rng.permutation(s.size) < s.size // 2
    judge = ~choose
    for part in (choose, judge):
        if m[part].all() or not m[part].any():
            raise InvalidParameterError("Each half needs members and non-members to audit ε.")
    thresholds = np.unique(s[choose])
    tp, fp = _counts_at(s[choose], m[choose], thresholds)
    eps = _lower_bounds(tp, fp, int(m[choose].sum()), int((~m[choose]).sum()), d, conf)
    t = thresholds[int(np.argmax(eps))]
    tp, fp = _counts_at(s[judge], m[judge], np.array([t]))
    return float(_lower_bounds(tp, fp, int(m[judge].sum()), int((~m[judge]).sum()), d, conf)[0])


def membership_fields(*, scores, is_member, delta: float, confidence: float = 0.95,
                      seed: int = 0) -> dict:
    """The membership part of a :class:`~.cells.CellResult`: mia_auc, TPR at each reported
    FPR with its interval and whether it is resolved, counts, and the audited ε."""
    from ..attacks.membership.roc import roc_auc, tpr_at_fpr

    scores, m = _check_membership(scores, is_member)
    delta = _check_delta(delta)
    confidence = check_open_unit("confidence", confidence)
    check_int("seed", seed, low=0)
    n_n = int((~m).sum())
    out = {"mia_auc": roc_auc(scores=scores, is_member=m), "n_members": int(m.sum()),
           "n_nonmembers": n_n}
    for fpr, tag in zip(REPORT_FPRS, ("0_1pct", "1pct")):
        op = tpr_at_fpr(scores=scores, is_member=m, fpr=fpr, confidence=confidence)
        out[f"tpr_at_{tag}"] = op.tpr
        out[f"tpr_at_{tag}_low"] = op.tpr_low
        out[f"tpr_at_{tag}_high"] = op.tpr_high
        out[f"resolved_{tag}"] = resolved(n_n, fpr)
    out["epsilon_audited"] = audited_epsilon(scores=scores, is_member=m, delta=delta,
                                             confidence=confidence, seed=seed)
    return out


__all__ = ["audited_epsilon", "membership_fields", "resolved"]
