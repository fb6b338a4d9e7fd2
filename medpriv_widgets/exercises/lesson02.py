"""Exercises of lesson 02 (differential privacy basics): the guarantee, the ε a precision needs,
and a budget that refuses.

They recompute with :mod:`medpriv_widgets.privacy.mechanisms` and a real
:class:`~medpriv_widgets.privacy.ledger.PrivacyLedger` in a temporary folder.
"""

from __future__ import annotations

import math
import tempfile

from ..explain.numbers import format_number, format_percent
from .core import AnswerForm, Exercise, Outcome

#: Exercise 02-accuracy: within this many children of the true count, this often.
TOLERANCE, COVERAGE = 10.0, 0.95


def _judge_guarantee(predicted: float) -> Outcome:
    from ..privacy import mechanisms as M

    bound = 100 * M.randomized_response_probability(epsilon=2 * 0.5)
    # an upper bound, so rounded up (never shown smaller than it is)
    found = (f"Two questions at ε = 0.5 spend 2ε = 1, and differential privacy lets the "
             f"attacker be right at most e¹/(1 + e¹) = {math.ceil(10 * bound) / 10:.1f} % of the "
             f"time — a coin flip gets 50 %. Without noise the attack was right every time.")
    off = abs(predicted - bound)
    return Outcome(off <= 2.0, found,
                   f"your prediction of {predicted:g} % is {off:.1f} percentage points away.")


def _coverage(epsilon: float) -> float:
    """P(|Laplace noise| ≤ TOLERANCE) at this ε, for a count (sensitivity 1)."""
    from ..privacy import mechanisms as M

    return 1.0 - math.exp(-TOLERANCE / M.laplace_scale(epsilon=epsilon))


def _judge_accuracy(epsilon: float) -> Outcome:
    from ..privacy import mechanisms as M

    drawn = M.laplace_mechanism(0.0, epsilon=epsilon, seed=0, size=20_000)
    measured = float((abs(drawn) <= TOLERANCE).mean())
    found = (f"At ε = {format_number(epsilon)} a noisy count lands within ±{TOLERANCE:g} children "
             f"of the truth {format_percent(_coverage(epsilon), rounding='down')} of the time "
             f"({format_percent(measured)} of 20,000 answers drawn here).")
    if _coverage(epsilon) < COVERAGE - 1e-12:
        return Outcome(False, found, "that is less often than 95 %: the noise is too large, so "
                                     "ε must be larger.")
    smaller = round(epsilon - 0.01, 2)
    if smaller > 0 and _coverage(smaller) >= COVERAGE - 1e-12:
        return Outcome(False, found,
                       f"ε = {format_number(smaller)} would reach 95 % too, and every bit of ε "
                       f"you do not need is privacy given away.")
    return Outcome(True, found + " Any smaller ε would miss the 95 %.")


def _answered_before_refusal(budget: float, price: float) -> tuple[int, float]:
    """(questions a fresh ledger answers at ``price`` before refusing one, ε left then)."""
    from ..errors import PrivacyBudgetError
    from ..privacy.ledger import PrivacyLedger

    with tempfile.TemporaryDirectory(prefix="medpriv-exercise-") as folder:
        ledger = PrivacyLedger(folder, epsilon=budget, delta=1e-5, dataset="exercise",
                               institution="exercise")
        answered = 0
        while answered < 1000:
            try:
                ledger.spend(price, note="exercise question")
            except PrivacyBudgetError:
                break
            answered += 1
        return answered, ledger.remaining()[0]


def _judge_budget(predicted: int) -> Outcome:
    answered, left = _answered_before_refusal(1.0, 0.3)
    found = (f"A fresh ledger with ε = 1 answered {answered} questions at ε = 0.3 "
             f"(ε = {format_number(1.0 - left)} spent), then refused the next: it needed 0.3 and "
             f"only {format_number(left, rounding='down')} was left. The refusal recorded "
             f"nothing, and a question of up to {format_number(left, rounding='down')} would still "
             f"be answered.")
    return Outcome(predicted == answered, found,
                   f"you predicted {predicted}.")


EXERCISES = [
    Exercise(
        id="02-guarantee", title="The most an attacker can be right", kind="predict",
        question=(
            "The differencing attack asks the database two questions, each answered with "
            "Laplace noise at **ε = 0.5**. **Predict:** at most how often can the attacker guess "
            "child #`target`'s diagnosis right, whatever they do? Answer in percent."),
        form=AnswerForm("number", unit="%", low=0, high=100),
        judge=_judge_guarantee,
        hint=("Use the formula above the attack's table: two questions spend 2ε, and the "
              "guarantee is e^(2ε) / (1 + e^(2ε))."),
        solution=73.1,
        explanation="2ε = 1, so e/(1 + e) = 0.731: 73.1 %."),
    Exercise(
        id="02-accuracy", title="Just enough ε for a useful count", kind="goal",
        question=(
            "A researcher needs the count of children with pneumonia to be within **±10 "
            "children** of the truth at least **95 %** of the time. Find the **smallest ε** (two "
            "decimals, e.g. `0.75`) that gives that precision with the Laplace mechanism: any "
            "larger ε gives away privacy that is not needed."),
        form=AnswerForm("number", low=1e-6, high=1e6),
        judge=_judge_accuracy,
        hint=("Laplace noise of scale 1/ε is within ±10 with probability 1 − e^(−10ε). Or try "
              "values: ask the counting lab at a few ε and watch the spread of the answers."),
        solution=0.30,
        explanation=("1 − e^(−10ε) ≥ 0.95 ⇔ ε ≥ ln(20)/10 = 0.2996, so 0.30 to two decimals; "
                     "0.29 reaches only 94.5 %.")),
    Exercise(
        id="02-budget", title="How many questions a budget pays for", kind="predict",
        question=(
            "A data steward's ledger holds a budget of **ε = 1**. Every question costs **ε = "
            "0.3**. **Predict:** how many questions are answered before the first refusal? "
            "Answer with a whole number."),
        form=AnswerForm("integer", low=0, high=1000),
        judge=_judge_budget,
        hint=("Basic composition: the ε of the answered questions add up, and a question is "
              "refused when its ε is more than what is left."),
        solution=3,
        explanation=("0.3 + 0.3 + 0.3 = 0.9 ≤ 1; the fourth needs 0.3 with 0.1 left and is "
                     "refused (recording nothing; the dataset stays open for smaller "
                     "questions).")),
]
