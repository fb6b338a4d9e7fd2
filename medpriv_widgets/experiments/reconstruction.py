"""Reconstruction experiments: the victim model of a round, and a cached sweep over DP noise.

::

    sweep = ReconstructionSweep(size=28, split="train", index=3, sigmas=(0.0, 0.01, 0.1),
                                iterations=150, seed=0)          # nothing computed yet
    for p in sweep.run(cache=store, stop=token):                 # progress; Stop works
        bar.update(p.fraction, p.message)
    result = sweep.load(store)                                   # a SweepResult, instantly

The sweep names the attacked X-ray by data reference (size, split, index), loads it itself and
adds a fingerprint of the pixels to its cache key, so results on synthetic phantoms and on real
X-rays never share an entry. Its victim is one of
:data:`~medpriv_widgets.attacks.reconstruction.victim.ARCHITECTURES` at one of the
:data:`~medpriv_widgets.attacks.reconstruction.victim.STATES`; a trained classifier comes from
the :class:`~medpriv_widgets.experiments.training.TrainModel` stage (the project's one training
path, cached in the same ``cache``), so it is the very model lesson 03 trains without DP.

The informed server's prior (the population's mean X-ray) and the malicious server's imprint
bins come from a split the hospital's X-ray is not in: 'train' when attacking 'test' or 'val',
else 'test'.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch

from .._validate import check_choice, check_int, check_positive
from ..cache import ResultStore
from ..errors import InvalidParameterError
from ..progress import Progress
from ..stopping import StopToken
from .stage import Stage
from .training import TrainModel

#: Seconds per attack iteration for one 64 px X-ray on one CPU thread (measured on a loaded
#: 2-core machine, load average ≈ 4; L-BFGS with the strong-Wolfe line search, float64).
#: Cost grows about with the pixels and the batch.
SECONDS_PER_ITERATION_64PX = {
    ("lenet", "inverting_gradients"): 0.035, ("lenet", "dlg"): 0.035,
    ("classifier", "inverting_gradients"): 0.065, ("classifier", "dlg"): 0.065,
    ("wide_head", "inverting_gradients"): 0.03, ("wide_head", "dlg"): 0.03,
}
_FEATURE_FIT_SECONDS_PER_ITERATION_64PX = 0.004
_PUBLIC_SPLIT = {"test": "train", "val": "train", "train": "test"}


def victim_stage(*, arch: str, state: str, size: int, seed: int = 0,
                 n_train: int | None = None) -> TrainModel | None:
    """The TrainModel stage that trains the victim, or None for an untrained victim."""
    from ..attacks.reconstruction.victim import check_state, resolve_arch, victim_train_config

    from ..data import SyntheticDataWarning
    from ..training import resolve_data

    arch = resolve_arch(arch)
    if check_state(arch, state) == "untrained":
        return None
    config = victim_train_config(size=size, state=state, seed=seed, n_train=n_train)
    with warnings.catch_warnings():
        # Synthetic data is announced in the sweep's caption and the widgets, not as a warning.
        warnings.simplefilter("ignore", SyntheticDataWarning)
        pool, test = resolve_data(config)
    return TrainModel(config, data=pool, test_data=test)


def victim_records(*, arch: str, state: str, size: int, seed: int = 0,
                   n_train: int | None = None, cache: ResultStore | None,
                   stop: StopToken | None = None, device=None) -> Iterator[Progress]:
    """The server's model of this round, as Progress records; the last one carries the frozen
    model (``partial``), or ``stopped=True`` when training was stopped.

    Untrained victims are built at once; a trained classifier is read from ``cache`` or
    trained through :class:`TrainModel` (its epochs are the records).
    """
    from ..attacks.reconstruction.victim import ARCHITECTURES, STATES, freeze, make_victim_model
    from ..training import load_model

    stage = victim_stage(arch=arch, state=state, size=size, seed=seed, n_train=n_train)
    title = f"{ARCHITECTURES[_arch(arch)]}, {STATES[state]}"
    if stage is None:
        yield Progress(title, 1, 1, f"{title}: ready.",
                       partial=make_victim_model(arch=arch, size=size, seed=seed))
        return
    last = None
    for last in stage.run(cache=cache, stop=stop, device=device):
        if last.stopped:
            yield last.with_(stage=title)
            return
        if not last.finished:
            yield last.with_(stage=title, partial=None)
    result = last.partial
    yield Progress(title, 1, 1, f"{title}: ready.", partial=freeze(load_model(result)))


SERVERS = {"honest": "honest-but-curious server", "malicious": "malicious server"}


def attack_records(*, images: torch.Tensor, labels, arch: str = "lenet",
                   state: str = "untrained", server: str = "honest", defense=None,
                   attack: str = "inverting_gradients", iterations: int = 200,
                   restarts: int = 1, seed: int = 0, public_images: torch.Tensor | None = None,
                   informed: bool = True, bins: int = 256, n_train: int | None = None,
                   frame_every: int = 5, cache: ResultStore | None = None,
                   stop: StopToken | None = None, device=None,
                   score=None) -> Iterator[Progress]:
    """One attack as the lab runs it: the victim of this round (trained and cached if needed),
    the hospital's defended update on ``images``, the server's attack on it.

    Records while the victim is prepared carry no ``partial``; the attack's records carry its
    Frame; the last record is finished or ``stopped``. Settings are checked when called.

    Parameters
    ----------
    images, labels : the hospital's batch (B, 1, H, W) in [0, 1] and its labels (B,).
    arch, state : the honest server's model (see ``ARCHITECTURES`` and ``STATES``); behind the
        malicious server's imprint module, the classifier it hides behind.
    server : 'honest' (attacks 'inverting_gradients', 'dlg', 'linear_head') or 'malicious'
        (attack 'imprint', ``bins`` imprint neurons).
    defense : a :class:`~medpriv_widgets.attacks.reconstruction.Defense` (None: none).
    public_images : the server's own X-rays (its prior and imprint bins); needed when
        ``informed`` or ``server='malicious'``.
    cache : where a trained victim is read from / stored (TrainModel's cache).
    Others as in :func:`~medpriv_widgets.attacks.reconstruction.reconstruct`.
    """
    from ..attacks.reconstruction import Defense, check_images, resolve_attack
    from ..attacks.reconstruction.victim import check_state, resolve_arch

    images = check_images(images)
    check_choice("server", server, SERVERS)
    attack = resolve_attack(attack)
    if (server == "malicious") != (attack == "imprint"):
        raise InvalidParameterError(
            f"`attack` {attack!r} does not fit a {SERVERS[server]}: the malicious server's "
            f"model is attacked with 'imprint', an honest server's with 'inverting_gradients', "
            f"'dlg' or 'linear_head'.")
    check_state(resolve_arch(arch), state)
    defense = Defense() if defense is None else defense
    if (informed or server == "malicious") and public_images is None:
        raise InvalidParameterError(
            "`public_images` must be given: the informed server's prior and the malicious "
            "server's imprint bins come from X-rays the server already has.")
    if server == "malicious" and images.shape[0] > bins:
        raise InvalidParameterError(
            f"The imprint module has {bins} bins, so it separates at most {bins} X-rays; the "
            f"batch holds {images.shape[0]}. Raise `bins` or lower the batch size.")
    return _attack_records(images, labels, arch, state, server, defense, attack, iterations,
                           restarts, seed, public_images, informed, bins, n_train, frame_every,
                           cache, stop, device, score)


def _attack_records(images, labels, arch, state, server, defense, attack, iterations, restarts,
                    seed, public_images, informed, bins, n_train, frame_every, cache, stop,
                    device, score) -> Iterator[Progress]:
    from ..attacks.reconstruction import (client_update, malicious_model, population_prior,
                                          reconstruct)

    model = None
    for rec in victim_records(arch=arch, state=state, size=int(images.shape[-1]), seed=seed,
                              n_train=n_train, cache=cache, stop=stop, device=device):
        if rec.stopped:
            yield rec
            return
        if rec.finished:
            model = rec.partial
        else:
            yield rec
    if server == "malicious":
        model = malicious_model(public_images=public_images, bins=bins, base=model, seed=seed)
    update = client_update(model=model, images=images, labels=labels, defense=defense,
                           seed=seed)
    kwargs = dict(model=model, update=update, attack=attack, seed=seed, stop=stop, score=score)
    if attack != "imprint":
        kwargs.update(iterations=iterations, frame_every=frame_every, device=device,
                      prior=population_prior(public_images) if informed else None)
    if attack in ("inverting_gradients", "dlg"):
        kwargs.update(restarts=restarts)
    yield from reconstruct(**kwargs)


def _arch(arch: str) -> str:
    from ..attacks.reconstruction.victim import resolve_arch

    return resolve_arch(arch)


@dataclass(frozen=True)
class ReconstructionSweep(Stage):
    """Attack one batch of X-rays once per DP noise level σ; result: a SweepResult.

    Fields
    ------
    size : 28, 64 or 128 (pixels; selects the data file and the victim).
    split : 'train', 'val' or 'test' of ``load_dataset(size=size, split=split)``.
    index : position of the attacked X-ray in that split (the batch is it and the next
        ``batch_size − 1``, wrapping).
    sigmas : noise multipliers σ ≥ 0, one attack each (after one DP-SGD step: clip at
        ``clip_norm``, Gaussian noise σ·C).
    iterations : optimiser iterations per attack (ignored by 'imprint').
    seed : victim weights, noise and the attack's start.
    arch, state : the victim (see ``ARCHITECTURES`` and ``STATES``).
    attack : 'inverting_gradients', 'dlg', 'linear_head' (batch of one) or 'imprint' (the
        malicious server puts ``bins`` imprint neurons in front of the victim).
    clip_norm : C > 0. batch_size : B ≥ 1. restarts : starts of the optimisation attacks.
    informed : start the optimisation from the population's mean X-ray (the informed server).
    bins : imprint bins ('imprint' only).
    n_train : train the victim on this many X-rays only (None: all; small for tests).
    """

    size: int
    split: str
    index: int
    sigmas: tuple[float, ...]
    iterations: int
    seed: int = 0
    arch: str = "lenet"
    state: str = "untrained"
    attack: str = "inverting_gradients"
    clip_norm: float = 1.0
    batch_size: int = 1
    restarts: int = 1
    informed: bool = True
    bins: int = 256
    n_train: int | None = None

    namespace: ClassVar[str] = "reconstruction-sweep"

    def __post_init__(self) -> None:
        from ..attacks.reconstruction import resolve_attack
        from ..attacks.reconstruction.sweep import check_sigmas
        from ..attacks.reconstruction.victim import check_state, resolve_arch
        from ..data import SIZES, SPLITS

        check_choice("size", self.size, SIZES)
        check_choice("split", self.split, SPLITS)
        check_int("index", self.index, low=0)
        object.__setattr__(self, "sigmas", check_sigmas(self.sigmas))
        check_int("iterations", self.iterations, low=1, high=100_000)
        check_int("seed", self.seed, low=0)
        object.__setattr__(self, "arch", resolve_arch(self.arch))
        check_state(self.arch, self.state)
        object.__setattr__(self, "attack", resolve_attack(self.attack))
        object.__setattr__(self, "clip_norm", check_positive("clip_norm", self.clip_norm))
        check_int("batch_size", self.batch_size, low=1, high=256)
        check_int("restarts", self.restarts, low=1, high=50)
        check_choice("informed", self.informed, (True, False))
        check_int("bins", self.bins, low=2, high=4096)
        if self.n_train is not None:
            check_int("n_train", self.n_train, low=2)
        if self.attack == "linear_head" and self.batch_size != 1:
            raise InvalidParameterError(
                f"`attack` 'linear_head' reads ONE X-ray off the last layer; got batch_size "
                f"{self.batch_size}. Use batch_size=1, or 'inverting_gradients' / 'imprint' for "
                f"batches.")
        if self.attack == "imprint" and self.batch_size > self.bins:
            raise InvalidParameterError(
                f"`batch_size` ({self.batch_size}) must be at most `bins` ({self.bins}): the "
                f"imprint module separates at most one X-ray per bin. Raise bins.")

    # ------------------------------------------------------------------ data
    @property
    def public_split(self) -> str:
        """The split the server's prior and imprint bins come from (never the attacked one)."""
        return _PUBLIC_SPLIT[self.split]

    @functools.cached_property
    def _data(self):
        from ..data import SyntheticDataWarning, load_dataset

        with warnings.catch_warnings():
            # Synthetic data is announced in the result's caption and in every figure title.
            warnings.simplefilter("ignore", SyntheticDataWarning)
            data = load_dataset(size=self.size, split=self.split, seed=self.seed)
        if self.index >= len(data):
            raise InvalidParameterError(
                f"`index` must be below {len(data)}, the number of X-rays in the {self.split!r} "
                f"split at {self.size} px; got {self.index}.")
        if self.batch_size > len(data):
            raise InvalidParameterError(
                f"`batch_size` must be at most {len(data)}, the X-rays in the {self.split!r} "
                f"split; got {self.batch_size}.")
        return data

    @functools.cached_property
    def _public(self):
        from ..data import SyntheticDataWarning, load_dataset

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntheticDataWarning)
            return load_dataset(size=self.size, split=self.public_split, seed=self.seed + 1)

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The attacked X-rays (B, 1, H, W) and labels (B,)."""
        from ..attacks.reconstruction import select_batch

        data = self._data
        return select_batch(data.images, data.labels, batch_size=self.batch_size,
                            index=self.index)

    @property
    def caption(self) -> str:
        """What is attacked, in words (for figure titles and the result)."""
        from ..attacks.reconstruction import ATTACKS
        from ..attacks.reconstruction.victim import ARCHITECTURES, STATES

        what = (f"X-ray #{self.index}" if self.batch_size == 1
                else f"X-rays #{self.index}–{self.index + self.batch_size - 1}")
        return (f"{what} of the {self.split} split ({self._data.caption}); "
                f"{ARCHITECTURES[self.arch]}, {STATES[self.state]}; "
                f"{ATTACKS[self.attack].title}")

    # ------------------------------------------------------------------ stage
    @property
    def title(self) -> str:
        return f"reconstruction sweep (X-ray #{self.index}, {self.split}, {self.size} px)"

    def key(self) -> dict:
        from ..attacks.reconstruction.sweep import images_digest

        images, labels = self.batch()
        h = images_digest(images, labels)
        key = {**super().key(), "data": h, "synthetic": bool(self._data.synthetic),
               "source": self._data.source}
        if self.informed or self.attack == "imprint":
            key["public"] = self._public.fingerprint
        victim = self.victim_stage()
        if victim is not None:
            key["victim"] = victim.key()
        return key

    def victim_stage(self) -> TrainModel | None:
        return victim_stage(arch=self.arch, state=self.state, size=self.size, seed=self.seed,
                            n_train=self.n_train)

    def attack_seconds(self) -> float:
        """Estimated seconds of the attacks alone (2 CPU cores, see the module constants)."""
        if self.attack == "imprint":
            return 0.5 * len(self.sigmas)
        scale = (self.size / 64) ** 2 * self.batch_size
        per = (_FEATURE_FIT_SECONDS_PER_ITERATION_64PX if self.attack == "linear_head"
               else SECONDS_PER_ITERATION_64PX[(self.arch, self.attack)] * self.restarts)
        return len(self.sigmas) * (1.0 + self.iterations * per * scale)

    def estimate_seconds(self) -> float:
        victim = self.victim_stage()
        return self.attack_seconds() + (0.0 if victim is None else victim.estimate_seconds())

    def seconds_left(self, cache: ResultStore | None) -> float:
        if self.is_done(cache):
            return 0.0
        victim = self.victim_stage()
        return self.attack_seconds() + (0.0 if victim is None else victim.seconds_left(cache))

    def compute(self, *, cache: ResultStore | None, stop: StopToken | None,
                device=None) -> Iterator[Progress]:
        from ..attacks.reconstruction import malicious_model, population_prior, sweep_sigmas

        images, labels = self.batch()
        victim_w = max(self.seconds_left(cache) - self.attack_seconds(), 0.0)
        total = victim_w + self.attack_seconds()
        model = None
        for rec in victim_records(arch=self.arch, state=self.state, size=self.size,
                                  seed=self.seed, n_train=self.n_train, cache=cache, stop=stop,
                                  device=device):
            if rec.stopped:
                yield Progress(self.title, victim_w * rec.fraction, total,
                               f"stopped while preparing the victim: {rec.message}",
                               stopped=True)
                return
            if rec.finished:
                model = rec.partial
            else:
                yield Progress(self.title, victim_w * rec.fraction, total,
                               f"preparing the victim: {rec.message}")
        public = self._public.images if (self.informed or self.attack == "imprint") else None
        if self.attack == "imprint":
            model = malicious_model(public_images=public, bins=self.bins, base=model,
                                    seed=self.seed)
        prior = population_prior(public) if self.informed and self.attack != "imprint" else None
        settings = {**{k: v for k, v in super().key().items() if k != "stage"},
                    "caption": self.caption}
        for rec in sweep_sigmas(model=model, images=images, labels=labels, sigmas=self.sigmas,
                                clip_norm=self.clip_norm, attack=self.attack,
                                iterations=self.iterations, seed=self.seed,
                                restarts=self.restarts, prior=prior, device=device, stop=stop,
                                caption=self.caption, settings=settings):
            yield rec.with_(stage=self.title, done=victim_w + self.attack_seconds() * rec.fraction,
                            total=total)


def expected_share_alone(*, batch: int, bins: int) -> float:
    """Chance that one X-ray of a batch of B has its imprint bin to itself, (1 − 1/k)^(B−1),
    when the bins are equally likely (the server places them at quantiles of public data)."""
    batch = check_int("batch", batch, low=1)
    bins = check_int("bins", bins, low=1)
    return math.pow(1.0 - 1.0 / bins, batch - 1)


__all__ = ["ReconstructionSweep", "SERVERS", "attack_records", "expected_share_alone",
           "victim_records", "victim_stage"]
