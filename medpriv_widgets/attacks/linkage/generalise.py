"""Generalisation and suppression to reach a target k, and the information that costs.

Each quasi-identifier has a hierarchy of ever coarser versions (level 0 = as recorded):

=================  ======================================================================
birth_date         date → month → year → 5-year band → 10-year band → *
admission_date     date → month → quarter → year → *
postcode           80331 → 8033* → 803** → 80*** → 8**** → *
sex                F / M → *
ward               ward → *
=================  ======================================================================

:func:`anonymise` searches the whole lattice of level combinations (full-domain generalisation,
as in Samarati 2001 and Incognito, LeFevre et al. 2005), suppresses the rows of classes still
smaller than k when they are at most ``max_suppression`` of the table, and keeps the combination
that loses the least information:

    information loss = (1 − s) · mean over QIs of level / top level  +  s,

with s the share of suppressed rows (a suppressed row has lost everything). Ties go to the
release with the smaller discernibility (Σ class size², Bayardo & Agrawal 2005). Hand-written
because the maintained tools (ARX, a Java application; pyCANON, which only checks and does not
install beside pandas 3) do not do it in Python here; the lattice of this registry has at most
6·6·5·2·2 = 720 nodes, and every node is one integer key per row and a bincount, so a full
search of 100,000 rows takes seconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..._validate import check_int, check_real
from ...errors import InvalidParameterError
from .attack import check_columns

#: Number of levels above the original for each known quasi-identifier (the top level is '*').
HIERARCHY_LEVELS = {"birth_date": 5, "admission_date": 4, "postcode": 5, "sex": 1, "ward": 1}
LEVEL_NAMES = {
    "birth_date": ("date", "month", "year", "5-year band", "10-year band", "*"),
    "admission_date": ("date", "month", "quarter", "year", "*"),
    "postcode": ("5 digits", "4 digits", "3 digits", "2 digits", "1 digit", "*"),
    "sex": ("F/M", "*"),
    "ward": ("ward", "*"),
}


def _year_band(years: pd.Series, width: int) -> pd.Series:
    start = (years // width) * width
    return start.astype(str) + "–" + (start + width - 1).astype(str)


def generalise_column(values: pd.Series, column: str, level: int) -> pd.Series:
    """``values`` of quasi-identifier ``column`` at hierarchy ``level`` (strings; '*' at the top).

    Missing values stay missing.
    """
    if column not in HIERARCHY_LEVELS:
        raise InvalidParameterError(
            f"`column` must be one of the quasi-identifiers with a hierarchy "
            f"({', '.join(HIERARCHY_LEVELS)}); got {column!r}.")
    top = HIERARCHY_LEVELS[column]
    level = check_int("level", level, low=0, high=top)
    na = values.isna()
    if level == top:
        out = pd.Series("*", index=values.index, dtype=object)
    elif column in ("birth_date", "admission_date"):
        d = pd.to_datetime(values)
        if level == 0:
            out = d.dt.strftime("%Y-%m-%d")
        elif level == 1:
            out = d.dt.strftime("%Y-%m")
        elif column == "admission_date" and level == 2:
            out = d.dt.year.astype("Int64").astype(str) + "-Q" + d.dt.quarter.astype(
                "Int64").astype(str)
        elif (column, level) in (("birth_date", 2), ("admission_date", 3)):
            out = d.dt.year.astype("Int64").astype(str)
        else:
            out = _year_band(d.dt.year.astype("Int64"), 5 if level == 3 else 10)
    elif column == "postcode":
        s = values.astype(str)
        out = s.str.slice(0, 5 - level) + "*" * level
    else:  # sex, ward: level 0 only
        out = values.astype(str)
    out = out.astype(object)
    out[na] = None
    return out


def generalise(table: pd.DataFrame, levels: Mapping[str, int]) -> pd.DataFrame:
    """A copy of ``table`` with each column in ``levels`` generalised to its level."""
    if not isinstance(table, pd.DataFrame):
        raise InvalidParameterError(f"`table` must be a pandas DataFrame; got "
                                    f"{type(table).__name__}.")
    check_columns(table, list(levels), name="levels")
    out = table.copy()
    for col, lvl in levels.items():
        out[col] = generalise_column(table[col], col, lvl)
    return out


@dataclass(frozen=True)
class AnonymisedRelease:
    """The outcome of :func:`anonymise`.

    Attributes
    ----------
    table : DataFrame
        The release: quasi-identifiers generalised, rows of too-small classes removed.
    levels : dict
        Hierarchy level chosen per quasi-identifier.
    k_target, k : int
        The k asked for and the k reached (k ≥ k_target).
    suppressed : int
        Rows removed.
    information_loss : float in [0, 1]
        As defined in the module docstring (0: nothing lost; 1: nothing left).
    discernibility : float
        Σ class size² / rows: the average size of the class a row is hidden in.
    n_original : int
        Rows before suppression.
    qi : tuple of str
    """

    table: pd.DataFrame
    levels: dict
    k_target: int
    k: int
    suppressed: int
    information_loss: float
    discernibility: float
    n_original: int
    qi: tuple = field(default=())

    @property
    def utility(self) -> float:
        """1 − information loss."""
        return 1.0 - self.information_loss

    def place(self, people: pd.DataFrame) -> pd.DataFrame:
        """``people`` (e.g. the public source) generalised exactly as this release was, so an
        attacker can find the group each of them would be in."""
        return generalise(people, self.levels)

    def describe_levels(self) -> str:
        """E.g. 'birth_date: year, sex: F/M, postcode: 3 digits'."""
        return ", ".join(f"{c}: {LEVEL_NAMES[c][lvl]}" for c, lvl in self.levels.items())


def _level_codes(table: pd.DataFrame, qi: tuple[str, ...]) -> dict:
    """{column: [integer codes per level]} — every level's values factorised once."""
    out = {}
    for c in qi:
        out[c] = [pd.factorize(generalise_column(table[c], c, lvl), use_na_sentinel=False)[0]
                  for lvl in range(HIERARCHY_LEVELS[c] + 1)]
    return out


def anonymise(table: pd.DataFrame, *, qi: Iterable[str], k: int,
              max_suppression: float = 0.02) -> AnonymisedRelease:
    """Generalise and suppress ``table`` until it is k-anonymous on ``qi``, losing the least.

    Parameters
    ----------
    table : DataFrame
        A release (e.g. :func:`~medpriv_widgets.attacks.linkage.make_release`).
    qi : list of str
        Quasi-identifiers to generalise (each must have a hierarchy: birth_date, admission_date,
        postcode, sex, ward).
    k : int
        Target k, from 1 to the number of rows.
    max_suppression : float in [0, 1)
        Largest share of rows that may be removed instead of generalised further.

    Returns
    -------
    AnonymisedRelease
    """
    if not isinstance(table, pd.DataFrame):
        raise InvalidParameterError(f"`table` must be a pandas DataFrame; got "
                                    f"{type(table).__name__}.")
    cols = check_columns(table, qi, name="qi")
    no_hierarchy = [c for c in cols if c not in HIERARCHY_LEVELS]
    if no_hierarchy:
        raise InvalidParameterError(
            f"`qi` must be columns with a generalisation hierarchy "
            f"({', '.join(HIERARCHY_LEVELS)}); got {no_hierarchy}.")
    n = len(table)
    if n == 0:
        raise InvalidParameterError("`table` must have at least one row; got an empty table.")
    k = check_int("k", k, low=1, high=n,
                  hint=f"The table has {n:,} rows, so no release can hide a row among more.")
    max_suppression = check_real("max_suppression", max_suppression, low=0.0, high=1.0,
                                 high_inclusive=False)
    codes = _level_codes(table, cols)
    tops = [HIERARCHY_LEVELS[c] for c in cols]
    best = None
    for node in itertools.product(*(range(t + 1) for t in tops)):
        key = np.zeros(n, dtype=np.int64)
        for c, lvl in zip(cols, node):
            cc = codes[c][lvl]
            key = key * (int(cc.max()) + 1) + cc
        _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        size = counts[inverse]
        small = size < k
        s = small.sum() / n
        if s > max_suppression:
            continue
        height = float(np.mean([lvl / t for lvl, t in zip(node, tops)]))
        loss = (1.0 - s) * height + s
        kept = counts[counts >= k]
        disc = float((kept.astype(float) ** 2).sum() / max(kept.sum(), 1))
        rank = (round(loss, 12), disc)
        if best is None or rank < best[0]:
            best = (rank, node, small, loss, disc)
    # The top node (everything '*') is one class of n ≥ k rows, so best is never None.
    _, node, small, loss, disc = best
    levels = dict(zip(cols, node))
    kept = table.loc[~small]
    released = generalise(kept, levels).reset_index(drop=True)
    k_reached = int(released.groupby(list(cols), dropna=False).size().min()) if len(released) else 0
    return AnonymisedRelease(table=released, levels=levels, k_target=k, k=k_reached,
                             suppressed=int(small.sum()), information_loss=float(loss),
                             discernibility=disc, n_original=n, qi=cols)


__all__ = ["AnonymisedRelease", "HIERARCHY_LEVELS", "LEVEL_NAMES", "anonymise", "generalise",
           "generalise_column"]
