"""Privacy in words: ε, membership, posterior, reconstruction and ROC-uncertainty statements.

Each function is pure: numbers in, a :class:`Statement` out — the sentence (``.text``, also
``str(statement)``) and the numbers it was built from (``.numbers``), so a widget can show the
sentence and a test can check it against :mod:`medpriv_widgets.privacy.bounds`. No maths of the
bounds lives here; callers pass the bound they computed. Every bound a sentence states is rounded
*up* (see :mod:`.numbers`): "at most 5 in 1,000" is never below the bound it reads.

Concepts (see :data:`CONCEPTS`): ``membership``, ``posterior``, ``reconstruction``, ``epsilon``.
"""

from __future__ import annotations

import math
from numbers import Real

from .._validate import check_open_unit, check_real
from ..errors import InvalidParameterError
from .numbers import (_per_denominator, format_count, format_delta, format_odds, format_percent,
                      round_count)
from .statement import Statement

__all__ = [
    "CONCEPTS",
    "membership_statement",
    "posterior_statement",
    "reconstruction_statement",
    "epsilon_statement",
    "roc_uncertainty_statement",
]


#: Smallest rate a sentence counts in people ("1 in a million million"); below it the counts
#: would need denominators no one can picture (and floats cannot hold).
MIN_RATE = 1e-12


def _check_rate(name: str, value) -> float:
    rate = check_open_unit(name, value)
    if rate < MIN_RATE:
        raise InvalidParameterError(
            f"`{name}` must be at least {MIN_RATE:g} for a sentence in numbers of patients; got "
            f"{value!r}. Describe so small a rate as 'practically never' instead.")
    return rate


# --------------------------------------------------------------------------- statements

def membership_statement(*, tpr_bound: float, fpr: float) -> Statement:
    """The membership bound in words.

    ``fpr``: false-positive rate the attacker accepts, in (0, 1). ``tpr_bound``: the most true
    positives any attacker can have at that FPR (e.g. from
    :func:`~medpriv_widgets.privacy.bounds.tradeoff_curve`), in [0, 1].

    Example (FPR 0.001, bound 0.0054): "An attacker who may wrongly accuse at most 1 in 1,000
    patients who were not in the training data can correctly pick out at most 6 in 1,000 of the
    patients who were." ``numbers``: fpr, tpr_bound, denominator (D), accused (FPR·D),
    identified (D·bound, rounded up).
    """
    fpr = _check_rate("fpr", fpr)
    tpr = check_real("tpr_bound", tpr_bound, low=0.0, high=1.0)
    denom = _per_denominator(fpr)
    accused = fpr * denom
    identified = round_count(denom * tpr, rounding="up")
    text = (f"An attacker who may wrongly accuse at most {format_count(round(accused, 1))} in "
            f"{denom:,} patients who were not in the training data can correctly pick out at "
            f"most {identified:,} in {denom:,} of the patients who were.")
    if identified >= denom:
        text += " In other words, this guarantee does not stop such an attacker."
    elif tpr <= fpr * 1.05:
        text += " That is no better than guessing at random."
    else:
        text += (f" Guessing at random would pick out {format_count(round(accused, 1))} in "
                 f"{denom:,}.")
    return Statement(text, dict(fpr=fpr, tpr_bound=tpr, denominator=denom, accused=accused,
                                identified=identified))


def posterior_statement(*, prior: float, tpr: float, fpr: float) -> Statement:
    """What a positive membership guess does to the odds that a patient was in the data (Bayes).

    ``prior``: probability, before the attack, that the patient was in the training data.
    ``tpr``, ``fpr``: the attack's rates (pass the DP bound as ``tpr`` for a worst case).
    Posterior = prior·TPR / (prior·TPR + (1 − prior)·FPR), stated rounded up.
    ``numbers``: prior, tpr, fpr, posterior, likelihood_ratio (TPR/FPR).
    """
    prior = check_open_unit("prior", prior)
    tpr = check_real("tpr", tpr, low=0.0, high=1.0)
    fpr = check_open_unit("fpr", fpr)
    post = prior * tpr / (prior * tpr + (1.0 - prior) * fpr)
    text = (f"Before the attack, the chance that a given patient was in the training data is "
            f"{format_percent(prior)}. If the attacker then says \"this patient was in the "
            f"data\", the chance becomes at most {format_percent(post, rounding='up')}.")
    if post < 0.5:
        text += " Even then, the accusation is more likely wrong than right."
    return Statement(text, dict(prior=prior, tpr=tpr, fpr=fpr, posterior=post,
                                likelihood_ratio=tpr / fpr))


def reconstruction_statement(*, kappa: float, bound: float) -> Statement:
    """The reconstruction-robustness bound in words.

    ``kappa``: the attacker's chance of success without the model (the prior), in (0, 1).
    ``bound``: at most this chance with the model (from
    :func:`~medpriv_widgets.privacy.bounds.rero_bound`), in [0, 1].
    ``numbers``: kappa, bound, denominator, baseline (κ·D), reconstructed (D·bound rounded up).
    """
    kappa = _check_rate("kappa", kappa)
    b = check_real("bound", bound, low=0.0, high=1.0)
    if b < kappa - 1e-12:
        raise InvalidParameterError(
            f"`bound` must be at least `kappa` ({kappa!r}): a model cannot make reconstruction "
            f"harder than guessing; got {bound!r}. Pass the value from rero_bound.")
    denom = _per_denominator(kappa)
    rebuilt = round_count(denom * b, rounding="up")
    text = (f"An attacker who, without the model, could rebuild a recognisable X-ray of "
            f"{format_count(round(kappa * denom, 1))} in {denom:,} patients can, with the model, "
            f"rebuild at most {rebuilt:,} in {denom:,} ({format_percent(b, rounding='up')}).")
    if rebuilt >= denom:
        text += " The guarantee does not rule reconstruction out."
    return Statement(text, dict(kappa=kappa, bound=b, denominator=denom,
                                baseline=kappa * denom, reconstructed=rebuilt))


def roc_uncertainty_statement(*, above: bool, within_band: bool, within_fpr_range: bool,
                              worst_fpr: float, n_members: int, n_nonmembers: int) -> Statement:
    """Words under a ROC figure whose measured curve rises above the DP bound (empty text when
    ``above`` is False). The flags and ``worst_fpr`` are those of
    :func:`~medpriv_widgets.attacks.membership.roc.compare_with_bound`; ``n_members``,
    ``n_nonmembers``: how many patients in and outside the training data were tested.
    ``numbers``: the arguments.
    """
    nums = dict(above=bool(above), within_band=bool(within_band),
                within_fpr_range=bool(within_fpr_range), worst_fpr=worst_fpr,
                n_members=n_members, n_nonmembers=n_nonmembers)
    for name in ("n_members", "n_nonmembers"):
        v = nums[name]
        if (isinstance(v, bool) or not isinstance(v, Real) or not math.isfinite(v)
                or int(v) != v or v < 1):
            raise InvalidParameterError(f"`{name}` must be an integer >= 1 (a number of "
                                        f"patients); got {v!r}.")
    if not above:
        return Statement("", nums)
    text = (f"The measured curve rises above the bound in places, but with only "
            f"{format_count(n_members)} patients in the training data it is uncertain: the "
            f"shaded band is its 95 % range. Where the shaded range reaches below the bound, the "
            f"measurement agrees with the guarantee.")
    if not within_band and within_fpr_range:
        text += (f" Where it does not, the false-positive rate is uncertain too (only "
                 f"{format_count(n_nonmembers)} patients outside the training data were tested; "
                 f"each false accusation is {format_percent(1 / n_nonmembers)}); allowing for "
                 f"that, the measurement agrees with the guarantee.")
    elif not within_band:
        worst = format_percent(check_real("worst_fpr", worst_fpr, low=0.0, high=1.0))
        text += (f" Even allowing for this uncertainty, the measured curve is above the bound "
                 f"near a false-positive rate of {worst}; that should not happen if the model "
                 f"was trained as privately as stated. Please tell the course team.")
    return Statement(text, nums)


# ε bands: (upper end, words). Rules of thumb used in the DP literature, not a standard.
_EPSILON_BANDS = [
    (1.0, "strong protection",
     "a single patient's data changes what anyone can conclude about them only slightly"),
    (3.0, "moderate protection",
     "an attacker's odds about a single patient can shift noticeably, but not decisively"),
    (8.0, "weak protection in the worst case",
     "this range is common in published DP deep learning; a worst-case attacker could gain a "
     "lot, though real attacks usually achieve far less"),
    (20.0, "very weak protection in the worst case",
     "the formal promise is loose; whatever protection there is comes mostly from the noise "
     "making memorisation harder, which the ε number does not capture"),
]


def epsilon_statement(epsilon: float, *, delta: float | None = None) -> Statement:
    """Cautious qualitative words for a privacy budget ε (and optional δ).

    Always states the odds factor e^ε, the only exact reading: training on one patient's X-ray
    can change an attacker's odds that the patient was in the data by a factor of at most e^ε
    (except with a small probability δ, when given and > 0), worked through for a prior of
    1 in 10: posterior ≤ e^ε·p / (e^ε·p + 1 − p). The factor, δ and the posterior are rounded
    up. ``numbers``: epsilon, delta, odds_factor (inf once e^ε overflows), band, prior (0.1),
    posterior_bound.
    """
    eps = check_real("epsilon", epsilon, low=0.0, allow_inf=True)
    d = None if delta is None else check_real("delta", delta, low=0.0, high=1.0,
                                              high_inclusive=False)
    if math.isinf(eps):
        return Statement("No formal privacy protection (ε = ∞): the model was trained without "
                         "differential privacy, so nothing limits what it may reveal about a "
                         "patient.", dict(epsilon=eps, delta=d, odds_factor=math.inf,
                                          band="none"))
    odds = math.exp(eps) if eps < 709.0 else math.inf
    for hi, band, words in _EPSILON_BANDS:
        if eps <= hi:
            break
    else:
        band, words = ("essentially no protection in the worst case",
                       "the formal bound allows an attacker almost anything; do not describe "
                       "this model as privacy-protecting without further evidence")
    delta_text = "" if d is None or d == 0 else (
        f" (except with a small probability δ = {format_delta(d)})")
    # A worked example at a prior of 1 in 10: odds 1:9 times e^ε, back to a probability
    # (in log space, so a large ε gives 1 rather than inf/inf).
    prior = 0.1
    posterior = 1.0 / (1.0 + math.exp(min(-eps + math.log(9.0), 700.0)))
    shown = format_percent(posterior, rounding="up")
    after = ("nothing stops them from being certain" if shown == "100%" else
             f"they can think it at most {shown} likely")
    text = (f"ε = {eps:g}: {band}. Training on one patient's X-ray can change what an attacker "
            f"believes about that patient by at most a factor of {format_odds(eps)} in the odds"
            f"{delta_text}: if they thought it 1 in 10 likely (10%) that the patient was in the "
            f"training data, after seeing the model {after}. In practice: {words}. (These labels "
            f"are a rule of thumb, not a standard.)")
    return Statement(text, dict(epsilon=eps, delta=d, odds_factor=odds, band=band, prior=prior,
                                posterior_bound=posterior))


CONCEPTS = {
    "membership": membership_statement,
    "posterior": posterior_statement,
    "reconstruction": reconstruction_statement,
    "epsilon": epsilon_statement,
}
