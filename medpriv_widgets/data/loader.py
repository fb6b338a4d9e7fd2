"""Find, verify, download and load the chest X-ray data; fall back to phantoms when offline.

Resolution order of :func:`load_dataset` (first hit wins):

1. ``path=`` given: that file, schema-validated (``official`` only when its md5 is the official one).
2. ``MEDPRIV_DATA_DIR``: the official file for the size, then the development stand-in
   (``kermany_cxr_64.npz`` / ``kermany_cxr_128_subset.npz``, when it has the split); md5-verified.
3. The download cache (:func:`medpriv_widgets.paths.download_dir`), md5-verified.
4. A pooch download from Zenodo (or ``MEDPRIV_DATA_URL``), unless ``MEDPRIV_OFFLINE`` is set.
5. Synthetic phantoms, announced with a :class:`SyntheticDataWarning` (``allow_synthetic=True``).

Official records get pseudo-patient IDs from the table shipped with the package
(:mod:`.patients`, labels cross-checked), so every size of the official release carries the same
ID for the same radiograph. When the development table ``kermany_cxr_index.csv`` is in
``MEDPRIV_DATA_DIR`` it is used instead (md5-verified; a damaged one gives a warning and no IDs,
never a silent substitute). A file whose labels match neither gets ``patient_ids`` None.

A file whose md5 does not match is never used: :class:`ChecksumError` is raised, naming the file,
expected and actual md5, and what to do.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .. import config, paths
from .._validate import check_choice, check_int
from ..errors import ChecksumError, DataUnavailableError
from .dataset import ChestXrayData
from .npz import load_npz
from .patients import TABLE_NAME, shipped_patient_ids
from .phantoms import make_phantoms
from .registry import (OFFICIAL, PATIENT_INDEX, SIZES, SPLITS, STAND_INS, RegistryEntry,
                       entry_for_md5, file_md5, url_for)

#: Seconds to wait for the server to answer (connect, between bytes). Short, so that a machine
#: without network falls back to phantoms quickly instead of hanging in a workshop.
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0

#: Default number of phantom images per split when ``n_synthetic`` is not given.
DEFAULT_N_SYNTHETIC = {"train": 1000, "val": 200, "test": 400}
# Synthetic patient numbers per split do not overlap (so no phantom patient is in two splits).
_ID_START = {"train": 1, "val": 300_001, "test": 600_001}


class SyntheticDataWarning(UserWarning):
    """Real data was unavailable, so synthetic phantoms are used instead."""


def _fetch_hint(size: int) -> str:
    return (f"Run `medpriv data fetch --size {size}` while online (files go to "
            f"{paths.download_dir()}), or set MEDPRIV_DATA_DIR to a folder that holds "
            f"{OFFICIAL[size].filename}.")


def verify(path: str | os.PathLike, entry: RegistryEntry, *, place: str) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has ``entry``'s md5."""
    actual = file_md5(path)
    if actual == entry.md5:
        return
    if place == "MEDPRIV_DATA_DIR":
        todo = ("The file was not used and not deleted (that folder is treated as read-only). "
                "Replace it with an intact copy, or remove it / unset MEDPRIV_DATA_DIR to use the "
                "download cache.")
    else:
        todo = (f"The file was not used. Delete it and run `medpriv data fetch --size "
                f"{entry.size}` to download it again.")
    raise ChecksumError(
        f"{path} ({place}) has md5 {actual}, but {entry.filename} must have md5 {entry.md5}: it "
        f"is corrupt, truncated or a different file. {todo}")


def _downloader(progress: bool):
    import pooch

    return pooch.HTTPDownloader(progressbar=bool(progress),
                                timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))


def download(size: int, *, progress: bool = True, base_url: str | None = None) -> Path:
    """Download the official PneumoniaMNIST file for ``size`` into the download cache.

    The file is streamed to a temporary name in the cache folder and moved into place only when
    its md5 matches (pooch), so a failed or corrupt download leaves nothing behind. An intact
    file already in the cache is not downloaded again.

    Parameters
    ----------
    size : {28, 64, 128}
    progress : bool
        Show a tqdm progress bar (bytes).
    base_url : str, optional
        Server folder holding the files; default ``MEDPRIV_DATA_URL`` or Zenodo.

    Returns
    -------
    pathlib.Path of the verified file.

    Raises
    ------
    ChecksumError
        The server sent bytes with another md5 (nothing is kept).
    DataUnavailableError
        ``MEDPRIV_OFFLINE`` is set, or the server cannot be reached / answers with an error.
    """
    import pooch
    import requests

    size = check_choice("size", size, SIZES)
    entry = OFFICIAL[size]
    if config.offline():
        raise DataUnavailableError(
            f"Cannot download {entry.filename}: MEDPRIV_OFFLINE is set. Unset it (and check the "
            f"network), or set MEDPRIV_DATA_DIR to a folder that holds {entry.filename}.")
    url = url_for(entry, base=base_url)
    folder = paths.download_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataUnavailableError(
            f"Cannot create the download folder {folder} ({exc}). Set MEDPRIV_DOWNLOAD_DIR to a "
            "writable folder.") from exc
    try:
        got = pooch.retrieve(url, known_hash=f"md5:{entry.md5}", fname=entry.filename,
                             path=folder, downloader=_downloader(progress))
    except ValueError as exc:
        # pooch raises ValueError for a hash mismatch after deleting its temporary file.
        if "hash" not in str(exc).lower():
            raise
        raise ChecksumError(
            f"The download of {entry.filename} from {url} has the wrong md5 (expected "
            f"{entry.md5}; pooch: {exc}). Nothing was kept in {folder}. Try again later, or "
            "download the file by hand from Zenodo (doi:10.5281/zenodo.10519652) into "
            "MEDPRIV_DATA_DIR.") from exc
    except (requests.exceptions.RequestException, OSError) as exc:
        raise DataUnavailableError(
            f"Could not download {entry.filename} from {url}: {type(exc).__name__}: {exc}. "
            f"Check the network and run `medpriv data fetch --size {size}` again, or set "
            f"MEDPRIV_DATA_DIR to a folder that holds {entry.filename}.") from exc
    return Path(got)


def find_local(size: int, split: str) -> tuple[Path, RegistryEntry, str] | None:
    """The first verified local file for ``size`` that has ``split``: (path, entry, place).

    Order: official in MEDPRIV_DATA_DIR, stand-in in MEDPRIV_DATA_DIR, official in the download
    cache. Raises :class:`ChecksumError` for a present file with the wrong md5.
    """
    size = check_choice("size", size, SIZES)
    split = check_choice("split", split, SPLITS)
    search = paths.data_search_dir()
    candidates = []
    if search is not None:
        candidates.append((search / OFFICIAL[size].filename, OFFICIAL[size], "MEDPRIV_DATA_DIR"))
        if size in STAND_INS:
            candidates.append((search / STAND_INS[size].filename, STAND_INS[size],
                               "MEDPRIV_DATA_DIR"))
    candidates.append((paths.download_dir() / OFFICIAL[size].filename, OFFICIAL[size],
                       "download cache"))
    for path, entry, place in candidates:
        if not path.is_file():
            continue
        verify(path, entry, place=place)
        if split in entry.splits:
            return path, entry, place
    return None


def _index_patient_ids(split: str, labels) -> tuple | None:
    """Pseudo-patient IDs for an official split: ``kermany_cxr_index.csv`` in MEDPRIV_DATA_DIR
    when it is there, else the table shipped with the package.

    Returns (ids, linked, source name) or None when no table fits. Positions whose official image has no
    known source (74 test images) get a unique ``unlinked-<split>-<index>`` ID. A table with the
    wrong md5, or whose labels disagree with the file, is not used (with a warning).
    """
    import csv

    search = paths.data_search_dir()
    if search is None or not (search / PATIENT_INDEX.filename).is_file():
        found = shipped_patient_ids(split, labels)
        return None if found is None else (*found, TABLE_NAME)
    path = search / PATIENT_INDEX.filename
    try:
        verify(path, PATIENT_INDEX, place="MEDPRIV_DATA_DIR")
    except ChecksumError as exc:
        warnings.warn(f"Patient IDs not attached: {exc}", UserWarning, stacklevel=3)
        return None
    n = len(labels)
    ids = np.array([f"unlinked-{split}-{i:04d}" for i in range(n)], dtype=object)
    linked = np.zeros(n, dtype=bool)
    idx_labels = np.full(n, -1, dtype=np.int64)
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["medmnist_split"] != split:
                continue
            i = int(row["medmnist_index"])
            if i >= n:
                return None
            idx_labels[i] = int(row["label"])
            if row["linked_to_official"] == "1":
                ids[i] = row["patient_id"]
                linked[i] = True
    if not np.array_equal(idx_labels, np.asarray(labels)):
        warnings.warn(f"Patient IDs not attached: {path} does not match this file's {split!r} "
                      "labels (different order or size).", UserWarning, stacklevel=3)
        return None
    return ids.astype(str), linked, PATIENT_INDEX.filename


def _with_index_ids(data: ChestXrayData) -> ChestXrayData:
    """Attach pseudo-patient IDs to an official record when the index table is available."""
    import dataclasses

    if not data.official or data.patient_ids is not None:
        return data
    found = _index_patient_ids(data.split, data.labels.numpy())
    if found is None:
        return data
    ids, linked, source = found
    meta = dict(data.metadata, linked=linked, patient_id_source=np.full(len(ids), source))
    return dataclasses.replace(data, patient_ids=ids, metadata=meta)


def load_dataset(*, size: int = 28, split: str = "train", path: str | os.PathLike | None = None,
                 allow_synthetic: bool = True, n_synthetic: int | None = None, seed: int = 0,
                 progress: bool = True) -> ChestXrayData:
    """Load chest X-rays as float tensors; see the module docstring for where they come from.

    Parameters
    ----------
    size : {28, 64, 128}
        Image side in pixels. Ignored when ``path`` is given (the file decides).
    split : {'train', 'val', 'test'}
        The 128 px stand-in has no 'val'; the official 128 px file has.
    path : path-like, optional
        An explicit MedMNIST-format ``.npz`` to load (schema-validated).
    allow_synthetic : bool
        When no real file is available: True gives phantoms with a :class:`SyntheticDataWarning`;
        False raises :class:`DataUnavailableError`.
    n_synthetic : int, optional
        Number of phantom images (default: train 1000, val 200, test 400).
    seed : int
        Seed of the phantoms (real data is not shuffled).
    progress : bool
        Progress bar while downloading.

    Returns
    -------
    ChestXrayData
        images float32 (N, 1, H, W) in [0, 1], labels int64 (N,), patient_ids when known.

    Raises
    ------
    InvalidParameterError
        Unknown size or split (the message lists the allowed values).
    ChecksumError
        A file with the registry's name has the wrong md5 (it is never used).
    SchemaError
        The file's arrays do not have the MedMNIST layout.
    DataUnavailableError
        Nothing local, no download possible, and ``allow_synthetic=False``.
    """
    split = check_choice("split", split, SPLITS)
    seed = check_int("seed", seed, low=0)
    if n_synthetic is not None:
        n_synthetic = check_int("n_synthetic", n_synthetic, low=1, high=200_000)
    if path is not None:
        path = paths.check_path("path", path, what="a MedMNIST .npz file")
        try:
            present = path.is_file()
        except OSError as exc:  # e.g. a name longer than the file system allows
            raise DataUnavailableError(f"No usable file at {str(path)[:200]} ({exc.strerror}). "
                                       f"Check the path.") from None
        md5 = file_md5(path) if present else None
        entry = entry_for_md5(md5) if md5 else None
        return _with_index_ids(load_npz(path, split=split,
                                        source=entry.source if entry else None,
                                        official=bool(entry and entry.official)))
    size = check_choice("size", size, SIZES)

    found = find_local(size, split)
    if found is not None:
        fpath, entry, _ = found
        return _with_index_ids(load_npz(fpath, split=split, source=entry.source,
                                        official=entry.official))

    if config.offline():
        reason = "MEDPRIV_OFFLINE is set and no verified local file was found"
        search = paths.data_search_dir()
        stand_in = STAND_INS.get(size)
        if (stand_in is not None and split not in stand_in.splits and search is not None
                and (search / stand_in.filename).is_file()):
            reason += (f" ({stand_in.filename} has no {split!r} split, only "
                       f"{', '.join(stand_in.splits)})")
    else:
        try:
            fpath = download(size, progress=progress)
            return _with_index_ids(load_npz(fpath, split=split, source=OFFICIAL[size].source,
                                            official=True))
        except DataUnavailableError as exc:
            cause = exc.__cause__
            reason = (f"downloading {OFFICIAL[size].filename} failed ({type(cause).__name__})"
                      if cause is not None else str(exc).rstrip("."))
    if not allow_synthetic:
        raise DataUnavailableError(
            f"No chest X-ray file for size {size} px, split {split!r}: {reason}. "
            + _fetch_hint(size))
    n = n_synthetic or DEFAULT_N_SYNTHETIC[split]
    warnings.warn(
        f"Using SYNTHETIC chest X-ray phantoms ({n} images, {size} px, split {split!r}) because "
        f"no real data is available: {reason}. {_fetch_hint(size)}",
        SyntheticDataWarning, stacklevel=2)
    return make_phantoms(n=n, size=size, seed=seed, split=split, id_start=_ID_START[split])
