"""k-anonymity, ℓ-diversity and t-closeness of a release, in a few lines of pandas.

Definitions (a release, its quasi-identifiers QI and one sensitive column S):

- **equivalence class**: the rows that share one combination of QI values;
- **k-anonymity** (Samarati & Sweeney 1998): the size of the smallest class — every row looks
  like at least k−1 others;
- **distinct ℓ-diversity** (Machanavajjhala et al. 2007): the smallest number of different S
  values in a class — ℓ = 1 means some class reveals its diagnosis to anyone who can place a
  person in it (the homogeneity attack);
- **t-closeness** (Li, Li & Venkatasubramanian 2007): the largest distance between the S
  distribution of a class and of the whole release; for categorical S the Earth Mover's distance
  with equal ground distances, i.e. half the L1 distance (total variation); for numerical S the
  ordered EMD over the sorted distinct values.

Written with pandas rather than a library on purpose: pyCANON 1.3.6, the maintained checker,
pins numpy 2.0.2 and pandas 2.3.3 exactly and cannot be installed beside this package's pins
(numpy 2.4, pandas 3.1; tried in a scratch venv). Run in a venv of its own, pyCANON 1.3.6 gives
the same k, ℓ and t as these functions on the hand-counted tables of the tests and on the
lesson's anonymised psychiatry release (k = 2 and 5: identical to the last digit); the tests
check these functions against the hand-counted tables.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...errors import InvalidParameterError
from .attack import check_columns


def _check(table, qi, sensitive=None) -> tuple[tuple[str, ...], str | None]:
    if not isinstance(table, pd.DataFrame):
        raise InvalidParameterError(f"`table` must be a pandas DataFrame; got "
                                    f"{type(table).__name__}.")
    if len(table) == 0:
        raise InvalidParameterError("`table` must have at least one row; got an empty table "
                                    "(everything suppressed?). Choose a smaller k.")
    cols = check_columns(table, qi, name="qi")
    if sensitive is not None:
        if sensitive not in table.columns:
            raise InvalidParameterError(
                f"`sensitive` must be a column of the table; got {sensitive!r}. Available: "
                f"{', '.join(map(str, table.columns))}.")
        if sensitive in cols:
            raise InvalidParameterError(
                f"`sensitive` ({sensitive!r}) must not also be a quasi-identifier.")
    return cols, sensitive


def class_sizes(table: pd.DataFrame, qi: Iterable[str]) -> pd.Series:
    """Size of the equivalence class of every row (Series aligned with ``table``)."""
    cols, _ = _check(table, qi)
    return table.groupby(list(cols), observed=True, dropna=False)[cols[0]].transform("size")


def k_anonymity(table: pd.DataFrame, qi: Iterable[str]) -> int:
    """The k for which ``table`` is k-anonymous on ``qi`` (its smallest class)."""
    cols, _ = _check(table, qi)
    return int(table.groupby(list(cols), observed=True, dropna=False).size().min())


def l_diversity(table: pd.DataFrame, qi: Iterable[str], sensitive: str) -> int:
    """Distinct ℓ-diversity: the fewest different ``sensitive`` values in any class."""
    cols, s = _check(table, qi, sensitive)
    return int(table.groupby(list(cols), observed=True, dropna=False)[s].nunique(
        dropna=False).min())


def t_closeness(table: pd.DataFrame, qi: Iterable[str], sensitive: str, *,
                numerical: bool | None = None) -> float:
    """t-closeness: the largest EMD between a class's ``sensitive`` distribution and the whole.

    ``numerical`` None: numerical when the column is numeric. Categorical: equal ground distance
    (= total variation). Numerical: ordered distance over the m sorted distinct values,
    Σ_i |Σ_{j≤i} (p_j − q_j)| / (m − 1).
    """
    cols, s = _check(table, qi, sensitive)
    if numerical is None:
        numerical = pd.api.types.is_numeric_dtype(table[s])
    values = table[s]
    overall = values.value_counts(normalize=True, dropna=False).sort_index()
    per_class = (table.groupby(list(cols), observed=True, dropna=False)[s]
                 .value_counts(normalize=True, dropna=False)
                 .unstack(fill_value=0.0).reindex(columns=overall.index, fill_value=0.0))
    diff = per_class.to_numpy() - overall.to_numpy()[None, :]
    if numerical and overall.size > 1:
        emd = np.abs(np.cumsum(diff, axis=1)).sum(axis=1) / (overall.size - 1)
    else:
        emd = 0.5 * np.abs(diff).sum(axis=1)
    return float(emd.max())


@dataclass(frozen=True)
class AnonymityReport:
    """k, ℓ and t of one release, with the number of equivalence classes and rows."""

    k: int
    l: int
    t: float
    n_classes: int
    n_rows: int


def anonymity_report(table: pd.DataFrame, qi: Iterable[str], sensitive: str) -> AnonymityReport:
    """k-anonymity, distinct ℓ-diversity and t-closeness of ``table`` in one call."""
    cols, s = _check(table, qi, sensitive)
    n_classes = int(table.groupby(list(cols), observed=True, dropna=False).ngroups)
    return AnonymityReport(k=k_anonymity(table, cols), l=l_diversity(table, cols, s),
                           t=t_closeness(table, cols, s), n_classes=n_classes,
                           n_rows=len(table))


__all__ = ["AnonymityReport", "anonymity_report", "class_sizes", "k_anonymity", "l_diversity",
           "t_closeness"]
