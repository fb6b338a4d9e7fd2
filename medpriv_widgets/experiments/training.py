"""Training as a stage: one model per :class:`~medpriv_widgets.training.TrainConfig`, cached.

::

    stage = TrainModel(TrainConfig(size=64, target_epsilon=8.0))
    for p in stage.run(cache=default_store(), stop=token):   # trains once
        print(p.message)
    result = stage.load(store)                               # a TrainResult, instantly

The key is the whole effective config plus the fingerprints of the training pool and the test
split, so a model trained on synthetic phantoms never answers for real X-rays. A run that was
stopped early is never cached.

Ledger and cache: with a ``ledger``, a cache hit still calls ``ledger.check_open()`` (a locked
dataset refuses) but spends nothing: the cached model was charged when it was trained, and
looking at it again is post-processing, which costs no privacy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..cache import ResultStore
from ..errors import InvalidParameterError
from ..progress import Progress
from ..stopping import StopToken
from ..training import DEFAULT_EPSILONS, TrainConfig, prepare_data, resolve_data, train
from .stage import Stage

# Seconds per image and epoch on 2 CPU cores, SmallCNN width 16 at 64 px (DP-SGD step of 512
# images 0.63 s, non-private 0.43 s incl. augmentation: bench dpsgd, quiet machine). Cost grows
# with pixels and about linearly with width.
_SECONDS_PER_IMAGE_64PX = {True: 0.63 / 512, False: 0.43 / 512}


@dataclass(frozen=True)
class TrainModel(Stage):
    """Train (or read) the model of ``config`` on ``data`` (default: the config's own data).

    ``data`` and ``test_data`` are ChestXrayData records (None: loaded for ``config``); they
    enter the key by fingerprint. ``ledger``: a PrivacyLedger charged for a private run.
    Result: :class:`~medpriv_widgets.training.TrainResult`.
    """

    config: TrainConfig
    data: Any = field(default=None, compare=False, repr=False, metadata={"key": False})
    test_data: Any = field(default=None, compare=False, repr=False, metadata={"key": False})
    ledger: Any = field(default=None, compare=False, repr=False, metadata={"key": False})

    namespace: ClassVar[str] = "training"

    def __post_init__(self) -> None:
        if not isinstance(self.config, TrainConfig):
            raise InvalidParameterError(
                f"`config` must be a TrainConfig; got {type(self.config).__name__}.")

    @property
    def title(self) -> str:
        eps = self.config.target_epsilon
        what = "not private" if not self.config.private else (
            f"ε = {eps:g}" if math.isfinite(eps) else f"σ = {self.config.noise_multiplier:g}")
        return f"training ({what}, {self.config.size} px)"

    @functools.cached_property
    def _resolved(self) -> tuple:
        # Loaded once per stage object: key(), estimates and compute all need the data.
        return resolve_data(self.config, self.data, self.test_data)

    def _data(self):
        return self._resolved

    def key(self) -> dict:
        data, test = self._data()
        return {"stage": "TrainModel", "config": self.config.effective().to_dict(),
                "data": data.fingerprint, "test": test.fingerprint,
                "synthetic": bool(data.synthetic)}

    def estimate_seconds(self) -> float:
        cfg = self.config.effective()
        data, _ = self._data()
        n = len(data) if cfg.n_train is None else min(cfg.n_train, len(data))
        per_image = (_SECONDS_PER_IMAGE_64PX[cfg.private] * (cfg.size / 64) ** 2
                     * (cfg.width / 16))
        return 3.0 + cfg.epochs * n * per_image

    def run(self, *, cache: ResultStore | None, stop: StopToken | None = None,
            device=None) -> Iterator[Progress]:
        if self.ledger is not None:
            self.ledger.check_open()
        yield from super().run(cache=cache, stop=stop, device=device)

    def compute(self, *, cache, stop, device=None) -> Iterator[Progress]:
        data, test = self._data()
        yield from train(self.config, data=data, test_data=test, stop=stop, ledger=self.ledger,
                         device=device, cache=cache)

    def plan(self, *, cache: ResultStore | None = None):
        """σ, q, steps and δ this run would use (:func:`~medpriv_widgets.training.plan_privacy`)."""
        from ..training import plan_privacy

        data, _ = self._data()
        return plan_privacy(self.config, len(prepare_data(self.config, data)[0]), cache=cache)


def training_grid(*, base: TrainConfig, epsilons: Iterable[float] = DEFAULT_EPSILONS,
                  data=None, test_data=None) -> list[TrainModel]:
    """One :class:`TrainModel` per ε (∞ = not private), otherwise identical to ``base``: what a
    slider over ε answers from once computed (``medpriv precompute``, the lab's grid button)."""
    if not isinstance(base, TrainConfig):
        raise InvalidParameterError(f"`base` must be a TrainConfig; got {type(base).__name__}.")
    return [TrainModel(base.with_(target_epsilon=float(e), noise_multiplier=None), data=data,
                       test_data=test_data) for e in epsilons]


__all__ = ["TrainModel", "training_grid"]
