"""On-disk result cache keyed by a hash of the full configuration and the package version.

Anything that costs more than about a second (a trained model, an attack sweep, shadow models)
is stored once and read back instantly by sliders. Computations never choose a cache folder
themselves: they take an explicit ``cache=`` (a :class:`ResultStore`, or None for "compute, keep
nothing"), and only the entry points (the CLI, a widget, a notebook) call :func:`default_store`::

    store = default_store()               # MEDPRIV_CACHE_DIR, else .cache/ in a checkout, …
    cache = store.namespace("training")
    result = cache.get(config)            # None on a miss
    if result is None:
        result = expensive(config)
        cache.put(config, result)

``config`` is a dict of numbers, strings, lists, dicts and None; its key tags every value with its
type, so ``{1: 'a'}`` and ``{'1': 'a'}`` (or ``nan`` and ``'nan'``) never share an entry. An
entry written by another package version is a miss (computed again), never an error. Values are anything
``torch.save`` can store (tensors, numpy arrays, dataclasses of those). Writes are atomic (a
temporary directory renamed into place), so a killed process never leaves a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .errors import CacheError, InvalidParameterError
from .paths import check_path, ledger_dir, results_dir

__all__ = ["ResultCache", "ResultStore", "check_namespace", "config_key", "default_store"]


_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def check_namespace(name) -> str:
    """A cache namespace is one plain folder name: letters, digits, ``_ . -``, no ``..``.

    Refused: '' (it would be the cache root, and ``clear()`` would empty every namespace), path
    separators and '..' (they would reach outside the cache root).
    """
    if not isinstance(name, str) or not _NAMESPACE.fullmatch(name) or ".." in name:
        raise InvalidParameterError(
            f"`namespace` must be one folder name made of letters, digits, '_', '.' and '-' "
            f"(not empty, no '..', no '/' or '\\'); got {name!r}. Use a short name such as "
            f"'training'.")
    return name


def _normalise(value: Any) -> Any:
    """A JSON form of a config in which every value carries its type, so that no two different
    configs share a key: ``{1: 'a'}`` ≠ ``{'1': 'a'}``, ``nan`` ≠ ``'nan'``, ``True`` ≠ ``1``.

    Equal values of one type map to one form (tuples are lists; dict order does not matter;
    -0.0 is 0.0; every NaN is the same NaN). numpy scalars count as the Python number they are.
    """
    if value is None:
        return ["none"]
    if isinstance(value, (bool, np.bool_)):
        return ["bool", bool(value)]
    if isinstance(value, (int, np.integer)):
        return ["int", int(value)]
    if isinstance(value, (float, np.floating)):
        v = float(value) + 0.0  # -0.0 → 0.0
        return ["float", repr(v)]  # repr round-trips exactly and spells nan / inf
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, (list, tuple)):
        return ["list", [_normalise(v) for v in value]]
    if isinstance(value, dict):
        items = [[_normalise(k), _normalise(v)] for k, v in value.items()]
        items.sort(key=lambda kv: json.dumps(kv[0], sort_keys=True))
        return ["dict", items]
    raise CacheError(f"Cache configurations must hold only numbers, strings, lists and dicts; "
                     f"got {type(value).__name__} ({value!r}). Convert it to one of those first.")


def config_key(config: dict, *, version: str = __version__) -> str:
    """Hex digest (16 chars) of the configuration plus the package version."""
    if not isinstance(version, str):
        raise InvalidParameterError(f"`version` must be a version string such as "
                                    f"{__version__!r}; got {version!r}.")
    payload = json.dumps({"config": _normalise(config), "version": version},
                         sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _overlaps(a: Path, b: Path) -> bool:
    a, b = a.resolve(), b.resolve()
    return a == b or a.is_relative_to(b) or b.is_relative_to(a)


class ResultCache:
    """A namespace of cached results under ``root/namespace`` (root defaults to results_dir())."""

    def __init__(self, namespace: str, *, root: str | os.PathLike | None = None) -> None:
        self.namespace = check_namespace(namespace)
        self.root = check_path("root", root, what="a folder") if root is not None else results_dir()
        self.directory = self.root / namespace
        if _overlaps(self.directory, ledger_dir()):
            raise CacheError(
                f"The cache folder {self.directory} overlaps the privacy-ledger folder "
                f"{ledger_dir()}; clearing it could erase spent privacy budgets. Point "
                f"MEDPRIV_CACHE_DIR and MEDPRIV_LEDGER_DIR at separate folders.")

    def path_for(self, config: dict) -> Path:
        return self.directory / config_key(config)

    def __contains__(self, config: dict) -> bool:
        """True when :meth:`get` would answer from the cache (an entry of another version is a
        miss there, so it is not "in" here either: a dashboard must not count it as ready)."""
        entry = self.path_for(config)
        if not (entry / "result.pt").is_file():
            return False
        try:
            meta = json.loads((entry / "meta.json").read_text())
        except (OSError, json.JSONDecodeError):
            return False
        return isinstance(meta, dict) and meta.get("version") == __version__

    def get(self, config: dict) -> Any | None:
        """The cached value, or None on a miss. A damaged entry raises CacheError."""
        entry = self.path_for(config)
        result = entry / "result.pt"
        if not result.is_file():
            return None
        try:
            meta = json.loads((entry / "meta.json").read_text())
        except FileNotFoundError:
            return None  # another writer is swapping this entry right now: a miss, not damage
        except (OSError, json.JSONDecodeError):
            raise CacheError(f"The cache entry {entry} is damaged (meta.json unreadable). "
                             f"Delete that folder and the result will be computed again.") from None
        if not isinstance(meta, dict) or meta.get("version") != __version__:
            return None  # written by another version: a miss, computed again and replaced
        try:
            return torch.load(result, map_location="cpu", weights_only=False)
        except FileNotFoundError:
            return None  # swapped out by a concurrent writer between the two reads
        except Exception as exc:  # torch raises many types for a truncated/corrupt file
            raise CacheError(f"The cache entry {entry} could not be read ({exc}). Delete that "
                             f"folder and the result will be computed again.") from None

    def put(self, config: dict, value: Any) -> Path:
        """Store ``value`` atomically; returns the entry's directory."""
        entry = self.path_for(config)
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.directory))
        try:
            torch.save(value, tmp / "result.pt")
            (tmp / "meta.json").write_text(json.dumps(
                {"version": __version__, "namespace": self.namespace,
                 "config": _normalise(config)}, indent=1, sort_keys=True))
            # Move an old entry aside with one atomic rename (never delete it in place: a
            # reader or a second writer of the same key may be using it right now), then
            # rename ours in. Retried because other writers of the same key can interleave.
            for _attempt in range(20):
                stale = self.directory / f".stale-{uuid.uuid4().hex}"
                try:
                    os.replace(entry, stale)
                except FileNotFoundError:
                    pass
                else:
                    shutil.rmtree(stale, ignore_errors=True)
                try:
                    os.replace(tmp, entry)
                    break
                except OSError:
                    continue  # another writer put the same key in between: try again
            else:
                raise CacheError(f"Could not store {entry}: other processes keep writing the "
                                 f"same result. Try again.")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return entry

    def get_or_compute(self, config: dict, compute) -> Any:
        """Return the cached value, or call ``compute()`` and store what it returns."""
        value = self.get(config)
        if value is None:
            value = compute()
            self.put(config, value)
        return value

    def clear(self) -> None:
        """Delete every entry of this namespace (never anything outside it)."""
        shutil.rmtree(self.directory, ignore_errors=True)


class ResultStore:
    """A root folder of result caches: what every computation's explicit ``cache=`` is.

    ``store.namespace("membership")`` is the :class:`ResultCache` of one kind of result. Tests and
    benchmarks make a store on a temporary folder instead of changing the environment.
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = check_path("root", root, what="a folder")

    def namespace(self, name: str) -> ResultCache:
        """The cache of one kind of result (``name``: see :func:`check_namespace`)."""
        return ResultCache(name, root=self.root)

    def __repr__(self) -> str:
        return f"ResultStore({str(self.root)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ResultStore) and other.root == self.root

    def __hash__(self) -> int:
        return hash(self.root)


def default_store() -> ResultStore:
    """The store in ``MEDPRIV_CACHE_DIR``, else ``.cache/`` in a checkout, else the user cache
    (:func:`medpriv_widgets.paths.results_dir`). Called by entry points only."""
    return ResultStore(results_dir())
