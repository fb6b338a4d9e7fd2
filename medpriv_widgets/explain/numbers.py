"""How numbers are written for people: counts, percentages, "1 in N", ε and δ amounts.

One set of formatters for every lesson, widget and sentence (statements in
:mod:`medpriv_widgets.explain`), so the same number never reads two ways.

Rounding direction (``rounding=``): a privacy number shown to people never understates risk.
An upper bound on a risk (a TPR bound, a posterior, a δ, an ε spent) is rounded *up*; an amount
still available (a remaining budget) is rounded *down*; everything else to the nearest value.
Float dust (0.30000000000000004, 25.000000000000004) is not a digit: a value within 1e-12
(relative) of a shorter number is that number, whatever the direction.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from .._validate import check_choice, check_int, check_real

__all__ = ["ROUNDINGS", "format_count", "format_delta", "format_epsilon", "format_number",
           "format_odds", "format_one_in", "format_percent", "round_count"]

#: Accepted values of ``rounding=``.
ROUNDINGS = ("nearest", "up", "down")
_DUST = 1e-12  # relative: a few ulps of a product, never a digit a count could carry


def _scaled(x: float, power: int, rounding: str) -> int:
    """x·10^power to a whole number in the given direction, ignoring float dust. Exact (Decimal)
    at any magnitude, so 5e-324 or 1e300 neither overflow nor lose their digits."""
    v = Decimal(x).scaleb(power)
    nearest = v.to_integral_value(rounding=ROUND_HALF_UP)
    if abs(v - nearest) <= Decimal(_DUST) * max(Decimal(1), abs(v)):
        return int(nearest)
    mode = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "nearest": ROUND_HALF_UP}[rounding]
    return int(v.to_integral_value(rounding=mode))


def _directed(y: float, rounding: str) -> int:
    """``y`` to a whole number in the given direction, ignoring float dust."""
    return _scaled(y, 0, rounding)


def round_count(x: float, *, rounding: str = "nearest") -> int:
    """A count of people from a real number: 4.07 → 5 up, 4 down or nearest; 25.000000000000004
    → 25 in every direction."""
    v = check_real("x", x)
    rounding = check_choice("rounding", rounding, ROUNDINGS)
    return _directed(v, rounding)


def format_count(n: float) -> str:
    """Whole numbers with thousands separators: 1000 → '1,000'; 2.5 → '2.5'."""
    x = check_real("n", n)
    if abs(x - round(x)) < 1e-9:
        return f"{int(round(x)):,}"
    return f"{x:,.1f}"


def format_number(x: float, *, rounding: str = "nearest", digits: int = 3) -> str:
    """ε and δ amounts for people, to ``digits`` significant digits in the given direction.

    0.30000000000000004 → '0.3'; 1e-05 → '1e-5'; 1.4e-5 → '1.4e-5' (never '1e-5');
    0.00407 → '0.00407'; 12345 → '12,300' (nearest) or '12,400' (up). Plain decimals from 1e-4
    to 1e6, else 'Me-K' / 'Me+K' without leading zeros in the exponent.
    """
    v = check_real("x", x)
    rounding = check_choice("rounding", rounding, ROUNDINGS)
    k = check_int("digits", digits, low=1, high=15)
    if v == 0.0:
        return "0"
    exponent = Decimal(v).copy_abs().adjusted()  # floor(log10|v|), exact for subnormals
    step = exponent - k + 1
    mantissa = _scaled(v, -step, rounding)
    value = Decimal(mantissa).scaleb(step).normalize()
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if Decimal("1e-4") <= value < Decimal("1e6"):
        whole, _, frac = format(value, "f").partition(".")
        return f"{sign}{int(whole):,}" + (f".{frac}" if frac else "")
    _, lead_digits, exp = value.as_tuple()
    lead = "".join(map(str, lead_digits))
    e = exp + len(lead) - 1
    body = lead[0] + ("." + lead[1:] if len(lead) > 1 else "")
    return f"{sign}{body}e{'+' if e > 0 else '-'}{abs(e)}"


def format_delta(delta: float) -> str:
    """δ (a failure probability) for people: three significant digits, rounded up, so it is
    never understated: 1.4e-5 → '1.4e-5', 1e-5 → '1e-5', 1.2345e-5 → '1.24e-5'."""
    d = check_real("delta", delta, low=0.0, high=1.0)
    return format_number(d, rounding="up")


def format_percent(p: float, *, rounding: str = "nearest") -> str:
    """A probability as a percentage with two significant digits: 0.0027 → '0.27%'.

    Near 100 % enough digits are kept that the number does not round up to 100 (0.99966 →
    '99.97%'): "almost certain" and "certain" must not look the same. ``rounding="up"`` for
    upper bounds (0.00407 → '0.41%').
    """
    x = 100.0 * check_real("p", p, low=0.0, high=1.0)
    rounding = check_choice("rounding", rounding, ROUNDINGS)
    if x == 0.0 or x == 100.0:
        return f"{x:.0f}%"
    d = max(0, 1 - Decimal(x).adjusted())  # two significant digits
    v = Decimal(_scaled(x, d, rounding)).scaleb(-d)
    if v >= 100:  # would read '100%': keep the digits that tell it from certainty
        for d in range(1, 13):
            v = Decimal(_scaled(x, d, rounding)).scaleb(-d)
            if v < 100:
                return f"{v:.{d}f}%"
        return "99.999999999999%" if rounding != "up" else "100%"
    text = f"{v:.{d}f}" if d <= 20 else f"{v:.1e}".replace("e-0", "e-")
    if "." in text and "e" not in text and float(text) >= 10:  # 9.96 → '10.0' → '10'
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def _nice(n: Decimal, rounding: str = "nearest") -> int:
    """Round a positive count to two significant digits (370, 1,000, 45,000)."""
    if n < 100:
        return max(1, _scaled(float(n), 0, rounding))
    power = n.adjusted() - 1
    mode = {"up": ROUND_CEILING, "down": ROUND_FLOOR, "nearest": ROUND_HALF_UP}[rounding]
    return max(1, int(n.scaleb(-power).to_integral_value(rounding=mode))) * 10**power


def format_one_in(p: float, *, rounding: str = "nearest") -> str:
    """A small probability as '1 in N' (N to two significant digits): 0.001 → '1 in 1,000'.

    ``rounding`` is the direction for the *probability*: ``"up"`` (an upper bound) makes N
    smaller, so '1 in N' is never less than p.
    """
    p = check_real("p", p, low=0.0, high=1.0, low_inclusive=False)
    rounding = check_choice("rounding", rounding, ROUNDINGS)
    flip = {"up": "down", "down": "up", "nearest": "nearest"}[rounding]
    return f"1 in {_nice(Decimal(1) / Decimal(p), flip):,}"


def format_odds(log_factor: float) -> str:
    """An odds factor e^x from its natural log x, rounded up: 2 → '7.4', 10 → '22,027',
    700 → '1.1 × 10^304' (worked in log space, so a finite factor never reads 'inf')."""
    x = check_real("log_factor", log_factor, low=0.0)
    if x < math.log(1e6):
        odds = math.exp(x)
        if odds < 100:
            return f"{_directed(odds * 10, 'up') / 10:,.1f}"
        return f"{_directed(odds, 'up'):,}"
    log10 = x / math.log(10.0)
    power = math.floor(log10)
    tenths = _directed(10.0 ** (log10 - power) * 10, "up")  # mantissa in [1, 10], one decimal
    if tenths >= 100:
        tenths, power = 10, power + 1
    return f"{tenths / 10:.1f} × 10^{power:,}"


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


def format_epsilon(epsilon: float) -> str:
    """The privacy setting as a label: 8 → 'ε = 8'; inf → 'not private (ε = ∞)'."""
    eps = check_real("epsilon", epsilon, low=0.0, low_inclusive=False, allow_inf=True)
    return "not private (ε = ∞)" if math.isinf(eps) else f"ε = {eps:g}"
