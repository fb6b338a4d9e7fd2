"""Checks at the boundary: each raises InvalidParameterError naming parameter, allowed, got.

Call these once where a public function receives its arguments; code inside can then assume
clean input (the scikit-learn habit, see STYLE.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real

from .errors import InvalidParameterError


def _fail(name: str, allowed: str, value, hint: str = "") -> InvalidParameterError:
    msg = f"`{name}` must be {allowed}; got {value!r}."
    if hint:
        msg += f" {hint}"
    return InvalidParameterError(msg)


def check_real(name: str, value, *, low: float | None = None, high: float | None = None,
               low_inclusive: bool = True, high_inclusive: bool = True,
               allow_inf: bool = False, hint: str = "") -> float:
    """Return ``value`` as float after checking it is a real number in the given interval.

    NaN is always refused; ±inf only when ``allow_inf`` (and then still subject to the bounds).
    """
    lo = "[" if low_inclusive else "("
    hi = "]" if high_inclusive else ")"
    interval = f"in {lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise _fail(name, f"a real number {interval}", value, hint)
    v = float(value)
    if math.isnan(v):
        raise _fail(name, f"a real number {interval} (not NaN)", value, hint)
    if math.isinf(v) and not allow_inf:
        raise _fail(name, f"a finite number {interval}", value, hint)
    if low is not None and (v < low or (v == low and not low_inclusive)):
        raise _fail(name, f"a number {interval}", value, hint)
    if high is not None and (v > high or (v == high and not high_inclusive)):
        raise _fail(name, f"a number {interval}", value, hint)
    return v


def check_positive(name: str, value, *, allow_inf: bool = False, hint: str = "") -> float:
    """A real number > 0 (``allow_inf`` admits +inf, e.g. ε = ∞ meaning 'not private')."""
    return check_real(name, value, low=0.0, low_inclusive=False, allow_inf=allow_inf, hint=hint)


def check_nonnegative(name: str, value, *, hint: str = "") -> float:
    return check_real(name, value, low=0.0, hint=hint)


def check_open_unit(name: str, value, *, hint: str = "") -> float:
    """A probability strictly between 0 and 1 (δ, FPR, prior κ)."""
    return check_real(name, value, low=0.0, high=1.0, low_inclusive=False,
                      high_inclusive=False, hint=hint)


def check_int(name: str, value, *, low: int | None = None, high: int | None = None,
              hint: str = "") -> int:
    """An integer (not bool) within [low, high]."""
    allowed = "an integer"
    if low is not None and high is not None:
        allowed += f" in [{low}, {high}]"
    elif low is not None:
        allowed += f" >= {low}"
    elif high is not None:
        allowed += f" <= {high}"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise _fail(name, allowed, value, hint)
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise _fail(name, allowed, value, hint)
    return v


def check_choice(name: str, value, options: Iterable, *, hint: str = ""):
    """One of a fixed set of options (strings or numbers)."""
    options = list(options)
    if value not in options:
        raise _fail(name, "one of " + ", ".join(repr(o) for o in options), value, hint)
    return value
