"""Lesson 02 in words: what a noisy count and a randomized-response survey show at a given ε.

Pure functions: numbers in, a :class:`~.statement.Statement` out. The words follow the numbers:
a sentence never says two answer distributions "overlap" when, at that ε, one answer tells
them apart, and a survey estimate that is mostly noise is called that.
"""

from __future__ import annotations

import math

from .._validate import check_int, check_real
from .numbers import format_count, format_number, format_odds, format_percent
from .statement import Statement

__all__ = ["counting_statement", "spread_text", "survey_statement"]

# Laplace answers on D and D′ (one child apart) share a fraction e^(−ε/2) of their probability:
# 61 % at ε = 1, 22 % at ε = 3, 0.7 % at ε = 10. Where the words change.
_MOSTLY_OVERLAP = 1.0
_PARTLY_OVERLAP = 3.0
#: A survey whose standard error is at least this is "mostly noise".
_NOISE_SE = 0.25


def counting_statement(*, epsilon: float, count_d: int, count_d_prime: int) -> Statement:
    """Title and readout of the counting-query figure at ``epsilon``.

    ``.text``: the title ("ε = 0.2: the answers on D … and D′ … overlap a lot: …"),
    ``.numbers['ratio']``: e^ε as written (rounded up), ``.numbers['readout']``: the line under
    the title, ``.numbers['verdict']``: 'overlap', 'partly' or 'apart'.
    """
    eps = check_real("epsilon", epsilon, low=0.0, low_inclusive=False)
    count_d = check_int("count_d", count_d, low=0)
    count_d_prime = check_int("count_d_prime", count_d_prime, low=0)
    ratio = format_odds(eps)
    if eps <= _MOSTLY_OVERLAP:
        verdict, phrase = "overlap", ("overlap a lot: one answer can hardly tell whether the "
                                      "child is in the data")
    elif eps <= _PARTLY_OVERLAP:
        verdict, phrase = "partly", ("overlap only in part: one answer hints at whether the "
                                     "child is in the data")
    else:
        verdict, phrase = "apart", ("hardly overlap: one answer can give the child away")
    head = (f"ε = {format_number(eps)}: the answers on D (true count {format_count(count_d)}) "
            f"and D′ ({format_count(count_d_prime)})")
    readout = (f"largest ratio of the two curves: e<sup>ε</sup> = {ratio}<br>an answer is at "
               f"most {ratio}× more likely with the child than without")
    return Statement(f"{head} {phrase}", dict(epsilon=eps, ratio=ratio, readout=readout,
                                              verdict=verdict, head=head, phrase=phrase))


def spread_text(value: float) -> str:
    """A spread of percentages in percentage points: 0.0105 → '±1.1 percentage points';
    1.7 → '±170 percentage points' (a spread is not a share, so it may pass 100)."""
    v = check_real("value", value, low=0.0)
    if v <= 1.0:
        return f"±{format_percent(v).rstrip('%')} percentage points"
    return f"±{format_count(round(100 * v))} percentage points"


def survey_statement(*, n: int, yes: int, truth_probability: float, estimate: float,
                     std_error: float, true_fraction: float, epsilon: float) -> Statement:
    """What one randomized-response survey of ``n`` students says.

    ``estimate`` is the unbiased estimate of the share of true 'yes' (it can fall outside
    0–1 when the answers are mostly coin flips); the sentence shows it inside 0–100 % and says
    so. ``.numbers['shown']`` is the share shown, ``.numbers['noise']`` whether the survey is
    mostly noise (standard error ≥ 25 percentage points).
    """
    n = check_int("n", n, low=1)
    yes = check_int("yes", yes, low=0, high=n)
    p = check_real("truth_probability", truth_probability, low=0.5, high=1.0)
    est = check_real("estimate", estimate)
    se = check_real("std_error", std_error, low=0.0)
    truth = check_real("true_fraction", true_fraction, low=0.0, high=1.0)
    eps = check_real("epsilon", epsilon, low=0.0, low_inclusive=False)
    shown = min(max(est, 0.0), 1.0)
    text = (f"Each student told the truth with probability <b>{format_percent(p)}</b>. "
            f"{format_count(yes)} of {format_count(n)} answered 'yes'. Estimated share of "
            f"'yes': <b>{format_percent(shown)}</b> {spread_text(se)} "
            f"(truth {format_percent(truth)}).")
    if est != shown:
        text += (f" The raw estimate ({'above 100' if est > 1 else 'below 0'}%) is shown as "
                 f"{format_percent(shown)}: a share cannot be outside 0–100%.")
    noise = se >= _NOISE_SE
    if noise:
        text += (f" At ε = {format_number(eps)} with {format_count(n)} students the answers "
                 f"are mostly coin flips, so this survey says almost nothing about the class: "
                 f"ask more students, or allow a larger ε.")
    return Statement(text, dict(shown=shown, estimate=est, std_error=se, noise=noise,
                                truth_probability=p))
