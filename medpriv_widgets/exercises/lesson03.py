"""Exercises of lesson 03 (private training): the noise an ε needs.

Both recompute the ε of the learner's σ with the project's accountant
(:func:`~medpriv_widgets.privacy.accounting.dpsgd_epsilon`, Opacus' PRV), a few seconds each.
"""

from __future__ import annotations

import functools

from .._validate import check_real
from ..explain.numbers import format_number
from .core import AnswerForm, Exercise, Outcome

#: The run both exercises talk about: sampling rate, steps, δ.
Q, STEPS, DELTA = 0.01, 1000, 1e-5
#: σ that ε = 8 and ε = 1 need for that run (noise_multiplier_for_epsilon; a test recomputes them).
SIGMA_EPS8, SIGMA_EPS1 = 0.587, 1.419


#: The σ an answer may give (the answer form's range).
SIGMA_LOW, SIGMA_HIGH = 0.05, 100


def run_epsilon(sigma: float) -> float:
    """ε of the exercises' DP-SGD run at noise multiplier ``sigma`` (δ = 1e-5), for σ in
    [SIGMA_LOW, SIGMA_HIGH]."""
    sigma = check_real("sigma", sigma, low=SIGMA_LOW, high=SIGMA_HIGH,
                       hint="The exercises ask for a noise multiplier such as 1.0.")
    return _run_epsilon(sigma)


@functools.lru_cache(maxsize=256)
def _run_epsilon(sigma: float) -> float:
    from ..privacy.accounting import dpsgd_epsilon

    return dpsgd_epsilon(noise_multiplier=sigma, sample_rate=Q, steps=STEPS, delta=DELTA)


def _eps_text(sigma: float) -> str:
    return f"σ = {format_number(sigma)} spends ε = {format_number(run_epsilon(sigma), rounding='up')}"


def _judge_sigma(sigma: float) -> Outcome:
    eps = run_epsilon(sigma)
    if eps > 2.0:
        return Outcome(False, _eps_text(sigma) + ".",
                       "that is more than the ε = 2 allowed: more noise is needed.")
    less = round(sigma - 0.1, 1)
    if less > 0 and run_epsilon(less) <= 2.0:
        return Outcome(False, f"{_eps_text(sigma)}, and {_eps_text(less)}.",
                       "less noise also keeps ε ≤ 2, and every bit of noise you do not need "
                       "costs accuracy.")
    return Outcome(True, f"{_eps_text(sigma)} ≤ 2, while {_eps_text(less)} > 2.")


def _judge_halve(sigma: float) -> Outcome:
    eps = run_epsilon(sigma)
    found = (f"{_eps_text(sigma)}. ε = 1 needs σ ≈ {SIGMA_EPS1} and ε = 8 needs σ ≈ "
             f"{SIGMA_EPS8}: eight times less ε costs about {SIGMA_EPS1 / SIGMA_EPS8:.1f} times "
             f"more noise, not eight times — many noisy steps compose gently.")
    return Outcome(0.8 <= eps <= 1.25, found,
                   f"your σ gives ε = {format_number(eps, rounding='up')}, not about 1.")


EXERCISES = [
    Exercise(
        id="03-sigma", title="The least noise for ε = 2", kind="goal",
        question=(
            "A hospital trains with DP-SGD: each child joins a batch with probability **q = "
            "0.01**, for **1,000 steps**, with δ = 10⁻⁵. Choose the **noise multiplier σ** (one "
            "decimal, e.g. `1.5`) so that the whole run spends **at most ε = 2** — with as "
            "little noise as possible (less noise, better accuracy)."),
        form=AnswerForm("number", low=SIGMA_LOW, high=SIGMA_HIGH),
        judge=_judge_sigma,
        hint=("More noise means smaller ε. Try a σ, read the ε the check reports, and move σ "
              "by 0.1 until ε just fits under 2."),
        solution=1.0,
        explanation="σ = 1.0 spends ε ≈ 1.83; σ = 0.9 spends ε ≈ 2.32 > 2."),
    Exercise(
        id="03-halve", title="Eight times less ε: how much more noise?", kind="predict",
        question=(
            f"For the same run (q = 0.01, 1,000 steps, δ = 10⁻⁵), ε = 8 needs σ ≈ {SIGMA_EPS8}. "
            "**Predict** the σ that **ε = 1** needs (one decimal). The check computes the ε "
            "your σ would really spend."),
        form=AnswerForm("number", low=SIGMA_LOW, high=SIGMA_HIGH),
        judge=_judge_halve,
        hint=("The lesson says: halving ε roughly doubles the noise. Eight times less ε is three "
              "halvings — but the doubling is only rough; the check tells you the ε of your σ."),
        solution=1.4,
        explanation=(f"σ = {SIGMA_EPS1} gives ε = 1; accepted: any σ whose run spends ε between "
                     f"0.8 and 1.25 (about 1.3 to 1.6).")),
]
