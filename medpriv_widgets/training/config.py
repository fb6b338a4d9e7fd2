"""The full description of one training run, checked once at the boundary.

Every field is an explicit, JSON-friendly value, so a :class:`TrainConfig` is also the key of the
result cache (:mod:`medpriv_widgets.training.cached`): the same config gives the same numbers on
the CPU and is trained only once.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from .._validate import check_choice, check_int, check_open_unit, check_positive, check_real
from ..errors import InvalidParameterError
from ..models.cnn import _ACTIVATIONS, SUPPORTED_SIZES
from ..privacy.accounting import ACCOUNTANTS

OPTIMIZERS = ("adam", "sgd")

#: ε values the private-training lab offers and pre-computes (∞ = not private).
DEFAULT_EPSILONS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, math.inf)
#: Model families training can build: the lessons' SmallCNN, or logistic regression on the
#: pixels (audits: it memorises canaries fast, :mod:`medpriv_widgets.models.linear`).
ARCHITECTURES = ("cnn", "linear")
#: Opacus per-sample-gradient engines. "hooks" was the fastest for SmallCNN on 2 CPU cores
#: (64 px, batch 256: DP/non-private step 1.3× with hooks, 1.8× functorch, 2.1× expanded weights).
GRAD_SAMPLE_MODES = ("hooks", "functorch", "ew")


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one (private or non-private) training run.

    Fields marked "recipe" may be left as None: :meth:`effective` then fills them from
    :data:`PRIVATE_RECIPE` or :data:`NONPRIVATE_RECIPE`, because good DP-SGD settings (large
    batches, SGD with a large step, no augmentation) differ from good non-private ones.

    Attributes
    ----------
    size : {28, 64, 128}
        Image side in pixels (selects data file and model depth).
    epochs : int or None (recipe)
        Passes over the training images (DP-SGD: ``epochs × ceil(N / batch_size)`` steps).
    batch_size : int or None (recipe)
        Batch size; under DP-SGD the *expected* batch size of Poisson sampling, i.e. each image
        joins each step independently with probability ``q = 1 / ceil(N / batch_size)``.
    lr : float or None (recipe)
        Learning rate of the optimizer.
    optimizer : {'adam', 'sgd'} or None (recipe)
        Adam, or SGD with momentum 0.9.
    target_epsilon : float
        Privacy budget ε of the whole run; ``float('inf')`` means not private (no clipping, no
        noise) unless ``noise_multiplier`` is given.
    delta : float or None
        δ of (ε, δ)-DP; None picks 10^floor(log10(1 / (10 N))) for N training images. Must be
        below 1/N (checked once N is known).
    max_grad_norm : float
        Clipping norm C: each image's gradient is scaled down to length ≤ C.
    noise_multiplier : float or None
        σ (noise std / C). Give either this or a finite ``target_epsilon``, not both.
    seed : int
        Seeds model initialisation, batch sampling, noise and the train/validation split.
    n_train : int or None
        Use only this many training images (a seeded random subset); None = all.
    val_fraction : float
        Share of the training pool held out (by patient) for validation curves.
    architecture : {'cnn', 'linear'}
        The lessons' SmallCNN, or logistic regression on the pixels (``width`` and
        ``activation`` then do nothing).
    width, activation
        Model settings passed to :func:`medpriv_widgets.models.make_model`.
    accountant : {'prv', 'rdp'}
        Accountant used for σ ↔ ε (see :mod:`medpriv_widgets.privacy.accounting`).
    grad_sample_mode : {'hooks', 'functorch', 'ew'}
        Opacus engine computing per-sample gradients (same numbers, different speed).
    augment : bool or None (recipe)
        Random small shifts, rotations, zooms, contrast and brightness changes of each training
        image (see ``loop.augment``).
    ema : float or None (recipe)
        Decay of an exponential moving average of the weights, in [0, 1); the average is what is
        evaluated and saved. 0 = off.
    standardize : bool or None (recipe)
        Standardise each image to mean 0, std 1 inside the model (``SmallCNN(standardize=)``).
    zero_head : bool
        Start the last (linear) layer at zero, so every run starts from "50 : 50" predictions.
    use_val : bool
        Add the data's official 'val' split (patient-disjoint from 'test') to the training pool
        when the default data are loaded; ``val_fraction`` of the pool is then held out again
        (by patient) for the validation curves. Ignored when ``data=`` is given to ``train``.
    max_physical_batch_size : int or None
        Largest number of images pushed through the network at once. A larger (logical) batch
        is split into near-equal chunks whose gradients are accumulated (DP-SGD: clipped per
        image and summed, then noised once) before the single optimizer step, so the update,
        the sampled images, the step count and the privacy accounting are those of the whole
        batch; only float summation order differs. It bounds memory: DP-SGD keeps every image's
        gradient of every layer until clipping. At 64 px (Poisson batches of ~450–580 images,
        one thread) a process training 30 steps peaked at 1.63 GB unsplit and 0.98 GB in chunks
        of ≤ 128 (both with ``loop.release_freed_memory``; Binder kills at 2 GB), and a step was
        faster in chunks (1.1 s vs 1.85 s: the working set fits the caches better). None =
        never split.
    clip_only : bool
        DP-SGD's per-image clipping to ``max_grad_norm`` with Poisson sampling, but no noise:
        the "clipping only" defence (ε = ∞; trained with the DP-SGD recipe, so it differs from
        a DP run only by the noise). Needs ``target_epsilon`` = ∞ and no ``noise_multiplier``.
    topk_fraction : float
        Gradient pruning: each optimizer step keeps only this fraction of the gradient's
        entries, the largest in magnitude over the whole model, and sets the others to 0
        (``loop.prune_gradients``). 1.0 = off. Non-private training only.
    """

    size: int = 64
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    target_epsilon: float = math.inf
    delta: float | None = None
    max_grad_norm: float = 1.0
    noise_multiplier: float | None = None
    seed: int = 0
    n_train: int | None = None
    val_fraction: float = 0.05
    width: int = 16
    activation: str = "tanh"
    architecture: str = "cnn"
    accountant: str = "prv"
    grad_sample_mode: str = "hooks"
    augment: bool | None = None
    ema: float | None = None
    standardize: bool | None = None
    zero_head: bool = True
    use_val: bool = True
    max_physical_batch_size: int | None = 128
    clip_only: bool = False
    topk_fraction: float = 1.0

    def __post_init__(self) -> None:
        check_choice("size", self.size, SUPPORTED_SIZES)
        if self.epochs is not None:
            check_int("epochs", self.epochs, low=1, high=1000)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, low=1)
        if self.lr is not None:
            check_positive("lr", self.lr)
        if self.optimizer is not None:
            check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive("target_epsilon", self.target_epsilon, allow_inf=True,
                       hint="Use float('inf') for a model trained without privacy.")
        if self.delta is not None:
            check_open_unit("delta", self.delta)
        check_positive("max_grad_norm", self.max_grad_norm)
        if self.noise_multiplier is not None:
            check_positive("noise_multiplier", self.noise_multiplier,
                           hint="Leave it as None for a non-private run.")
            if math.isfinite(self.target_epsilon):
                raise InvalidParameterError(
                    f"Give either `target_epsilon` or `noise_multiplier`, not both; got "
                    f"target_epsilon={self.target_epsilon!r} and noise_multiplier="
                    f"{self.noise_multiplier!r}. Set one of them and the other is derived.")
        check_int("seed", self.seed, low=0)
        if self.n_train is not None:
            check_int("n_train", self.n_train, low=2)
        check_real("val_fraction", self.val_fraction, low=0.0, high=0.5, high_inclusive=False)
        check_int("width", self.width, low=4, high=256)
        check_choice("activation", self.activation, _ACTIVATIONS)
        check_choice("architecture", self.architecture, ARCHITECTURES)
        check_choice("accountant", self.accountant, ACCOUNTANTS)
        check_choice("grad_sample_mode", self.grad_sample_mode, GRAD_SAMPLE_MODES)
        if self.augment is not None:
            check_choice("augment", self.augment, (True, False))
        if self.ema is not None:
            check_real("ema", self.ema, low=0.0, high=1.0, high_inclusive=False)
        if self.standardize is not None:
            check_choice("standardize", self.standardize, (True, False))
        check_choice("zero_head", self.zero_head, (True, False))
        check_choice("use_val", self.use_val, (True, False))
        if self.max_physical_batch_size is not None:
            check_int("max_physical_batch_size", self.max_physical_batch_size, low=1,
                      hint="Use None to push each whole batch through the network at once.")
        check_choice("clip_only", self.clip_only, (True, False))
        if self.clip_only and self.private:
            raise InvalidParameterError(
                "`clip_only` trains with clipping and no noise, so it cannot also have a finite "
                f"`target_epsilon` or a `noise_multiplier`; got target_epsilon="
                f"{self.target_epsilon!r}, noise_multiplier={self.noise_multiplier!r}. Use one "
                "or the other.")
        check_real("topk_fraction", self.topk_fraction, low=0.0, high=1.0, low_inclusive=False,
                   hint="It is the fraction of gradient entries kept; 1.0 keeps all.")
        if self.topk_fraction < 1.0 and (self.private or self.clip_only):
            raise InvalidParameterError(
                f"`topk_fraction` {self.topk_fraction!r} prunes the gradients of non-private "
                "training only; DP-SGD and clip_only runs must keep 1.0.")

    @property
    def private(self) -> bool:
        """True for DP-SGD (clipping and noise), False for ordinary training."""
        return self.noise_multiplier is not None or math.isfinite(self.target_epsilon)

    @property
    def clipped(self) -> bool:
        """True when each image's gradient is clipped (DP-SGD, or ``clip_only``)."""
        return self.private or self.clip_only

    def effective(self) -> "TrainConfig":
        """A copy with every field left as None filled from the recipe for this privacy setting
        (:data:`PRIVATE_RECIPE` for clipped runs, else :data:`NONPRIVATE_RECIPE`). Training
        uses this."""
        recipe = PRIVATE_RECIPE if self.clipped else NONPRIVATE_RECIPE
        return replace(self, **{k: v for k, v in recipe.items() if getattr(self, k) is None})

    def to_dict(self) -> dict:
        """Plain dict (JSON-friendly; inf stays a float) for caches and reports."""
        return asdict(self)

    def with_(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (checked again)."""
        return replace(self, **changes)


#: Defaults for DP-SGD runs, from a handful of ε = 8 runs on 64 px data (2 shared CPU cores; one
#: seed each, so differences of ~0.01 AUC are within noise): SGD with momentum learnt faster under
#: noise than Adam; a large expected batch raises the signal relative to the noise (the noise std
#: on the mean gradient is σC/B); lr 1.0 oscillated, 0.3 was steadier; no augmentation but weight
#: averaging (EMA). Official-test AUC at ε = 8: 0.80 with 'train' only and a random last layer;
#: 0.90 with train+val (``use_val``) and a zero last layer (``zero_head``); 0.91 adding per-image
#: standardisation. Not a converged search.
PRIVATE_RECIPE = {"epochs": 12, "batch_size": 512, "lr": 0.3, "optimizer": "sgd",
                  "augment": False, "ema": 0.9, "standardize": True}
#: Defaults for non-private runs: Adam, small batches, augmentation (shifts/rotations/zoom/
#: contrast), weight averaging. Test AUC on the 64 px stand-in (pooled over its 624 positions /
#: on the 550 official radiographs; one seed each unless said): 6 epochs, ±8 % zoom, no EMA
#: 0.932 / 0.956; 12 epochs, ±20 % zoom, EMA 0.95: 0.947 / 0.971 (seed 1: 0.936 / 0.968);
#: 20 epochs: 0.943 / 0.971; width 24: 0.946 / 0.974; EMA 0.98: 0.946 / 0.970; ReLU instead
#: of tanh: 0.919 / 0.949. Per-image standardisation *lowered* it (0.906 at 6 epochs), so it is
#: off for non-private runs.
NONPRIVATE_RECIPE = {"epochs": 12, "batch_size": 128, "lr": 2e-3, "optimizer": "adam",
                     "augment": True, "ema": 0.95, "standardize": False}


def default_delta(n: int) -> float:
    """δ for N training images: 1/(10 N) rounded down to a power of ten (e.g. N=4708 → 1e-5)."""
    check_int("n", n, low=1)
    return 10.0 ** math.floor(math.log10(1.0 / (10 * n)))


def sample_rate_for(batch_size: int, n: int) -> tuple[float, int]:
    """Poisson sampling rate q and steps per epoch for ``n`` images and an expected batch size.

    Matches Opacus' ``DPDataLoader``: steps per epoch = ceil(n / batch_size), q = 1 / steps.
    """
    check_int("n", n, low=1)
    check_int("batch_size", batch_size, low=1, high=n,
              hint=f"The expected batch cannot exceed the {n} training images.")
    steps = math.ceil(n / batch_size)
    q = 1.0 / steps
    check_real("sample_rate", q, low=0.0, high=1.0, low_inclusive=False)
    return q, steps


def fast_config(**changes) -> TrainConfig:
    """Small settings for CI and MEDPRIV_FAST lessons: 28 px, 600 images, 3 epochs, batch 16
    (optimizer and learning rate follow the recipe for the privacy setting).

    Why batch 16: with batch 64 (2–4 epochs, ~20–40 steps) the non-private model had not left
    the class prior yet and called every X-ray pneumonia (specificity 0), below the DP model;
    with batch 16 and 3 epochs it reached test AUC 0.92, sensitivity 0.94, specificity 0.67
    (ε = 8: 0.92), in about 2 s and 5 s on one thread.
    """
    base = dict(size=28, epochs=3, batch_size=16, n_train=600)
    base.update(changes)
    return TrainConfig(**base)
