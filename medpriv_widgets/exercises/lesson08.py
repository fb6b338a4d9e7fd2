"""Exercise of lesson 08 (benchmark arena): how many children a 0.1 % false-positive rate needs.

Recomputes the exact Clopper–Pearson range the arena reports
(:func:`medpriv_widgets.stats.clopper_pearson`) and the arena's own "resolved" rule
(:func:`medpriv_widgets.arena.scoring.resolved`).
"""

from __future__ import annotations

from .._validate import check_int
from ..explain.numbers import format_count, format_percent
from .core import AnswerForm, Exercise, Outcome

FPR, STEP = 0.001, 100
#: Most children an answer may name (the answer form's range).
N_HIGH = 10**7


def upper(n: int) -> float:
    """Upper end of the 95 % range of the FPR after 0 false accusations among ``n`` (1 to
    N_HIGH)."""
    from ..stats import clopper_pearson

    n = check_int("n", n, low=1, high=N_HIGH, hint="Give a number of children such as 2500.")

    return clopper_pearson(successes=0, trials=n)[1]


def _judge(n: int) -> Outcome:
    from ..arena.scoring import resolved

    here = (f"With {format_count(n)} children outside the training data and no false "
            f"accusation, the 95 % range of the false-positive rate reaches up to "
            f"{format_percent(upper(n), rounding='up')}")
    if upper(n) > FPR:
        return Outcome(False, here + ".",
                       "that range still reaches above 0.1 %: test more children."
                       + ("" if resolved(n, FPR) else
                          " (With so few, the arena calls 0.1 % unresolved.)"))
    fewer = n - STEP
    if fewer >= 1 and upper(fewer) <= FPR:
        return Outcome(False, f"{here}; with {format_count(fewer)} it reaches "
                              f"{format_percent(upper(fewer), rounding='up')}.",
                       f"{format_count(STEP)} fewer children would do too.")
    return Outcome(True, f"{here}; with {format_count(max(fewer, 1))} it would reach "
                         f"{format_percent(upper(max(fewer, 1)), rounding='up')}. Resolving a rate "
                         f"of 1 in 1,000 takes thousands of children, not hundreds.")


EXERCISES = [
    Exercise(
        id="08-resolve", title="How many children a 0.1 % rate needs", kind="goal",
        question=(
            "An attack is tested on children who were *not* in the training data and wrongly "
            "accuses none of them. The arena reports the false-positive rate with its 95 % range "
            "(Clopper–Pearson). How many such children must be tested **at least** for that range "
            "to lie entirely **at or below 0.1 %**? Answer to within 100 children (e.g. `2500`)."),
        form=AnswerForm("integer", low=1, high=N_HIGH),
        judge=_judge,
        hint=("With n children and no false accusation, the upper end of the range is "
              "1 − 0.025^(1/n), roughly 3.7 / n. Try a number and let the check tell you the range."),
        solution=3700,
        explanation=("1 − 0.025^(1/n) ≤ 0.001 ⇔ n ≥ ln 0.025 / ln 0.999 = 3,687.1; accepted: "
                     "3,688 to 3,787 (within 100).")),
]
