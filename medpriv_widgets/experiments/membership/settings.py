"""Settings of a membership-inference experiment, and the population it attacks.

Why the default setting (:data:`MEMBERSHIP`). A membership lesson needs a non-private model that
really leaks, trained the way people train small models. On the whole training split (4,708
X-rays, 2,354 per model, 20 epochs) the target generalised so well that LiRA was at chance (AUC
0.50). Small clinical data sets are common and more exposed, so the population is 1,000 training
X-rays cut by patient (500 members, 500 non-members, every shadow model on a patient-disjoint
half of 500), and each model trains until its training loss is near zero (80 epochs, batch 32,
Adam 3e-3, no augmentation). Measured on one CPU thread of a shared machine (K = 16 shadows + the
target; "s" is the shadow run: CPU seconds where given, else wall seconds while other jobs shared
the core; online LiRA, one view, shared variance):

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

(w: wall seconds; * on two threads, with the flipped view.) Width 8 (3,682 parameters) costs
about half of width 16 per step and memorises as well once trained longer; beyond 80 epochs
nothing changes (the training loss is already ~0.002). ``medpriv bench mia`` at this setting:
139 CPU s, LiRA AUC 0.64, TPR 0.042 at 0.1 % FPR (95 % CI 0.026–0.064), 0.068 at 1 %; the
loss-threshold attack only reaches AUC 0.54. Scoring views: adding the horizontal flip (or four
1-pixel shifts) *lowered* the attack (0.65 → 0.63 → 0.62 at width 16, 60 epochs), because the
models never saw flipped or shifted images; one view is kept (``augment=False``). One variance
per view shared by all examples (``fix_variance=True``) beat per-example variances with 8 "in"
and 8 "out" models (AUC 0.65 vs 0.62; TPR@0.1 % 0.046 vs 0.012). DP targets use the training
module's DP-SGD recipe (SGD, EMA, per-image standardisation) with batch 64 for 20 epochs: at
ε = 8 the test AUC is 0.94, as high as the non-private model's.

The population and the member split are derived from the settings alone (seeded), so every
stage, dashboard and test that holds the same settings attacks the same patients.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..._validate import check_choice, check_int, check_open_unit, check_positive
from ...errors import InvalidParameterError
from ...models.cnn import SUPPORTED_SIZES


@dataclass(frozen=True)
class MembershipSettings:
    """Everything that defines a membership experiment (all keyword, checked on construction).

    Attributes
    ----------
    size : {28, 64, 128}
        Image side in pixels.
    n_population : int or None
        Images of the training split to use, cut by patient (None: all of them). Half of the
        patients are the target's members, half its non-members.
    n_shadows : int
        K shadow models (≥ 4: online LiRA needs 2 "in" and 2 "out" models per example).
    shadow_epochs, batch_size, lr, lr_schedule, width, activation
        Recipe of the shadow models and of the non-private target (Adam, no weight decay, no
        augmentation: trained the ordinary way until they fit their training X-rays).
    dp_epochs, dp_batch_size, dp_lr, max_grad_norm, delta
        Default DP-SGD setting of the DP targets (``dp_lr`` None: the training module's DP-SGD
        recipe — SGD with a large step, weight averaging, per-image standardisation).
    augment : bool
        Also score the horizontally flipped view (off: see the module docstring).
    seed : int
        Every split and initialisation derives from it.
    """

    size: int = 28
    n_population: int | None = 1000
    n_shadows: int = 16
    shadow_epochs: int = 80
    batch_size: int = 32
    lr: float = 3e-3
    lr_schedule: str = "constant"
    width: int = 8
    activation: str = "tanh"
    dp_epochs: int = 20
    dp_batch_size: int = 64
    dp_lr: float | None = None
    max_grad_norm: float = 1.0
    delta: float = 1e-5
    augment: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("size", self.size, SUPPORTED_SIZES)
        if self.n_population is not None:
            check_int("n_population", self.n_population, low=20)
        check_int("n_shadows", self.n_shadows, low=1,
                  hint="LiRA needs shadow models; 16 is the CPU default.")
        if self.n_shadows < 4:
            raise InvalidParameterError(
                f"`n_shadows` must be at least 4 (online LiRA needs 2 models that trained on each "
                f"example and 2 that did not); got {self.n_shadows}. 16 is the CPU default.")
        check_int("shadow_epochs", self.shadow_epochs, low=1)
        check_int("batch_size", self.batch_size, low=1)
        check_positive("lr", self.lr)
        check_choice("lr_schedule", self.lr_schedule, ("constant", "cosine"))
        check_int("width", self.width, low=4, high=256)
        check_choice("activation", self.activation, ("relu", "tanh", "elu"))
        check_int("dp_epochs", self.dp_epochs, low=1)
        check_int("dp_batch_size", self.dp_batch_size, low=1)
        if self.dp_lr is not None:
            check_positive("dp_lr", self.dp_lr)
        check_positive("max_grad_norm", self.max_grad_norm)
        check_open_unit("delta", self.delta)
        check_choice("augment", self.augment, (True, False))
        check_int("seed", self.seed, low=0)

    def with_(self, **changes) -> "MembershipSettings":
        """A copy with some fields changed (checked again)."""
        return replace(self, **changes)

    def shadow_key(self) -> dict:
        """The fields the shadow models depend on (not the DP targets' settings)."""
        return {k: getattr(self, k) for k in (
            "size", "n_population", "n_shadows", "shadow_epochs", "batch_size", "lr",
            "lr_schedule", "width", "activation", "augment", "seed")}


#: The membership setting of the workshop and Binder profiles and of ``medpriv bench mia``.
MEMBERSHIP = MembershipSettings()


@dataclass(frozen=True)
class Population:
    """The X-rays a membership experiment attacks.

    ``data``: N images (ChestXrayData); ``index`` (N,): position of each in
    ``load_dataset(size=, split="train")``; ``patient_ids`` (N,) str (each image its own patient
    when the file has none); ``members`` / ``non_members``: index arrays into ``data``,
    patient-disjoint (the target's training set and the rest).
    """

    data: object
    index: np.ndarray
    patient_ids: np.ndarray
    members: np.ndarray
    non_members: np.ndarray

    @property
    def is_member(self) -> np.ndarray:
        """Bool (N,): ground truth of the attack (used only to score it)."""
        mask = np.zeros(len(self.patient_ids), dtype=bool)
        mask[self.members] = True
        return mask


def member_split(patient_ids, *, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(members, non-members): a patient-disjoint halving of ``n`` images (index arrays);
    ``patient_ids`` None means each image is its own patient."""
    from ...data import patient_split

    seed = check_int("seed", seed, low=0, hint="The same seed gives the same split.")
    return patient_split(patient_ids, fractions=(0.5, 0.5), seed=seed + 7919, n=n)


def load_population(settings: MembershipSettings) -> Population:
    """The population of ``settings``: ``n_population`` training X-rays cut by patient, split
    by patient into members and non-members (all seeded by ``settings.seed``)."""
    from ...data import load_dataset, patient_split

    if not isinstance(settings, MembershipSettings):
        raise InvalidParameterError(
            f"`settings` must be MembershipSettings; got {type(settings).__name__}.")
    data = load_dataset(size=settings.size, split="train", seed=settings.seed, progress=False)
    index = np.arange(len(data))
    if settings.n_population is not None and settings.n_population < len(data):
        index = patient_split(data.patient_ids, fractions=(settings.n_population / len(data),),
                              seed=settings.seed, n=len(data))[0]
        data = data.subset(index)
    if data.patient_ids is not None:
        ids = np.asarray(data.patient_ids).astype(str)
    else:  # no patient IDs in the file: each image is its own (pseudo-)patient
        ids = np.array([f"image-{i}" for i in range(len(data))])
    members, non_members = member_split(data.patient_ids, n=len(data), seed=settings.seed)
    return Population(data=data, index=np.asarray(index), patient_ids=ids, members=members,
                      non_members=non_members)


def load_test(settings: MembershipSettings):
    """The official test split at ``settings.size`` (never trained on): utility of the targets."""
    from ...data import load_dataset

    return load_dataset(size=settings.size, split="test", seed=settings.seed + 1, progress=False)


__all__ = ["MEMBERSHIP", "MembershipSettings", "Population", "load_population", "load_test",
           "member_split"]
