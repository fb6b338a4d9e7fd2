"""The privacy budget in words: why a request was refused, why a dataset is closed.

Pure functions, numbers in and a sentence out, used by
:class:`~medpriv_widgets.privacy.ledger.PrivacyLedger` for its error messages (and by anything
that shows a budget). ε and δ are written with :func:`~.numbers.format_number`: what a request
would spend is rounded *up*, what is left is rounded *down*, so no message makes the budget look
larger than it is.
"""

from __future__ import annotations

import math

from .._validate import check_choice, check_real
from ..errors import InvalidParameterError
from .numbers import format_number

__all__ = ["budget_busy_message", "budget_corrupt_message", "budget_locked_message",
           "budget_missing_message", "budget_refusal_message", "budget_unwritable_message"]

_RESET = "An instructor can reset it with ledger.reset(confirm=True)."
#: Below this, an amount left is float dust from subtracting equal sums: nothing is left.
_NOTHING = 1e-12


def _texts(**values) -> None:
    for name, value in values.items():
        if not isinstance(value, str):
            raise InvalidParameterError(f"`{name}` must be a text; got {value!r}. Pass the "
                                        f"ledger's {name} as a string.")


def _pair(name: str, value, *, allow_inf: bool = False) -> tuple[float, float]:
    try:
        e, d = value
    except (TypeError, ValueError):
        raise InvalidParameterError(f"`{name}` must be an (epsilon, delta) pair of numbers; got "
                                    f"{value!r}.") from None
    return (check_real(f"{name}[0]", e, low=0.0, allow_inf=allow_inf),
            check_real(f"{name}[1]", d, low=0.0, high=1.0))


def _whose(dataset: str, institution: str) -> str:
    return f"the dataset {dataset!r} at institution {institution!r}"


def _spent(x: float) -> str:
    return format_number(x, rounding="up")


def _left(x: float) -> str:
    return "0" if x < _NOTHING else format_number(x, rounding="down")


def budget_locked_message(*, dataset: str, institution: str, reason: str | None = None,
                          cause: str = "refused") -> str:
    """Why every query and training run is refused: the dataset is locked.

    ``cause``: 'spent' (the request ``reason`` used up the last of the budget), 'refused' (the
    request ``reason`` came when nothing was left) or 'closed' (closed on purpose, ``reason``
    says why).
    """
    _texts(dataset=dataset, institution=institution)
    cause = check_choice("cause", cause, ("refused", "spent", "closed"))
    if reason is not None:
        _texts(reason=reason)
    if cause == "closed":
        why = f" ({reason})" if reason else ""
        return (f"The dataset {dataset!r} at institution {institution!r} is locked{why}: no "
                f"further questions or training. {_RESET}")
    if not reason:
        why = ""
    elif cause == "spent":
        why = f" (the request {reason!r} used the last of it)"
    else:
        why = f" (the request {reason!r} asked for more than was left)"
    return (f"The privacy budget of {_whose(dataset, institution)} is used up{why}, so the "
            f"dataset is locked: no further questions or training. {_RESET}")


def budget_refusal_message(*, dataset: str, institution: str, note: str, kind: str,
                           need: tuple[float, float], left: tuple[float, float],
                           budget: tuple[float, float], request_delta: float = 0.0,
                           locks: bool = True) -> str:
    """Why one spend was refused: what it would spend, what is left, what happens now.

    ``kind``: 'basic' (an (ε, δ) release) or 'gaussian' (a Gaussian answer or DP-SGD run);
    ``need``: (ε, δ) the request adds to the total (ε = inf when nothing can cover it);
    ``left``: (ε, δ) still available; ``budget``: the whole (ε, δ) budget;
    ``request_delta``: the δ a basic request asked for; ``locks``: whether the refusal locked the
    dataset (nothing was left) or left it open for smaller requests.
    """
    _texts(dataset=dataset, institution=institution, note=note)
    kind = check_choice("kind", kind, ("basic", "gaussian"))
    need = _pair("need", need, allow_inf=True)
    left, budget = _pair("left", left), _pair("budget", budget)
    request_delta = check_real("request_delta", request_delta, low=0.0, high=1.0)
    locks = check_choice("locks", locks, (True, False))
    whose = _whose(dataset, institution)
    eps_budget, dlt_budget = _spent(budget[0]), _spent(budget[1])
    where = (f" (dataset {dataset!r}, institution {institution!r}; whole budget "
             f"ε = {eps_budget}, δ = {dlt_budget})")
    if math.isinf(need[0]) and kind == "gaussian" and left[1] <= 0:
        cost = (f"The request {note!r} needs part of δ (the small chance that the guarantee "
                f"fails), but all of it is already used{where}")
    elif math.isinf(need[0]) and kind == "basic":
        cost = (f"The request {note!r} would spend δ = {_spent(request_delta)} (the small "
                f"chance that the guarantee fails), but the training runs already recorded "
                f"use all of δ{where}")
    elif math.isinf(need[0]):
        cost = (f"The request {note!r} has no privacy guarantee at all (ε = ∞, for example "
                f"training without noise), so no budget can cover it{where}")
    elif need[0] > left[0] * (1 + 1e-9) + 1e-15:
        left_text = ("nothing is left" if _left(left[0]) == "0" else
                     f"only ε = {_left(left[0])} is left")
        cost = (f"The request {note!r} would spend ε = {_spent(need[0])} of the privacy "
                f"budget, but {left_text} for {whose} (whole budget ε = {eps_budget})")
    else:  # ε fits; δ does not (a basic spend with δ > 0)
        cost = (f"The request {note!r} would spend δ = {_spent(need[1])} (the small chance "
                f"that the guarantee fails), but only δ = {_left(left[1])} is left for {whose} "
                f"(whole budget ε = {eps_budget}, δ = {dlt_budget})")
    if locks:
        return (f"{cost}. Nothing was spent. The dataset is now locked: no further questions or "
                f"training. {_RESET}")
    rest = f"ε = {_left(left[0])} is left for smaller requests"
    return (f"{cost}. Nothing was spent, and the dataset stays open: {rest}. The dataset locks "
            f"when the budget is used up.")


def budget_corrupt_message(*, path, why: str, dataset: str, institution: str) -> str:
    """The ledger file cannot be trusted (damaged, edited by hand, wrong format)."""
    _texts(why=why, dataset=dataset, institution=institution)
    return (f"The privacy ledger {path} {why}. It was edited by hand or damaged, so the "
            f"budget it records cannot be trusted and dataset {dataset!r} at {institution!r} "
            f"stays closed. An instructor can keep the file for inspection and start a fresh "
            f"budget with ledger.reset(confirm=True).")


def budget_missing_message(*, path, created: str, dataset: str, institution: str) -> str:
    """The ledger file of a dataset that had one is gone."""
    _texts(created=created, dataset=dataset, institution=institution)
    return (f"The privacy ledger {path} was created on {created} for dataset {dataset!r} at "
            f"{institution!r}, but its file is missing (deleted or moved). The budget it "
            f"recorded cannot be known, so the dataset stays closed. Put the file back from a "
            f"backup, or an instructor can start a fresh budget with ledger.reset(confirm=True).")


def budget_busy_message(*, path, seconds: float) -> str:
    """Another process has held the ledger for too long."""
    seconds = check_real("seconds", seconds, low=0.0)
    return (f"Another process has held the privacy ledger {path} for {seconds:.0f} s; wait for "
            f"it to finish and try again.")


def budget_unwritable_message(*, folder, reason: str) -> str:
    """The ledger's folder cannot be written: said at once, not after a time-out."""
    _texts(reason=reason)
    return (f"The privacy ledger cannot be kept in {folder}: {reason}. Choose a folder you can "
            f"write to, with `path=` or the MEDPRIV_LEDGER_DIR environment variable.")
