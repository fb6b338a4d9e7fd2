"""Exercises of lesson 05 (membership inference): the ceiling a DP guarantee puts on any attack.

Both recompute with :func:`~medpriv_widgets.privacy.bounds.eps_delta_region` (the generic
(ε, δ) region of Kairouz, Oh & Viswanath, the orange dashed line of the lesson's figure).
"""

from __future__ import annotations

from ..explain.numbers import format_number, format_percent
from .core import AnswerForm, Exercise, Outcome

DELTA, FPR = 1e-5, 0.001


def ceiling(epsilon: float) -> float:
    """Max TPR of any membership test at FPR 0.1 % under (ε, 1e-5)-DP."""
    from ..privacy.bounds import eps_delta_region

    return eps_delta_region(epsilon=epsilon, delta=DELTA, fpr=FPR)


def _judge_bound(predicted: float) -> Outcome:
    truth = 100 * ceiling(1.0)
    found = (f"At ε = 1 no attack can find more than {format_percent(truth / 100, rounding='up')} "
             f"of the members while wrongly accusing 0.1 % of the others (e¹ × 0.1 % + δ). "
             f"Without DP the ceiling is 100 %.")
    ok = truth / 1.5 <= predicted <= truth * 1.5
    return Outcome(ok, found, f"your prediction of {predicted:g} % is not within a factor 1.5.")


def _judge_goal(epsilon: float) -> Outcome:
    here = f"at ε = {format_number(epsilon)} the ceiling is {format_percent(ceiling(epsilon), rounding='up')}"
    if ceiling(epsilon) > 0.01:
        return Outcome(False, here[0].upper() + here[1:] + ".",
                       "that is above 1 %: a smaller ε is needed.")
    more = round(epsilon + 0.1, 1)
    there = f"at ε = {format_number(more)} it is {format_percent(ceiling(more), rounding='up')}"
    if ceiling(more) <= 0.01:
        return Outcome(False, f"{here[0].upper() + here[1:]}, and {there}.",
                       "a larger ε also stays at or below 1 %, and ε you do not spend on "
                       "privacy is accuracy lost for nothing.")
    return Outcome(True, f"{here[0].upper() + here[1:]} ≤ 1 %, while {there}. The curve of the "
                         f"actual training run (red line) is often far lower than this generic "
                         f"ceiling.")


EXERCISES = [
    Exercise(
        id="05-bound", title="The ceiling at ε = 1", kind="predict",
        question=(
            "A model was trained with differential privacy at **ε = 1** (δ = 10⁻⁵). An attacker "
            "may wrongly accuse at most **0.1 %** of the non-members. **Predict:** at most what "
            "share of the real members can *any* attack then find? Answer in percent (small "
            "numbers are fine, e.g. `0.5`)."),
        form=AnswerForm("number", unit="%", low=0, high=100),
        judge=_judge_bound,
        hint=("Under (ε, δ)-DP, TPR ≤ e^ε × FPR + δ. Here FPR = 0.1 % = 0.001 and e¹ ≈ 2.72."),
        solution=0.27,
        explanation="e × 0.001 + 0.00001 = 0.00273: 0.27 %."),
    Exercise(
        id="05-ceiling", title="The largest ε with a 1 % ceiling", kind="goal",
        question=(
            "A data-protection officer accepts a model only if no attack can find more than "
            "**1 %** of the members at 0.1 % false accusations. Find the **largest ε** (one "
            "decimal, δ = 10⁻⁵) whose generic ceiling stays **at or below 1 %**."),
        form=AnswerForm("number", low=1e-3, high=100),
        judge=_judge_goal,
        hint="Solve e^ε × 0.001 + 0.00001 ≤ 0.01 for ε (take the natural logarithm).",
        solution=2.3,
        explanation="ε ≤ ln((0.01 − 0.00001)/0.001) = 2.3016: 2.3 to one decimal."),
]
