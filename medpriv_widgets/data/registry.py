"""Registry of the chest X-ray files this package knows, with their md5 checksums.

Two kinds of entry:

- **official**: MedMNIST PneumoniaMNIST at 28, 64 and 128 px, from Zenodo record 10519652
  (doi:10.5281/zenodo.10519652). Searched in ``MEDPRIV_DATA_DIR``, then in the download cache,
  and downloaded with pooch when missing.
- **development stand-ins**: 64 and 128 px files derived from the same Kermany radiographs by the
  project (``kermany_cxr_64.npz``, ``kermany_cxr_128_subset.npz``). They are *not* official, never
  downloaded, and searched only in ``MEDPRIV_DATA_DIR``.

Every file is identified by its md5; a file whose md5 differs is never used.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..errors import DataUnavailableError

#: Base URL of the official files (Zenodo, MedMNIST+ v3). Override with ``MEDPRIV_DATA_URL`` (for a
#: local mirror, or a test server on 127.0.0.1): files are then fetched from ``<base>/<filename>``.
ZENODO_BASE_URL = "https://zenodo.org/records/10519652/files"

SIZES = (28, 64, 128)
SPLITS = ("train", "val", "test")

OFFICIAL_KIND = "official"
STAND_IN_KIND = "development stand-in, not official"


@dataclass(frozen=True)
class RegistryEntry:
    """One known file.

    Attributes
    ----------
    name : str
        Short name used in ``medpriv data status`` (e.g. ``pneumoniamnist_28``).
    filename : str
        File name on disk (and on the server for official files).
    size : int
        Image side in pixels.
    md5 : str
        Expected md5 (hex) of the whole file.
    official : bool
        True for the MedMNIST release; False for development stand-ins.
    splits : tuple of str
        Splits present in the file.
    source : str
        Plain-language description used in figure captions.
    nbytes : int or None
        Expected size in bytes when known (for progress messages only; the md5 decides).
    """

    name: str
    filename: str
    size: int
    md5: str
    official: bool
    splits: tuple
    source: str
    nbytes: int | None = None

    @property
    def kind(self) -> str:
        return OFFICIAL_KIND if self.official else STAND_IN_KIND

    @property
    def downloadable(self) -> bool:
        return self.official


OFFICIAL = {
    28: RegistryEntry("pneumoniamnist_28", "pneumoniamnist.npz", 28,
                      "28209eda62fecd6e6a2d98b1501bb15f", True, SPLITS,
                      "PneumoniaMNIST (official MedMNIST)", 4_170_669),
    64: RegistryEntry("pneumoniamnist_64", "pneumoniamnist_64.npz", 64,
                      "8f4eceb4ccffa70c672198ea285246c6", True, SPLITS,
                      "PneumoniaMNIST (official MedMNIST)", 20_606_998),
    128: RegistryEntry("pneumoniamnist_128", "pneumoniamnist_128.npz", 128,
                       "05b46931834c231683c68f40c47b2971", True, SPLITS,
                       "PneumoniaMNIST (official MedMNIST)", 75_506_212),
}

STAND_INS = {
    64: RegistryEntry("kermany_cxr_64", "kermany_cxr_64.npz", 64,
                      "ff5f06aa57d60bac2ad46bd7f542f0e2", False, SPLITS,
                      "Kermany chest X-rays (development stand-in, not official)", 21_112_190),
    128: RegistryEntry("kermany_cxr_128_subset", "kermany_cxr_128_subset.npz", 128,
                       "f72ee6225ad8d1090877516fb5076d89", False, ("train", "test"),
                       "Kermany chest X-rays, subset (development stand-in, not official)",
                       21_054_582),
}


#: Per-image table linking the official positions to pseudo-patient IDs (development file, searched
#: only in MEDPRIV_DATA_DIR). When present and intact, official files get ``patient_ids`` from it.
PATIENT_INDEX = RegistryEntry("kermany_cxr_index", "kermany_cxr_index.csv", 0,
                              "00eb0bb691dedad8d8747bd1367b5c43", False, SPLITS,
                              "Kermany pseudo-patient index (development file, not official)",
                              540_057)


def all_entries() -> list[RegistryEntry]:
    """Every known file: official ones by size, then the stand-ins."""
    return [OFFICIAL[s] for s in SIZES] + [STAND_INS[s] for s in sorted(STAND_INS)]


def entry_for_md5(md5: str) -> RegistryEntry | None:
    """The registry entry whose checksum equals ``md5``, or None."""
    for entry in all_entries():
        if entry.md5 == md5:
            return entry
    return None


def base_url() -> str:
    """Where official files are downloaded from (``MEDPRIV_DATA_URL`` or Zenodo)."""
    return os.environ.get("MEDPRIV_DATA_URL", "").strip().rstrip("/") or ZENODO_BASE_URL


def url_for(entry: RegistryEntry, *, base: str | None = None) -> str:
    """Download URL of an official file; ``base`` overrides :func:`base_url`."""
    root = (base or base_url()).rstrip("/")
    url = f"{root}/{entry.filename}"
    # Zenodo serves the file itself only with ?download=1 (otherwise an HTML preview page).
    return url + "?download=1" if "zenodo.org" in root else url


_MD5_CACHE: dict[tuple, str] = {}


def file_md5(path: str | os.PathLike) -> str:
    """md5 (hex) of a file, read in 1 MiB chunks.

    Remembered per (path, inode, size, modification time) within this process so that repeated
    loads do not re-read large files. Like git's "racy" rule, a file modified in the last few
    seconds is always re-hashed: a same-size rewrite within one clock tick keeps its mtime.
    """
    p = paths.check_path("path", path, what="a file")
    try:
        if not p.is_file():
            raise DataUnavailableError(
                f"`path` must be an existing file to checksum; {str(p)[:200]} is "
                f"{'a folder' if p.is_dir() else 'not there'}. Check the path.")
        st = p.stat()
        key = (str(p.resolve()), st.st_ino, st.st_size, st.st_mtime_ns)
        cached = _MD5_CACHE.get(key)
        if cached is not None and time.time() - st.st_mtime > 3.0:
            return cached
        h = hashlib.md5()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:  # unreadable, or a name longer than the file system allows
        raise DataUnavailableError(
            f"Cannot read {str(p)[:200]} to checksum it ({exc.strerror or exc}). Check the path "
            f"and its permissions.") from None
    digest = h.hexdigest()
    _MD5_CACHE[key] = digest
    return digest


@dataclass(frozen=True)
class Location:
    """A place a registry file was looked for (one row of ``medpriv data status``)."""

    entry: RegistryEntry
    place: str          # 'MEDPRIV_DATA_DIR' or 'download cache'
    path: Path


def candidate_locations(entry: RegistryEntry) -> list[Location]:
    """Where ``entry`` may live, in search order (only existing directories' paths)."""
    out = []
    search = paths.data_search_dir()
    if search is not None:
        out.append(Location(entry, "MEDPRIV_DATA_DIR", search / entry.filename))
    if entry.official:
        out.append(Location(entry, "download cache", paths.download_dir() / entry.filename))
    return out


def data_status() -> list[dict]:
    """One row per known file and place it was found (or one row with ``path=None`` if nowhere).

    Each row: ``name``, ``filename``, ``size``, ``official`` (bool), ``kind`` ('official' or
    'development stand-in, not official'), ``place`` ('MEDPRIV_DATA_DIR', 'download cache' or
    None), ``path`` (str or None), ``verified`` (True: md5 matches; False: present but md5
    differs, the file will not be used; None: missing), ``md5`` (actual, or None),
    ``expected_md5``, ``bytes`` (actual size, or None), ``splits``, and ``selected`` (True for the
    file :func:`load_dataset` would read for that size and split 'train').
    """
    rows = []
    for entry in all_entries():
        found = False
        for loc in candidate_locations(entry):
            if not loc.path.is_file():
                continue
            found = True
            md5 = file_md5(loc.path)
            rows.append({"name": entry.name, "filename": entry.filename, "size": entry.size,
                         "official": entry.official, "kind": entry.kind, "place": loc.place,
                         "path": str(loc.path), "verified": md5 == entry.md5, "md5": md5,
                         "expected_md5": entry.md5, "bytes": loc.path.stat().st_size,
                         "splits": list(entry.splits), "selected": False})
        if not found:
            rows.append({"name": entry.name, "filename": entry.filename, "size": entry.size,
                         "official": entry.official, "kind": entry.kind, "place": None,
                         "path": None, "verified": None, "md5": None, "expected_md5": entry.md5,
                         "bytes": None, "splits": list(entry.splits), "selected": False})
    # Mark what load_dataset(size=s) would use: the loader's order, stopping at the first present
    # file (a corrupt one stops the search too, with an error, so then nothing is selected).
    order = {("MEDPRIV_DATA_DIR", True): 0, ("MEDPRIV_DATA_DIR", False): 1,
             ("download cache", True): 2}
    for size in SIZES:
        present = [r for r in rows if r["size"] == size and r["path"] is not None]
        present.sort(key=lambda r: order.get((r["place"], r["official"]), 9))
        if present and present[0]["verified"]:
            present[0]["selected"] = True
    return rows
