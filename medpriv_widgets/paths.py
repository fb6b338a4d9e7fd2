"""Where things live on disk.

- ``MEDPRIV_DATA_DIR``: a directory of pre-downloaded data, searched before any download
  (read only; tests and CI point it at ``../shared/data``).
- Downloads: ``MEDPRIV_DOWNLOAD_DIR``, else the repository's ``data/`` folder when running from a
  source checkout, else the user cache (``~/.cache/medpriv/data`` on Linux).
- Computed results (trained models, attack sweeps): ``MEDPRIV_CACHE_DIR``, else the
  repository's ``.cache/`` folder in a checkout, else ``~/.cache/medpriv/results``. Disposable:
  anything there can be deleted and computed again.
- Privacy ledgers: ``MEDPRIV_LEDGER_DIR``, else the user data folder
  (``~/.local/share/medpriv/ledgers`` on Linux). Never disposable: a ledger is the record of a
  spent privacy budget, so it lives apart from the caches, where no cache clean-up can reach it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pooch

__all__ = ["check_path", "data_search_dir", "download_dir", "ledger_dir", "results_dir"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


def check_path(name: str, value, *, what: str = "a path") -> Path:
    """``value`` as a Path after checking it is one (str or os.PathLike, not empty)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        from .errors import InvalidParameterError

        raise InvalidParameterError(f"`{name}` must be {what} (a str or pathlib.Path, not "
                                    f"empty); got {value!r}. Pass e.g. pathlib.Path('results').")
    return Path(value).expanduser()


def _in_checkout() -> bool:
    # A source checkout has data/README.md beside the package; a pip-installed package does not.
    return (_REPO_ROOT / "data" / "README.md").is_file() and (_REPO_ROOT / "pyproject.toml").is_file()


def data_search_dir() -> Path | None:
    """The ``MEDPRIV_DATA_DIR`` directory, or None when unset."""
    value = os.environ.get("MEDPRIV_DATA_DIR", "").strip()
    return Path(value).expanduser() if value else None


def download_dir() -> Path:
    """Directory that downloads are written to (created on demand by the caller)."""
    value = os.environ.get("MEDPRIV_DOWNLOAD_DIR", "").strip()
    if value:
        return Path(value).expanduser()
    if _in_checkout():
        return _REPO_ROOT / "data"
    return Path(pooch.os_cache("medpriv")) / "data"


def results_dir() -> Path:
    """Root directory of the on-disk result cache (disposable results only)."""
    value = os.environ.get("MEDPRIV_CACHE_DIR", "").strip()
    if value:
        return Path(value).expanduser()
    if _in_checkout():
        return _REPO_ROOT / ".cache"
    return Path(pooch.os_cache("medpriv")) / "results"


def ledger_dir() -> Path:
    """Root directory of the privacy ledgers: ``MEDPRIV_LEDGER_DIR``, else the user data folder.

    Deliberately not under :func:`results_dir`: clearing a cache must never erase a budget.
    """
    value = os.environ.get("MEDPRIV_LEDGER_DIR", "").strip()
    if value:
        return Path(value).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("medpriv", appauthor=False)) / "ledgers"
