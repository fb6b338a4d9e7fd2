"""The two costly stages of a membership experiment: shadow models, and DP targets.

- :class:`ShadowModels` trains the K shadow models *and* the non-private target in one stacked
  run (:func:`~medpriv_widgets.attacks.membership.train_stacked`): each shadow on a
  patient-disjoint half of the population (complementary pairs), the target on the members. It
  stores every model's score on every population image (the attacker's shadow statistics, and
  what the non-private target reveals).
- :class:`DPTarget` trains the target again with DP-SGD on the same members, through the
  project's one training path (the :class:`~medpriv_widgets.experiments.TrainModel` stage, so
  the trained model is cached there too), and stores its scores.

The attacker's shadow models are trained without DP: the attacker knows the architecture and
the data distribution, not the defence, so attacks on DP targets are what a realistic attacker
would get, and their TPR must stay under the mechanism's bound.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..._validate import check_int, check_positive
from ...device import choose_device, device_label
from ...errors import InvalidParameterError
from ...progress import Progress
from ..speed import probe_seconds
from ..stage import Stage
from ..threads import TRAINING_THREADS
from ..training import TrainModel
from .settings import MembershipSettings, load_population, load_test


@dataclass(frozen=True)
class ShadowBank:
    """What :class:`ShadowModels` stores, over the N population images.

    ``labels`` (N,), ``patient_ids`` (N,) str, ``target_member`` (N,) bool (ground truth, for
    scoring only), ``in_mask`` (K, N) bool, ``shadow_scores`` (K, N, A) and
    ``nonprivate_scores`` (N, A): logit-scaled confidences (A views); ``nonprivate_state_dict``
    (a SmallCNN's), ``nonprivate_utility`` (its test metrics: auc, sensitivity, …).
    """

    labels: np.ndarray
    patient_ids: np.ndarray
    target_member: np.ndarray
    in_mask: np.ndarray
    shadow_scores: np.ndarray
    nonprivate_scores: np.ndarray
    nonprivate_state_dict: dict
    nonprivate_utility: dict
    caption: str
    synthetic: bool
    device: str
    seconds: float


@dataclass(frozen=True)
class TargetModel:
    """What :class:`DPTarget` stores: the DP target's scores on the population (N, A), its
    weights, its accounting (σ, q, steps, δ) and its test utility."""

    epsilon: float
    scores: np.ndarray
    state_dict: dict
    noise_multiplier: float
    sample_rate: float
    steps: int
    delta: float
    utility: dict
    seconds: float


def _check_settings(settings) -> MembershipSettings:
    if not isinstance(settings, MembershipSettings):
        raise InvalidParameterError(
            f"`settings` must be MembershipSettings; got {type(settings).__name__}.")
    return settings


@dataclass(frozen=True)
class ShadowModels(Stage):
    """K shadow models and the non-private target, trained together. Result: :class:`ShadowBank`."""

    settings: MembershipSettings
    namespace: ClassVar[str] = "membership"
    cpu_threads: ClassVar[int | None] = TRAINING_THREADS

    def __post_init__(self) -> None:
        _check_settings(self.settings)

    @functools.cached_property
    def population(self):
        """The attacked X-rays (loaded once per stage object)."""
        return load_population(self.settings)

    @property
    def title(self) -> str:
        return f"{self.settings.n_shadows} shadow models and the target"

    def key(self) -> dict:
        return {"stage": "ShadowModels", **self.settings.shadow_key(),
                "data": self.population.data.fingerprint}

    def estimate_units(self) -> float:
        """Cost of :meth:`compute` in probe units (:mod:`..speed`). Fitted to runs timed with the
        probe (2 shared cores, load 8, one thread): the workshop setting for 6 and 12 epochs
        (about 1,340 and 2,300 units: 0.59 per model and step at batch 32, 28 px, width 8, and
        about 370 for loading, scoring the 1,000 X-rays with every model and the test split);
        the fast profile (4 shadows, 60 epochs of batch 16 on 120 X-rays): 574."""
        s = self.settings
        n = len(self.population.data)
        models = s.n_shadows + 1
        steps = s.shadow_epochs * math.ceil(n / 2 / s.batch_size)
        scale = (s.size / 28) ** 2 * (s.width / 8)  # cost grows about linearly with width
        per_step = 0.59 * (0.3 + 0.7 * s.batch_size / 32) * scale  # small batches: overhead
        return 150.0 + 0.013 * n * models * scale + steps * models * per_step

    def estimate_seconds(self) -> float:
        return self.estimate_units() * probe_seconds()

    def compute(self, *, cache, stop, device=None) -> Iterator[Progress]:
        from ...attacks.membership import complementary_halves, stacked_scores, train_stacked
        from ...models import make_model
        from ...training import evaluate

        s, pop = self.settings, self.population
        dev = choose_device(None if device is None else str(device))
        t0 = time.perf_counter()
        data = pop.data
        target_member = pop.is_member
        in_mask = complementary_halves(pop.patient_ids, n_models=s.n_shadows, seed=s.seed)
        # The non-private target trains in the same stacked run as the shadows (row K).
        all_mask = np.vstack([in_mask, target_member[None]])
        last = None
        for last in train_stacked(images=data.images, labels=data.labels, in_mask=all_mask,
                                  size=s.size, width=s.width, activation=s.activation,
                                  epochs=s.shadow_epochs, batch_size=s.batch_size, lr=s.lr,
                                  schedule=s.lr_schedule, seed=s.seed, device=dev, stop=stop):
            if last.stopped:
                yield last.with_(stage=self.title, partial=None,
                                 message="Stopped: the shadow models were not finished and are "
                                         "not cached.")
                return
            if not last.finished:
                yield last.with_(stage=self.title, done=0.95 * last.done,
                                 message=f"Training {s.n_shadows} shadow models and the target "
                                         f"at once: {last.message}")
        state_dicts = last.partial
        scores = stacked_scores(state_dicts=state_dicts, images=data.images, labels=data.labels,
                                size=s.size, width=s.width, activation=s.activation,
                                augment=s.augment, device=dev)
        target = make_model(size=s.size, seed=0, width=s.width, activation=s.activation)
        target.load_state_dict(state_dicts[-1])
        bank = ShadowBank(labels=data.labels.numpy(), patient_ids=pop.patient_ids,
                          target_member=target_member, in_mask=in_mask,
                          shadow_scores=scores[:-1], nonprivate_scores=scores[-1],
                          nonprivate_state_dict=state_dicts[-1],
                          nonprivate_utility=evaluate(target, load_test(s)),
                          caption=data.caption, synthetic=bool(data.synthetic),
                          device=device_label(dev), seconds=time.perf_counter() - t0)
        yield Progress(self.title, last.total, last.total,
                       f"Shadow models done in {bank.seconds:.0f} s.", partial=bank)


@dataclass(frozen=True)
class DPTarget(Stage):
    """The target trained with DP-SGD at ``epsilon`` on the members. Result: :class:`TargetModel`.

    ``batch_size`` / ``epochs``: None takes the settings' ``dp_batch_size`` / ``dp_epochs`` (the
    equal-ε explorer trains the same ε with other values).
    """

    settings: MembershipSettings
    epsilon: float
    batch_size: int | None = None
    epochs: int | None = None
    namespace: ClassVar[str] = "membership"
    cpu_threads: ClassVar[int | None] = TRAINING_THREADS

    def __post_init__(self) -> None:
        _check_settings(self.settings)
        check_positive("epsilon", self.epsilon,
                       hint="A DP target needs a finite ε; the non-private target is trained "
                            "with the shadow models (ShadowModels).")
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, low=1)
        if self.epochs is not None:
            check_int("epochs", self.epochs, low=1)

    @property
    def shadows(self) -> ShadowModels:
        return ShadowModels(self.settings)

    @property
    def title(self) -> str:
        return f"DP target at ε = {self.epsilon:g}"

    def train_config(self):
        """The :class:`~medpriv_widgets.training.TrainConfig` of this target. ``val_fraction``
        is 0: every member must really be trained on (the ground truth of the attack)."""
        from ...training import TrainConfig

        s = self.settings
        return TrainConfig(size=s.size, epochs=self.epochs or s.dp_epochs,
                           batch_size=self.batch_size or s.dp_batch_size, lr=s.dp_lr,
                           target_epsilon=float(self.epsilon), delta=s.delta,
                           max_grad_norm=s.max_grad_norm, seed=s.seed, val_fraction=0.0,
                           width=s.width, activation=s.activation)

    @functools.cached_property
    def training(self) -> TrainModel:
        pop = self.shadows.population
        return TrainModel(self.train_config(), data=pop.data.subset(pop.members),
                          test_data=load_test(self.settings))

    def key(self) -> dict:
        cfg = self.train_config()
        return {"stage": "DPTarget", "shadows": self.shadows.key(), "epsilon": cfg.target_epsilon,
                "delta": cfg.delta, "batch_size": cfg.batch_size, "epochs": cfg.epochs,
                "lr": cfg.lr, "max_grad_norm": cfg.max_grad_norm}

    def estimate_seconds(self) -> float:
        return self.training.estimate_seconds() + self._scoring_units() * probe_seconds()

    def seconds_left(self, cache) -> float:
        if self.is_done(cache):
            return 0.0
        return self.training.seconds_left(cache) + self._scoring_units() * probe_seconds()

    def _scoring_units(self) -> float:
        # A forward pass over the population (and its flip), in probe units.
        s = self.settings
        n = len(self.shadows.population.data)
        return 10.0 + 0.01 * n * (2 if s.augment else 1) * (s.size / 28) ** 2 * (s.width / 8)

    def compute(self, *, cache, stop, device=None) -> Iterator[Progress]:
        from ...attacks.membership import model_scores

        s, pop = self.settings, self.shadows.population
        t0 = time.perf_counter()
        last = None
        for last in self.training.run(cache=cache, stop=stop, device=device):
            if last.stopped:
                yield last.with_(stage=self.title, partial=None,
                                 message=f"Stopped: the DP model at ε = {self.epsilon:g} is not "
                                         f"cached.")
                return
            if not last.finished:
                yield last.with_(stage=self.title, done=0.95 * last.done,
                                 message=f"DP-SGD at ε = {self.epsilon:g}: {last.message}")
        result = last.partial
        # A plain SmallCNN scores the DP target: it honours the model's own settings (the DP-SGD
        # recipe standardises each image inside the model), which the stacked shadows do not use.
        scores = model_scores(state_dict=result.state_dict, images=pop.data.images,
                              labels=pop.data.labels, size=s.size, width=s.width,
                              activation=s.activation, augment=s.augment,
                              device=choose_device(None if device is None else str(device)))
        target = TargetModel(epsilon=float(self.epsilon), scores=scores,
                             state_dict=result.state_dict,
                             noise_multiplier=float(result.noise_multiplier),
                             sample_rate=float(result.sample_rate), steps=int(result.steps),
                             delta=float(result.delta), utility=dict(result.test_metrics),
                             seconds=time.perf_counter() - t0)
        yield Progress(self.title, last.total, last.total,
                       f"DP model at ε = {self.epsilon:g} done in {target.seconds:.0f} s.",
                       partial=target)


__all__ = ["DPTarget", "ShadowBank", "ShadowModels", "TargetModel"]
