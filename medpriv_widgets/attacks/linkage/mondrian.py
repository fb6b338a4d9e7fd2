"""Mondrian: k-anonymity by local recoding — groups of k to 2k−1 similar rows.

Full-domain generalisation (:func:`~.generalise.anonymise`) coarsens a column for *every* row
(every birth date becomes a year), so a few sparse regions force coarse values everywhere. Mondrian
(LeFevre, DeWitt & Ramakrishnan, ICDE 2006) instead cuts the table like a k-d tree: it splits a
group at the median of the quasi-identifier with the widest (normalised) range, as long as both
halves keep at least k rows, and releases each final group with the range of its values. Groups
stay small (k to 2k−1 rows where values allow), so far more detail survives — and so does the
homogeneity attack, which is why the lesson's k slider uses it.

Encoding: birth and admission dates as day numbers, postcodes as numbers (German postcodes are
numbered by region, so neighbouring numbers are neighbouring places), sex and ward as codes.
Released values: the group's range ("1983-04–1987-11", "80331–80799"), a single value when the
group has only one, '*' for a categorical column with several values. Information loss: the
normalised certainty penalty (Xu et al. 2006) — the mean over rows and quasi-identifiers of the
group's range over the table's range (categorical: 0 for one value, 1 for several).

Hand-written (about 60 lines of numpy): no maintained Python package provides it beside pandas 3.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..._validate import check_int
from ...errors import InvalidParameterError
from .attack import check_columns

_DATES = ("birth_date", "admission_date")
_NUMERIC = ("postcode",)
_CATEGORICAL = ("sex", "ward")
SUPPORTED = _DATES + _NUMERIC + _CATEGORICAL


def _encode(values: pd.Series, column: str) -> np.ndarray:
    if column in _DATES:
        d = pd.to_datetime(values).to_numpy().astype("datetime64[D]")
        return d.astype(np.int64).astype(float)
    if column in _NUMERIC:
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    codes, _ = pd.factorize(values.astype(str), sort=True)
    return codes.astype(float)


def _describe(column: str, lo: float, hi: float, labels) -> str:
    if column in _CATEGORICAL:
        return str(labels[int(lo)]) if lo == hi else "*"
    if column in _DATES:
        a = np.datetime64(int(lo), "D")
        b = np.datetime64(int(hi), "D")
        if a == b:
            return str(a)
        am, bm = str(a)[:7], str(b)[:7]
        return am if am == bm else f"{am}–{bm}"
    return f"{int(lo):05d}" if lo == hi else f"{int(lo):05d}–{int(hi):05d}"


@dataclass(frozen=True)
class MondrianRelease:
    """A k-anonymous release made by :func:`mondrian`.

    table : DataFrame — quasi-identifiers replaced by their group's range (strings), other
    columns kept. groups : int array (N,) — group of each row. boxes : DataFrame — per group and
    quasi-identifier, the encoded low and high end. k_target, k. information_loss (NCP, in
    [0, 1]). qi. suppressed is always 0 (every group has ≥ k rows).
    """

    table: pd.DataFrame
    groups: np.ndarray
    boxes: dict
    labels: dict
    k_target: int
    k: int
    information_loss: float
    n_original: int
    qi: tuple = field(default=())
    suppressed: int = 0

    @property
    def utility(self) -> float:
        return 1.0 - self.information_loss

    def mean_range(self, column: str) -> float:
        """Average width of the released ranges of ``column`` over rows: years for dates,
        numbers for postcodes (0 = exact values kept)."""
        j = list(self.qi).index(column)
        width = (self.boxes["hi"][:, j] - self.boxes["lo"][:, j])[self.groups]
        return float(width.mean() / (365.25 if column in _DATES else 1.0))

    def describe_levels(self) -> str:
        sizes = np.bincount(self.groups)
        return (f"{sizes.size:,} groups of {sizes.min()}–{sizes.max()} similar patients, each "
                "released with the range of its values")

    def place(self, people: pd.DataFrame) -> pd.DataFrame:
        """``people`` (e.g. the public source) with their quasi-identifiers replaced by the
        released values of the group whose ranges contain them (None where no group does)."""
        missing = [c for c in self.qi if c not in people.columns]
        if missing:
            raise InvalidParameterError(
                f"The people to place lack the quasi-identifier(s) {missing}, so they cannot be "
                "placed in a group.")
        x = np.column_stack([_encode_like(people[c], c, self.labels.get(c)) for c in self.qi])
        lo, hi, tree = self.boxes["lo"], self.boxes["hi"], self.boxes["tree"]
        group = np.full(len(people), -1, dtype=np.int64)
        valid = ~np.isnan(x).any(axis=1)
        stack = [(0, np.flatnonzero(valid))]
        while stack:
            node, idx = stack.pop()
            if idx.size == 0:
                continue
            entry = tree[node]
            if entry[0] == -1:
                group[idx] = entry[1]
                continue
            dim, threshold, strict, a, b = entry
            v = x[idx, dim]
            left = v < threshold if strict else v <= threshold
            stack += [(a, idx[left]), (b, idx[~left])]
        # Routed into a group, but outside the ranges it was released with: not placeable.
        placed = np.flatnonzero(group >= 0)
        g = group[placed]
        inside = np.all((x[placed] >= lo[g]) & (x[placed] <= hi[g]), axis=1)
        group[placed[~inside]] = -1
        out = people.copy()
        released = self.table.drop_duplicates("_group").set_index("_group")
        for c in self.qi:
            values = released[c].reindex(group).to_numpy(dtype=object)
            values[group < 0] = None
            out[c] = values
        return out


def _encode_like(values: pd.Series, column: str, labels) -> np.ndarray:
    """Encode with the release's category codes (unknown categories: NaN, never inside)."""
    if column in _CATEGORICAL:
        mapping = {v: i for i, v in enumerate(labels)}
        return values.astype(str).map(mapping).to_numpy(dtype=float)
    return _encode(values, column)


def mondrian(table: pd.DataFrame, *, qi: Iterable[str], k: int) -> MondrianRelease:
    """Cut ``table`` into groups of at least ``k`` rows on ``qi`` (strict Mondrian, median cuts).

    Parameters
    ----------
    table : DataFrame (e.g. a release from make_release); qi : quasi-identifiers among
    birth_date, admission_date, postcode, sex, ward (no missing values); k : 1 … len(table).
    """
    if not isinstance(table, pd.DataFrame):
        raise InvalidParameterError(f"`table` must be a pandas DataFrame; got "
                                    f"{type(table).__name__}.")
    cols = check_columns(table, qi, name="qi")
    bad = [c for c in cols if c not in SUPPORTED]
    if bad:
        raise InvalidParameterError(f"`qi` must be among {', '.join(SUPPORTED)}; got {bad}.")
    n = len(table)
    if n == 0:
        raise InvalidParameterError("`table` must have at least one row; got an empty table.")
    k = check_int("k", k, low=1, high=n,
                  hint=f"The table has {n:,} rows, so no release can hide a row among more.")
    labels = {c: sorted(pd.unique(table[c].astype(str))) for c in cols if c in _CATEGORICAL}
    x = np.column_stack([_encode_like(table[c], c, labels.get(c)) for c in cols])
    if np.isnan(x).any():
        raise InvalidParameterError("`table` has missing values in the quasi-identifiers; "
                                    "Mondrian needs every value.")
    span = np.maximum(x.max(axis=0) - x.min(axis=0), 1e-12)
    # tree[node] = (dim, threshold, strict, left child, right child) or (-1, g) for group g
    tree: list[tuple] = [None]
    finished: list[np.ndarray] = []
    stack = [(0, np.arange(n))]
    while stack:
        node, idx = stack.pop()
        part = x[idx]
        widths = (part.max(axis=0) - part.min(axis=0)) / span
        for dim in np.argsort(-widths, kind="stable"):
            if widths[dim] <= 0:
                continue
            v = part[:, dim]
            median = np.median(v)
            strict = bool(np.any(v < median))
            left = v < median if strict else v <= median
            if left.sum() >= k and (~left).sum() >= k:
                a, b = len(tree), len(tree) + 1
                tree += [None, None]
                tree[node] = (int(dim), float(median), strict, a, b)
                stack += [(b, idx[~left]), (a, idx[left])]
                break
        else:
            tree[node] = (-1, len(finished))
            finished.append(idx)
    groups = np.empty(n, dtype=np.int64)
    for g, idx in enumerate(finished):
        groups[idx] = g
    n_groups = len(finished)
    order = np.argsort(groups, kind="stable")
    starts = np.r_[0, np.cumsum(np.bincount(groups, minlength=n_groups))[:-1]]
    lo = np.minimum.reduceat(x[order], starts, axis=0)
    hi = np.maximum.reduceat(x[order], starts, axis=0)
    out = table.copy()
    is_cat = np.array([c in _CATEGORICAL for c in cols])
    for j, c in enumerate(cols):
        names = np.array([_describe(c, lo[g, j], hi[g, j], labels.get(c))
                          for g in range(n_groups)], dtype=object)
        out[c] = names[groups]
    width = np.where(is_cat, (hi > lo).astype(float), (hi - lo) / span)
    sizes = np.bincount(groups, minlength=n_groups)
    loss = float((width.mean(axis=1) * sizes).sum() / n)
    out["_group"] = groups
    out = out.reset_index(drop=True)
    return MondrianRelease(table=out, groups=groups, boxes={"lo": lo, "hi": hi, "tree": tree},
                           labels=labels, k_target=k, k=int(sizes.min()), information_loss=loss,
                           n_original=n, qi=cols)


__all__ = ["MondrianRelease", "mondrian"]
