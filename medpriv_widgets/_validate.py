"""Checks at the boundary: each raises InvalidParameterError naming parameter, allowed, got.

Call these once where a public function receives its arguments; code inside can then assume
clean input (the scikit-learn habit, see STYLE.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real

import numpy as np

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
    try:
        known = value in options
    except (TypeError, ValueError):  # an array compared element-wise has no single truth
        known = False
    if not known:
        raise _fail(name, "one of " + ", ".join(repr(o) for o in options), value, hint)
    return value


def _describe(value) -> str:
    """What was passed, short: an array's shape and dtype, else a truncated repr."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_numpy(value) -> np.ndarray | None:
    """``value`` as a NumPy array (a tensor is detached and moved to the CPU); None when NumPy
    cannot make a regular array of it (ragged lists, unknown objects)."""
    if value is None or isinstance(value, (str, bytes)):
        return None
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch
        value = value.detach().cpu()
    try:
        return np.asarray(value)
    except (TypeError, ValueError, RuntimeError):
        return None


def _dims(ndim) -> tuple[tuple[int, ...] | None, str]:
    ndims = (ndim,) if isinstance(ndim, int) else ndim
    if ndims is None:
        return None, ""
    plural = "" if ndims == (1,) else "s"
    return ndims, " with " + " or ".join(str(d) for d in ndims) + f" dimension{plural}"


def check_array(name: str, value, *, ndim: int | tuple[int, ...] | None = None,
                min_size: int = 1, allow_nan: bool = False, allow_inf: bool = False,
                hint: str = "") -> np.ndarray:
    """Return ``value`` (array-like or tensor of numbers) as a float64 NumPy array, refusing
    text, ragged lists, None, a number of dimensions outside ``ndim``, fewer than ``min_size``
    elements, NaN (unless ``allow_nan``) and ±inf (unless ``allow_inf``)."""
    ndims, dims = _dims(ndim)
    a = _as_numpy(value)
    if a is None or a.dtype.kind not in "biuf":
        raise _fail(name, f"an array of numbers{dims}", _Shown(_describe(value)), hint)
    if ndims is not None and a.ndim not in ndims:
        raise _fail(name, f"an array of numbers{dims}", _Shown(f"shape {a.shape}"), hint)
    if a.size < min_size:
        raise _fail(name, f"an array of at least {min_size} number{'' if min_size == 1 else 's'}",
                    _Shown(f"shape {a.shape}"), hint)
    a = a.astype(np.float64, copy=False)
    bad = (np.isnan(a) if not allow_nan else np.zeros(a.shape, bool)) | \
        (np.isinf(a) if not allow_inf else np.zeros(a.shape, bool))
    if bad.any():
        what = "NaN" if allow_inf else ("infinite" if allow_nan else "NaN or infinite")
        raise _fail(name, "an array of " + ("finite numbers" if not allow_inf else
                                            "numbers (not NaN)"),
                    _Shown(f"{int(bad.sum()):,} {what} value(s)"), hint)
    return a


def check_mask(name: str, value, *, ndim: int | tuple[int, ...] | None = None,
               hint: str = "") -> np.ndarray:
    """Return ``value`` (bools, or numbers that are all 0 or 1) as a bool NumPy array."""
    ndims, dims = _dims(ndim)
    allowed = f"an array of True/False (or 1/0){dims}"
    a = _as_numpy(value)
    if a is None or a.dtype.kind not in "biuf":
        raise _fail(name, allowed, _Shown(_describe(value)), hint)
    if ndims is not None and a.ndim not in ndims:
        raise _fail(name, allowed, _Shown(f"shape {a.shape}"), hint)
    if a.dtype.kind != "b":
        if not np.isin(a, (0, 1)).all():
            raise _fail(name, allowed, _Shown("values other than 0 and 1"), hint)
        a = a.astype(bool)
    return a


class _Shown(str):
    """A description put in a message as it is (not quoted by ``!r``)."""

    def __repr__(self) -> str:
        return str(self)
