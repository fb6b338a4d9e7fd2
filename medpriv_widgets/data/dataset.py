"""The one record every loader returns: images, labels, optional patient IDs, and provenance."""

from __future__ import annotations

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
