"""The arena in words: one sentence per leaderboard row, and what a ranking means for a hospital.

Pure functions: a row's numbers in, a :class:`Statement` out. The upper end of a confidence
interval on a risk is rounded *up* (it never reads as safer than measured), its lower end
down; an audited ε is a proven *minimum*, so it is rounded down (rounded up it would claim more
than was proven). An FPR below the resolution of the test (fewer than 1/FPR non-members) is
said to be unresolved instead of quoted as a rate.
"""

from __future__ import annotations

import math

from .._validate import check_real
from ..errors import InvalidParameterError
from .numbers import format_epsilon, format_number, format_percent
from .statement import Statement

__all__ = ["row_statement", "ranking_statement"]


def _pct(p: float, rounding: str = "nearest") -> str:
    return format_percent(min(max(p, 0.0), 1.0), rounding=rounding)


def _claim(epsilon_claimed: float) -> str:
    if math.isinf(epsilon_claimed):
        return "It claims no privacy guarantee (ε = ∞)."
    return f"It claims {format_epsilon(epsilon_claimed)}."


def _audit(eps: float) -> str:
    if not math.isfinite(eps) or eps <= 0:
        return "This attack proves no lower bound on ε."
    return f"This attack proves ε ≥ {format_number(eps, rounding='down', digits=2)} (95 %)."


def row_statement(row) -> Statement:
    """One sentence (or three) about a :class:`~medpriv_widgets.arena.cells.CellResult`."""
    r = row
    who = f"Against “{r.defence}”, {r.attack}"
    if r.status != "ok":
        return Statement(f"“{r.defence}” × {r.attack} was not scored: {r.reason}",
                         {"status": r.status})
    utility = (f"The released model keeps a test AUC of {r.utility_auc:.2f}."
               if math.isfinite(r.utility_auc) else "")
    numbers = {"risk": r.risk, "utility_auc": r.utility_auc}
    if r.kind == "membership":
        high = _pct(r.tpr_at_1pct_high, "up")
        text = (f"{who} picks out {_pct(r.tpr_at_1pct)} of the training patients (95 % range "
                f"{_pct(r.tpr_at_1pct_low, 'down')}–{high}) while wrongly accusing at most 1 in "
                f"100 of the {r.n_nonmembers:,} children who were not in the training data.")
        if r.resolved_0_1pct:
            text += (f" Accusing at most 1 in 1,000, it finds {_pct(r.tpr_at_0_1pct)} (up to "
                     f"{_pct(r.tpr_at_0_1pct_high, 'up')}).")
        else:
            text += (f" At 1 in 1,000 false accusations it cannot be judged: only "
                     f"{r.n_nonmembers:,} non-members were tested (at least 1,000 are needed).")
        text += f" {_claim(r.epsilon_claimed)} {_audit(r.epsilon_audited)} {utility}"
        numbers.update(tpr=r.tpr_at_1pct, tpr_high=r.tpr_at_1pct_high,
                       resolved_0_1pct=r.resolved_0_1pct, epsilon_audited=r.epsilon_audited)
    elif r.kind == "reconstruction":
        text = (f"{who} rebuilds the X-rays in one shared update at {r.psnr_db:.1f} dB PSNR "
                f"(SSIM {r.ssim:.2f}); {_pct(r.recognisable, 'up')} of them are recognisable "
                f"(≥ 25 dB and SSIM ≥ 0.7). {_claim(r.epsilon_claimed)} {utility}")
        numbers.update(psnr_db=r.psnr_db, ssim=r.ssim)
    else:
        ceiling = ("" if not math.isfinite(r.reidentified_truth) else
                   f" (with the true X-ray: {_pct(r.reidentified_truth, 'up')})")
        found = ("no attacked child had another X-ray in the archive"
                 if not math.isfinite(r.reidentified) else
                 f"finds the child in the hospital's archive for "
                 f"{_pct(r.reidentified, 'up')} of the reconstructions{ceiling}")
        text = f"{who} {found}. {_claim(r.epsilon_claimed)} {utility}"
    return Statement(" ".join(text.split()), numbers)


def ranking_statement(*, best_defence: str, best_utility: float, best_risk: float,
                      baseline_utility: float, baseline_risk: float) -> Statement:
    """What the top of the ranking means for a hospital, against training without defence.

    Utilities are test AUCs and risks shares of attacked patients exposed, all in [0, 1]."""
    if not isinstance(best_defence, str) or not best_defence.strip():
        raise InvalidParameterError(f"`best_defence` must be the defence's name; got "
                                    f"{best_defence!r:.100}.")
    best_utility, baseline_utility = (
        check_real(name, value, low=0.0, high=1.0, hint="Give the model's test AUC.")
        for name, value in (("best_utility", best_utility),
                            ("baseline_utility", baseline_utility)))
    best_risk, baseline_risk = (
        check_real(name, value, low=0.0, high=1.0,
                   hint="Give the share of attacked patients exposed.")
        for name, value in (("best_risk", best_risk), ("baseline_risk", baseline_risk)))
    lost = baseline_utility - best_utility
    text = (f"Of the defences on the Pareto front, “{best_defence}” exposes the fewest patients: "
            f"at most {_pct(best_risk, 'up')} of those attacked against "
            f"{_pct(baseline_risk, 'up')} without a defence")
    if lost > 0.005:
        text += f", for {lost:.2f} less test AUC ({best_utility:.2f} instead of {baseline_utility:.2f})."
    else:
        text += ", at no measurable cost in test AUC."
    text += (" A ranking holds for these attacks on these X-rays; only a DP guarantee (finite ε) "
             "also covers attacks nobody has tried yet.")
    return Statement(text, {"lost_auc": lost, "best_risk": best_risk,
                            "baseline_risk": baseline_risk})
