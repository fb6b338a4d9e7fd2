"""Chest X-ray data: registry (pooch, md5), schema-checked loading, patient splits, phantoms.

Main entry points::

    from medpriv_widgets.data import load_dataset, make_phantoms, patient_split

    data = load_dataset(size=28, split="train")   # ChestXrayData, images (N, 1, 28, 28) in [0, 1]
    parts = patient_split(data.patient_ids, fractions=(0.5, 0.5), seed=0, n=len(data))

Where files are looked for, in order: an explicit ``path``; ``MEDPRIV_DATA_DIR`` (official file,
then development stand-ins); the download cache (:func:`medpriv_widgets.paths.download_dir`);
a download from Zenodo (unless ``MEDPRIV_OFFLINE``); synthetic phantoms with a
:class:`SyntheticDataWarning`.
"""

from .dataset import ChestXrayData
from .loader import SyntheticDataWarning, download, find_local, load_dataset, verify
from .npz import load_npz, read_split
from .phantoms import make_phantoms
from .registry import OFFICIAL, SIZES, SPLITS, STAND_INS, RegistryEntry, data_status, file_md5
from .splits import patient_split, split_by_patient


__all__ = [
    "ChestXrayData", "SyntheticDataWarning", "load_dataset", "load_npz", "read_split",
    "make_phantoms", "patient_split", "split_by_patient", "download", "find_local", "verify",
    "data_status", "OFFICIAL", "STAND_INS", "SIZES", "SPLITS", "RegistryEntry", "file_md5",
]
