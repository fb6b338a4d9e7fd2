"""The one record every loader returns: images, labels, optional patient IDs, and provenance."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class ChestXrayData:
    """A split of chest X-rays ready for torch.

    Attributes
    ----------
    images : torch.Tensor
        float32, shape (N, 1, H, W), values in [0, 1].
    labels : torch.Tensor
        int64, shape (N,); 0 = normal, 1 = pneumonia.
    patient_ids : numpy.ndarray of str, shape (N,), or None
        Patient (or pseudo-patient) identifier per image when the source provides one.
    size : int
        H = W in pixels (28, 64 or 128 for the registry files; any size for phantoms).
    split : str
        'train', 'val' or 'test'.
    source : str
        Plain-language name of where the pixels came from, for figure captions.
    synthetic : bool
        True for procedural phantoms: every figure made from them must say "synthetic".
    official : bool
        True when the file's checksum equals the official MedMNIST release.
    path : str or None
        File the data was read from (None for phantoms).
    metadata : dict
        Any further per-image arrays found in the file (e.g. 'subtypes'), each of length N.
    """

    images: torch.Tensor
    labels: torch.Tensor
    patient_ids: np.ndarray | None
    size: int
    split: str
    source: str
    synthetic: bool = False
    official: bool = False
    path: str | None = None
    metadata: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def caption(self) -> str:
        """Text for figure titles, e.g. 'PneumoniaMNIST 28 px (official)' or '... (synthetic)'."""
        return f"{self.source}, {self.size} px" + (" — SYNTHETIC phantoms" if self.synthetic else "")

    @functools.cached_property
    def fingerprint(self) -> str:
        """sha256 (16 hex digits) of the pixels, labels and patient IDs, computed once per record:
        what a cache key says about the data, so synthetic and real, or two subsets, never
        share a cached result."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.images.numpy()).tobytes())
        h.update(np.ascontiguousarray(self.labels.numpy()).tobytes())
        if self.patient_ids is not None:
            h.update("\x00".join(map(str, self.patient_ids)).encode())
        return h.hexdigest()[:16]

    def official_mask(self) -> np.ndarray:
        """Bool array (N,): True where this position holds the official MedMNIST radiograph.

        All True for an official file (its checksum matched). The development stand-ins
        (``kermany_cxr_64`` / ``_128_subset``) carry a per-image ``linked`` flag: True where the
        position holds the same radiograph as the official release. 74 of the 624 test
        positions hold substitutes instead (the official images have no counterpart in the
        available source release), cropped with an estimated crop, so their framing differs;
        metrics on the stand-in's test split are therefore also reported on the official
        positions alone. All False for synthetic phantoms and for unofficial files without the
        flag.
        """
        n = len(self)
        if self.official:
            return np.ones(n, dtype=bool)
        linked = self.metadata.get("linked")
        if self.synthetic or linked is None:
            return np.zeros(n, dtype=bool)
        return np.asarray(linked, dtype=bool).copy()

    def subset(self, index) -> "ChestXrayData":
        """A new record with only the rows in ``index`` (array of ints or bool mask)."""
        idx = torch.as_tensor(np.asarray(index))
        if idx.dtype == torch.bool:
            idx = idx.nonzero().flatten()
        np_idx = idx.numpy()
        return ChestXrayData(
            images=self.images[idx], labels=self.labels[idx],
            patient_ids=None if self.patient_ids is None else self.patient_ids[np_idx],
            size=self.size, split=self.split, source=self.source, synthetic=self.synthetic,
            official=self.official, path=self.path,
            metadata={k: np.asarray(v)[np_idx] for k, v in self.metadata.items()})
