"""Exercises of lesson 01 (anonymisation is not enough): uniqueness and the k of k-anonymity.

Both recompute with :mod:`medpriv_widgets.attacks.linkage` on the lesson's own synthetic
registries (same sizes and seeds as the lesson's cells and labs).
"""

from __future__ import annotations

import functools

from ..explain.numbers import format_count, format_percent
from .core import AnswerForm, Exercise, Outcome

QI = ("birth_date", "sex", "postcode")


@functools.lru_cache(maxsize=1)
def _uniqueness() -> dict[str, float]:
    from ..attacks.linkage import make_registry, uniqueness

    registry = make_registry(n=2000, seed=0)
    return {c: uniqueness(registry, [c]) for c in ("birth_date", "postcode", "sex")}


def _judge_unique(predicted: float) -> Outcome:
    share = _uniqueness()
    truth = 100 * share["birth_date"]
    found = (f"{format_percent(share['birth_date'])} of the 2,000 patients are the only one with "
             f"their birth date (postcode alone: {format_percent(share['postcode'])}, sex alone: "
             f"{format_percent(share['sex'])}). One detail that looks harmless is already a "
             f"name for most of them.")
    off = abs(predicted - truth)
    return Outcome(off <= 10, found,
                   f"your prediction of {predicted:g} % is {off:.0f} percentage points away.")


@functools.lru_cache(maxsize=64)
def _disclosed(k: int) -> tuple[int, int]:
    """(diagnoses revealed by the homogeneity attack, targets) at this k (the lesson's lab)."""
    from ..attacks.linkage import make_release, mondrian
    from ..attacks.linkage.homogeneity import homogeneity_attack

    registry, public = _psychiatry()
    release = make_release(registry, QI)
    result = homogeneity_attack(mondrian(release, qi=QI, k=k), public, registry=registry)
    return result.n_disclosed, result.n_targets


@functools.lru_cache(maxsize=1)
def _psychiatry():
    from ..attacks.linkage import make_public_source, make_registry

    registry = make_registry(n=20000, seed=0)
    public = make_public_source(registry)
    return registry.loc[registry["ward"] == "Psychiatry"], public


def _judge_k(k: int) -> Outcome:
    n, targets = _disclosed(k)
    if n > 0:
        return Outcome(False, f"At k = {k} the homogeneity attack still reveals the diagnosis of "
                              f"{format_count(n)} of the {format_count(targets)} patients it "
                              f"targets.", "some groups still hold a single diagnosis.")
    if k > 1 and _disclosed(k - 1)[0] == 0:
        return Outcome(False, f"At k = {k} nobody's diagnosis is revealed, and at k = {k - 1} "
                              f"nobody's either.",
                       "a smaller k reaches the goal too, and every step up in k coarsens the "
                       "released dates and postcodes further.")
    before = _disclosed(k - 1)[0] if k > 1 else 0
    return Outcome(True, f"At k = {k} the homogeneity attack reveals nobody's diagnosis; at "
                         f"k = {k - 1} it still reveals {format_count(before)}. Note that this "
                         f"protects against this one attack on this one release only.")


EXERCISES = [
    Exercise(
        id="01-unique", title="How many patients does a birth date name?", kind="predict",
        question=(
            "The hospital registry of section 1 holds 2,000 (synthetic) patients. **Predict** "
            "before you check: what share of them is the *only* patient with their birth date "
            "— that is, unique on **birth date alone**? Answer in percent, e.g. `40`."),
        form=AnswerForm("number", unit="%", low=0, high=100),
        judge=_judge_unique,
        hint=("Eighty years hold about 30,000 different birth dates, and the registry has only "
              "2,000 patients: how often can two of them share one?"),
        solution=93,
        explanation=("uniqueness(registry, ['birth_date']) is 93 %: with ~30,000 possible dates "
                     "and 2,000 people, shared birth dates are rare. Sex (0 %) and postcode "
                     "(~9 %) alone are not identifying; the combination is.")),
    Exercise(
        id="01-k", title="The k that stops the homogeneity attack", kind="goal",
        question=(
            "In the k-anonymity lab (the Psychiatry release of a 20,000-patient registry), find "
            "the **smallest k** at which the homogeneity attack reveals **nobody's** diagnosis. "
            "Move the k slider of the lab and read the sentence under the table. Answer with a "
            "whole number."),
        form=AnswerForm("integer", low=1, high=500),
        judge=_judge_k,
        hint=("Move k up one step at a time and watch the line 'The homogeneity attack …' under "
              "the released table; stop at the first k where it reveals nobody."),
        solution=7,
        explanation=("At k = 6 six patients still sit in groups with a single diagnosis; at "
                     "k = 7 every group has at least two diagnoses (ℓ ≥ 2). Larger k also work "
                     "but cost detail for nothing.")),
]
