"""The linkage attack: join an "anonymous" release to a public source on quasi-identifiers.

A release without names still holds birth date, sex, postcode, admission date…; an attacker who
holds a public source with the same columns *and names* joins the two. A release row is
**re-identified** when the join pairs it one-to-one with a public person: the row has exactly one
candidate in the public source, and that person has exactly one candidate row in the release.
(A k-anonymous release has k identical rows, so no row is paired one-to-one even if the person is
found: the attacker knows the person is *one of* those rows.) Whether the pairing is *right* is
scored with the hidden ``person_id`` — never used by the join.

Fuzzy join: birth dates may differ by up to ``tolerance_days`` (typos in the public source).
Nothing compares every row with every row (a join on sex alone would be 10⁹ pairs): the columns
are encoded as one integer key per row, each release key is widened to the date window, and only
counts per key are looked up (numpy searchsorted), so 100,000 × 170,000 rows link in about a
second.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..._validate import check_int
from ...errors import InvalidParameterError
from .population import DIRECT_IDENTIFIERS, SENSITIVE, TRUTH

#: Published anchors, quoted beside our own uniqueness numbers.
SWEENEY_2000 = {
    "share": 0.87,
    "columns": ("postcode", "birth_date", "sex"),
    "claim": "87 % of the US population were unique on 5-digit ZIP code, date of birth and sex "
             "(1990 census)",
    "citation": "Sweeney L. Simple Demographics Often Identify People Uniquely. Carnegie Mellon "
                "University, Data Privacy Working Paper 3, Pittsburgh 2000.",
}
ROCHER_2019 = {
    "share": 0.9998,
    "attributes": 15,
    "claim": "99.98 % of Americans would be correctly re-identified in any data set using 15 "
             "demographic attributes",
    "citation": "Rocher L, Hendrickx JM, de Montjoye Y-A. Estimating the success of "
                "re-identifications in incomplete datasets using generative models. Nature "
                "Communications 10:3069 (2019). doi:10.1038/s41467-019-10933-3",
}

DATE_COLUMNS = ("birth_date", "admission_date")


def check_columns(table: pd.DataFrame, columns, *, name: str = "columns",
                  table_name: str = "the table") -> tuple[str, ...]:
    """A non-empty list of distinct column names present in ``table`` (else a sentence)."""
    if isinstance(columns, str):
        columns = (columns,)
    try:
        cols = tuple(columns)
    except TypeError:
        raise InvalidParameterError(
            f"`{name}` must be a list of column names; got {columns!r}.") from None
    if not cols:
        raise InvalidParameterError(
            f"`{name}` must name at least one quasi-identifier (for example birth_date, sex, "
            f"postcode); got none. Choose at least one column to release.")
    direct = [c for c in cols if c in DIRECT_IDENTIFIERS]
    if direct:
        raise InvalidParameterError(
            f"`{name}` must not contain direct identifiers ({', '.join(direct)}): a release "
            "with names is not anonymous at all. Remove them.")
    bad = [c for c in cols if not isinstance(c, str) or c not in table.columns]
    if bad:
        raise InvalidParameterError(
            f"`{name}` must be columns of {table_name}; got unknown column(s) "
            f"{', '.join(repr(c) for c in bad)}. Available: {', '.join(map(str, table.columns))}.")
    if len(set(cols)) != len(cols):
        raise InvalidParameterError(f"`{name}` must not repeat a column; got {list(cols)}.")
    return cols


def make_release(registry: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The "anonymised" release: the chosen quasi-identifiers and the diagnosis, no names.

    The hidden ``person_id`` stays in the frame for scoring only (no attack reads it).
    """
    cols = check_columns(registry, columns, table_name="the registry")
    keep = [TRUTH, *cols] + ([SENSITIVE] if SENSITIVE in registry.columns
                             and SENSITIVE not in cols else [])
    return registry[keep].reset_index(drop=True)


@dataclass(frozen=True)
class LinkageResult:
    """What a linkage attack achieved.

    Attributes
    ----------
    columns : tuple of str
        The quasi-identifiers joined on.
    tolerance_days : int
        Dates matched within ± this many days (0: exact).
    n_release : int
        Rows in the release.
    candidates : numpy.ndarray of int, shape (n_release,)
        Public persons matching each release row.
    reidentified : numpy.ndarray of bool, shape (n_release,)
        Paired one-to-one with a public person.
    correct : numpy.ndarray of bool, shape (n_release,)
        Paired one-to-one with the *right* person (ground truth).
    matches : pandas.DataFrame
        One row per re-identified release row: ``release_row``, ``name`` (from the public
        source), the release's ``diagnosis`` when it has one, and ``correct``.
    """

    columns: tuple
    tolerance_days: int
    n_release: int
    candidates: np.ndarray
    reidentified: np.ndarray
    correct: np.ndarray
    matches: pd.DataFrame

    @property
    def share_reidentified(self) -> float:
        """Share of release rows paired with the right person."""
        return float(self.correct.mean()) if self.n_release else 0.0

    @property
    def share_wrong(self) -> float:
        """Share of release rows paired one-to-one with the wrong person."""
        return float((self.reidentified & ~self.correct).mean()) if self.n_release else 0.0

    @property
    def share_no_candidate(self) -> float:
        return float((self.candidates == 0).mean()) if self.n_release else 0.0


def _encode(release: pd.DataFrame, public: pd.DataFrame, cols: Sequence[str], shifts: range
             ) -> tuple[np.ndarray, np.ndarray]:
    """Integer keys of the join columns: release (len(shifts), n_release), public (n_public,).

    Values of both tables are factorised together, so equal values get equal codes; birth dates
    become day numbers and are shifted on the release side. Missing values get key -1.
    """
    n_rel = len(release)
    rel_keys = np.zeros((len(shifts), n_rel), dtype=np.int64)
    pub_keys = np.zeros(len(public), dtype=np.int64)
    rel_bad = np.zeros(n_rel, dtype=bool)
    pub_bad = np.zeros(len(public), dtype=bool)
    radix_total = 1
    for c in cols:
        a, b = release[c], public[c]
        if c == "birth_date" and len(shifts) > 1 and pd.api.types.is_datetime64_any_dtype(a):
            da = a.to_numpy().astype("datetime64[D]")
            db = b.to_numpy().astype("datetime64[D]")
            rel_bad |= np.isnat(da)
            pub_bad |= np.isnat(db)
            lo = min(da[~np.isnat(da)].min(initial=np.datetime64("2100-01-01")),
                     db[~np.isnat(db)].min(initial=np.datetime64("2100-01-01")))
            lo = lo - np.timedelta64(shifts.stop, "D")
            ia = np.where(np.isnat(da), 0, (da - lo).astype(np.int64))
            ib = np.where(np.isnat(db), 0, (db - lo).astype(np.int64))
            radix = int(max(ia.max(initial=0), ib.max(initial=0))) + shifts.stop + 1
            rel_part = ia[None, :] + np.asarray(list(shifts))[:, None]
            pub_part = ib
        else:
            va = a.astype(object).to_numpy() if isinstance(a.dtype, pd.CategoricalDtype) else a.to_numpy()
            vb = b.astype(object).to_numpy() if isinstance(b.dtype, pd.CategoricalDtype) else b.to_numpy()
            codes, uniques = pd.factorize(np.concatenate([va, vb]), use_na_sentinel=True)
            ca, cb = codes[:n_rel], codes[n_rel:]
            rel_bad |= ca < 0
            pub_bad |= cb < 0
            radix = max(len(uniques), 1)
            rel_part = np.broadcast_to(np.maximum(ca, 0), rel_keys.shape)
            pub_part = np.maximum(cb, 0)
        if radix_total * radix >= 2**62:
            raise InvalidParameterError(
                f"`columns` {list(cols)} have too many distinct combinations to join; join on "
                "fewer columns.")
        rel_keys = rel_keys * radix + rel_part
        pub_keys = pub_keys * radix + pub_part
        radix_total *= radix
    rel_keys[:, rel_bad] = -1
    pub_keys[pub_bad] = -1
    return rel_keys, pub_keys


def _count_in(sorted_keys: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """How often each query occurs in ``sorted_keys`` (queries of -1: 0)."""
    n = np.searchsorted(sorted_keys, queries, side="right") - np.searchsorted(
        sorted_keys, queries, side="left")
    return np.where(queries < 0, 0, n)


def link(release: pd.DataFrame, public: pd.DataFrame, *, columns: Iterable[str] | None = None,
         tolerance_days: int = 0) -> LinkageResult:
    """Join ``release`` to ``public`` on quasi-identifiers; who is re-identified?

    Parameters
    ----------
    release : DataFrame
        The released table (e.g. :func:`make_release`), with the hidden ``person_id``.
    public : DataFrame
        The attacker's source with ``name`` and the same columns (``person_id`` 0 for people
        who are not in the release).
    columns : list of str, optional
        Join columns; default every column the two share except name, diagnosis and person_id.
    tolerance_days : int
        Birth dates within ± this many days match (0 = exact join), 0–30.

    Returns
    -------
    LinkageResult
    """
    for name, table in (("release", release), ("public", public)):
        if not isinstance(table, pd.DataFrame):
            raise InvalidParameterError(f"`{name}` must be a pandas DataFrame; got "
                                        f"{type(table).__name__}.")
        if TRUTH not in table.columns:
            raise InvalidParameterError(
                f"`{name}` must keep the hidden `{TRUTH}` column (ground truth for scoring); "
                "make it with make_release() / make_public_source().")
    if "name" not in public.columns:
        raise InvalidParameterError("`public` must have a `name` column: the attacker's source "
                                    "is what puts names to the rows.")
    if columns is None:
        columns = [c for c in release.columns
                   if c in public.columns and c not in (TRUTH, "name", SENSITIVE)]
        if not columns:
            raise InvalidParameterError(
                "The release shares no quasi-identifier with the public source (it has "
                f"{', '.join(c for c in release.columns if c not in (TRUTH, SENSITIVE)) or 'none'}"
                "), so this attacker cannot join the two. Release birth date, sex, postcode or "
                "admission date to see the attack.")
    cols = check_columns(release, columns, table_name="the release")
    missing = [c for c in cols if c not in public.columns]
    if missing:
        raise InvalidParameterError(
            f"`columns` must be in the public source too; it lacks {missing}, so the attacker "
            "cannot join on them. Drop them from `columns`.")
    tolerance_days = check_int("tolerance_days", tolerance_days, low=0, high=30)

    shifts = range(-tolerance_days, tolerance_days + 1) if "birth_date" in cols else range(0, 1)
    rel_keys, pub_keys = _encode(release, public, cols, shifts)
    n = len(release)
    pub_sorted_idx = np.argsort(pub_keys, kind="stable")
    pub_sorted = pub_keys[pub_sorted_idx]
    # Candidates of each release row: public rows at any of its (shifted) keys.
    per_shift = np.stack([_count_in(pub_sorted, k) for k in rel_keys])
    per_row = per_shift.sum(axis=0)
    # Candidates of each public row: release rows whose shifted key equals its key.
    per_pub = np.zeros(len(public), dtype=np.int64)
    for k in rel_keys:
        per_pub += _count_in(np.sort(k[k >= 0]), pub_keys)
    rows = np.flatnonzero(per_row == 1)
    shift_of = per_shift[:, rows].argmax(axis=0)
    key = rel_keys[shift_of, rows]
    pub = pub_sorted_idx[np.searchsorted(pub_sorted, key, side="left")]
    one_to_one = per_pub[pub] == 1
    rows, pub = rows[one_to_one], pub[one_to_one]
    truth_ok = (release[TRUTH].to_numpy()[rows] == public[TRUTH].to_numpy()[pub])
    reidentified = np.zeros(n, dtype=bool)
    reidentified[rows] = True
    correct = np.zeros(n, dtype=bool)
    correct[rows[truth_ok]] = True
    matches = pd.DataFrame({"release_row": rows,
                            "name": public["name"].to_numpy()[pub]})
    if SENSITIVE in release.columns:
        matches[SENSITIVE] = release[SENSITIVE].to_numpy()[rows]
    matches["correct"] = truth_ok
    matches = matches.sort_values("release_row", ignore_index=True)
    return LinkageResult(columns=cols, tolerance_days=tolerance_days, n_release=n,
                         candidates=per_row, reidentified=reidentified, correct=correct,
                         matches=matches)


def uniqueness(table: pd.DataFrame, columns: Iterable[str]) -> float:
    """Share of rows whose combination of ``columns`` occurs once in ``table`` (in [0, 1]).

    Rows with a missing value in ``columns`` count as not unique.
    """
    if not isinstance(table, pd.DataFrame):
        raise InvalidParameterError(f"`table` must be a pandas DataFrame; got "
                                    f"{type(table).__name__}.")
    cols = check_columns(table, columns)
    if len(table) == 0:
        raise InvalidParameterError("`table` must have at least one row; got an empty table.")
    sizes = table.groupby(list(cols), observed=True, dropna=True)[cols[0]].transform("size")
    return float((sizes == 1).sum() / len(table))


def reidentification_by_columns(registry: pd.DataFrame, public: pd.DataFrame,
                                column_sets: Sequence[Sequence[str]], *,
                                tolerance_days: int = 0) -> pd.DataFrame:
    """One row per released column set: uniqueness in the release and share re-identified.

    Returns a DataFrame with ``columns`` (joined by ' + '), ``unique`` (share of release rows
    unique on those columns), ``reidentified`` (share linked to the right name), ``wrong``
    (linked one-to-one to the wrong name).
    """
    rows = []
    for cols in column_sets:
        release = make_release(registry, cols)
        res = link(release, public, columns=cols, tolerance_days=tolerance_days)
        rows.append({"columns": " + ".join(res.columns),
                     "unique": uniqueness(release, res.columns),
                     "reidentified": res.share_reidentified, "wrong": res.share_wrong})
    return pd.DataFrame(rows)


__all__ = ["DATE_COLUMNS", "LinkageResult", "ROCHER_2019", "SWEENEY_2000", "check_columns", "link", "make_release", "reidentification_by_columns", "uniqueness"]
