"""Why pseudonyms fail: unsalted hashes are reversed by a dictionary, and any consistent
pseudonym — even a keyed one — links the releases that share it.

- :func:`hash_pseudonyms`: SHA-256 of the identifier, no salt, no key (what many export scripts
  do). Anyone can hash a list of candidate names or numbers and look the pseudonyms up:
  :func:`dictionary_attack` does exactly that and times it.
- :func:`keyed_pseudonyms`: HMAC-SHA256 with a secret key (Python's ``hmac``; the key from
  ``secrets``). Without the key the dictionary finds nothing — but the same patient still gets
  the same pseudonym in every release, so :func:`link_releases` joins two releases on it and the
  quasi-identifiers of both add up.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..._validate import check_positive
from ...errors import InvalidParameterError


def _values(values, name: str = "values") -> list[str]:
    if isinstance(values, (str, bytes)):
        raise InvalidParameterError(f"`{name}` must be a list of identifiers, not one string; "
                                    f"got {values!r}.")
    try:
        out = [str(v) for v in values]
    except TypeError:
        raise InvalidParameterError(f"`{name}` must be a list of identifiers; got "
                                    f"{type(values).__name__}.") from None
    return out


def hash_pseudonyms(values: Iterable) -> np.ndarray:
    """Unsalted SHA-256 (hex, 64 characters) of each identifier; object array (N,)."""
    return np.array([hashlib.sha256(v.encode("utf-8")).hexdigest() for v in _values(values)],
                    dtype=object)


def new_key() -> bytes:
    """A fresh 32-byte secret key for :func:`keyed_pseudonyms` (keep it out of every release)."""
    return secrets.token_bytes(32)


def keyed_pseudonyms(values: Iterable, *, key: bytes) -> np.ndarray:
    """HMAC-SHA256 (hex) of each identifier under ``key`` (bytes, at least 16); array (N,)."""
    if not isinstance(key, (bytes, bytearray)) or len(key) < 16:
        raise InvalidParameterError(
            "`key` must be a secret of at least 16 bytes (use new_key()); got "
            f"{type(key).__name__} of length {len(key) if hasattr(key, '__len__') else '?'}.")
    k = bytes(key)
    return np.array([hmac.new(k, v.encode("utf-8"), hashlib.sha256).hexdigest()
                     for v in _values(values)], dtype=object)


@dataclass(frozen=True)
class DictionaryAttackResult:
    """What a dictionary attack recovered.

    Attributes
    ----------
    recovered : dict
        pseudonym → identifier, for every pseudonym found.
    n_pseudonyms : int
        Distinct pseudonyms attacked.
    n_candidates : int
        Distinct candidates hashed.
    seconds : float
        Wall time of hashing and lookup.
    """

    recovered: dict
    n_pseudonyms: int
    n_candidates: int
    seconds: float

    @property
    def share_recovered(self) -> float:
        return len(self.recovered) / self.n_pseudonyms if self.n_pseudonyms else 0.0

    @property
    def hashes_per_second(self) -> float:
        return self.n_candidates / self.seconds if self.seconds > 0 else float("inf")


def dictionary_attack(pseudonyms: Iterable, candidates: Iterable) -> DictionaryAttackResult:
    """Hash every candidate (unsalted SHA-256) and look the pseudonyms up.

    ``candidates``: what the attacker guesses — names from a public register, every insurance
    number of a range, a phone book. Returns which pseudonyms were reversed, and how fast.
    """
    targets = set(_values(pseudonyms, "pseudonyms"))
    cands = list(dict.fromkeys(_values(candidates, "candidates")))
    if not cands:
        raise InvalidParameterError("`candidates` must hold at least one guess; got none.")
    t0 = time.perf_counter()
    recovered = {}
    for c in cands:
        h = hashlib.sha256(c.encode("utf-8")).hexdigest()
        if h in targets:
            recovered[h] = c
    seconds = time.perf_counter() - t0
    return DictionaryAttackResult(recovered=recovered, n_pseudonyms=len(targets),
                                  n_candidates=len(cands), seconds=seconds)


def exhaustive_search_seconds(space: float, *, hashes_per_second: float) -> float:
    """Seconds to hash every identifier of a space (e.g. 26·10⁹ insurance numbers) at a rate."""
    space = check_positive("space", space)
    rate = check_positive("hashes_per_second", hashes_per_second)
    return space / rate


def link_releases(first: pd.DataFrame, second: pd.DataFrame, *, on: str = "pseudonym"
                  ) -> pd.DataFrame:
    """Join two releases on their pseudonym: one row per patient in both, columns of both.

    Columns present in both (other than ``on``) get suffixes ``_1`` and ``_2``.
    """
    for name, table in (("first", first), ("second", second)):
        if not isinstance(table, pd.DataFrame):
            raise InvalidParameterError(f"`{name}` must be a pandas DataFrame; got "
                                        f"{type(table).__name__}.")
        if on not in table.columns:
            raise InvalidParameterError(
                f"`on` must be a column of both releases; {name} has no {on!r} (columns: "
                f"{', '.join(map(str, table.columns))}).")
    return first.merge(second, on=on, how="inner", suffixes=("_1", "_2"))


__all__ = ["DictionaryAttackResult", "dictionary_attack", "exhaustive_search_seconds",
           "hash_pseudonyms", "keyed_pseudonyms", "link_releases", "new_key"]
