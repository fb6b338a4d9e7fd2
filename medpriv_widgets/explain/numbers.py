"""How numbers are written for people: counts, percentages, "1 in N".

One set of formatters for every lesson, widget and sentence (statements in
:mod:`medpriv_widgets.explain`), so the same number never reads two ways.
"""

from __future__ import annotations

import math

from .._validate import check_real

def format_count(n: float) -> str:
    """Whole numbers with thousands separators: 1000 → '1,000'; 2.5 → '2.5'."""
    x = check_real("n", n)
    if abs(x - round(x)) < 1e-9:
        return f"{int(round(x)):,}"
    return f"{x:,.1f}"


def format_percent(p: float) -> str:
    """A probability as a percentage with two significant digits: 0.0027 → '0.27%'.

    Near 100 % enough digits are kept that the number does not round up to 100 (0.99966 →
    '99.97%'): "almost certain" and "certain" must not look the same.
    """
    x = 100.0 * check_real("p", p, low=0.0, high=1.0)
    if x == 0.0 or x == 100.0:
        return f"{x:.0f}%"
    if x >= 99.5:
        for d in range(1, 7):
            if round(x, d) < 100.0:
                return f"{x:.{d}f}%"
        return "99.99999%"
    d = max(0, 1 - math.floor(math.log10(x)))  # two significant digits
    text = f"{x:.{d}f}"
    if "." in text and float(text) >= 10:  # e.g. 9.96 → '10.0' → '10'
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def _nice(n: float) -> int:
    """Round a positive count to two significant digits (370, 1,000, 45,000)."""
    if n < 100:
        return max(1, int(round(n)))
    mag = 10 ** (math.floor(math.log10(n)) - 1)
    return int(round(n / mag) * mag)


def format_one_in(p: float) -> str:
    """A small probability as '1 in N' (N to two significant digits): 0.001 → '1 in 1,000'."""
    p = check_real("p", p, low=0.0, high=1.0, low_inclusive=False)
    return f"1 in {_nice(1.0 / p):,}"


def _per_denominator(rate: float) -> int:
    """The '... in D' denominator for a small rate: a power of ten ≥ 100 with rate·D ≥ 1.

    Prefers the smallest such D that makes rate·D a whole number (0.0025 → 10,000, so the
    sentence reads '25 in 10,000' rather than '2.5 in 1,000'), up to 100 times larger.
    """
    base = max(100, 10 ** math.ceil(round(-math.log10(rate), 9)))
    for d in (base, 10 * base, 100 * base):
        if abs(rate * d - round(rate * d)) < 1e-6 * max(1.0, rate * d):
            return d
    return base


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def format_epsilon(epsilon: float) -> str:
    """The privacy setting as a label: 8 → 'ε = 8'; inf → 'not private (ε = ∞)'."""
    eps = check_real("epsilon", epsilon, low=0.0, low_inclusive=False, allow_inf=True)
    return "not private (ε = ∞)" if math.isinf(eps) else f"ε = {eps:g}"
