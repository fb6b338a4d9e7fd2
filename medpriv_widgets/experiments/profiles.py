"""Profiles: which stages the dashboards read, at three scales — what ``medpriv precompute`` runs.

``fast``      CI and ``MEDPRIV_FAST=1`` lessons: 28 px, ~120 images, 4 shadow models; a few
              seconds to a minute on 2 cores.
``binder``    a reader on Binder (2 cores, 2 GB) and notebooks 05 and 07 outside fast mode:
              the workshop's membership setting, fewer ε values, one training seed.
``workshop``  an instructor's laptop the night before: the membership setting with 16 shadow
              models, DP targets at ε ∈ {1, 2, 4, 8}, the training lab's ε grid over three seeds,
              the reconstructions, and lesson 01's re-identification network (64 px, 8
              epochs). ``medpriv bench mia`` measures exactly this membership setting
              (:data:`~medpriv_widgets.experiments.membership.MEMBERSHIP`).

The ``sigma`` part solves, for every ε of the private-training lab's slider, the noise σ it
needs (:class:`~medpriv_widgets.experiments.noise.NoiseForEpsilon`, seconds each), so that the
slider's first move answers at once even where no model was trained (Binder's ``postBuild``).

The workshop profile contains every stage of the binder profile (the same settings, a larger ε
grid, more seeds; tested), so ``medpriv precompute --profile workshop`` prepares the lessons,
which read the binder profile outside fast mode.

A profile is data; :func:`profile_stages` turns it into a plain list of stages, which the CLI
(with a tqdm bar), every dashboard's "Compute" button (progress bar and Stop) and the tests
iterate the same way, through :func:`~medpriv_widgets.experiments.run_stages`. Cached stages
cost nothing, so a second run is instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._validate import check_choice, check_int
from ..attacks.reidentification import ReidSettings, ReidTraining
from ..errors import InvalidParameterError
from .membership import MEMBERSHIP, DPTarget, MembershipSettings, ShadowModels
from .membership.reconstruction import TargetReconstruction
from .noise import noise_grid
from .stage import Stage
from .training import training_grid

INF = math.inf

#: What a profile can compute, in the order it is computed.
PARTS = ("sigma", "membership", "equal_epsilon", "reconstruction", "training",
         "reidentification")


@dataclass(frozen=True)
class Profile:
    """The settings one audience's dashboards read.

    ``membership``: the membership experiment; ``epsilons``: its DP targets (∞ = the non-private
    one, trained with the shadow models); ``equal_epsilon`` and ``equal_settings`` ((label, DP
    batch size, DP epochs) pairs): the equal-ε explorer, two DP-SGD settings with the same ε;
    ``train_seeds``: seeds of the private-training lab's ε grid (64 px); ``reconstruction_
    iterations``: attack iterations of the reconstruction sweep; ``reid``: lesson 01's
    re-identification network (``None``: not part of this profile).
    """

    name: str
    membership: MembershipSettings
    epsilons: tuple[float, ...]
    equal_epsilon: float
    equal_settings: tuple[tuple[str, int, int], ...]
    train_seeds: tuple[int, ...]
    reconstruction_iterations: int
    reid: ReidSettings | None = None

    def __post_init__(self) -> None:
        members = (self.membership.n_population or 10**9) // 2
        for _label, batch, _epochs in self.equal_settings:
            if batch >= members:  # an expected batch as large as the members would mean q = 1
                raise InvalidParameterError(
                    f"The equal-ε DP batch size must be below the {members} members; got {batch}.")


PROFILES: dict[str, Profile] = {
    "fast": Profile(
        name="fast",
        membership=MembershipSettings(size=28, n_population=120, n_shadows=4, shadow_epochs=60,
                                      batch_size=16, width=8, lr=3e-3, dp_epochs=2,
                                      dp_batch_size=16),
        epsilons=(1.0, 8.0, INF), equal_epsilon=8.0,
        equal_settings=(("small batches, few epochs", 8, 1), ("large batches, many epochs", 40, 6)),
        train_seeds=(), reconstruction_iterations=20),
    "binder": Profile(
        name="binder", membership=MEMBERSHIP, epsilons=(1.0, 4.0, 8.0, INF), equal_epsilon=4.0,
        # 500 members: q = 16/500 for 2 epochs vs q = 1/2 for 30 epochs.
        equal_settings=(("small batches, few epochs", 16, 2),
                        ("large batches, many epochs", 250, 30)),
        train_seeds=(0,), reconstruction_iterations=150),
    "workshop": Profile(
        name="workshop", membership=MEMBERSHIP, epsilons=(1.0, 2.0, 4.0, 8.0, INF),
        equal_epsilon=4.0,
        equal_settings=(("small batches, few epochs", 16, 2),
                        ("large batches, many epochs", 250, 30)),
        train_seeds=(0, 1, 2), reconstruction_iterations=150,
        reid=ReidSettings(size=64, epochs=8)),
}


def get_profile(name: str) -> Profile:
    """The :class:`Profile` called ``name`` ('fast', 'binder' or 'workshop')."""
    return PROFILES[check_choice("profile", name, PROFILES)]


def membership_settings(name: str, *, seed: int = 0) -> MembershipSettings:
    """The membership settings of profile ``name`` with ``seed``."""
    return get_profile(name).membership.with_(seed=check_int("seed", seed, low=0))


def check_epsilon(profile: Profile, epsilon: float) -> float:
    """``epsilon`` if it is on the profile's grid; otherwise an error naming the grid (never a
    silent substitute: an off-grid ε must not quietly become another, less private setting)."""
    if epsilon not in profile.epsilons:
        allowed = ", ".join("∞" if math.isinf(e) else f"{e:g}" for e in profile.epsilons)
        raise InvalidParameterError(
            f"`epsilon` must be one of the '{profile.name}' profile's values ({allowed}); got "
            f"{epsilon!r}. Pick one of those, or use another profile.")
    return float(epsilon)


def profile_stages(name: str, *, parts=PARTS, seed: int = 0) -> list[Stage]:
    """Every stage profile ``name`` needs for ``parts`` (any of :data:`PARTS`), in order."""
    profile = get_profile(name)
    parts = tuple(parts)
    for part in parts:
        check_choice("parts", part, PARTS)
    settings = membership_settings(name, seed=seed)
    stages: list[Stage] = []
    if "sigma" in parts:
        from ..training import DEFAULT_EPSILONS, TrainConfig

        for s in profile.train_seeds:
            stages += noise_grid(base=TrainConfig(seed=s), epsilons=DEFAULT_EPSILONS)
    if "membership" in parts:
        stages.append(ShadowModels(settings))
        stages += [DPTarget(settings, eps) for eps in profile.epsilons if math.isfinite(eps)]
    if "equal_epsilon" in parts:
        stages += [DPTarget(settings, profile.equal_epsilon, batch, epochs)
                   for _label, batch, epochs in profile.equal_settings]
    if "reconstruction" in parts:
        stages += [TargetReconstruction(settings, eps, profile.reconstruction_iterations)
                   for eps in profile.epsilons]
    if "training" in parts:
        from ..training import TrainConfig

        for s in profile.train_seeds:
            stages += training_grid(base=TrainConfig(seed=s))
    if "reidentification" in parts and profile.reid is not None:
        stages.append(ReidTraining.for_settings(profile.reid))
    return stages


__all__ = ["PARTS", "PROFILES", "Profile", "check_epsilon", "get_profile", "membership_settings",
           "profile_stages"]
