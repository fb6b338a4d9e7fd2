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
from .speed import probe_seconds
from .stage import Stage
from .threads import TRAINING_THREADS

# What a run costs, in probe units (speed.py: seconds = units × the probe's seconds now). Fitted
# to runs timed together with the probe on the project machine (2 cores shared with other jobs,
# load 7–11, one training thread; TrainModel.compute with the accountant's answers prepared
# first, so training alone): 28 px width 16, 600 images × 3 epochs, batch 16: 365–386 units
# non-private, 393 DP-SGD; 28 px batch 64, 1,200 × 2: 248; 64 px non-private 1,200 × 2 (batch
# 128): 575–594, 600 × 2: 389; 64 px DP-SGD (batch 512) 1,200 × 2 and 2,400 × 1: 837–860.
# Per image and epoch (64 px, width 16; about linear in width). It does not fall with the
# pixels: lesson 06's baselines (28 px, batch 128, augmentation on; 407–3,505 images × 12
# epochs, load 1–2) cost 0.082 units per image and epoch, 0.48 × the 64 px cost, not
# (28/64)² = 0.19 × (per-image overheads: augmentation, data handling) — hence the exponent.
_UNITS_PER_IMAGE_64PX = {False: 0.171, True: 0.28}
_PIXEL_EXPONENT = 0.9
# Per optimizer step, whatever its size (optimizer, EMA, sampling, Opacus' bookkeeping,
# handing freed memory back): what dominates small models with small batches.
_UNITS_PER_STEP = {False: 1.9, True: 2.0}
# Per validation or test image (a forward pass), 64 px width 16.
_UNITS_PER_EVAL_64PX = 0.057
# Building the model, wrapping it for DP-SGD, the first batches' allocations: 80 + 20 (size/28)².
_UNITS_FIXED, _UNITS_FIXED_PX = 80.0, 20.0
# The accountant (PRV), measured on its own: ε spent after each epoch 56–130 units per call
# (about 75), solving σ for a target ε 300–850 (about 600); σ is then kept in the cache.
_UNITS_EPSILON_CALL, _UNITS_SIGMA_SOLVE = 75.0, 600.0


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
    cpu_threads: ClassVar[int | None] = TRAINING_THREADS

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

    @functools.cached_property
    def _sizes(self) -> tuple[int, int, int]:
        """(training images, validation images, test images) of this run."""
        data, test = self._data()
        train_set, val_set = prepare_data(self.config.effective(), data)
        return len(train_set), len(val_set), len(test)

    def estimate_units(self, *, sigma_known: bool = False) -> float:
        """Cost of :meth:`compute` in probe units (:mod:`.speed`); ``sigma_known``: the noise
        multiplier of the target ε is already in the cache (no solve)."""
        cfg = self.config.effective()
        n, n_val, n_test = self._sizes
        px = (cfg.size / 64) ** 2 * (cfg.width / 16)
        px_train = (cfg.size / 64) ** _PIXEL_EXPONENT * (cfg.width / 16)
        steps = cfg.epochs * math.ceil(n / cfg.batch_size)
        units = (_UNITS_FIXED + _UNITS_FIXED_PX * (cfg.size / 28) ** 2
                 + cfg.epochs * n * _UNITS_PER_IMAGE_64PX[cfg.private] * px_train
                 + steps * _UNITS_PER_STEP[cfg.private]
                 + (cfg.epochs * n_val + n_test) * _UNITS_PER_EVAL_64PX * px)
        if cfg.private:
            # RDP answers later epochs from its cached per-step values; PRV works each one out.
            units += cfg.epochs * _UNITS_EPSILON_CALL if cfg.accountant == "prv" else 0.0
            if cfg.noise_multiplier is None and not sigma_known:
                units += _UNITS_SIGMA_SOLVE
        return units

    def estimate_seconds(self) -> float:
        """Expected wall seconds of :meth:`compute` on this machine now (probe-scaled)."""
        return self.estimate_units() * probe_seconds()

    def seconds_left(self, cache: ResultStore | None) -> float:
        if self.is_done(cache):
            return 0.0
        return self.estimate_units(sigma_known=self._sigma_cached(cache)) * probe_seconds()

    def _sigma_cached(self, cache: ResultStore | None) -> bool:
        """Whether the σ of this run's target ε is in ``cache`` already (the key
        :func:`~medpriv_widgets.training.plan_privacy` keeps it under)."""
        from ..training import default_delta, sample_rate_for
        from ..training.loop import SIGMA_NAMESPACE

        cfg = self.config.effective()
        if cache is None or not cfg.private or cfg.noise_multiplier is not None:
            return False
        n = self._sizes[0]
        q, per_epoch = sample_rate_for(cfg.batch_size, n)
        key = {"target_epsilon": cfg.target_epsilon, "sample_rate": q,
               "steps": per_epoch * cfg.epochs,
               "delta": cfg.delta if cfg.delta is not None else default_delta(n),
               "accountant": cfg.accountant}
        return key in cache.namespace(SIGMA_NAMESPACE)

    def run(self, *, cache: ResultStore | None, stop: StopToken | None = None,
            device=None) -> Iterator[Progress]:
        if self.ledger is not None:
            self.ledger.check_open()
        yield from super().run(cache=cache, stop=stop, device=device)

    def compute(self, *, cache, stop, device=None) -> Iterator[Progress]:
        data, test = self._data()
        yield from train(self.config, data=data, test_data=test, stop=stop,
                         ledger=self.ledger, device=device, cache=cache)

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
