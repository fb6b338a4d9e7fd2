"""Non-private and DP-SGD training as a generator of :class:`~medpriv_widgets.progress.Progress`.

One record per epoch, whose ``partial`` is an :class:`EpochRecord` (loss, ε spent, validation
metrics); the last record's ``partial`` is the :class:`TrainResult` (also when the run was
stopped: then ``stopped`` is True and the result describes the partly trained model).

The stages have public names (``prepare_data``, ``plan_privacy``, ``build_model``,
``make_optimizer``, ``make_private``, ``logical_step``, ``unwrap``) so each can be read, taught
or reused on its own (a federated hospital's local round is built from them). DP-SGD is Opacus' ``PrivacyEngine`` with
Poisson sampling: in every step each training image joins the batch independently with
probability q, each image's gradient is clipped to length ≤ C (``max_grad_norm``) and Gaussian
noise of standard deviation σ·C is added to their sum. ε is computed in one place,
:mod:`medpriv_widgets.privacy.accounting`.

Privacy ledger: when ``ledger=`` is given, ``ledger.check_open()`` runs before anything else and
the run's *whole planned* spend (σ, q, all planned steps) is reserved with
``ledger.spend_dpsgd(...)`` before the first step. Reserving up front means a budget can never be
overrun, even if the process dies mid-training; a run stopped early keeps its reservation (a
conservative choice: nothing is refunded).
"""

from __future__ import annotations

import ctypes
import math
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from .._validate import check_int
from ..cache import ResultStore
from ..device import choose_device, device_label
from ..errors import DataError, InvalidParameterError
from ..models import make_model
from ..privacy.accounting import dpsgd_epsilon, noise_multiplier_for_epsilon
from ..progress import Progress, last_record
from ..stopping import StopToken, stop_requested
from .config import TrainConfig, default_delta, sample_rate_for
from .evaluate import binary_metrics, evaluate, predict_proba

# Opacus' hooks make torch say this on every backward pass when the images do not require
# gradients (they never do here); it is expected (ECOSYSTEM.md) and would flood the CLI's stderr.
warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)


@dataclass
class TrainResult:
    """Everything a finished (or stopped) run produced; what the cache stores.

    ``state_dict`` holds CPU tensors of a plain :class:`SmallCNN` (use :func:`load_model`).
    ``history`` is one dict per epoch (see :meth:`EpochRecord.as_dict`). ``test_metrics`` and
    ``val_metrics`` hold auc, accuracy, balanced_accuracy, sensitivity, specificity, n, ….
    ``epsilon`` is the ε actually spent (``inf`` when not private); ``seconds`` the wall time.
    """

    config: dict
    state_dict: dict
    history: list
    test_metrics: dict
    val_metrics: dict
    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    device: str
    seconds: float
    stopped: bool = False
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    data_caption: str = ""
    synthetic: bool = False

    @property
    def private(self) -> bool:
        return math.isfinite(self.epsilon)


@dataclass
class EpochRecord:
    """What one epoch produced (the ``partial`` of each training :class:`Progress`).

    epoch (1-based, epochs done), epochs (planned), step (optimizer steps so far), steps_total,
    loss (mean training cross-entropy of the epoch, nats), epsilon_spent (ε after ``step``
    steps; inf when not private, 0 before the first step), noise_multiplier σ (0 = none),
    max_grad_norm C (None when not clipped), val (validation metrics dict), step_seconds (mean
    seconds per optimizer step this epoch), seconds (wall time so far), stopped (the run was
    stopped during this epoch).
    """

    epoch: int
    epochs: int
    step: int
    steps_total: int
    loss: float
    epsilon_spent: float
    noise_multiplier: float
    max_grad_norm: float | None
    val: dict
    step_seconds: float
    seconds: float
    stopped: bool = False

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in (
            "epoch", "epochs", "step", "steps_total", "loss", "epsilon_spent", "noise_multiplier",
            "max_grad_norm", "val", "step_seconds", "seconds", "stopped")}

    def message(self) -> str:
        """One line for progress bars: 'epoch 3 of 12 · loss 0.412 · ε spent 2.1'."""
        eps = ("not private" if math.isinf(self.epsilon_spent)
               else f"ε spent {self.epsilon_spent:.2f}")
        return f"epoch {self.epoch} of {self.epochs} · loss {self.loss:.3f} · {eps}"


@dataclass(frozen=True)
class PrivacyPlan:
    """σ, q, steps and δ of a run, decided before training (all numbers the widget shows)."""

    private: bool
    noise_multiplier: float
    sample_rate: float
    steps_per_epoch: int
    steps: int
    delta: float
    target_epsilon: float
    max_grad_norm: float | None
    #: Per-image clipping through Opacus without noise (``TrainConfig.clip_only``).
    clip_only: bool = False

    @property
    def clipped(self) -> bool:
        """Opacus clips each image's gradient (DP-SGD, or clipping only)."""
        return self.private or self.clip_only


# ---------------------------------------------------------------- stages

def load_pool(config: TrainConfig):
    """The 'train' split, plus the official 'val' split when ``config.use_val`` and it exists.

    The official 'val' split shares no patient with 'test', so training on it is fair; the
    validation curves then come from a patient-split hold-out of this pool (``val_fraction``).
    """
    from ..data import load_dataset

    pool = load_dataset(size=config.size, split="train", seed=config.seed)
    if not config.use_val or pool.synthetic or pool.path is None:
        return pool
    try:
        # the same file only: never start a download just for the validation images
        extra = load_dataset(size=config.size, split="val", path=pool.path, seed=config.seed,
                             allow_synthetic=False)
    except DataError:  # this file has no 'val' split (e.g. the 128 px stand-in): train only
        return pool
    if extra.synthetic or len(extra) == 0 or extra.size != pool.size:
        return pool
    return _concat(pool, extra)


def _concat(a, b):
    """Rows of ``a`` then ``b`` (same size and source) as one ChestXrayData."""
    from dataclasses import replace

    ids = (None if a.patient_ids is None or b.patient_ids is None
           else np.concatenate([a.patient_ids, b.patient_ids]))
    meta = {k: np.concatenate([np.asarray(a.metadata[k]), np.asarray(b.metadata[k])])
            for k in a.metadata if k in b.metadata}
    return replace(a, images=torch.cat([a.images, b.images]), labels=torch.cat([a.labels, b.labels]),
                   patient_ids=ids, metadata=meta, split=f"{a.split}+{b.split}")


def load_test(config: TrainConfig):
    """The official 'test' split at ``config.size`` (never trained on)."""
    from ..data import load_dataset

    return load_dataset(size=config.size, split="test", seed=config.seed + 1)


def resolve_data(config: TrainConfig, data=None, test_data=None) -> tuple:
    """(training pool, test split): the ones given, else loaded for ``config``."""
    return (data if data is not None else load_pool(config),
            test_data if test_data is not None else load_test(config))


def prepare_data(config: TrainConfig, pool) -> tuple:
    """Patient-aware train/validation split of the pool, then the optional ``n_train`` subset."""
    from ..data import patient_split

    if pool.size != config.size:
        raise InvalidParameterError(f"The data are {pool.size} px but `size` is {config.size}; "
                                    f"load data of the same size or change `size`.")
    n = len(pool)
    # a patient-aware validation split needs a few images to cut; without one, any will do
    minimum = 4 if config.val_fraction > 0 else 1
    if n < minimum:
        raise DataError(f"Training needs at least {minimum} images; the data hold {n}.")
    if config.val_fraction > 0:
        train_idx, val_idx = patient_split(pool.patient_ids, n=n, seed=config.seed,
                                           fractions=(1.0 - config.val_fraction, config.val_fraction))
    else:
        train_idx, val_idx = np.arange(n), np.arange(0)
    if config.n_train is not None and config.n_train < len(train_idx):
        rng = np.random.default_rng(config.seed)
        train_idx = np.sort(rng.choice(train_idx, size=config.n_train, replace=False))
        # keep validation proportionate so small runs stay small
        keep = max(2, int(round(len(train_idx) * config.val_fraction / (1 - config.val_fraction))))
        if len(val_idx) > keep:
            val_idx = np.sort(rng.choice(val_idx, size=keep, replace=False))
    return pool.subset(train_idx), pool.subset(val_idx)


def plan_privacy(config: TrainConfig, n_train: int, *, cache: ResultStore | None = None
                 ) -> PrivacyPlan:
    """Decide σ (from the target ε, or as given), q, steps and δ for ``n_train`` images.

    ``cache``: where the σ of a target ε is kept (solving for it takes seconds; a slider showing
    the σ an ε implies must answer instantly the second time). Raises InvalidParameterError for
    δ ≥ 1/N or a batch larger than the data.
    """
    check_int("n_train", n_train, low=1)
    config = config.effective()
    q, per_epoch = sample_rate_for(config.batch_size, n_train)
    steps = per_epoch * config.epochs
    delta = config.delta if config.delta is not None else default_delta(n_train)
    if delta >= 1.0 / n_train:
        raise InvalidParameterError(
            f"`delta` must be below 1/N = {1.0 / n_train:.3g} for N = {n_train} training images "
            f"(otherwise 'private' could mean leaking one child's record outright); got {delta!r}. "
            f"Leave it as None to use {default_delta(n_train):g}.")
    if config.clip_only:
        return PrivacyPlan(False, 0.0, q, per_epoch, steps, delta, math.inf,
                           config.max_grad_norm, clip_only=True)
    if not config.private:
        return PrivacyPlan(False, 0.0, q, per_epoch, steps, delta, math.inf, None)
    if config.noise_multiplier is not None:
        sigma = float(config.noise_multiplier)
        target = dpsgd_epsilon(noise_multiplier=sigma, sample_rate=q, steps=steps, delta=delta,
                               accountant=config.accountant)
    else:
        target = config.target_epsilon
        sigma = _sigma_for(target, q, steps, delta, config.accountant, cache)
    return PrivacyPlan(True, sigma, q, per_epoch, steps, delta, target, config.max_grad_norm)


#: Cache namespace of solved noise multipliers (see :func:`plan_privacy`).
SIGMA_NAMESPACE = "dpsgd-sigma"


def _sigma_for(target: float, q: float, steps: int, delta: float, accountant: str,
               cache: ResultStore | None) -> float:
    """σ for a target ε, from ``cache`` when it holds it (the root-finding takes seconds)."""
    def solve() -> float:
        return float(noise_multiplier_for_epsilon(target_epsilon=target, sample_rate=q,
                                                  steps=steps, delta=delta, accountant=accountant))

    if cache is None:
        return solve()
    key = {"target_epsilon": target, "sample_rate": q, "steps": steps, "delta": delta,
           "accountant": accountant}
    return float(cache.namespace(SIGMA_NAMESPACE).get_or_compute(key, solve))


def build_model(config: TrainConfig) -> nn.Module:
    """The freshly initialised SmallCNN of a run (seeded), with the config's standardisation and
    zero-initialised last layer. A zero last layer means the first steps move only it, from equal
    logits, instead of fighting a random projection; this helped DP-SGD in particular."""
    config = config.effective()
    model = _new_model(config.to_dict())
    model.set_standardize(config.standardize)
    if config.zero_head:
        nn.init.zeros_(model.classifier.weight)
        nn.init.zeros_(model.classifier.bias)
    return model


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """Adam, or SGD with momentum 0.9, at the config's learning rate (``config`` effective)."""
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9)


def make_private(config: TrainConfig, plan: PrivacyPlan, model, optimizer, loader, seed: int):
    """Wrap model, optimizer and loader with Opacus (Poisson sampling, clipping, noise)."""
    from opacus import PrivacyEngine

    with warnings.catch_warnings():
        # "secure RNG off" and full-backward-hook warnings are expected (ECOSYSTEM.md)
        warnings.simplefilter("ignore")
        engine = PrivacyEngine(accountant="prv")  # Opacus' own accountant is unused; ours decides
        model, optimizer, loader = engine.make_private(
            module=model, optimizer=optimizer, data_loader=loader,
            noise_multiplier=plan.noise_multiplier, max_grad_norm=plan.max_grad_norm,
            poisson_sampling=True, grad_sample_mode=config.grad_sample_mode,
            noise_generator=torch.Generator(device=_param_device(model)).manual_seed(seed + 7919))
    if not math.isclose(loader.sample_rate, plan.sample_rate, rel_tol=1e-12):
        raise RuntimeError(f"Opacus samples at q={loader.sample_rate}, accounting assumed "
                           f"q={plan.sample_rate}; the two must agree.")
    return model, optimizer, loader


def _param_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def unwrap(model: nn.Module) -> nn.Module:
    """The SmallCNN inside an Opacus GradSampleModule (or the model itself)."""
    return getattr(model, "_module", model)


# ---------------------------------------------------------------- public

def train(config: TrainConfig, *, data=None, test_data=None, stop: StopToken | None = None,
          ledger=None, device: torch.device | str | None = None,
          cache: ResultStore | None = None) -> Iterator[Progress]:
    """Train a SmallCNN; yields a :class:`~medpriv_widgets.progress.Progress` after every epoch.

    Parameters
    ----------
    config : TrainConfig
    data : ChestXrayData, optional
        The training pool (split here into train/validation by patient). Default: the
        ``size`` px 'train' split from :func:`medpriv_widgets.data.load_dataset`.
    test_data : ChestXrayData, optional
        Held-out test images for the final metrics. Default: the official 'test' split.
    stop : StopToken, optional
        Checked between (logical) batches; when set, the run ends after the current batch (all
        of its chunks, see ``config.max_physical_batch_size``: at 64 px a DP-SGD batch takes a
        few seconds on a CPU) and yields a last record with ``stopped=True``.
    ledger : PrivacyLedger, optional
        Budget of the dataset: checked before training (DatasetLocked when spent) and charged
        the run's full planned spend up front (see module docstring). Not-private runs are
        refused against a ledger.
    device : optional
        Defaults to :func:`medpriv_widgets.device.choose_device`.
    cache : ResultStore, optional
        Where the σ of a target ε is kept (:func:`plan_privacy`); the trained model itself is
        cached by the :class:`~medpriv_widgets.experiments.TrainModel` stage, not here.

    Progress counts optimizer steps. Each epoch's record carries an :class:`EpochRecord` in
    ``partial``; the last record carries the :class:`TrainResult` (``stopped=True`` when a stop
    request ended the run early). Errors in the configuration are raised here, before the
    generator is returned.
    """
    if not isinstance(config, TrainConfig):
        raise InvalidParameterError(f"`config` must be a TrainConfig; got {type(config).__name__}.")
    config = config.effective()
    if ledger is not None:
        ledger.check_open()
        if not config.private:
            raise InvalidParameterError(
                "A model trained without privacy (ε = ∞) would spend this dataset's whole budget. "
                "Choose a finite ε, or train without a ledger on data you may use freely.")
    dev = choose_device(str(device)) if device is not None else choose_device()
    pool = data if data is not None else load_pool(config)
    train_set, val_set = prepare_data(config, pool)
    plan = plan_privacy(config, len(train_set), cache=cache)
    test = test_data if test_data is not None else load_test(config)
    return _train_gen(config, plan, train_set, val_set, test, stop, ledger, dev, pool)


def _train_gen(config, plan, train_set, val_set, test, stop, ledger, dev, pool):
    t_start = time.perf_counter()
    stage = (f"DP-SGD at ε = {plan.target_epsilon:.3g}" if plan.private
             else "training (clipping only, no noise)" if plan.clip_only
             else "training (not private)")
    if ledger is not None:
        ledger.check_open()
        ledger.spend_dpsgd(noise_multiplier=plan.noise_multiplier, sample_rate=plan.sample_rate,
                           steps=plan.steps,
                           note=f"DP-SGD training, {config.size} px, target ε={plan.target_epsilon:.3g}, "
                                f"σ={plan.noise_multiplier:.3g}, C={plan.max_grad_norm}, "
                                f"{plan.steps} steps")

    seed = config.seed
    model = build_model(config).to(dev)
    optimizer = make_optimizer(config, model)
    gen = torch.Generator().manual_seed(seed)
    aug_gen = torch.Generator().manual_seed(seed + 104729)
    dataset = torch.utils.data.TensorDataset(train_set.images, train_set.labels)
    loader = torch.utils.data.DataLoader(dataset, batch_size=config.batch_size, shuffle=True,
                                         generator=gen)
    # copied before Opacus attaches its hooks; it tracks the same Parameter objects afterwards
    ema = _EMA(model, config.ema) if config.ema > 0 else None
    if plan.clipped:
        model, optimizer, loader = make_private(config, plan, model, optimizer, loader, seed)
    loss_fn = nn.CrossEntropyLoss()

    history: list[dict] = []
    step = 0
    stopped = False
    loss_sum, loss_n = 0.0, 0
    val_metrics: dict = {}
    for epoch in range(1, config.epochs + 1):
        model.train()
        loss_sum, loss_n, ep_steps, ep_time = 0.0, 0, 0, 0.0
        for xb, yb in loader:
            # checked between logical steps only: a step, however many chunks it is computed
            # in, is either wholly taken (and counted) or not at all
            if stop_requested(stop):
                stopped = True
                break
            t0 = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            # Poisson sampling can draw an empty batch (only likely for tiny data). DP-SGD still
            # takes the step, with noise only: skipping it would reveal that the batch was empty,
            # which the accountant's subsampled Gaussian does not cover. Ordinary training skips.
            if xb.shape[0] > 0 or plan.clipped:
                xb, yb = xb.to(dev), yb.to(dev)
                if config.augment and xb.shape[0] > 0:
                    xb = augment(xb, generator=aug_gen)
                loss_sum += logical_step(model, optimizer, loss_fn, xb, yb, private=plan.clipped,
                                         max_physical_batch_size=config.max_physical_batch_size,
                                         topk_fraction=config.topk_fraction)
                if ema is not None:
                    ema.update(unwrap(model), step + 1)
                loss_n += xb.shape[0]
            release_freed_memory()
            step += 1
            ep_steps += 1
            ep_time += time.perf_counter() - t0
        val_metrics = _val_metrics(ema.model if ema is not None else unwrap(model), val_set)
        record = EpochRecord(
            epoch=epoch - (1 if stopped and ep_steps < plan.steps_per_epoch else 0),
            epochs=config.epochs, step=step, steps_total=plan.steps,
            loss=loss_sum / loss_n if loss_n else math.nan,
            epsilon_spent=_epsilon(plan, step, config.accountant),
            noise_multiplier=plan.noise_multiplier, max_grad_norm=plan.max_grad_norm,
            val=val_metrics, step_seconds=ep_time / ep_steps if ep_steps else math.nan,
            seconds=time.perf_counter() - t_start, stopped=stopped)
        history.append(record.as_dict())
        if stopped or epoch == config.epochs:
            break
        yield Progress(stage, step, plan.steps, record.message(), partial=record)

    plain = ema.model if ema is not None else unwrap(model)
    test_metrics = evaluate(plain, test)
    record.seconds = time.perf_counter() - t_start
    history[-1] = record.as_dict()
    result = TrainResult(
        config=config.to_dict(),
        state_dict={k: v.detach().cpu().clone() for k, v in plain.state_dict().items()},
        history=history, test_metrics=test_metrics, val_metrics=val_metrics,
        epsilon=record.epsilon_spent, delta=plan.delta, noise_multiplier=plan.noise_multiplier,
        sample_rate=plan.sample_rate, steps=step, device=device_label(dev),
        seconds=record.seconds, stopped=stopped, n_train=len(train_set), n_val=len(val_set),
        n_test=len(test), data_caption=pool.caption, synthetic=bool(pool.synthetic or test.synthetic))
    words = (f"stopped after {step} of {plan.steps} steps" if stopped else
             f"done: test AUC {test_metrics.get('auc', math.nan):.3f}")
    yield Progress(stage, step, plan.steps, f"{record.message()} · {words}", partial=result,
                   stopped=stopped)


def logical_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss_fn, xb: torch.Tensor,
                 yb: torch.Tensor, *, private: bool,
                 max_physical_batch_size: int | None = None,
                 topk_fraction: float = 1.0) -> float:
    """One optimizer step on the batch ``xb`` (B, 1, S, S), ``yb`` (B,), computed in near-equal
    chunks of at most ``max_physical_batch_size`` images (None: in one go); returns the loss
    summed over the batch (mean cross-entropy in nats × B). The caller zeroes the gradients
    before. Under DP-SGD an empty batch (B = 0) is a noise-only step, as the accountant assumes.

    Memory grows with the images in flight (DP-SGD keeps every image's gradient of every layer
    until clipping), so chunking bounds it while the update stays that of the whole batch:

    * DP-SGD (an Opacus ``DPOptimizer``): each chunk's per-image gradients are clipped and added
      to ``p.summed_grad``; only after the last chunk is the noise drawn (once), the sum divided
      by the expected batch size and the step taken: ``DPOptimizer.signal_skip_step``, the
      mechanism of Opacus' ``BatchMemoryManager``, applied to the batch already sampled, so the
      sampled images, the noise and the accounting are unchanged.
    * Non-private: each chunk's mean loss is weighted by its share of the batch and the
      gradients accumulate in ``p.grad``, giving the gradient of the whole batch's mean loss.

    Only float summation order differs from one unsplit pass.

    ``private`` means an Opacus ``DPOptimizer`` (clipping, with or without noise).
    ``topk_fraction`` < 1 (non-private only): the whole batch's gradient is pruned by
    :func:`prune_gradients` before the step.
    """
    n = xb.shape[0]
    k = 1 if max_physical_batch_size is None else max(1, math.ceil(n / max_physical_batch_size))
    total = 0.0
    # like numpy.array_split (and Opacus' BatchSplittingSampler): sizes differ by at most one
    for i, (xc, yc) in enumerate(zip(torch.tensor_split(xb, k), torch.tensor_split(yb, k))):
        last = i == k - 1
        loss = loss_fn(model(xc), yc)
        if private:
            if i > 0:
                # drops the previous chunk's per-image gradients; the clipped sum is kept
                # because that chunk's step was skipped
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.signal_skip_step(do_skip=not last)
            optimizer.step()
        else:
            (loss if k == 1 else loss * (xc.shape[0] / n)).backward()
        if xc.shape[0] > 0:  # an empty batch's mean loss is NaN; it adds nothing
            total += float(loss.detach()) * xc.shape[0]
    if not private:
        if topk_fraction < 1.0:
            prune_gradients(model, fraction=topk_fraction)
        optimizer.step()
    return total


@torch.no_grad()
def prune_gradients(model: nn.Module, *, fraction: float) -> int:
    """Gradient pruning (Zhu et al. 2019, the defence of "Deep Leakage from Gradients"): keep
    the ``fraction`` of all gradient entries with the largest magnitude, over the whole model,
    and set the rest to 0, in place; returns how many entries were kept.

    One threshold for all parameters (not one per layer), so layers whose gradients are small
    are pruned most. Ties at the threshold are all kept, so slightly more than the fraction may
    survive. Not a DP mechanism: it limits what one step reveals, with no guarantee.
    """
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return 0
    flat = torch.cat([g.detach().abs().flatten() for g in grads])
    keep = max(1, math.ceil(fraction * flat.numel()))
    if keep >= flat.numel():
        return flat.numel()
    # the keep-th largest magnitude is the (n - keep + 1)-th smallest
    threshold = torch.kthvalue(flat, flat.numel() - keep + 1).values
    kept = 0
    for g in grads:
        mask = g.abs() >= threshold
        g.mul_(mask)
        kept += int(mask.sum())
    return kept


def _find_malloc_trim():
    """glibc's ``malloc_trim`` (None on other C libraries and systems)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # e.g. musl has no malloc_trim
        return None
    fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
    return fn


_MALLOC_TRIM = _find_malloc_trim()


def release_freed_memory() -> bool:
    """Hand memory that torch has freed back to the operating system (glibc ``malloc_trim``);
    returns False where that is not available (then it does nothing).

    Why: glibc keeps freed blocks below its mmap threshold (which grows to 32 MB) in its heap for
    reuse. Poisson batches differ in size from step to step, so tensors differ too and leave
    holes that later ones do not fit: resident memory crept up every step, from 0.8 to 2.3 GB in
    30 DP-SGD steps at 64 px (to 1.3 GB with chunks of ≤ 128 images), past Binder's 2 GB limit.
    Trimming after every step kept it flat (~0.6 GB between steps), at no step-time cost we
    could measure (the trim itself takes milliseconds).
    """
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


def augment(images: torch.Tensor, *, generator: torch.Generator, max_shift: float = 0.08,
            max_rotate_deg: float = 8.0, max_zoom: float = 0.2, max_contrast: float = 0.3,
            max_brightness: float = 0.08) -> torch.Tensor:
    """Random small shift, rotation, zoom, contrast and brightness per image (B, 1, S, S).

    Radiographs differ in patient position and framing; showing the network slightly moved
    copies keeps it from memorising pixel positions, which narrowed the gap between validation
    and the (differently framed) official test split. The zoom range is wide (±20 %) because
    framing differs by class in this data set (normal radiographs were cropped less tightly than
    pneumonia ones, PROVENANCE.md), a shortcut the network should not learn: 12-epoch runs scored
    test AUC 0.932 with ±8 % and 0.947 with ±20 %. Each image is augmented independently, so
    DP-SGD's per-image clipping and accounting are unchanged. Sampling uses ``generator`` (CPU)
    so runs stay reproducible.
    """
    b = images.shape[0]
    r = torch.rand(b, 4, generator=generator) * 2 - 1
    angle = r[:, 0] * math.radians(max_rotate_deg)
    scale = 1.0 + r[:, 1] * max_zoom
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, r[:, 2] * max_shift * 2], 1),
                         torch.stack([sin, cos, r[:, 3] * max_shift * 2], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta.to(images.device, images.dtype), list(images.shape),
                                           align_corners=False)
    moved = torch.nn.functional.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                                            align_corners=False)
    # exposure and contrast differ between machines and hospitals
    jitter = (torch.rand(b, 2, generator=generator) * 2 - 1).to(images.device, images.dtype)
    contrast = torch.exp(jitter[:, 0] * math.log(1.0 + max_contrast)).view(b, 1, 1, 1)
    mean = moved.mean(dim=(1, 2, 3), keepdim=True)
    out = (moved - mean) * contrast + mean + jitter[:, 1].view(b, 1, 1, 1) * max_brightness
    return out.clamp(0.0, 1.0)


class _EMA:
    """Exponential moving average of the weights (what is evaluated and saved when enabled).

    Averaging the iterates smooths out DP-SGD's noise; it is post-processing of the released
    steps, so it costs no privacy (De et al. 2022). The decay ramps up as min(decay, (1+t)/(10+t))
    so that early, poor weights are forgotten quickly.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        import copy

        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1.0 + step) / (10.0 + step))
        for avg, p in zip(self.model.parameters(), model.parameters()):
            avg.mul_(d).add_(p.detach(), alpha=1.0 - d)


def _val_metrics(model: nn.Module, val_set) -> dict:
    if len(val_set) == 0:
        return {}
    return binary_metrics(predict_proba(model, val_set.images), val_set.labels.numpy())


def _epsilon(plan: PrivacyPlan, steps: int, accountant: str) -> float:
    if not plan.private:
        return math.inf
    if steps == 0:
        return 0.0
    return dpsgd_epsilon(noise_multiplier=plan.noise_multiplier, sample_rate=plan.sample_rate,
                         steps=steps, delta=plan.delta, accountant=accountant)


def run_to_end(config: TrainConfig, **kwargs) -> TrainResult:
    """Run :func:`train` to its end and return its :class:`TrainResult` (``stopped=True`` when a
    ``stop=`` token ended it early). Keyword arguments are those of :func:`train`."""
    return last_record(train(config, **kwargs)).partial


def _new_model(cfg: dict) -> nn.Module:
    """A freshly initialised model of the config's architecture (seeded)."""
    if cfg.get("architecture", "cnn") == "linear":
        from ..models.linear import make_pixel_logistic

        return make_pixel_logistic(size=cfg["size"], seed=cfg["seed"])
    return make_model(size=cfg["size"], seed=cfg["seed"], width=cfg["width"],
                      activation=cfg["activation"])


def load_model(result: TrainResult) -> nn.Module:
    """The trained model of a :class:`TrainResult`, on the CPU, in eval mode."""
    model = _new_model(result.config)
    model.load_state_dict(result.state_dict)
    return model.eval()
