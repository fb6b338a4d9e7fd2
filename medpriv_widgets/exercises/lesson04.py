"""Exercises of lesson 04 (reconstruction): the noise the bound needs, and what secure
aggregation does against a malicious server.

04-bound recomputes the ReRo bound of one noisy update
(:func:`~medpriv_widgets.attacks.reconstruction.one_update_bound`); 04-imprint runs the
malicious server's imprint attack of section 5 on a securely aggregated update, on the lesson's
own X-rays (about a second once the data are loaded).
"""

from __future__ import annotations

import functools

from ..explain.numbers import format_number, format_percent
from .core import AnswerForm, Exercise, Outcome

KAPPA, TARGET = 0.001, 0.01
BATCH, SITES = 16, 8


def _bound(sigma: float) -> float:
    from ..attacks.reconstruction import one_update_bound

    return one_update_bound(noise_multiplier=sigma, kappa=KAPPA)


def _bound_text(sigma: float) -> str:
    return (f"at σ = {format_number(sigma)} the bound is "
            f"{format_percent(_bound(sigma), rounding='up')}")


def _judge_bound(sigma: float) -> Outcome:
    if _bound(sigma) > TARGET:
        return Outcome(False, _bound_text(sigma).capitalize() + ".",
                       "that is above 1 %: more noise is needed.")
    less = round(sigma - 0.1, 1)
    if less > 0 and _bound(less) <= TARGET:
        return Outcome(False, f"{_bound_text(sigma).capitalize()}, and {_bound_text(less)}.",
                       "less noise also keeps the bound at or below 1 %.")
    return Outcome(True, f"{_bound_text(sigma).capitalize()} ≤ 1 %, while {_bound_text(less)}. "
                         f"This bound holds for every attack, which is why it needs far more "
                         f"noise than it takes to stop the attacks of this lesson.")


@functools.lru_cache(maxsize=1)
def imprint_share() -> tuple[float, str]:
    """(share of the batch rebuilt at ≥ 30 dB from the sum of SITES hospitals' updates, data
    caption): the lesson's malicious server, batch and seeds."""
    import warnings

    import torch

    from ..attacks.reconstruction import (client_update, malicious_model, run_attack,
                                          score_images, secure_aggregate, share_at_least)
    from ..data import SyntheticDataWarning, load_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntheticDataWarning)  # the caption says it
        data = load_dataset(size=64, split="test")
        public = load_dataset(size=64, split="train")
    server = malicious_model(public_images=public.images, bins=256, seed=0)
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))[:BATCH]
    xs, ys = data.images[order], data.labels[order]
    per_site = BATCH // SITES
    updates = [client_update(model=server, images=xs[i:i + per_site], labels=ys[i:i + per_site])
               for i in range(0, BATCH, per_site)]
    frame = run_attack(model=server, update=secure_aggregate(updates), attack="imprint")
    return share_at_least(score_images(frame.image, xs).psnr, 30.0), data.caption


def _judge_imprint(predicted: float) -> Outcome:
    share, caption = imprint_share()
    found = (f"From the sum of {SITES} hospitals' updates the malicious server rebuilt "
             f"{format_percent(share)} of the {BATCH} X-rays at ≥ 30 dB ({caption}). Secure "
             f"aggregation hides each hospital's update, but the imprint module reads X-rays out "
             f"of a sum as easily as out of one update: only noise stops it.")
    off = abs(predicted - 100 * share)
    return Outcome(off <= 15, found,
                   f"your prediction of {predicted:g} % is {off:.0f} percentage points away.")


EXERCISES = [
    Exercise(
        id="04-bound", title="Noise for a 1 % ceiling on reconstruction", kind="goal",
        question=(
            "An attacker would rebuild a given X-ray without any update with probability **κ = "
            "0.1 %**. The hospital clips its update (C = 1) and adds Gaussian noise σ·C, as in "
            "section 5. Find the **smallest σ** (one decimal) for which the bound keeps the "
            "attacker's success **at or below 1 %**."),
        form=AnswerForm("number", low=0.01, high=1000),
        judge=_judge_bound,
        hint=("In section 5 the bound was printed beside each σ, and σ = 1 was not yet enough. "
              "Try values between 1 and 2, in steps of 0.1."),
        solution=1.4,
        explanation=("one_update_bound(σ, κ = 0.001) = Φ(Φ⁻¹(0.001) + 1/σ): 0.88 % at σ = 1.4, "
                     "1.01 % at σ = 1.3.")),
    Exercise(
        id="04-imprint", title="Does secure aggregation stop the malicious server?",
        kind="predict",
        question=(
            f"The malicious server of section 5 receives only the **sum** of the updates of "
            f"**{SITES} hospitals** (secure aggregation), each computed on {BATCH // SITES} of "
            f"{BATCH} X-rays. **Predict:** what share of the {BATCH} X-rays does it rebuild at "
            f"≥ 30 dB? Answer in percent."),
        form=AnswerForm("number", unit="%", low=0, high=100),
        judge=_judge_imprint,
        hint=("Section 5 explained what the imprint module does with a sum of updates, and what "
              "secure aggregation changes about it."),
        solution=100,
        explanation=("The imprint module's bins isolate single X-rays in any sum of updates; "
                     "secure aggregation hands the server exactly such a sum. On the lesson's "
                     "data every X-ray comes back (a few may share a bin on other data).")),
]
