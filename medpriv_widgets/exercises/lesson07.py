"""Exercises of lesson 07 (risk and utility): the same ε with different settings, and the ε a
reconstruction ceiling allows.

07-equal recomputes the membership ceiling of both DP-SGD runs of the dashboard's equal-ε
explorer (:func:`~medpriv_widgets.privacy.bounds.tradeoff_curve`, dp-accounting's PLD);
07-rero the generic ε-DP reconstruction bound (:func:`~medpriv_widgets.privacy.bounds.rero_bound`).
"""

from __future__ import annotations

import functools

from ..explain.numbers import format_number, format_percent
from .core import AnswerForm, Exercise, Outcome

#: The two runs of the equal-ε explorer (binder/workshop profile, 500 members), both ε = 4 at
#: δ = 1e-5: (label, σ, q, steps). σ from noise_multiplier_for_epsilon (a test recomputes it).
RUNS = {"a": ("small batches, few epochs", 0.746, 16 / 500, 62),
        "b": ("large batches, many epochs", 4.334, 250 / 500, 60)}
FPR = 0.01
KAPPA, TARGET = 0.01, 0.05


@functools.lru_cache(maxsize=1)
def ceilings() -> dict[str, float]:
    """Max TPR at 1 % FPR of any membership attack against each run."""
    from ..privacy.bounds import tradeoff_curve

    return {k: tradeoff_curve(noise_multiplier=s, sample_rate=q, steps=t, fpr=FPR)
            for k, (_label, s, q, t) in RUNS.items()}


def _judge_equal(choice: str) -> Outcome:
    c = ceilings()
    truth = "same" if abs(c["a"] - c["b"]) < 1e-3 else ("a" if c["a"] > c["b"] else "b")
    found = (f"Ceilings at 1 % false accusations: A ({RUNS['a'][0]}) "
             f"{format_percent(c['a'], rounding='up')}, B ({RUNS['b'][0]}) "
             f"{format_percent(c['b'], rounding='up')}. Both runs have ε = 4, yet their "
             f"trade-off curves differ: ε alone does not say how exposed the patients are.")
    return Outcome(choice == truth, found, f"you chose {choice.upper()}.")


def _rero(epsilon: float) -> float:
    from ..privacy.bounds import rero_bound

    return rero_bound(kappa=KAPPA, epsilon=epsilon)


def _judge_rero(epsilon: float) -> Outcome:
    here = (f"at ε = {format_number(epsilon)} the reconstruction ceiling is "
            f"{format_percent(_rero(epsilon), rounding='up')}")
    if _rero(epsilon) > TARGET:
        return Outcome(False, here[0].upper() + here[1:] + ".",
                       "that is above 5 %: a smaller ε is needed.")
    more = round(epsilon + 0.1, 1)
    there = (f"at ε = {format_number(more)} it is "
             f"{format_percent(_rero(more), rounding='up')}")
    if _rero(more) <= TARGET:
        return Outcome(False, f"{here[0].upper() + here[1:]}, and {there}.",
                       "a larger ε also keeps the ceiling at or below 5 %.")
    return Outcome(True, f"{here[0].upper() + here[1:]} ≤ 5 %, while {there}.")


EXERCISES = [
    Exercise(
        id="07-equal", title="Same ε, same risk?", kind="predict",
        question=(
            "The lower part of the dashboard compares two DP-SGD runs with the **same ε = 4** on "
            f"500 members. **A**: batches of 16, 2 epochs ({RUNS['a'][3]} steps, σ = "
            f"{RUNS['a'][1]}). **B**: batches of 250, 30 epochs ({RUNS['b'][3]} steps, σ = "
            f"{RUNS['b'][1]}). **Predict:** against which run can the best possible membership "
            "attack find *more* members at 1 % false accusations? Answer `\"A\"`, `\"B\"` or "
            "`\"same\"`."),
        form=AnswerForm("choice", choices=("A", "B", "same")),
        judge=_judge_equal,
        hint=("Look at the two bound curves in the dashboard's lower figure at a false-positive "
              "rate of 1 %. Few very noisy steps on large batches and many gentle steps on "
              "small ones do not fail in the same way."),
        solution="B",
        explanation=("The PLD ceilings at 1 % FPR are about 4.6 % (A) and 7.8 % (B): B's few, "
                     "very noisy steps on half the data leave a different trade-off curve than "
                     "A's many small steps (Hayes, Mahloujifar & Balle 2023).")),
    Exercise(
        id="07-rero", title="The ε a reconstruction ceiling allows", kind="goal",
        question=(
            "Without the model, an attacker redraws a given X-ray with probability **κ = 1 %** "
            "(the dashboard's κ). A hospital wants the generic ε-DP ceiling on reconstruction "
            "(e^ε × κ) to stay **at or below 5 %**. Find the **largest ε** (one decimal)."),
        form=AnswerForm("number", low=1e-3, high=100),
        judge=_judge_rero,
        hint="Solve e^ε × 0.01 ≤ 0.05 for ε (take the natural logarithm).",
        solution=1.6,
        explanation="ε ≤ ln 5 = 1.609: 1.6 to one decimal (1.7 gives 5.5 %)."),
]
