"""One privacy budget per hospital: a :class:`~medpriv_widgets.privacy.ledger.PrivacyLedger` each.

Each institution decides how much privacy it is willing to spend on the federation; its ledger
(on disk, in a folder the caller chooses) is charged for every round it trains in and locks it
when the budget is gone. Only the ledger's public API is used here.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from collections.abc import Mapping, Sequence

from .._validate import check_open_unit, check_positive
from ..errors import InvalidParameterError
from ..privacy.ledger import PrivacyLedger
from .settings import FederationSettings


def site_ledgers(folder: str | os.PathLike, settings: FederationSettings, *,
                 epsilon: float | Sequence[float] | Mapping[str, float],
                 delta: float | None = None, dataset: str = "pneumoniamnist-federated",
                 reset: bool = False) -> dict[str, PrivacyLedger]:
    """{site name: PrivacyLedger} in ``folder`` (one ``<site-name>.json`` per hospital).

    Parameters
    ----------
    folder : where the ledgers live (a test's tmp_path; a lesson's results folder).
    settings : the federation (its site names, and its δ when ``delta`` is None).
    epsilon : the ε budget of every site, or one per site (a sequence in the settings' order,
        or a mapping by name). Each must be positive and finite.
    reset : start every ledger afresh at this budget (instructors and lessons: it erases what
        was spent; the old spends stay in the file's record).
    """
    if not isinstance(settings, FederationSettings):
        raise InvalidParameterError(
            f"`settings` must be a FederationSettings; got {type(settings).__name__}.")
    names = settings.site_names
    if isinstance(epsilon, Mapping):
        missing = [n for n in names if n not in epsilon]
        if missing:
            raise InvalidParameterError(f"`epsilon` gives no budget for {missing}; give every "
                                        f"hospital its own ε.")
        budgets = [epsilon[n] for n in names]
    elif isinstance(epsilon, (list, tuple)):
        if len(epsilon) != len(names):
            raise InvalidParameterError(f"`epsilon` must list one budget per hospital "
                                        f"({len(names)}); got {len(epsilon)}.")
        budgets = list(epsilon)
    else:
        budgets = [epsilon] * len(names)
    hint = ("A hospital's privacy budget must be a positive, finite ε (e.g. 4.0); a budget of 0 "
            "or less would let it spend nothing: leave that hospital out of the federation.")
    budgets = [check_positive(f"epsilon for {n!r}", b, hint=hint) for n, b in zip(names, budgets)]
    delta = check_open_unit("delta", settings.delta if delta is None else delta)
    root = Path(folder)
    out = {}
    for name, eps in zip(names, budgets):
        path = root / f"{_slug(name)}.json"
        if reset and path.is_file():
            ledger = PrivacyLedger(path, dataset=dataset, institution=name)
            ledger.reset(confirm=True, epsilon=eps, delta=delta)
        else:
            ledger = PrivacyLedger(path, epsilon=eps, delta=delta, dataset=dataset,
                                   institution=name)
        out[name] = ledger
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower() or "site"


__all__ = ["site_ledgers"]
