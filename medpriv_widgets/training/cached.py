"""Trained models cached by their full configuration, and a pre-computed grid of ε values.

The cache key (namespace ``"training"``) is the whole :class:`TrainConfig` plus a fingerprint
of the pixels and labels actually used, plus the package version (added by ResultCache). A run
that was stopped early is never cached.

Ledger and cache: a cache hit still calls ``ledger.check_open()`` (a locked dataset refuses),
but spends nothing: the cached model was already trained and charged when it was computed, and
looking at it again is post-processing, which costs no privacy.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable

import numpy as np

from ..cache import ResultCache
from ..models import SmallCNN, make_model
from ..stopping import StopToken, stop_requested
from .config import TrainConfig
from .loop import TrainProgress, TrainResult, resolve_data, train

NAMESPACE = "training"

#: ε values pre-computed for the private-training lab (∞ = not private).
DEFAULT_EPSILONS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, math.inf)


_FINGERPRINTS: dict[int, tuple[object, str]] = {}  # id → (data, digest): slider moves re-ask


def _fingerprint(data) -> str:
    """sha256 (16 hex) of pixels, labels and patient IDs; remembered per data object."""
    known = _FINGERPRINTS.get(id(data))
    if known is not None and known[0] is data:
        return known[1]
    digest = _digest(data)
    if len(_FINGERPRINTS) > 16:
        _FINGERPRINTS.clear()
    _FINGERPRINTS[id(data)] = (data, digest)
    return digest


def _digest(data) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(data.images.numpy()).tobytes())
    h.update(np.ascontiguousarray(data.labels.numpy()).tobytes())
    if data.patient_ids is not None:
        h.update("\x00".join(map(str, data.patient_ids)).encode())
    return h.hexdigest()[:16]


def cache_key(config: TrainConfig, data, test_data) -> dict:
    """The dict the result cache hashes: config + what the data are."""
    return {"config": config.effective().to_dict(), "data": _fingerprint(data), "test": _fingerprint(test_data),
            "synthetic": bool(data.synthetic)}


def cached_result(config: TrainConfig, *, data=None, test_data=None) -> TrainResult | None:
    """The cached result for ``config`` (None on a miss); never trains."""
    data, test_data = resolve_data(config, data, test_data)
    return ResultCache(NAMESPACE).get(cache_key(config, data, test_data))


def train_cached(config: TrainConfig, *, data=None, test_data=None, stop: StopToken | None = None,
                 ledger=None, on_progress: Callable[[TrainProgress], None] | None = None,
                 device=None) -> TrainResult:
    """Return the cached result for ``config``, or train (see :func:`train`) and cache it.

    ``on_progress`` receives every per-epoch record while training (not on a cache hit). A run
    stopped through ``stop`` returns its partial result (``stopped=True``) without caching it.
    """
    data, test_data = resolve_data(config, data, test_data)
    cache = ResultCache(NAMESPACE)
    key = cache_key(config, data, test_data)
    hit = cache.get(key)
    if hit is not None:
        if ledger is not None:
            ledger.check_open()
        return hit
    last = None
    for last in train(config, data=data, test_data=test_data, stop=stop, ledger=ledger,
                      device=device):
        if on_progress is not None:
            on_progress(last)
    result = last.result
    if not result.stopped:
        cache.put(key, result)
    return result


def load_model(result: TrainResult) -> SmallCNN:
    """The trained SmallCNN of a :class:`TrainResult`, on the CPU, in eval mode."""
    cfg = result.config
    model = make_model(size=cfg["size"], seed=cfg["seed"], width=cfg["width"],
                       activation=cfg["activation"])
    model.load_state_dict(result.state_dict)
    return model.eval()


def grid_configs(base: TrainConfig, epsilons: Iterable[float] = DEFAULT_EPSILONS) -> list[TrainConfig]:
    """One config per ε (∞ = not private), otherwise identical to ``base``."""
    return [base.with_(target_epsilon=float(e), noise_multiplier=None) for e in epsilons]


def precompute_grid(*, base: TrainConfig, epsilons: Iterable[float] = DEFAULT_EPSILONS,
                    data=None, test_data=None, stop: StopToken | None = None,
                    on_result: Callable[[float, TrainResult], None] | None = None,
                    on_progress: Callable[[TrainProgress], None] | None = None) -> dict:
    """Train (or read from the cache) one model per ε; returns {ε: TrainResult}.

    Meant for instructors before a session (``medpriv precompute``) and for the lab's grid, so
    that a slider landing on a grid value answers instantly. Stops between runs (and inside the
    current one) when ``stop`` is set; stopped runs are left out of the returned dict.
    """
    data, test_data = resolve_data(base, data, test_data)
    out: dict = {}
    for cfg in grid_configs(base, epsilons):
        if stop_requested(stop):
            break
        res = train_cached(cfg, data=data, test_data=test_data, stop=stop, on_progress=on_progress)
        if res.stopped:
            break
        out[cfg.target_epsilon] = res
        if on_result is not None:
            on_result(cfg.target_epsilon, res)
    return out


__all__ = ["DEFAULT_EPSILONS", "NAMESPACE", "cache_key", "cached_result", "grid_configs",
           "load_model", "precompute_grid", "train_cached"]
