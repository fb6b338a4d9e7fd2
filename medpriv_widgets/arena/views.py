"""What the board shows: the Pareto front of utility vs risk, and a defences × attacks heat-map.

Plain numbers in, plain numbers out (the widget draws them). Risk is
:attr:`~.cells.CellResult.risk`, the share of attacked patients exposed, so every attack reads
on one scale from 0 to 1; utility is the released model's test AUC.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError
from .cells import CellResult


def pareto_front(utility: Sequence[float], risk: Sequence[float]) -> np.ndarray:
    """Bool mask of the points no other point beats: none has higher-or-equal utility *and*
    lower-or-equal risk with one of them strictly better. NaN points are never on the front."""
    u = np.asarray(utility, dtype=float)
    r = np.asarray(risk, dtype=float)
    if u.shape != r.shape or u.ndim != 1:
        raise InvalidParameterError(f"`utility` and `risk` must be 1-D and of equal length; got "
                                    f"{u.shape} and {r.shape}.")
    ok = np.isfinite(u) & np.isfinite(r)
    front = ok.copy()
    for i in np.flatnonzero(ok):
        better = ok & (u >= u[i]) & (r <= r[i]) & ((u > u[i]) | (r < r[i]))
        front[i] = not better.any()
    return front


@dataclass(frozen=True)
class ParetoPoint:
    """One defence on the utility–risk plane (for one attack, or the worst over attacks)."""

    defence: str
    utility: float
    risk: float
    on_front: bool


def _listed(value) -> list | None:
    """``value`` as a list, or None for a string or anything not iterable (a 0-d array)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return None
    try:
        return list(value)
    except TypeError:
        return None


def _check_results(results) -> list[CellResult]:
    rows = _listed(results)
    if rows is None:
        raise InvalidParameterError(f"`results` must be a list of CellResult (e.g. "
                                    f"board.results()); got {type(results).__name__}.")
    for r in rows:
        if not isinstance(r, CellResult):
            raise InvalidParameterError(f"`results` must hold CellResult objects (e.g. "
                                        f"board.results()); got {type(r).__name__}.")
    return rows


def _check_names(name: str, value) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = _listed(value)
    if names is None:
        raise InvalidParameterError(f"`{name}` must be a list of names, e.g. ['none', "
                                    f"'dpsgd-eps8'], or None; got {value!r:.100}.")
    names = tuple(names)
    if not all(isinstance(v, str) for v in names):
        raise InvalidParameterError(f"`{name}` must hold names (strings); got {value!r:.100}.")
    return names


def pareto_points(results: Sequence[CellResult], *, attack: str | None = None
                  ) -> list[ParetoPoint]:
    """One point per defence: its utility and its risk against ``attack`` (None: the highest
    risk over every attack it faced — the hospital must survive the strongest)."""
    results = _check_results(results)
    if attack is not None and not isinstance(attack, str):
        raise InvalidParameterError(f"`attack` must be an attack's name or None (the worst over "
                                    f"all attacks); got {attack!r:.100}.")
    per: dict[str, list[CellResult]] = {}
    for r in results:
        if r.ok and (attack is None or r.attack == attack):
            per.setdefault(r.defence, []).append(r)
    names = list(per)
    util = [per[d][0].utility_auc for d in names]
    risk = [max((c.risk for c in per[d] if math.isfinite(c.risk)), default=math.nan)
            for d in names]
    front = pareto_front(util, risk) if names else np.zeros(0, bool)
    return [ParetoPoint(d, float(u), float(k), bool(f))
            for d, u, k, f in zip(names, util, risk, front)]


@dataclass(frozen=True)
class Heatmap:
    """``values[i][j]``: risk of defence i against attack j (NaN: missing or failed);
    ``status[i][j]``: 'ok', 'failed' or 'missing'."""

    defences: tuple[str, ...]
    attacks: tuple[str, ...]
    values: np.ndarray
    status: tuple[tuple[str, ...], ...]


def heatmap(results: Sequence[CellResult], *, defences: Sequence[str] | None = None,
            attacks: Sequence[str] | None = None) -> Heatmap:
    """Risk of every defence × attack (rows and columns in first-seen order unless given)."""
    results = _check_results(results)
    defences, attacks = _check_names("defences", defences), _check_names("attacks", attacks)
    defences = defences if defences is not None else tuple(
        dict.fromkeys(r.defence for r in results))
    attacks = attacks if attacks is not None else tuple(
        dict.fromkeys(r.attack for r in results))
    values = np.full((len(defences), len(attacks)), math.nan)
    status = [["missing"] * len(attacks) for _ in defences]
    index_d = {d: i for i, d in enumerate(defences)}
    index_a = {a: j for j, a in enumerate(attacks)}
    for r in results:
        i, j = index_d.get(r.defence), index_a.get(r.attack)
        if i is None or j is None:
            continue
        status[i][j] = r.status
        values[i, j] = r.risk if r.ok else math.nan
    return Heatmap(defences, attacks, values, tuple(tuple(s) for s in status))


__all__ = ["Heatmap", "ParetoPoint", "heatmap", "pareto_front", "pareto_points"]
