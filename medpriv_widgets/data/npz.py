"""Schema-validated reading of MedMNIST-format ``.npz`` files.

A MedMNIST file holds, for each split ``s`` in {train, val, test}:

- ``s_images``: uint8, shape (N, H, W) with H == W (grey-scale);
- ``s_labels``: integer, shape (N, 1) or (N,), values in {0, 1} (0 = normal, 1 = pneumonia).

Any further key ``s_<name>`` whose first dimension is N is kept as per-image metadata
(``s_patient_ids`` becomes :attr:`ChestXrayData.patient_ids`). Files are opened with
``allow_pickle=False``: an array of Python objects is refused, never executed.
"""

from __future__ import annotations

import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from .._validate import check_choice
from ..errors import DataUnavailableError, InvalidParameterError, SchemaError
from ..paths import check_path
from .dataset import ChestXrayData
from .registry import SPLITS

_FIX = ("Use a MedMNIST-format file (keys '{split}_images' uint8 (N, H, W) and '{split}_labels' "
        "0/1 of length N), or run `medpriv data fetch` to get the official PneumoniaMNIST files.")


def _bad(path: Path, what: str) -> SchemaError:
    return SchemaError(f"{path} is not a usable MedMNIST file: {what}. {_FIX}")


def available_splits(path: str | os.PathLike) -> list[str]:
    """Splits whose ``{split}_images`` key is present in the file (no validation of contents)."""
    with _open(check_path("path", path, what="an .npz file")) as npz:
        return [s for s in SPLITS if f"{s}_images" in npz.files]


def _open(path: Path):
    try:
        present = path.is_file()
    except OSError as exc:  # e.g. a name longer than the file system allows
        raise DataUnavailableError(f"No usable file at {str(path)[:200]} ({exc.strerror}). Check "
                                   f"the path.") from None
    if not present:
        raise DataUnavailableError(
            f"No file at {path}. Check the path, or call load_dataset() without `path` to use the "
            "registry (MEDPRIV_DATA_DIR, the download cache, or `medpriv data fetch`).")
    try:
        npz = np.load(path, allow_pickle=False, mmap_mode=None)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error) as exc:
        raise _bad(path, f"numpy cannot open it as an .npz archive ({exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        # np.load reads a bare .npy array (e.g. one renamed to .npz) as an ndarray
        raise _bad(path, "it is a single array (.npy data), not an .npz archive of named arrays")
    return npz


#: Deflate cannot expand data more than ~1032-fold; a zip entry claiming more is lying.
_MAX_DEFLATE_RATIO = 1100


def _check_member(path: Path, npz, key: str) -> None:
    """Read the .npy header of ``key`` and check what it declares before anything is allocated:
    the array must fit in the bytes the archive holds for it (a header can declare terabytes)."""
    names = npz.zip.namelist()
    name = f"{key}.npy" if f"{key}.npy" in names else key
    info = npz.zip.getinfo(name)
    if info.compress_type == zipfile.ZIP_STORED:
        plausible = info.file_size == info.compress_size
    else:
        plausible = info.file_size <= info.compress_size * _MAX_DEFLATE_RATIO + 1024
    if not plausible:
        raise _bad(path, f"array {key!r} claims {info.file_size:,} bytes in "
                         f"{info.compress_size:,} stored bytes (a damaged or forged archive)")
    try:
        with npz.zip.open(name) as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            header = fh.tell()
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise _bad(path, f"array {key!r} is not a valid .npy array ({exc})") from None
    if dtype.hasobject:
        raise _bad(path, f"array {key!r} holds Python objects (pickled data), which are refused "
                         "for safety")
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size - header:
        raise _bad(path, f"array {key!r} declares shape {shape} ({declared:,} bytes) but the "
                         f"archive holds only {max(info.file_size - header, 0):,} bytes for it")


def read_split(path: str | os.PathLike, *, split: str = "train"
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, dict]:
    """Read and validate one split of a MedMNIST ``.npz``.

    Returns
    -------
    images : numpy.ndarray, uint8, (N, H, W)
    labels : numpy.ndarray, int64, (N,), values in {0, 1}
    patient_ids : numpy.ndarray of str, (N,), or None when the file has no ``{split}_patient_ids``
    metadata : dict of name -> numpy.ndarray of length N (other ``{split}_*`` keys)

    Raises
    ------
    InvalidParameterError
        ``split`` is not one of 'train', 'val', 'test'.
    DataUnavailableError
        The file does not exist.
    SchemaError
        The file is not a MedMNIST archive, misses the split's keys, or has wrong dtypes, shapes
        or label values; or it holds pickled Python objects.
    """
    check_choice("split", split, SPLITS)
    path = check_path("path", path, what="an .npz file")
    with _open(path) as npz:
        keys = list(npz.files)
        ik, lk = f"{split}_images", f"{split}_labels"
        if ik not in keys or lk not in keys:
            present = [s for s in SPLITS if f"{s}_images" in keys and f"{s}_labels" in keys]
            missing = [k for k in (ik, lk) if k not in keys]
            hint = (f"splits present: {', '.join(present)}" if present
                    else f"keys present: {', '.join(sorted(keys)) or 'none'}")
            raise _bad(path, f"key(s) {', '.join(repr(k) for k in missing)} missing for split "
                             f"{split!r} ({hint})")

        def get(key):
            _check_member(path, npz, key)
            try:
                return npz[key]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
                raise _bad(path, f"array {key!r} cannot be read ({exc})") from None

        images = get(ik)
        labels = get(lk)
        if images.dtype != np.uint8:
            raise _bad(path, f"{ik!r} has dtype {images.dtype}, expected uint8 grey levels 0-255")
        if images.ndim != 3:
            raise _bad(path, f"{ik!r} has shape {images.shape}, expected (N, H, W) grey-scale "
                             "images")
        n, h, w = images.shape
        if h != w:
            raise _bad(path, f"{ik!r} images are {h}x{w}, expected square images (H == W)")
        if n == 0:
            raise _bad(path, f"{ik!r} holds no images")
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise _bad(path, f"{lk!r} has shape {labels.shape}, expected (N, 1) or (N,) with one "
                             "0/1 label per image")
        if labels.shape[0] != n:
            raise _bad(path, f"{lk!r} has {labels.shape[0]} labels but {ik!r} has {n} images")
        if labels.dtype.kind not in "uib":
            raise _bad(path, f"{lk!r} has dtype {labels.dtype}, expected integer labels 0/1")
        bad = ~np.isin(labels, (0, 1))
        if bad.any():
            values = sorted({int(v) for v in np.unique(labels[bad])[:5]})
            raise _bad(path, f"{lk!r} contains label value(s) {values}; only 0 (normal) and "
                             "1 (pneumonia) are allowed")

        patient_ids = None
        metadata = {}
        prefix = f"{split}_"
        for key in keys:
            if not key.startswith(prefix) or key in (ik, lk):
                continue
            value = get(key)
            # Only per-image arrays are metadata; anything else (e.g. a class-name table) is not
            # tied to rows and would break ChestXrayData.subset.
            if value.ndim >= 1 and value.shape[0] == n:
                name = key[len(prefix):]
                if name == "patient_ids":
                    patient_ids = value.astype(str)
                else:
                    metadata[name] = value
    return images, labels.astype(np.int64), patient_ids, metadata


def to_record(images: np.ndarray, labels: np.ndarray, *, patient_ids, metadata: dict, split: str,
              source: str, official: bool, path: str | None, synthetic: bool = False
              ) -> ChestXrayData:
    """Wrap uint8 (N, H, W) images and 0/1 labels into a :class:`ChestXrayData` (float in [0, 1])."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 3:
        raise InvalidParameterError(
            f"`images` must be a uint8 array (N, H, W) of grey levels 0-255; got "
            f"{type(images).__name__} {getattr(images, 'dtype', '')} "
            f"{getattr(images, 'shape', '')}. Read files with read_split, which checks them.")
    labels = np.asarray(labels)
    if labels.shape != images.shape[:1] or labels.dtype.kind not in "uib" or \
            not np.isin(labels, (0, 1)).all():
        raise InvalidParameterError(f"`labels` must hold one 0/1 label per image ({images.shape[0]}); "
                                    f"got shape {labels.shape}, dtype {labels.dtype}.")
    x = torch.from_numpy(np.ascontiguousarray(images)).to(torch.float32).div_(255.0).unsqueeze(1)
    y = torch.from_numpy(np.asarray(labels, dtype=np.int64).copy())
    return ChestXrayData(images=x, labels=y, patient_ids=patient_ids, size=int(images.shape[-1]),
                         split=split, source=source, synthetic=synthetic, official=official,
                         path=path, metadata=metadata)


def load_npz(path: str | os.PathLike, *, split: str = "train", source: str | None = None,
             official: bool = False) -> ChestXrayData:
    """Load one split of any MedMNIST-format ``.npz`` by path, after checking its schema.

    Parameters
    ----------
    path : path-like
        The ``.npz`` file.
    split : {'train', 'val', 'test'}
    source : str, optional
        Caption text; defaults to the file name.
    official : bool
        Mark the record as the official release (the caller has verified the md5).

    Returns
    -------
    ChestXrayData
        images float32 (N, 1, H, W) in [0, 1]; labels int64 (N,); patient_ids when the file has
        ``{split}_patient_ids``; other per-image arrays in ``metadata``.
    """
    images, labels, pids, meta = read_split(path, split=split)
    return to_record(images, labels, patient_ids=pids, metadata=meta, split=split,
                     source=source or Path(path).name, official=official, path=str(path))
