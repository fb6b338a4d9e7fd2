"""Membership results from the cache: run the attacks, score them against the truth, add bounds.

Instant once the stages (:mod:`.stages`) are cached, which is what sliders need::

    res = membership_result(settings, epsilon=8.0, cache=store)
    res.tpr_at["lira_online"][0.001].tpr, res.bound_at(0.001)

The three steps are kept apart, as the threat model asks: the attacks
(:func:`~medpriv_widgets.attacks.membership.run_attacks`) see only the target's and the shadow
models' scores; the truth (who was a member) enters only when the scores are judged (ROC, TPR at
low FPR with Clopper–Pearson intervals, the most exposed patients); the DP bound comes from the
accounting of the target's own training run (:mod:`medpriv_widgets.privacy.bounds`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..._validate import check_array, check_int, check_mask, check_open_unit, check_positive
from ...cache import ResultStore
from ...errors import InvalidParameterError, NotComputedYet
from .settings import MembershipSettings
from .stages import DPTarget, ShadowModels

#: FPRs at which every result reports TPR with Clopper–Pearson intervals.
REPORT_FPRS = (0.001, 0.01)
#: FPR grid on which bounds are drawn (log-spaced, for log–log ROC plots).
BOUND_FPR_GRID = np.logspace(-5, 0, 200)[:-1]
NOT_PRIVATE = math.inf


@dataclass(frozen=True)
class MembershipResult:
    """Attack results against one target, with the DP bound to draw over them.

    ``curves[name]``: RocCurve; ``auc[name]``: float; ``tpr_at[name][fpr]``: OperatingPoint for
    fpr in REPORT_FPRS; ``bound_fpr``, ``bound_tpr`` (the accounted mechanism's trade-off curve,
    all ones when not private), ``region_tpr`` (the generic (ε, δ) region); ``vulnerable``:
    list of dicts (patient_id, index, score, label) of the most exposed members, highest first.
    """

    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    curves: dict
    auc: dict
    tpr_at: dict
    bound_fpr: np.ndarray
    bound_tpr: np.ndarray
    region_tpr: np.ndarray
    utility: dict
    vulnerable: list
    n_members: int
    n_nonmembers: int
    n_shadows: int
    caption: str
    synthetic: bool
    device: str
    label: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def private(self) -> bool:
        return math.isfinite(self.epsilon)

    def bound_at(self, fpr: float) -> float:
        """Max TPR any attack can have at ``fpr`` against this target (1.0 when not private)."""
        fpr = check_open_unit("fpr", fpr)
        if not self.private:
            return 1.0
        from ...privacy.bounds import tradeoff_curve
        return float(tradeoff_curve(noise_multiplier=self.noise_multiplier,
                                    sample_rate=self.sample_rate, steps=self.steps, fpr=fpr))


def _missing(what: str) -> NotComputedYet:
    return NotComputedYet(f"{what} is not computed yet. Press 'Compute' (or run `medpriv "
                          f"precompute` before the session) first.")


def membership_result(settings: MembershipSettings, *, epsilon: float,
                      cache: ResultStore | None, dp_batch_size: int | None = None,
                      dp_epochs: int | None = None, n_vulnerable: int = 8,
                      confidence: float = 0.95) -> MembershipResult:
    """The attacks against the target at ``epsilon`` (∞: the non-private one), judged.

    Reads :class:`ShadowModels` and :class:`DPTarget` from ``cache`` and never trains: raises
    :class:`~medpriv_widgets.errors.NotComputedYet` (in words) when one is missing.
    """
    from ...attacks.membership import run_attacks
    from ...attacks.membership.roc import roc_auc, roc_curve, tpr_at_fpr
    from ...privacy.bounds import eps_delta_region, tradeoff_curve

    eps = check_positive("epsilon", epsilon, allow_inf=True,
                         hint="Use float('inf') for the non-private model.")
    bank = ShadowModels(settings).load(cache)
    if bank is None:
        raise _missing("The shadow models for this setting are")
    if math.isinf(eps):
        scores, sigma, q, steps = bank.nonprivate_scores, 0.0, 0.0, 0
        utility = bank.nonprivate_utility
        bound = region = np.ones_like(BOUND_FPR_GRID)
        label, delta = "not private", settings.delta
    else:
        target = DPTarget(settings, eps, dp_batch_size, dp_epochs).load(cache)
        if target is None:
            raise _missing(f"The DP model at ε = {eps:g}")
        scores, sigma, q, steps = (target.scores, target.noise_multiplier, target.sample_rate,
                                   target.steps)
        utility, delta = target.utility, target.delta
        bound = tradeoff_curve(noise_multiplier=sigma, sample_rate=q, steps=steps,
                               fpr=BOUND_FPR_GRID)
        region = eps_delta_region(epsilon=eps, delta=delta, fpr=BOUND_FPR_GRID)
        label = f"ε = {eps:g}"
    # The attacker's view: the target's scores and its own shadow models, nothing else.
    attack_scores = run_attacks(target_scores=scores, shadow_scores=bank.shadow_scores,
                                in_mask=bank.in_mask)
    # The judge's view: who really was a member.
    member = bank.target_member
    curves = {k: roc_curve(scores=v, is_member=member) for k, v in attack_scores.items()}
    aucs = {k: roc_auc(scores=v, is_member=member) for k, v in attack_scores.items()}
    tpr_at = {k: {f: tpr_at_fpr(scores=v, is_member=member, fpr=f, confidence=confidence)
                  for f in REPORT_FPRS} for k, v in attack_scores.items()}
    vulnerable = most_vulnerable(scores=attack_scores["lira_online"], is_member=member,
                                 patient_ids=bank.patient_ids, labels=bank.labels, n=n_vulnerable)
    return MembershipResult(
        epsilon=eps, delta=delta, noise_multiplier=sigma, sample_rate=q, steps=steps,
        curves=curves, auc=aucs, tpr_at=tpr_at, bound_fpr=BOUND_FPR_GRID, bound_tpr=bound,
        region_tpr=region, utility=utility, vulnerable=vulnerable,
        n_members=int(member.sum()), n_nonmembers=int((~member).sum()),
        n_shadows=int(bank.in_mask.shape[0]), caption=bank.caption, synthetic=bank.synthetic,
        device=bank.device, label=label, extra={"scores": attack_scores})


def most_vulnerable(*, scores, is_member, patient_ids, labels=None, n: int = 8) -> list[dict]:
    """The ``n`` member patients the attack is most sure about, highest score first.

    A patient's score is the highest score over their member images (the image that gives them
    away). Returns dicts with patient_id, index (that image), score, label.
    """
    n = check_int("n", n, low=0)
    s = check_array("scores", scores, ndim=1, allow_inf=True,
                    hint="Pass one membership score per image.")
    member = check_mask("is_member", is_member, ndim=1,
                        hint="Pass one True (member) or False per image.")
    ids = _as_ids(patient_ids)
    if labels is not None:
        labels = check_array("labels", labels, ndim=1, hint="Pass one class label per image.")
    lengths = {"scores": s.size, "is_member": member.size, "patient_ids": ids.size}
    if labels is not None:
        lengths["labels"] = labels.size
    if len(set(lengths.values())) != 1:
        raise InvalidParameterError(
            "`scores`, `is_member`, `patient_ids` (and `labels`) must have one entry per image; "
            "got lengths " + ", ".join(f"{k} {v}" for k, v in lengths.items()) + ".")
    best: dict = {}
    for i in np.flatnonzero(member):
        if ids[i] not in best or s[i] > s[best[ids[i]]]:
            best[ids[i]] = i
    ranked = sorted(best.items(), key=lambda kv: -s[kv[1]])[:n]
    return [{"patient_id": str(pid), "index": int(i), "score": float(s[i]),
             "label": None if labels is None else int(labels[i])} for pid, i in ranked]


def _as_ids(patient_ids) -> np.ndarray:
    try:
        ids = None if patient_ids is None or isinstance(patient_ids, (str, bytes)) \
            else np.asarray(patient_ids)
    except (TypeError, ValueError):
        ids = None
    if ids is None or ids.ndim != 1:
        raise InvalidParameterError(f"`patient_ids` must be an array with one patient ID per "
                                    f"image; got {patient_ids!r:.80}.")
    return ids


def check_tpr_below_bound(result: MembershipResult, *, attack: str = "lira_online",
                          fpr: float = 0.001):
    """Whether the attack's TPR at ``fpr`` is consistent with the DP bound.

    Both rates are estimates: consistent means the lower end of the TPR's Clopper–Pearson
    interval is at most the bound at the upper end of the FPR's interval (the bound is
    non-decreasing in FPR). With many non-members that upper end is close to ``fpr``.
    Returns (ok, operating point, bound at the FPR's upper end).
    """
    if attack not in result.tpr_at or fpr not in result.tpr_at[attack]:
        raise InvalidParameterError(f"`attack` must be one of {tuple(result.tpr_at)} and `fpr` "
                                    f"one of {REPORT_FPRS}; got {attack!r}, {fpr!r}.")
    op = result.tpr_at[attack][fpr]
    bound = result.bound_at(min(op.fpr_high, 1 - 1e-9))
    return op.tpr_low <= bound + 1e-12, op, bound


__all__ = ["BOUND_FPR_GRID", "MembershipResult", "NOT_PRIVATE", "REPORT_FPRS",
           "check_tpr_below_bound", "membership_result", "most_vulnerable"]
