"""Chest X-rays with patient IDs for re-identification: the pediatric set or the NIH sample.

- ``source="pediatric"``: every split of PneumoniaMNIST at the chosen size (official files get
  patient IDs from the table shipped with the package; the development stand-ins carry them);
  5,856 images of 4,097 children, 726 of whom have two or more. Without real data: synthetic
  phantoms (several images per phantom patient), and every caption says "synthetic".
- ``source="nih"``: ``nih_cxr14_sample_64.npz`` when it is in ``MEDPRIV_DATA_DIR`` (1,000 adult
  X-rays at 64 px, 264 patients, follow-ups over years; NIH Clinical Center).

Re-identification needs to know which images belong to one patient; a record without patient IDs
is refused with a sentence that says how to get them.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ... import paths
from ..._validate import check_choice, check_int
from ...data import ChestXrayData, load_dataset
from ...errors import DataError, DataUnavailableError

NIH_FILENAME = "nih_cxr14_sample_64.npz"
NIH_CREDIT = ("NIH ChestX-ray14 images courtesy of the NIH Clinical Center "
              "(https://nihcc.app.box.com/v/ChestXray-NIHCC); Wang X et al., IEEE CVPR 2017")
PEDIATRIC_CREDIT = "Chest X-rays: Kermany et al. 2018 (CC BY 4.0) via MedMNIST (Yang et al. 2023)"

HOW_TO_GET_IDS = (
    "Re-identification needs to know which X-rays belong to the same patient. The official "
    "PneumoniaMNIST files get patient IDs from the table shipped with medpriv "
    "(medpriv_widgets/data/pneumoniamnist_patients.csv; update medpriv if it is missing); a file "
    "of your own needs an array '{split}_patient_ids' with one ID per image.")


@dataclass(frozen=True)
class ReidData:
    """X-rays and who they belong to.

    Attributes
    ----------
    images : torch.Tensor, float32 (N, 1, S, S) in [0, 1]
    patient_ids : numpy.ndarray of str (N,)
    source : str
        'pediatric' or 'nih'.
    caption : str
        For figure titles; says "synthetic" for phantoms.
    credit : str
    synthetic : bool
    """

    images: torch.Tensor
    patient_ids: np.ndarray
    source: str
    caption: str
    credit: str
    synthetic: bool = False

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def n_patients(self) -> int:
        return int(np.unique(self.patient_ids).size)

    def fingerprint(self) -> str:
        """A short hash of the IDs and a sample of the pixels (part of the cache key)."""
        import hashlib

        h = hashlib.sha256()
        h.update("\n".join(self.patient_ids.tolist()).encode())
        step = max(1, len(self) // 64)
        h.update(self.images[::step].mul(255).round().to(torch.uint8).numpy().tobytes())
        h.update(str(tuple(self.images.shape)).encode())
        return h.hexdigest()[:16]


def from_records(*records: ChestXrayData, source: str = "pediatric") -> ReidData:
    """Concatenate records (e.g. the three splits) into :class:`ReidData`.

    Raises :class:`DataError` when a record has no patient IDs (with what to do).
    """
    if not records:
        raise DataError("No X-rays were given. Load them with medpriv_widgets.data.load_dataset().")
    for r in records:
        if r.patient_ids is None:
            raise DataError(f"{r.caption} ({r.split}) has no patient IDs. " + HOW_TO_GET_IDS)
    sizes = {r.size for r in records}
    if len(sizes) != 1:
        raise DataError(f"The records have different image sizes {sorted(sizes)}; load them at "
                        "one size.")
    # Splits of phantoms number patients apart; real pseudo-patient IDs are global.
    images = torch.cat([r.images for r in records])
    ids = np.concatenate([np.asarray(r.patient_ids).astype(str) for r in records])
    synthetic = any(r.synthetic for r in records)
    caption = records[0].caption.replace(f", {records[0].size} px", "")
    caption = f"{caption}, {records[0].size} px"
    return ReidData(images=images, patient_ids=ids, source=source, caption=caption,
                    credit=("synthetic phantoms, no patient" if synthetic else PEDIATRIC_CREDIT),
                    synthetic=synthetic)


def load_reid_data(*, source: str = "pediatric", size: int = 64, n_synthetic: int = 600,
                   seed: int = 0) -> ReidData:
    """X-rays with patient IDs for the re-identification lab.

    Parameters
    ----------
    source : {'pediatric', 'nih'}
    size : {28, 64, 128}
        Pixels (the NIH sample exists at 64 only).
    n_synthetic : int
        Phantoms per split when no real data is available (pediatric only).
    seed : int
        Seed of the phantoms.

    Raises
    ------
    DataUnavailableError
        ``source='nih'`` and the NIH sample is not in MEDPRIV_DATA_DIR.
    DataError
        The data have no patient IDs.
    """
    source = check_choice("source", source, ("pediatric", "nih"))
    size = check_choice("size", size, (28, 64, 128))
    n_synthetic = check_int("n_synthetic", n_synthetic, low=10, high=100_000)
    if source == "nih":
        if size != 64:
            raise DataUnavailableError(f"The NIH ChestX-ray14 sample exists at 64 px only; got "
                                       f"size={size}. Use size=64.")
        folder = paths.data_search_dir()
        path = None if folder is None else folder / NIH_FILENAME
        if path is None or not path.is_file():
            raise DataUnavailableError(
                f"The NIH ChestX-ray14 sample ({NIH_FILENAME}) is not in MEDPRIV_DATA_DIR, so "
                "only the pediatric set can be used. Use source='pediatric'.")
        with np.load(path, allow_pickle=False) as z:
            images = torch.from_numpy(z["images"]).to(torch.float32).div_(255.0).unsqueeze(1)
            ids = np.array([f"nih-{int(p)}" for p in z["patient_id"]])
        return ReidData(images=images, patient_ids=ids, source="nih",
                        caption="NIH ChestX-ray14 sample (adults), 64 px", credit=NIH_CREDIT)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parts = []
        for split in ("train", "val", "test"):
            try:
                parts.append(load_dataset(size=size, split=split, n_synthetic=n_synthetic,
                                          seed=seed, progress=False))
            except DataUnavailableError:
                continue
    synthetic = [p for p in parts if p.synthetic]
    if synthetic and len(synthetic) < len(parts):
        parts = [p for p in parts if not p.synthetic]   # e.g. the 128 px stand-in has no val
    del caught  # the lab says "synthetic" itself; no stderr block in the lesson
    return from_records(*parts, source="pediatric")


__all__ = ["HOW_TO_GET_IDS", "NIH_CREDIT", "PEDIATRIC_CREDIT", "ReidData", "from_records",
           "load_reid_data"]
