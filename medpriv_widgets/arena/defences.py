"""The arena's defences, registered by name: how the hospital trains the model it releases.

Each defence trains the target on the scenario's members through the project's experiment
layer and returns a :class:`DefendedModel` (its scores on the population, its test utility,
its claimed ε). It also says what one *shared update* looks like under it
(:meth:`Defence.update`), which the reconstruction attack inverts.

=================  ===========================================================================
none               ordinary training (the non-private target, trained with the shadow models)
dpsgd-eps1 / 8     DP-SGD at ε = 1 / 8 (:class:`~medpriv_widgets.experiments.membership.DPTarget`,
                   the target of lessons 05 and 07)
clip-only          DP-SGD's per-image clipping without noise (same recipe as DP-SGD, ε = ∞)
topk-10            gradient pruning: each step keeps the largest 10 % of gradient entries
large-batch        ordinary training with batches of 256 (8× fewer, more averaged steps)
fedavg             FedAvg across 4 hospitals, 10 local steps per round (:mod:`medpriv_widgets.federated`)
=================  ===========================================================================

A new defence is a frozen dataclass subclass of :class:`Defence` passed to
:func:`register_defence`; a defence written in a notebook enters through
:mod:`medpriv_widgets.arena.submissions` instead.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._validate import check_int, check_positive, check_real
from ..errors import InvalidParameterError
from ..progress import Progress


@dataclass(frozen=True)
class DefendedModel:
    """What a defence released, seen from the arena.

    ``scores`` (N, A): the model's logit-scaled confidence in the true label of every
    population X-ray (what membership attacks read); ``trained_on`` (N,) bool: which population
    X-rays it really trained on (the truth; scoring only); ``utility``: test metrics (auc,
    sensitivity, specificity, …); ``epsilon``: the claimed ε (∞ without DP) at ``delta``;
    ``seconds``: what training cost; ``state_dict``: the SmallCNN's weights (None when the
    model is not one).
    """

    defence: str
    scores: np.ndarray
    trained_on: np.ndarray
    utility: dict
    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    seconds: float
    state_dict: dict | None = None


def _records(stage, title: str, *, cache, stop, device) -> Iterator[Progress]:
    """Run ``stage``; re-title its records; the last one is finished (result) or stopped."""
    last = None
    for last in stage.run(cache=cache, stop=stop, device=device):
        if last.stopped:
            yield last.with_(stage=title, partial=None)
            return
        yield last.with_(stage=title, partial=last.partial if last.finished else None)


def _scores(data, state_dict) -> np.ndarray:
    from ..attacks.membership import model_scores

    s = data.scenario.membership
    pop = data.population.data
    return model_scores(state_dict=state_dict, images=pop.images, labels=pop.labels, size=s.size,
                        width=s.width, activation=s.activation, augment=s.augment)


@dataclass(frozen=True)
class Defence:
    """Base class: ``name`` (registry key), ``title`` (a few words for tables)."""

    name: str
    title: str
    kind: ClassVar[str] = ""

    def key(self) -> dict:
        """What the result depends on: the kind and every field but the title."""
        return {"kind": self.kind, **{f.name: getattr(self, f.name)
                                      for f in dataclasses.fields(self) if f.name != "title"}}

    def estimate_seconds(self, data) -> float:
        raise NotImplementedError

    def seconds_left(self, data, cache) -> float:
        """Estimated seconds still to compute, given what ``cache`` holds."""
        return self.estimate_seconds(data)

    def train(self, data, *, cache, stop, device=None) -> Iterator[Progress]:
        """Train the target on ``data.members``; the last record carries a DefendedModel."""
        raise NotImplementedError

    def update(self, data, *, cache):
        """(reconstruction ``Defense`` of one shared update, X-rays in that update)."""
        raise NotImplementedError

    def config(self, settings, n_train: int):
        """The TrainConfig that trains this defence on ``n_train`` X-rays with the recipe of
        ``settings`` (MembershipSettings): how it is served as an AnoMed anonymizer."""
        raise InvalidParameterError(
            f"The defence {self.name!r} is not one training run, so it cannot be trained on "
            f"arrays alone (as an AnoMed anonymizer); choose another.")


# ---------------------------------------------------------------------------- built-in


@dataclass(frozen=True)
class NoDefence(Defence):
    """Ordinary training: the non-private target, trained in the shadow models' stacked run."""

    kind: ClassVar[str] = "none"

    def estimate_seconds(self, data) -> float:
        return data.shadows.estimate_seconds()

    def seconds_left(self, data, cache) -> float:
        return data.shadows.seconds_left(cache) + 0.5

    def train(self, data, *, cache, stop, device=None):
        last = None
        for last in _records(data.shadows, self.title, cache=cache, stop=stop, device=device):
            if not last.finished:
                yield last
        if last is None or not last.finished:
            return
        bank = last.partial
        s = data.scenario.membership
        model = DefendedModel(
            defence=self.name, scores=bank.nonprivate_scores, trained_on=data.is_member,
            utility=dict(bank.nonprivate_utility), epsilon=math.inf, delta=s.delta,
            noise_multiplier=0.0, sample_rate=0.0, steps=0,
            # one model of the K + 1 trained together
            seconds=bank.seconds / (s.n_shadows + 1), state_dict=bank.nonprivate_state_dict)
        yield Progress(self.title, 1, 1, f"{self.title}: ready.", partial=model)

    def update(self, data, *, cache):
        from ..attacks.reconstruction import Defense

        return Defense(), 1

    def config(self, settings, n_train: int):
        return _ordinary(settings)


@dataclass(frozen=True)
class DPSGD(Defence):
    """DP-SGD at ``epsilon`` with the scenario's DP recipe (the DP target of lessons 05/07)."""

    epsilon: float = 8.0
    kind: ClassVar[str] = "dpsgd"

    def __post_init__(self) -> None:
        check_positive("epsilon", self.epsilon, hint="DP-SGD needs a finite ε > 0.")

    def stage(self, data):
        return self.stage_for(data.scenario.membership)

    def estimate_seconds(self, data) -> float:
        return self.stage(data).estimate_seconds()

    def seconds_left(self, data, cache) -> float:
        return self.stage(data).seconds_left(cache) + 0.5

    def train(self, data, *, cache, stop, device=None):
        last = None
        for last in _records(self.stage(data), self.title, cache=cache, stop=stop, device=device):
            if not last.finished:
                yield last
        if last is None or not last.finished:
            return
        t = last.partial
        model = DefendedModel(
            defence=self.name, scores=t.scores, trained_on=data.is_member, utility=dict(t.utility),
            epsilon=float(t.epsilon), delta=float(t.delta),
            noise_multiplier=float(t.noise_multiplier), sample_rate=float(t.sample_rate),
            steps=int(t.steps), seconds=float(t.seconds), state_dict=t.state_dict)
        yield Progress(self.title, 1, 1, f"{self.title}: ready.", partial=model)

    def config(self, settings, n_train: int):
        return self.stage_for(settings).train_config()

    def stage_for(self, settings):
        from ..experiments.membership import DPTarget

        return DPTarget(settings, float(self.epsilon))

    def update(self, data, *, cache):
        """One DP-SGD step on one X-ray at the σ this ε needs in training (solved once)."""
        from ..attacks.reconstruction import Defense

        sigma = self.stage(data).training.plan(cache=cache).noise_multiplier
        return Defense(clip_norm=data.scenario.membership.max_grad_norm,
                       noise_multiplier=float(sigma)), 1


@dataclass(frozen=True)
class _TrainedWith(Defence):
    """A defence that is one TrainConfig, trained through TrainModel on the members."""

    def _stage(self, data):
        from ..experiments import TrainModel

        config = self.config(data.scenario.membership, len(data.population.members))
        return TrainModel(config, data=data.members, test_data=data.test)

    def estimate_seconds(self, data) -> float:
        return self._stage(data).estimate_seconds() + 1.0

    def seconds_left(self, data, cache) -> float:
        return self._stage(data).seconds_left(cache) + 1.0

    def train(self, data, *, cache, stop, device=None):
        t0 = time.perf_counter()
        last = None
        for last in _records(self._stage(data), self.title, cache=cache, stop=stop, device=device):
            if not last.finished:
                yield last
        if last is None or not last.finished:
            return
        r = last.partial
        model = DefendedModel(
            defence=self.name, scores=_scores(data, r.state_dict), trained_on=data.is_member,
            utility=dict(r.test_metrics), epsilon=float(r.epsilon), delta=float(r.delta),
            noise_multiplier=float(r.noise_multiplier), sample_rate=float(r.sample_rate),
            steps=int(r.steps), seconds=float(r.seconds) if r.seconds else
            time.perf_counter() - t0, state_dict=r.state_dict)
        yield Progress(self.title, 1, 1, f"{self.title}: ready.", partial=model)


def _ordinary(s, **changes):
    """The shadow models' recipe as a TrainConfig (Adam, no augmentation, no averaging)."""
    from ..training import TrainConfig

    base = dict(size=s.size, epochs=s.shadow_epochs, batch_size=s.batch_size, lr=s.lr,
                optimizer="adam", augment=False, ema=0.0, standardize=False, zero_head=False,
                seed=s.seed, val_fraction=0.0, width=s.width, activation=s.activation)
    base.update(changes)
    return TrainConfig(**base)


@dataclass(frozen=True)
class ClipOnly(_TrainedWith):
    """DP-SGD's recipe and per-image clipping at the scenario's C, without noise (ε = ∞)."""

    kind: ClassVar[str] = "clip"

    def config(self, settings, n_train: int):
        from ..training import TrainConfig

        s = settings
        return TrainConfig(size=s.size, epochs=s.dp_epochs, batch_size=s.dp_batch_size,
                           lr=s.dp_lr, clip_only=True, delta=s.delta,
                           max_grad_norm=s.max_grad_norm, seed=s.seed, val_fraction=0.0,
                           width=s.width, activation=s.activation)

    def update(self, data, *, cache):
        from ..attacks.reconstruction import Defense

        return Defense(clip_norm=data.scenario.membership.max_grad_norm), 1


@dataclass(frozen=True)
class TopK(_TrainedWith):
    """Ordinary training whose every step keeps only the largest ``fraction`` of the gradient."""

    fraction: float = 0.1
    kind: ClassVar[str] = "topk"

    def __post_init__(self) -> None:
        check_real("fraction", self.fraction, low=0.0, high=1.0, low_inclusive=False,
                   high_inclusive=False, hint="It is the share of gradient entries kept.")

    def config(self, settings, n_train: int):
        return _ordinary(settings, topk_fraction=float(self.fraction))

    def update(self, data, *, cache):
        from ..attacks.reconstruction import Defense

        return Defense(topk_fraction=float(self.fraction)), 1


@dataclass(frozen=True)
class LargeBatch(_TrainedWith):
    """Ordinary training with batches of ``batch_size`` (each image's pull on a step is
    averaged with more others; fewer steps). The reconstruction attack sees an update of
    ``update_batch`` X-rays (a CPU-sized stand-in for a whole batch)."""

    batch_size: int = 256
    update_batch: int = 8
    kind: ClassVar[str] = "batch"

    def __post_init__(self) -> None:
        check_int("batch_size", self.batch_size, low=2)
        check_int("update_batch", self.update_batch, low=2, high=64)

    def config(self, settings, n_train: int):
        if self.batch_size >= n_train:
            raise InvalidParameterError(
                f"`batch_size` {self.batch_size} must be below the {n_train} training X-rays.")
        return _ordinary(settings, batch_size=self.batch_size)

    def update(self, data, *, cache):
        from ..attacks.reconstruction import Defense

        return Defense(), self.update_batch


@dataclass(frozen=True)
class FedAvg(Defence):
    """FedAvg: the members are split by patient across ``sites`` hospitals (uneven sizes and
    pneumonia rates), each takes ``local_steps`` SGD steps per round; only changes travel.
    Members no hospital received are not trained on (``trained_on`` says so)."""

    sites: int = 4
    rounds: int = 30
    local_steps: int = 10
    batch_size: int = 32
    lr: float = 0.05
    kind: ClassVar[str] = "fedavg"

    def __post_init__(self) -> None:
        check_int("sites", self.sites, low=2, high=6)
        check_int("rounds", self.rounds, low=1, high=1000)
        check_int("local_steps", self.local_steps, low=1, high=1000)
        check_int("batch_size", self.batch_size, low=1)
        check_positive("lr", self.lr)

    def stage(self, data):
        from ..federated import Federation, FederationSettings, default_sites

        s = data.scenario.membership
        if s.activation != "tanh":
            raise InvalidParameterError(
                f"FedAvg hospitals train the tanh SmallCNN; the scenario uses "
                f"{s.activation!r}. Use activation='tanh'.")
        settings = FederationSettings(size=s.size, sites=default_sites(self.sites),
                                      rounds=self.rounds, local_steps=self.local_steps,
                                      batch_size=self.batch_size, lr=self.lr, width=s.width,
                                      delta=s.delta, seed=s.seed)
        return Federation(settings, pool=data.members, test_data=data.test)

    def estimate_seconds(self, data) -> float:
        return self.stage(data).estimate_seconds() + 1.0

    def seconds_left(self, data, cache) -> float:
        return self.stage(data).seconds_left(cache) + 1.0

    def train(self, data, *, cache, stop, device=None):
        from .data import POPULATION_INDEX

        fed = self.stage(data)
        last = None
        for last in _records(fed, self.title, cache=cache, stop=stop, device=device):
            if not last.finished:
                yield last
        if last is None or not last.finished:
            return
        r = last.partial
        trained_on = np.zeros(len(data.population.patient_ids), dtype=bool)
        for h in fed.hospitals:
            trained_on[np.asarray(h.data.metadata[POPULATION_INDEX])] = True
        model = DefendedModel(
            defence=self.name, scores=_scores(data, r.state_dict), trained_on=trained_on,
            utility=dict(r.test_metrics), epsilon=math.inf,
            delta=data.scenario.membership.delta, noise_multiplier=0.0, sample_rate=0.0,
            steps=self.rounds * self.local_steps, seconds=float(r.seconds),
            state_dict=r.state_dict)
        yield Progress(self.title, 1, 1, f"{self.title}: ready.", partial=model)

    def update(self, data, *, cache):
        from ..attacks.reconstruction import Defense

        return Defense(local_steps=self.local_steps, local_lr=self.lr), 1


# ---------------------------------------------------------------------------- registry

DEFENCES: dict[str, Defence] = {}


def register_defence(defence: Defence) -> Defence:
    """Add ``defence`` to :data:`DEFENCES` under its name."""
    if not isinstance(defence, Defence) or not dataclasses.is_dataclass(defence):
        raise InvalidParameterError(
            f"`defence` must be a Defence dataclass; got {type(defence).__name__}.")
    if defence.name in DEFENCES and DEFENCES[defence.name] != defence:
        raise InvalidParameterError(f"A different defence is already registered as "
                                    f"{defence.name!r}; choose another name.")
    DEFENCES[defence.name] = defence
    return defence


def get_defence(name: str) -> Defence:
    """The defence registered as ``name``."""
    if name not in DEFENCES:
        raise InvalidParameterError(
            f"`defence` must be one of {', '.join(map(repr, DEFENCES))}; got {name!r}.")
    return DEFENCES[name]


for _d in (NoDefence("none", "no defence"),
           DPSGD("dpsgd-eps1", "DP-SGD, ε = 1", epsilon=1.0),
           DPSGD("dpsgd-eps8", "DP-SGD, ε = 8", epsilon=8.0),
           ClipOnly("clip-only", "clipping only (no noise)"),
           TopK("topk-10", "top-10 % gradient pruning", fraction=0.1),
           LargeBatch("large-batch", "batches of 256", batch_size=256),
           FedAvg("fedavg", "FedAvg, 4 hospitals")):
    register_defence(_d)

__all__ = ["ClipOnly", "DEFENCES", "DPSGD", "Defence", "DefendedModel", "FedAvg", "LargeBatch",
           "NoDefence", "TopK", "get_defence", "register_defence"]
