"""Pseudo-patient IDs for the official PneumoniaMNIST files, from the table shipped in this package.

``pneumoniamnist_patients.csv`` (package data, made by ``scripts/make_patient_table.py``) maps
every official position (split, index) to the pseudo-patient ID inferred from the Kermany source
file name (CC BY 4.0; see data/README.md). MedMNIST keeps one order at 28, 64 and 128 px, so the
same position — the same radiograph — gets the same patient ID at every size. 74 official test
images have no known source image: they get a unique ``unlinked-test-NNNN`` ID each (and
``linked`` False), so nothing is claimed about their patient.

The table carries each position's label; a file whose labels disagree with it (another order, or
not the official release) gets no IDs rather than wrong ones.
"""

from __future__ import annotations

import csv
import functools
from importlib import resources

import numpy as np

from ..errors import InvalidParameterError

TABLE_NAME = "pneumoniamnist_patients.csv"


@functools.lru_cache(maxsize=1)
def _table() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{split: (labels int64 (N,), patient IDs str (N,), '' where unknown)} from the package."""
    text = resources.files(__package__).joinpath(TABLE_NAME).read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    by_split: dict[str, list[tuple[int, int, str]]] = {}
    for row in rows:
        by_split.setdefault(row["split"], []).append(
            (int(row["index"]), int(row["label"]), row["patient_id"]))
    out = {}
    for split, items in by_split.items():
        items.sort()
        out[split] = (np.array([r[1] for r in items], dtype=np.int64),
                      np.array([r[2] for r in items], dtype=object))
    return out


def _as_int_labels(labels) -> np.ndarray:
    """``labels`` as an int64 array, refusing what is not whole numbers with a sentence."""
    try:
        arr = np.asarray(labels)
    except (TypeError, ValueError):  # ragged nesting
        arr = None
    ok = arr is not None and arr.ndim >= 1 and (
        arr.dtype.kind in "iub" or (arr.dtype.kind == "f" and bool(np.all(np.isfinite(arr)))
                                    and bool(np.all(arr == np.round(arr)))))
    if not ok:
        raise InvalidParameterError(
            f"`labels` must be an array of whole class numbers (0 = normal, 1 = pneumonia), one "
            f"per image in file order; got {labels!r:.80}.")
    return arr.astype(np.int64)


def shipped_patient_ids(split: str, labels) -> tuple[np.ndarray, np.ndarray] | None:
    """Pseudo-patient IDs for one official split from the shipped table.

    Parameters
    ----------
    split : {'train', 'val', 'test'}
    labels : array-like of int, shape (N,)
        The file's labels, in file order (checked against the table).

    Returns
    -------
    (ids, linked) : (numpy str array (N,), numpy bool array (N,)), or None when the table has
    no such split or its labels differ from ``labels`` (not the official order).
    """
    if not isinstance(split, str):
        raise InvalidParameterError(f"`split` must be a split name such as 'train', 'val' or "
                                    f"'test'; got {split!r:.60}.")
    labels = _as_int_labels(labels)
    table = _table()
    if split not in table:
        return None
    t_labels, t_ids = table[split]
    if labels.shape != t_labels.shape or not np.array_equal(labels, t_labels):
        return None
    linked = np.array([bool(p) for p in t_ids], dtype=bool)
    ids = np.array([p if p else f"unlinked-{split}-{i:04d}" for i, p in enumerate(t_ids)],
                   dtype=object).astype(str)
    return ids, linked


__all__ = ["TABLE_NAME", "shipped_patient_ids"]
