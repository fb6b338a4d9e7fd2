"""Hospitals: a seeded, patient-disjoint and deliberately non-IID split of the chest X-rays.

Real federations are uneven: a university hospital sees many children, mostly referred with
pneumonia; a rural clinic sees few, mostly healthy. :func:`make_hospitals` cuts a training pool
into sites of different sizes and pneumonia rates. Every patient's images go to one site only
(:func:`medpriv_widgets.data.patient_split` on each patient group), so no child is in two
hospitals.

How: each patient is put in the group of the label most of their images carry (normal or
pneumonia). Site k should hold T·s_k images with a share r_k of pneumonia (s: relative size,
r: pneumonia rate), so it takes a share T·s_k·(1 − r_k)/N₀ of the normal patients' images and
T·s_k·r_k/N₁ of the pneumonia patients' images; T is the largest total the pool allows (or
``n_images``). Patients with images of both labels keep them together, so the rates reached
differ a little from the targets; :class:`Hospital` reports the rates reached.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._validate import check_int, check_real
from ..data import ChestXrayData, patient_split
from ..errors import DataError, InvalidParameterError

#: Fewest and most sites a federation may have.
MIN_SITES, MAX_SITES = 2, 6


@dataclass(frozen=True)
class SiteSpec:
    """What a hospital should look like: ``name``, relative size ``share`` (> 0) and the share of
    its X-rays that show pneumonia, ``pneumonia_rate`` in (0, 1)."""

    name: str
    share: float
    pneumonia_rate: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidParameterError(f"A site's `name` must be a non-empty string; got {self.name!r}.")
        object.__setattr__(self, "share", check_real(
            "share", self.share, low=0.0, low_inclusive=False,
            hint=f"Site {self.name!r} needs a positive relative size; a site with no images "
                 f"cannot take part: leave it out instead."))
        object.__setattr__(self, "pneumonia_rate", check_real(
            "pneumonia_rate", self.pneumonia_rate, low=0.0, high=1.0, low_inclusive=False,
            high_inclusive=False, hint=f"Site {self.name!r} needs both normal and pneumonia X-rays."))


#: Six hospitals of the lessons, largest first; a federation of n sites takes the first n.
DEFAULT_SITES = (
    SiteSpec("University hospital", 0.34, 0.85),
    SiteSpec("Children's hospital", 0.24, 0.70),
    SiteSpec("District hospital", 0.18, 0.50),
    SiteSpec("Rural clinic", 0.10, 0.30),
    SiteSpec("Private clinic", 0.08, 0.60),
    SiteSpec("Mission hospital", 0.06, 0.80),
)


def default_sites(n_sites: int = 4) -> tuple[SiteSpec, ...]:
    """The first ``n_sites`` of :data:`DEFAULT_SITES` (2 to 6)."""
    n_sites = check_int("n_sites", n_sites, low=MIN_SITES, high=MAX_SITES,
                        hint="A federation needs at least two hospitals (one is just local "
                             "training); the lessons offer up to six.")
    return DEFAULT_SITES[:n_sites]


def check_sites(sites) -> tuple[SiteSpec, ...]:
    """A tuple of 2 to 6 :class:`SiteSpec` with different names (else InvalidParameterError)."""
    try:
        sites = tuple(sites)
    except TypeError:
        raise InvalidParameterError(f"`sites` must be a sequence of SiteSpec; got {sites!r}.") from None
    if not MIN_SITES <= len(sites) <= MAX_SITES:
        raise InvalidParameterError(
            f"`sites` must list {MIN_SITES} to {MAX_SITES} hospitals; got {len(sites)}. With "
            f"fewer than two there is nothing to federate: train locally instead (lesson 03).")
    for s in sites:
        if not isinstance(s, SiteSpec):
            raise InvalidParameterError(f"`sites` must hold SiteSpec objects; got {type(s).__name__}.")
    names = [s.name for s in sites]
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"Every site needs its own name; got {names}.")
    return sites


@dataclass(frozen=True)
class Hospital:
    """One site: its name and the X-rays that stay in it (a :class:`ChestXrayData`)."""

    name: str
    data: ChestXrayData

    def __post_init__(self) -> None:
        if not isinstance(self.data, ChestXrayData):
            raise InvalidParameterError(
                f"Hospital {self.name!r}: `data` must be a ChestXrayData; got {type(self.data).__name__}.")
        if len(self.data) == 0:
            raise DataError(f"Hospital {self.name!r} holds no images, so it cannot train or be "
                            f"counted in an average. Leave it out of the federation, or give it data.")

    @property
    def n_images(self) -> int:
        return len(self.data)

    @property
    def n_patients(self) -> int:
        ids = self.data.patient_ids
        return self.n_images if ids is None else len(np.unique(ids))

    @property
    def pneumonia_rate(self) -> float:
        """Share of this site's X-rays that show pneumonia (label 1)."""
        return float(self.data.labels.float().mean())


def _patient_groups(data: ChestXrayData) -> tuple[np.ndarray, np.ndarray]:
    """(image indices of mostly-normal patients, of mostly-pneumonia patients)."""
    labels = data.labels.numpy()
    ids = data.patient_ids if data.patient_ids is not None else np.arange(len(data)).astype(str)
    _, codes = np.unique(ids, return_inverse=True)
    pos = np.bincount(codes, weights=labels)
    cnt = np.bincount(codes)
    sick_patient = pos * 2 > cnt  # ties go to 'normal'
    sick_image = sick_patient[codes]
    return np.flatnonzero(~sick_image), np.flatnonzero(sick_image)


def make_hospitals(pool: ChestXrayData, *, sites: Sequence[SiteSpec] | None = None,
                   n_images: int | None = None, seed: int = 0) -> tuple[Hospital, ...]:
    """Cut ``pool`` into hospitals by patient, with the sizes and pneumonia rates of ``sites``.

    Parameters
    ----------
    pool : ChestXrayData
        The training X-rays to distribute (patient IDs are used when present).
    sites : sequence of SiteSpec
        2 to 6 sites (default :func:`default_sites` (4)).
    n_images : int, optional
        Images over all sites together; default: as many as the pool allows for these rates.
    seed : int
        Same seed, same split.

    Returns
    -------
    tuple of Hospital, in the order of ``sites``; pairwise patient-disjoint.
    """
    if not isinstance(pool, ChestXrayData):
        raise InvalidParameterError(f"`pool` must be a ChestXrayData; got {type(pool).__name__}.")
    sites = check_sites(default_sites(4) if sites is None else sites)
    seed = check_int("seed", seed, low=0)
    if n_images is not None:
        n_images = check_int("n_images", n_images, low=len(sites) * 4,
                             hint="Each hospital needs a few images of each kind.")
    normal, sick = _patient_groups(pool)
    if len(normal) == 0 or len(sick) == 0:
        raise DataError("The pool needs both normal and pneumonia X-rays to build hospitals with "
                        f"different pneumonia rates; it holds {len(normal)} normal and "
                        f"{len(sick)} pneumonia images.")
    share = np.array([s.share for s in sites])
    share = share / share.sum()
    rate = np.array([s.pneumonia_rate for s in sites])
    want_normal, want_sick = share * (1 - rate), share * rate
    total = min(len(normal) / want_normal.sum(), len(sick) / want_sick.sum())
    if n_images is not None:
        if n_images > total + 1e-9:
            raise InvalidParameterError(
                f"`n_images` = {n_images} is more than this pool can give these sites ({int(total)} "
                f"images at the chosen pneumonia rates); ask for fewer or use more data.")
        total = float(n_images)
    parts = []
    for group, want, name in ((normal, want_normal, "normal"), (sick, want_sick, "pneumonia")):
        fractions = np.minimum(total * want / len(group), 1.0)
        ids = None if pool.patient_ids is None else pool.patient_ids[group]
        # each group is cut with its own seed stream, so sizes and rates can be set apart
        try:
            cut = patient_split(ids, n=len(group), seed=seed * 2 + (name == "pneumonia"),
                                fractions=[float(f) for f in fractions])
        except InvalidParameterError:
            raise DataError(
                f"Some hospital would get no {name} X-rays from {len(group)} {name} images; "
                f"use fewer hospitals, larger sites or more data.") from None
        parts.append([group[c] for c in cut])
    return tuple(Hospital(spec.name, pool.subset(np.sort(np.concatenate([a, b]))))
                 for spec, a, b in zip(sites, *parts))


def union(hospitals: Sequence[Hospital]) -> ChestXrayData:
    """All sites' X-rays as one record (what centralised training would pool)."""
    import dataclasses

    import torch

    try:
        hospitals = list(hospitals)
    except TypeError:
        raise InvalidParameterError(f"`hospitals` must be a sequence of Hospital (from "
                                    f"make_hospitals); got {type(hospitals).__name__}.") from None
    if not hospitals or not all(isinstance(h, Hospital) for h in hospitals):
        raise InvalidParameterError(
            "`hospitals` must hold at least one Hospital (from make_hospitals); got "
            f"{[type(h).__name__ for h in hospitals][:6]}. Pass the sites to pool.")
    records = [h.data for h in hospitals]
    shapes = {tuple(r.images.shape[1:]) for r in records}
    if len(shapes) > 1:
        raise InvalidParameterError(
            f"`hospitals` must all hold X-rays of one shape to be pooled; got {sorted(shapes)}. "
            f"Build every site from the same pool (one image size).")
    ids = (None if any(r.patient_ids is None for r in records)
           else np.concatenate([r.patient_ids for r in records]))
    return dataclasses.replace(records[0], images=torch.cat([r.images for r in records]),
                               labels=torch.cat([r.labels for r in records]), patient_ids=ids,
                               metadata={})


__all__ = ["DEFAULT_SITES", "Hospital", "MAX_SITES", "MIN_SITES", "SiteSpec", "check_sites",
           "default_sites", "make_hospitals", "union"]
