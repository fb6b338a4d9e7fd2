"""Patient-level splits: no patient's images end up in two parts.

MedMNIST's official split is image-level (190 Kermany pseudo-patients are in both train and val),
which lets a model or a membership attack "recognise" a patient it has seen. Experiments that
compare members with non-members must split by patient instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .._validate import check_int, check_real
from ..errors import InvalidParameterError
from .dataset import ChestXrayData

#: Most images a split may index (the lessons' records hold at most a few hundred thousand).
MAX_IMAGES = 10_000_000


def patient_split(patient_ids=None, *, fractions: Sequence[float] = (0.5, 0.5), seed: int = 0,
                  n: int | None = None) -> list[np.ndarray]:
    """Split image indices into parts so that every patient is in exactly one part.

    Patients are shuffled (seeded) and assigned in turn to the parts, each part taking patients
    until it holds about ``fraction * N`` images. When the fractions sum to less than 1 the
    remaining patients are left out.

    Parameters
    ----------
    patient_ids : array-like of length N, or None
        One identifier per image (any hashable, e.g. str). None: every image is its own patient,
        and ``n`` gives the number of images.
    fractions : sequence of float
        Target share of the images per part; each in (0, 1], summing to at most 1.
    seed : int
        Same seed, same split.
    n : int, optional
        Number of images when ``patient_ids`` is None.

    Returns
    -------
    list of numpy.ndarray
        One sorted int64 index array per part, pairwise disjoint, no patient in two of them.

    Raises
    ------
    InvalidParameterError
        Bad fractions, neither ids nor ``n``, or a part that would get no patient.
    """
    seed = check_int("seed", seed, low=0)
    if patient_ids is None:
        if n is None:
            raise InvalidParameterError(
                "`patient_ids` is None, so `n` (the number of images) must be given; got n=None.")
        n = check_int("n", n, low=1, high=MAX_IMAGES,
                      hint="Pass the number of images in the record to split.")
        codes = np.arange(n)
    else:
        try:
            ids = np.asarray(patient_ids)
        except (TypeError, ValueError):  # ragged nesting
            raise InvalidParameterError(
                f"`patient_ids` must be a 1-D array with one id per image; got "
                f"{patient_ids!r:.80}.") from None
        if ids.ndim != 1 or ids.shape[0] == 0:
            raise InvalidParameterError(
                f"`patient_ids` must be a non-empty 1-D array (one id per image); got shape "
                f"{ids.shape}.")
        if n is not None and check_int("n", n, low=1) != ids.shape[0]:
            raise InvalidParameterError(
                f"`n` must equal len(patient_ids) = {ids.shape[0]}; got {n}.")
        try:
            _, codes = np.unique(ids, return_inverse=True)
        except TypeError:  # ids of mixed kinds (numbers and texts) cannot be sorted
            raise InvalidParameterError(
                "`patient_ids` must be ids of one kind (all texts or all numbers); got "
                f"{sorted({type(i).__name__ for i in ids})}. Convert them with .astype(str).") from None
        n = ids.shape[0]
    if isinstance(fractions, (str, bytes)) or not isinstance(fractions, Iterable):
        raise InvalidParameterError(
            f"`fractions` must be a sequence of shares such as (0.5, 0.5); got {fractions!r:.60}.")
    fracs = [check_real(f"fractions[{i}]", f, low=0.0, high=1.0, low_inclusive=False)
             for i, f in enumerate(fractions)]
    if not fracs:
        raise InvalidParameterError("`fractions` must list at least one share; got an empty list.")
    if sum(fracs) > 1.0 + 1e-9:
        raise InvalidParameterError(
            f"`fractions` must sum to at most 1; got {list(fractions)} (sum {sum(fracs):.4g}).")

    n_pat = int(codes.max()) + 1
    counts = np.bincount(codes, minlength=n_pat)
    order = np.random.default_rng(np.random.SeedSequence([seed, 90210])).permutation(n_pat)
    # Each patient goes to the part containing the midpoint of its images on the cumulative axis:
    # parts then hit their targets to within half a patient.
    cum = np.cumsum(counts[order])
    mid = (cum - counts[order] / 2.0) / n
    bounds = np.cumsum(fracs)
    part_of_ordered = np.searchsorted(bounds, mid, side="right")
    part_of_patient = np.empty(n_pat, dtype=np.int64)
    part_of_patient[order] = part_of_ordered
    part_of_image = part_of_patient[codes]
    out = []
    for k in range(len(fracs)):
        idx = np.flatnonzero(part_of_image == k).astype(np.int64)
        if idx.size == 0:
            raise InvalidParameterError(
                f"`fractions` {list(fractions)}: part {k} would get no patient ({n_pat} patients, "
                f"{n} images). Use fewer or larger parts, or more data.")
        out.append(idx)
    return out


def split_by_patient(data: ChestXrayData, *, fractions: Sequence[float] = (0.5, 0.5),
                     seed: int = 0) -> list[ChestXrayData]:
    """:func:`patient_split` applied to a record: one :class:`ChestXrayData` per part.

    Uses ``data.patient_ids`` when present, otherwise one image = one patient.
    """
    if not isinstance(data, ChestXrayData):
        raise InvalidParameterError(
            f"`data` must be a ChestXrayData (from load_dataset or make_phantoms); got "
            f"{type(data).__name__}.")
    parts = patient_split(data.patient_ids, fractions=fractions, seed=seed, n=len(data))
    return [data.subset(idx) for idx in parts]
