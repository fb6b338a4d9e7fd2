"""Build every cache the dashboards need, before a workshop: ``medpriv precompute --profile``.

Profiles (the same settings the notebooks use, so their sliders answer from the cache):

``fast``      CI and ``MEDPRIV_FAST=1`` lessons: 28 px, ~120 images, 4 shadow models; a few
              seconds to a minute on 2 cores.
``binder``    a reader on Binder (2 cores, 2 GB) and notebooks 05 and 07 outside fast mode:
              the workshop's membership setting (below), fewer ε values, one training seed.
``workshop``  an instructor's laptop the night before: the membership setting below with 16
              shadow models, DP targets at ε ∈ {1, 2, 4, 8}, the training module's ε grid over
              three seeds, reconstruction sweeps. ``medpriv bench mia`` measures exactly this
              membership setting.

Why this membership setting (:data:`MEMBERSHIP`). A membership lesson needs a non-private
model that really leaks, trained the way people train small models. On the whole training
split (4,708 X-rays, 2,354 per model, 20 epochs) the target generalised so well that LiRA was
at chance (AUC 0.50). Small clinical data sets are common and more exposed, so the population
is 1,000 training X-rays cut by patient (500 members, 500 non-members, every shadow model on a
patient-disjoint half of 500), and each model trains until its training loss is near zero
(80 epochs, batch 32, Adam 3e-3, no augmentation). Measured on one CPU thread of a shared
machine (K = 16 shadows + the target; "s" is the shadow run: CPU seconds where given, else
wall seconds while other jobs shared the core; online LiRA, one view, shared variance):

=========================================  ======  ========  =========  =======  ========
setting (N = 1,000, batch 32, tanh)        s       LiRA AUC  TPR@0.1 %  TPR@1 %  test AUC
=========================================  ======  ========  =========  =======  ========
all 4,708 images, width 16, 20 ep, b 64    358 w*  0.50      0.002      —        —
width 16, 40 epochs                        279 w   0.55      0.018      0.034    0.95
width 16, 40 epochs, ReLU                  337 w   0.59      0.020      0.058    0.93
width 16, 40 epochs, cosine decay          372 w   0.53      0.010      0.020    0.95
width 16, 60 epochs                        359 w   0.65      0.046      0.094    0.95
width 8, 80 epochs (chosen)                137     0.64      0.042      0.068    0.94
width 8, 120 epochs                        220     0.64      0.040      0.068    0.94
=========================================  ======  ========  =========  =======  ========

(w: wall seconds; * on two threads, with the flipped view.) Width 8 (3,682 parameters)
costs about half of width 16 per step and memorises as well once trained longer; beyond 80
epochs nothing changes (the training loss is already ~0.002). ``medpriv bench mia`` at this
setting: 139 CPU s, LiRA AUC 0.64, TPR 0.042 at 0.1 % FPR (95 % CI 0.026–0.064), 0.068 at
1 %; the loss-threshold attack only reaches AUC 0.54. Scoring views: adding the horizontal
flip (or four 1-pixel shifts) *lowered* the attack (0.65 → 0.63 → 0.62 at width 16, 60 epochs),
because the models never saw flipped or shifted images; one view is kept (``augment=False``).
One variance per view shared by all examples (``fix_variance=True``) beat per-example
variances with 8 "in" and 8 "out" models (AUC 0.65 vs 0.62; TPR@0.1 % 0.046 vs 0.012).
DP targets use the training module's DP-SGD recipe (SGD, EMA, per-image standardisation) with
batch 64 for 20 epochs: at ε = 8 the test AUC is 0.94, as high as the non-private model's.

Every piece is cached (:class:`~medpriv_widgets.cache.ResultCache`), so a second call is
instant. The time estimate printed first comes from per-step costs measured on a CPU.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ._validate import check_choice
from .stopping import StopToken, stop_requested

INF = math.inf

#: The membership setting of the workshop and Binder profiles and of ``medpriv bench mia``
#: (see the module docstring for why).
MEMBERSHIP: dict = dict(size=28, n_population=1000, n_shadows=16, shadow_epochs=80, batch_size=32,
                        width=8, lr=3e-3, activation="tanh", augment=False,
                        dp_epochs=20, dp_batch_size=64)

PROFILES: dict[str, dict] = {
    "fast": {
        "membership": dict(size=28, n_population=120, n_shadows=4, shadow_epochs=60,
                           batch_size=16, width=8, lr=3e-3, dp_epochs=2, dp_batch_size=16),
        "epsilons": (1.0, 8.0, INF),
        # Equal ε, different DP-SGD settings: (label, dp_batch_size, dp_epochs).
        "equal_epsilon": 8.0,
        "equal_settings": (("small batches, few epochs", 8, 1), ("large batches, many epochs", 40, 6)),
        "train_seeds": (),
        "reconstruction_iterations": 20,
    },
    "binder": {
        "membership": dict(MEMBERSHIP),
        "epsilons": (1.0, 4.0, 8.0, INF),
        "equal_epsilon": 4.0,
        # 500 members: q = 16/500 for 2 epochs vs q = 1/2 for 30 epochs.
        "equal_settings": (("small batches, few epochs", 16, 2), ("large batches, many epochs", 250, 30)),
        "train_seeds": (0,),
        "reconstruction_iterations": 100,
    },
    "workshop": {
        "membership": dict(MEMBERSHIP),
        "epsilons": (1.0, 2.0, 4.0, 8.0, INF),
        "equal_epsilon": 4.0,
        "equal_settings": (("small batches, few epochs", 16, 2), ("large batches, many epochs", 250, 30)),
        "train_seeds": (0, 1, 2),
        "reconstruction_iterations": 150,
    },
}


def profile_settings(profile: str) -> dict:
    """The settings dict of a profile (see :data:`PROFILES`)."""
    return PROFILES[check_choice("profile", profile, PROFILES)]


def membership_experiment(profile: str, *, seed: int = 0):
    """The :class:`~medpriv_widgets.attacks.membership.MembershipExperiment` of a profile."""
    from .attacks.membership import MembershipExperiment

    return MembershipExperiment(seed=seed, **profile_settings(profile)["membership"])


def reconstruction_sigmas(profile: str, *, seed: int = 0) -> list[float]:
    """σ values of the reconstruction sweep: 0 (not private) and each cached DP target's σ."""
    exp = membership_experiment(profile, seed=seed)
    sigmas = [0.0]
    for eps in profile_settings(profile)["epsilons"]:
        if math.isfinite(eps) and exp.has_target(epsilon=eps):
            sigmas.append(float(exp.cache.get(exp.target_config(epsilon=eps)).noise_multiplier))
    return sigmas


def reconstruction_for_profile(profile: str, *, seed: int = 0, compute: bool = True,
                               stop: StopToken | None = None):
    """The reconstruction sweep (attack on one member X-ray at each target's σ), or None.

    ``compute=False`` returns None instead of computing a missing sweep.
    """
    from .attacks.reconstruction import reconstruction_sweep

    exp = membership_experiment(profile, seed=seed)
    data = exp.population()
    members, _ = exp.split()
    i = int(members[0])
    kwargs = dict(images=data.images[i:i + 1], labels=data.labels[i:i + 1],
                  sigmas=reconstruction_sigmas(profile, seed=seed),
                  iterations=profile_settings(profile)["reconstruction_iterations"], seed=seed)
    if not compute:
        from .attacks.reconstruction import sweep as _sweep
        from .cache import ResultCache
        cfg = {"digest": _sweep._digest(kwargs["images"], kwargs["labels"].long()),
               "shape": list(kwargs["images"].shape), "sigmas": kwargs["sigmas"],
               "clip_norm": 1.0, "model_kind": "lenet", "trained_steps": 0,
               "attack": "inverting_gradients", "iterations": kwargs["iterations"], "seed": seed}
        return ResultCache("reconstruction_sweep").get(cfg)
    return reconstruction_sweep(stop=stop, **kwargs)


@dataclass(frozen=True)
class Job:
    """One piece of pre-computation: what it is and its estimated seconds on 2 CPU cores."""

    name: str
    seconds: float


def plan(profile: str, *, parts=("membership", "equal_epsilon", "reconstruction", "training"),
         seed: int = 0) -> list[Job]:
    """What :func:`run_precompute` would compute now (cached pieces cost ~0 s)."""
    settings = profile_settings(profile)
    exp = membership_experiment(profile, seed=seed)
    jobs: list[Job] = []
    if "membership" in parts:
        jobs.append(Job("shadow models", exp.estimate_bank_seconds()))
        for eps in settings["epsilons"]:
            if math.isfinite(eps):
                jobs.append(Job(f"DP target ε={eps:g}", exp.estimate_target_seconds(epsilon=eps)))
    if "equal_epsilon" in parts:
        for label, bs, ep in settings["equal_settings"]:
            jobs.append(Job(f"equal ε: {label}", exp.estimate_target_seconds(
                epsilon=settings["equal_epsilon"], dp_batch_size=bs, dp_epochs=ep)))
    if "reconstruction" in parts:
        try:
            cached = reconstruction_for_profile(profile, seed=seed, compute=False) is not None
        except Exception:  # noqa: BLE001 - an estimate must never fail the run
            cached = False
        jobs.append(Job("reconstruction sweep",
                        0.0 if cached else 2.0 + 0.3 * settings["reconstruction_iterations"]))
    if "training" in parts:
        for s in settings["train_seeds"]:
            jobs.append(Job(f"training grid seed {s}", 600.0))
    return jobs


def _run_jobs(profile: str, parts, seed: int, stop: StopToken | None,
              note: Callable[[str], None]) -> Iterator[str]:
    """Compute the pieces; yields one message per finished piece and passes progress inside a
    piece (which can take minutes) to ``note``."""
    settings = profile_settings(profile)
    exp = membership_experiment(profile, seed=seed)
    if "membership" in parts:
        for p in exp.run(epsilons=settings["epsilons"], stop=stop):
            if p.stage == "target ε=inf":
                continue  # the non-private target is trained with the shadow models
            note(f"{p.stage} {100 * p.fraction:.0f} %")
            if p.fraction >= 1.0 or p.stopped:
                yield p.message
            if p.stopped:
                return
    if "equal_epsilon" in parts:
        for label, bs, ep in settings["equal_settings"]:
            for p in exp.run_target(epsilon=settings["equal_epsilon"], dp_batch_size=bs,
                                    dp_epochs=ep, stop=stop):
                note(f"equal ε ({label}) {100 * p.fraction:.0f} %")
                if p.fraction >= 1.0 or p.stopped:
                    yield f"equal ε ({label}): {p.message}"
                if p.stopped:
                    return
    if "reconstruction" in parts and not stop_requested(stop):
        sweep = reconstruction_for_profile(profile, seed=seed, stop=stop)
        yield f"reconstruction sweep over σ = {sweep.sigmas}: PSNR {[round(p, 1) for p in sweep.psnr]} dB"
    if "training" in parts:
        from .training import DEFAULT_EPSILONS, TrainConfig, precompute_grid
        for s in settings["train_seeds"]:
            if stop_requested(stop):
                return
            precompute_grid(base=TrainConfig(seed=s), epsilons=DEFAULT_EPSILONS, stop=stop,
                            on_progress=lambda r, s=s: note(
                                f"training grid seed {s}: epoch {r.epoch}/{r.epochs}"),
                            on_result=lambda eps, r, s=s: note(
                                f"training grid seed {s}: ε = {eps:g} done"))
            yield f"training module ε grid, seed {s}: done"


def run_precompute(*, profile: str = "workshop",
                   parts=("membership", "equal_epsilon", "reconstruction", "training"),
                   seed: int = 0, progress: bool = True, stop: StopToken | None = None) -> list[str]:
    """Build every cache of ``profile``; prints an estimate first and a tqdm bar while working.

    Parameters
    ----------
    profile : 'fast', 'binder' or 'workshop' (see the module docstring).
    parts : any of 'membership' (shadow models + DP targets over the ε grid), 'equal_epsilon'
        (two DP-SGD settings with the same ε), 'reconstruction' (sweep at each target's σ),
        'training' (the training module's ε grid over the profile's seeds).
    progress : print the estimate and show the bar.
    stop : a StopToken; computation ends cleanly at the next check.

    Returns the list of messages, one per finished piece.
    """
    profile = check_choice("profile", profile, PROFILES)
    known = ("membership", "equal_epsilon", "reconstruction", "training")
    parts = tuple(parts)
    for part in parts:
        check_choice("parts", part, known)
    jobs = plan(profile, parts=parts, seed=seed)
    total = sum(j.seconds for j in jobs)
    if progress:
        todo = [j for j in jobs if j.seconds > 0]
        print(f"medpriv precompute --profile {profile}: {len(todo)} of {len(jobs)} pieces to "
              f"compute, about {_human(total)} on 2 CPU cores (less on a GPU).")
    from tqdm.auto import tqdm

    messages: list[str] = []
    t0 = time.perf_counter()
    with tqdm(total=len(jobs), disable=not progress, desc=f"precompute {profile}") as bar:
        for msg in _run_jobs(profile, parts, seed, stop, note=bar.set_postfix_str):
            messages.append(msg)
            bar.set_postfix_str(msg[:60])
            bar.update(1)
        bar.n = bar.total
        bar.refresh()
    if progress:
        print(f"Done in {_human(time.perf_counter() - t0)}.")
    return messages


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min"


__all__ = ["MEMBERSHIP", "PROFILES", "Job", "membership_experiment", "plan", "profile_settings",
           "reconstruction_for_profile", "reconstruction_sigmas", "run_precompute"]
