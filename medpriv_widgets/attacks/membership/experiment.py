"""A cached end-to-end membership experiment: target models over an ε grid, shadow models, scores.

Wiring in a few visible lines::

    exp = MembershipExperiment(size=28, n_shadows=16, seed=0)
    for p in exp.run(epsilons=[1, 8, float("inf")]):   # trains what is not cached yet
        print(p.message)
    res = exp.result(epsilon=8)                        # instant once cached
    res.tpr_at["lira_online"][0.001].tpr, res.bound_at(0.001)

The population (by default 1,000 X-rays of the training split, cut by patient) is split by
patient into the target's members and non-members. Why 1,000 and not all 4,708: on the whole
split a small CNN generalises so well that LiRA is at chance (AUC 0.50), while on 1,000
(500 members, trained to near-zero training loss) it reaches AUC 0.64 and picks out 4 % of the
members at 0.1 % FPR: small clinical data sets are the exposed ones (details and measurements in
:mod:`medpriv_widgets.precompute`). K shadow models (patient-disjoint halves, in complementary
pairs) and the non-private target are trained together (:mod:`.shadows`); DP targets are
trained on the same members with DP-SGD (the training module's ``train_cached`` and its DP-SGD
recipe when present, else Opacus directly with the same accountant). The attacker's shadow
models are trained without DP: the attacker knows the architecture and the data distribution,
not the defence, so attacks on DP targets are what a realistic attacker would get, and their
TPR must stay under the mechanism's bound.

What the attacker sees (threat model): the target model's outputs on candidate X-rays, and a
population of similar X-rays to train shadow models on. The member labels are used only by
:meth:`MembershipExperiment.result` to score the attack.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch

from ..._validate import check_choice, check_int, check_open_unit, check_positive
from ...cache import ResultCache
from ...device import choose_device, device_label
from ...errors import InvalidParameterError, MedprivError
from ...models import make_model
from ...stopping import StopToken, stop_requested
from .lira import lira_scores
from .loss_attack import loss_threshold_scores
from .roc import OperatingPoint, RocCurve, roc_auc, roc_curve, tpr_at_fpr
from .shadows import (ShadowProgress, complementary_halves, model_scores, stacked_scores,
                      train_stacked)

#: FPRs at which every result reports TPR with Clopper–Pearson intervals.
REPORT_FPRS = (0.001, 0.01)
#: Attack names in every result.
ATTACKS = ("lira_online", "lira_offline", "loss")
#: FPR grid on which bounds are drawn (log-spaced, for log–log ROC plots).
BOUND_FPR_GRID = np.logspace(-5, 0, 200)[:-1]

NOT_PRIVATE = math.inf


class NotComputedYet(MedprivError, LookupError):
    """A result the dashboards need is not in the cache yet; the message says how to compute it."""


@dataclass(frozen=True)
class Progress:
    """One progress record: ``stage`` ('shadows', 'target ε=…', 'scores'), fraction done, words."""

    stage: str
    fraction: float
    message: str
    stopped: bool = False


@dataclass(frozen=True)
class ShadowBank:
    """Everything the attacker and the scorer need, cached once per population and seed.

    Arrays over the N population images: ``labels`` (N,), ``patient_ids`` (N,) str,
    ``target_member`` (N,) bool (ground truth, used only for scoring), ``in_mask`` (K, N) bool,
    ``shadow_scores`` (K, N, A), ``nonprivate_scores`` (N, A) (the non-private target's
    logit-scaled confidences), ``nonprivate_state_dict`` (a SmallCNN state_dict).
    """

    config: dict
    labels: np.ndarray
    patient_ids: np.ndarray
    target_member: np.ndarray
    in_mask: np.ndarray
    shadow_scores: np.ndarray
    nonprivate_scores: np.ndarray
    nonprivate_state_dict: dict
    caption: str
    synthetic: bool
    device: str
    seconds: float


@dataclass(frozen=True)
class TargetModel:
    """A DP target: its scores on the population (N, A) and its accounting."""

    config: dict
    epsilon: float
    scores: np.ndarray
    state_dict: dict
    noise_multiplier: float
    sample_rate: float
    steps: int
    delta: float
    utility: dict
    seconds: float
    trainer: str


@dataclass(frozen=True)
class MembershipResult:
    """Attack results against one target, with the DP bound to draw over them.

    ``curves[name]``: RocCurve; ``auc[name]``: float; ``tpr_at[name][fpr]``: OperatingPoint for
    fpr in REPORT_FPRS; ``bound_fpr``, ``bound_tpr`` (the accounted mechanism's trade-off curve,
    all ones when not private), ``region_tpr`` (the generic (ε, δ) region); ``vulnerable``:
    list of dicts (patient_id, index, score, label) of the most exposed members, highest first.
    """

    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    curves: dict
    auc: dict
    tpr_at: dict
    bound_fpr: np.ndarray
    bound_tpr: np.ndarray
    region_tpr: np.ndarray
    utility: dict
    vulnerable: list
    n_members: int
    n_nonmembers: int
    n_shadows: int
    caption: str
    synthetic: bool
    device: str
    label: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def private(self) -> bool:
        return math.isfinite(self.epsilon)

    def bound_at(self, fpr: float) -> float:
        """Max TPR any attack can have at ``fpr`` against this target (1.0 when not private)."""
        fpr = check_open_unit("fpr", fpr)
        if not self.private:
            return 1.0
        from ...privacy.bounds import tradeoff_curve
        return float(tradeoff_curve(noise_multiplier=self.noise_multiplier,
                                    sample_rate=self.sample_rate, steps=self.steps, fpr=fpr))


def _population(size: int, n_population: int | None, seed: int):
    from ...data import load_dataset, patient_split

    data = load_dataset(size=size, split="train", seed=seed, progress=False)
    if n_population is not None and n_population < len(data):
        keep = patient_split(data.patient_ids, fractions=(n_population / len(data),), seed=seed,
                             n=len(data))[0]
        data = data.subset(keep)
    return data


def _patient_ids(data) -> np.ndarray:
    if data.patient_ids is not None:
        return np.asarray(data.patient_ids).astype(str)
    # No patient IDs in the file: each image is its own (pseudo-)patient.
    return np.array([f"image-{i}" for i in range(len(data))])


def evaluate_utility(state_dict: dict, *, size: int, width: int, activation: str, data) -> dict:
    """Test-set utility of a SmallCNN: the training module's metrics (auc, accuracy,
    sensitivity, specificity, … as floats) at threshold 0.5."""
    from ...training.evaluate import evaluate

    model = make_model(size=size, seed=0, width=width, activation=activation)
    model.load_state_dict(state_dict)
    return evaluate(model, data)


def _dp_train_opacus(*, images, labels, size, width, activation, epsilon, delta, epochs, batch_size, lr,
                     max_grad_norm, seed, device, stop):
    """DP-SGD with Opacus (Poisson sampling), σ from the project's accountant. Generator.

    Used only when the training module does not provide ``train_cached``.
    """
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    from ...privacy.accounting import noise_multiplier_for_epsilon

    n = len(labels)
    q = min(1.0, batch_size / n)
    steps_per_epoch = max(1, int(round(1 / q)))
    steps = epochs * steps_per_epoch
    sigma = noise_multiplier_for_epsilon(target_epsilon=epsilon, sample_rate=q, steps=steps,
                                         delta=delta)
    torch.manual_seed(seed)
    model = make_model(size=size, seed=seed, width=width, activation=activation).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(images, labels), batch_size=batch_size,
                        generator=torch.Generator().manual_seed(seed))
    engine = PrivacyEngine(accountant="prv", secure_mode=False)
    model, opt, loader = engine.make_private(module=model, optimizer=opt, data_loader=loader,
                                             noise_multiplier=sigma, max_grad_norm=max_grad_norm,
                                             poisson_sampling=True)
    loss_fn = torch.nn.CrossEntropyLoss()
    done = 0
    for epoch in range(epochs):
        for xb, yb in loader:
            if stop_requested(stop):
                return
            if len(yb) == 0:
                done += 1
                continue
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xb.to(device)), yb.to(device)).backward()
            opt.step()
            done += 1
        yield {"epoch": epoch + 1, "epochs": epochs}
    state = {k.removeprefix("_module."): v.detach().cpu() for k, v in model.state_dict().items()}
    yield {"state_dict": state, "noise_multiplier": sigma, "sample_rate": q, "steps": done}


class MembershipExperiment:
    """Membership inference against chest-X-ray classifiers, cached piece by piece.

    Parameters (all keyword)
    ----------
    size : image side (28, 64, 128). n_population : images of the training split to use
        (None: all; cut by patient). n_shadows : K shadow models (≥ 4 for online LiRA).
    shadow_epochs, batch_size, lr, lr_schedule, width, activation : recipe of the shadow models
        and of the non-private target (Adam, no weight decay, no augmentation: models trained
        the ordinary way until they fit their training X-rays).
    dp_epochs, dp_batch_size, max_grad_norm, delta : default DP-SGD setting of DP targets.
    dp_lr : DP-SGD learning rate; None (default) takes the training module's DP-SGD recipe
        (SGD with a large step, weight averaging, per-image standardisation).
    augment : also score the horizontally flipped view (A = 2). Off by default: the models never
        see flipped images, and the extra view lowered LiRA's AUC in our runs (see
        :mod:`medpriv_widgets.precompute`).
    seed : every split and initialisation derives from it.

    The defaults are the setting the lessons and ``medpriv bench mia`` use,
    :data:`medpriv_widgets.precompute.MEMBERSHIP`: 1,000 training X-rays cut by patient, width 8,
    80 epochs of batch 32 without augmentation (why: :mod:`medpriv_widgets.precompute`).
    """

    def __init__(self, *, size: int = 28, n_population: int | None = 1000, n_shadows: int = 16,
                 shadow_epochs: int = 80, batch_size: int = 32, lr: float = 3e-3,
                 lr_schedule: str = "constant", width: int = 8, activation: str = "tanh",
                 dp_epochs: int = 20, dp_batch_size: int = 64, dp_lr: float | None = None,
                 max_grad_norm: float = 1.0, delta: float = 1e-5, augment: bool = False,
                 seed: int = 0, device: str | None = None) -> None:
        self.size = check_int("size", size)
        self.n_population = None if n_population is None else check_int("n_population", n_population, low=20)
        self.n_shadows = check_int("n_shadows", n_shadows, low=1,
                                   hint="LiRA needs shadow models; 16 is the CPU default.")
        if self.n_shadows < 4:
            raise InvalidParameterError(
                f"`n_shadows` must be at least 4 (online LiRA needs 2 models that trained on each "
                f"example and 2 that did not); got {n_shadows}. 16 is the CPU default.")
        self.shadow_epochs = check_int("shadow_epochs", shadow_epochs, low=1)
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self.lr = check_positive("lr", lr)
        self.lr_schedule = check_choice("lr_schedule", lr_schedule, ("constant", "cosine"))
        self.width = check_int("width", width, low=4)
        self.activation = check_choice("activation", activation, ("relu", "tanh", "elu"))
        self.dp_epochs = check_int("dp_epochs", dp_epochs, low=1)
        self.dp_batch_size = check_int("dp_batch_size", dp_batch_size, low=1)
        self.dp_lr = None if dp_lr is None else check_positive("dp_lr", dp_lr)
        self.max_grad_norm = check_positive("max_grad_norm", max_grad_norm)
        self.delta = check_open_unit("delta", delta)
        self.augment = bool(augment)
        self.seed = check_int("seed", seed, low=0)
        self.device = choose_device(device)
        self.cache = ResultCache("membership")
        self._data = None
        self._test = None
        self._bank: ShadowBank | None = None

    # ------------------------------------------------------------------ configs (cache keys)
    def _data_key(self) -> dict:
        data = self.population()
        return {"source": data.source, "synthetic": bool(data.synthetic), "n": len(data),
                "path": None if data.path is None else str(data.path).rsplit("/", 1)[-1]}

    def bank_config(self) -> dict:
        return {"kind": "shadow_bank", "size": self.size, "n_population": self.n_population,
                "n_shadows": self.n_shadows, "epochs": self.shadow_epochs,
                "batch_size": self.batch_size, "lr": self.lr, "lr_schedule": self.lr_schedule,
                "width": self.width,
                "activation": self.activation,
                "augment": self.augment, "seed": self.seed, "data": self._data_key()}

    def target_config(self, *, epsilon: float, dp_batch_size: int | None = None,
                      dp_epochs: int | None = None) -> dict:
        return {"kind": "dp_target", "bank": self.bank_config(), "epsilon": float(epsilon),
                "delta": self.delta, "batch_size": dp_batch_size or self.dp_batch_size,
                "epochs": dp_epochs or self.dp_epochs, "lr": self.dp_lr,
                "max_grad_norm": self.max_grad_norm}

    # ------------------------------------------------------------------ data
    def population(self):
        if self._data is None:
            self._data = _population(self.size, self.n_population, self.seed)
        return self._data

    def test_data(self):
        if self._test is None:
            from ...data import load_dataset
            self._test = load_dataset(size=self.size, split="test", seed=self.seed + 1, progress=False)
        return self._test

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """(members, non-members) of the target: image index arrays, patient-disjoint."""
        from ...data import patient_split

        data = self.population()
        members, non_members = patient_split(data.patient_ids, fractions=(0.5, 0.5),
                                             seed=self.seed + 7919, n=len(data))
        return members, non_members

    # ------------------------------------------------------------------ cache state
    def _check_epsilon(self, epsilon) -> float:
        return check_positive("epsilon", epsilon, allow_inf=True,
                              hint="Use float('inf') for the non-private model.")

    def has_bank(self) -> bool:
        return self.bank_config() in self.cache

    def has_target(self, *, epsilon: float, dp_batch_size: int | None = None,
                   dp_epochs: int | None = None) -> bool:
        eps = self._check_epsilon(epsilon)
        if not self.has_bank():
            return False
        if math.isinf(eps):
            return True
        return self.target_config(epsilon=eps, dp_batch_size=dp_batch_size,
                                  dp_epochs=dp_epochs) in self.cache

    def bank(self) -> ShadowBank:
        """The cached shadow bank; :class:`NotComputedYet` (in words) when it must be computed first."""
        if self._bank is None:
            bank = self.cache.get(self.bank_config())
            if bank is None:
                raise NotComputedYet("The shadow models for this setting are not computed yet. "
                                  "Press 'Compute' (or run `medpriv precompute`) first.")
            self._bank = bank
        return self._bank

    # ------------------------------------------------------------------ computing
    def estimate_bank_seconds(self) -> float:
        """Rough time (2 CPU cores) of the shadow run, 0 when cached; from measured step costs."""
        if self.has_bank():
            return 0.0
        n = self.n_population or len(self.population())
        steps = self.shadow_epochs * math.ceil(n / 2 / self.batch_size)
        # Per model and step on one CPU thread (28 px, batch 32, width 8: 0.0063 s; width 16:
        # ~0.013 s). Cost grows about linearly with width: the narrow first block dominates.
        per_step = 0.0125 * (self.size / 28) ** 2 * (self.batch_size / 32) * (self.width / 16)
        return 5.0 + steps * (self.n_shadows + 1) * per_step

    def estimate_target_seconds(self, *, epsilon: float, dp_batch_size: int | None = None,
                                dp_epochs: int | None = None) -> float:
        """Rough time of one DP target (0 when cached or not private)."""
        eps = self._check_epsilon(epsilon)
        if math.isinf(eps) or self.has_target(epsilon=eps, dp_batch_size=dp_batch_size,
                                              dp_epochs=dp_epochs):
            return 0.0
        n = self.n_population or len(self.population())
        return 10.0 + (dp_epochs or self.dp_epochs) * n / 2 * 0.0015 * (self.size / 28) ** 2

    def run_bank(self, *, stop: StopToken | None = None) -> Iterator[Progress]:
        """Train the K shadow models and the non-private target together; cache the scores."""
        if self.has_bank():
            yield Progress("shadows", 1.0, "Shadow models: read from the cache.")
            return
        t0 = time.perf_counter()
        data = self.population()
        ids = _patient_ids(data)
        members, _ = self.split()
        target_member = np.zeros(len(data), dtype=bool)
        target_member[members] = True
        in_mask = complementary_halves(data.patient_ids if data.patient_ids is not None else ids,
                                       n_models=self.n_shadows, seed=self.seed)
        # The non-private target trains in the same stacked run as the shadows (row K).
        all_mask = np.vstack([in_mask, target_member[None]])
        result: dict = {}
        for p in train_stacked(images=data.images, labels=data.labels, in_mask=all_mask,
                               size=self.size, width=self.width, activation=self.activation,
                               epochs=self.shadow_epochs,
                               batch_size=self.batch_size, lr=self.lr,
                               schedule=self.lr_schedule, seed=self.seed,
                               device=self.device, stop=stop, result=result):
            p: ShadowProgress
            if p.stopped:
                yield Progress("shadows", p.step / p.total_steps,
                               "Stopped: the shadow models were not finished and are not cached.",
                               stopped=True)
                return
            yield Progress("shadows", 0.95 * p.step / p.total_steps,
                           f"Training {self.n_shadows} shadow models + the target at once: step "
                           f"{p.step}/{p.total_steps}, loss {p.loss:.3f}")
        scores = stacked_scores(state_dicts=result["state_dicts"], images=data.images,
                                labels=data.labels, size=self.size, width=self.width,
                                activation=self.activation, augment=self.augment, device=self.device)
        bank = ShadowBank(config=self.bank_config(), labels=data.labels.numpy(), patient_ids=ids,
                          target_member=target_member, in_mask=in_mask,
                          shadow_scores=scores[:-1], nonprivate_scores=scores[-1],
                          nonprivate_state_dict=result["state_dicts"][-1], caption=data.caption,
                          synthetic=bool(data.synthetic), device=device_label(self.device),
                          seconds=time.perf_counter() - t0)
        self.cache.put(self.bank_config(), bank)
        self._bank = bank
        yield Progress("shadows", 1.0, f"Shadow models done in {bank.seconds:.0f} s.")

    def _train_dp(self, *, epsilon, batch_size, epochs, stop):
        """Generator of progress dicts, ending with the trained model's dict (see _dp_train_opacus)."""
        data = self.population()
        members, _ = self.split()
        train_data = data.subset(members)
        try:
            from ...training import TrainConfig, load_model, train_cached  # noqa: F401
        except ImportError:
            train_cached = None
        if train_cached is not None:
            # val_fraction=0: every member must really be trained on (ground truth of the attack).
            cfg = TrainConfig(size=self.size, epochs=epochs, batch_size=batch_size, lr=self.dp_lr,
                              target_epsilon=float(epsilon), delta=self.delta,
                              max_grad_norm=self.max_grad_norm, seed=self.seed, val_fraction=0.0,
                              width=self.width, activation=self.activation)
            res = train_cached(cfg, data=train_data, test_data=self.test_data(), stop=stop,
                               device=self.device)
            if res is None or res.stopped:
                return
            model = load_model(res)
            yield {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                   "noise_multiplier": float(res.noise_multiplier),
                   "sample_rate": float(res.sample_rate), "steps": int(res.steps),
                   "trainer": "medpriv_widgets.training"}
            return
        for item in _dp_train_opacus(images=train_data.images, labels=train_data.labels,
                                     size=self.size, width=self.width, activation=self.activation,
                                     epsilon=epsilon,
                                     delta=self.delta, epochs=epochs, batch_size=batch_size,
                                     lr=self.dp_lr or 2e-3, max_grad_norm=self.max_grad_norm,
                                     seed=self.seed, device=self.device, stop=stop):
            if "state_dict" in item:
                item["trainer"] = "opacus (fallback)"
            yield item

    def run_target(self, *, epsilon: float, dp_batch_size: int | None = None,
                   dp_epochs: int | None = None, stop: StopToken | None = None) -> Iterator[Progress]:
        """Train (or read) the DP target at ``epsilon`` and cache its scores. ε = inf: no-op."""
        eps = self._check_epsilon(epsilon)
        stage = f"target ε={eps:g}"
        if math.isinf(eps):
            yield Progress(stage, 1.0, "The non-private target is part of the shadow run.")
            return
        bs = check_int("dp_batch_size", dp_batch_size, low=1) if dp_batch_size else self.dp_batch_size
        ep = check_int("dp_epochs", dp_epochs, low=1) if dp_epochs else self.dp_epochs
        cfg = self.target_config(epsilon=eps, dp_batch_size=bs, dp_epochs=ep)
        if cfg in self.cache:
            yield Progress(stage, 1.0, f"DP model at ε = {eps:g}: read from the cache.")
            return
        t0 = time.perf_counter()
        final = None
        for item in self._train_dp(epsilon=eps, batch_size=bs, epochs=ep, stop=stop):
            if "state_dict" in item:
                final = item
            else:
                yield Progress(stage, 0.9 * item["epoch"] / item["epochs"],
                               f"DP-SGD at ε = {eps:g}: epoch {item['epoch']}/{item['epochs']}")
        if final is None or stop_requested(stop):
            yield Progress(stage, 0.0, f"Stopped: the DP model at ε = {eps:g} is not cached.",
                           stopped=True)
            return
        data = self.population()
        # A plain SmallCNN scores the DP target: it honours the model's own settings (the DP-SGD
        # recipe standardises each image inside the model), which the stacked shadows do not use.
        scores = model_scores(state_dict=final["state_dict"], images=data.images,
                              labels=data.labels, size=self.size, width=self.width,
                              activation=self.activation, augment=self.augment, device=self.device)
        utility = evaluate_utility(final["state_dict"], size=self.size, width=self.width,
                                   activation=self.activation,
                                   data=self.test_data())
        target = TargetModel(config=cfg, epsilon=eps, scores=scores, state_dict=final["state_dict"],
                             noise_multiplier=final["noise_multiplier"],
                             sample_rate=final["sample_rate"], steps=final["steps"],
                             delta=self.delta, utility=utility,
                             seconds=time.perf_counter() - t0, trainer=final["trainer"])
        self.cache.put(cfg, target)
        yield Progress(stage, 1.0, f"DP model at ε = {eps:g} done in {target.seconds:.0f} s.")

    def run(self, *, epsilons=(NOT_PRIVATE,), stop: StopToken | None = None) -> Iterator[Progress]:
        """Everything needed for :meth:`result` at each ε (shadows first, then DP targets)."""
        eps_list = [self._check_epsilon(e) for e in epsilons]
        for p in self.run_bank(stop=stop):
            yield p
            if p.stopped:
                return
        for eps in eps_list:
            for p in self.run_target(epsilon=eps, stop=stop):
                yield p
                if p.stopped:
                    return

    # ------------------------------------------------------------------ results (instant)
    def result(self, *, epsilon: float, dp_batch_size: int | None = None,
               dp_epochs: int | None = None, n_vulnerable: int = 8,
               confidence: float = 0.95) -> MembershipResult:
        """Attack results from the cache; NotComputedYet (in words) when something is missing."""
        from ...privacy.bounds import eps_delta_region, tradeoff_curve

        eps = self._check_epsilon(epsilon)
        bank = self.bank()
        if math.isinf(eps):
            scores, sigma, q, steps = bank.nonprivate_scores, 0.0, 0.0, 0
            utility = self.cache.get({"kind": "nonprivate_utility", "bank": self.bank_config()})
            if utility is None:
                utility = evaluate_utility(bank.nonprivate_state_dict, size=self.size,
                                           width=self.width, activation=self.activation,
                                           data=self.test_data())
                self.cache.put({"kind": "nonprivate_utility", "bank": self.bank_config()}, utility)
            bound = np.ones_like(BOUND_FPR_GRID)
            region = np.ones_like(BOUND_FPR_GRID)
            label = "not private"
        else:
            cfg = self.target_config(epsilon=eps, dp_batch_size=dp_batch_size, dp_epochs=dp_epochs)
            target = self.cache.get(cfg)
            if target is None:
                raise NotComputedYet(f"The DP model at ε = {eps:g} is not computed yet. Press "
                                  f"'Compute' (or run `medpriv precompute`) first.")
            scores, sigma, q, steps = target.scores, target.noise_multiplier, target.sample_rate, target.steps
            utility = target.utility
            bound = tradeoff_curve(noise_multiplier=sigma, sample_rate=q, steps=steps, fpr=BOUND_FPR_GRID)
            region = eps_delta_region(epsilon=eps, delta=self.delta, fpr=BOUND_FPR_GRID)
            label = f"ε = {eps:g}"
        member = bank.target_member
        attack_scores = {
            "lira_online": lira_scores(target_scores=scores, shadow_scores=bank.shadow_scores,
                                       in_mask=bank.in_mask, online=True),
            "lira_offline": lira_scores(target_scores=scores, shadow_scores=bank.shadow_scores,
                                        in_mask=bank.in_mask, online=False),
            "loss": loss_threshold_scores(target_scores=scores),
        }
        curves = {k: roc_curve(scores=v, is_member=member) for k, v in attack_scores.items()}
        aucs = {k: roc_auc(scores=v, is_member=member) for k, v in attack_scores.items()}
        tpr_at = {k: {f: tpr_at_fpr(scores=v, is_member=member, fpr=f, confidence=confidence)
                      for f in REPORT_FPRS} for k, v in attack_scores.items()}
        vulnerable = most_vulnerable(scores=attack_scores["lira_online"], is_member=member,
                                     patient_ids=bank.patient_ids, labels=bank.labels,
                                     n=n_vulnerable)
        return MembershipResult(
            epsilon=eps, delta=self.delta, noise_multiplier=sigma, sample_rate=q, steps=steps,
            curves=curves, auc=aucs, tpr_at=tpr_at, bound_fpr=BOUND_FPR_GRID, bound_tpr=bound,
            region_tpr=region, utility=utility, vulnerable=vulnerable,
            n_members=int(member.sum()), n_nonmembers=int((~member).sum()),
            n_shadows=int(bank.in_mask.shape[0]), caption=bank.caption, synthetic=bank.synthetic,
            device=bank.device, label=label, extra={"scores": attack_scores})


def most_vulnerable(*, scores, is_member, patient_ids, labels=None, n: int = 8) -> list[dict]:
    """The ``n`` member patients the attack is most sure about, highest score first.

    A patient's score is the highest score over their member images (the image that gives them
    away). Returns dicts with patient_id, index (that image), score, label.
    """
    n = check_int("n", n, low=0)
    s = np.asarray(scores, dtype=float)
    member = np.asarray(is_member, dtype=bool)
    ids = np.asarray(patient_ids)
    best: dict = {}
    for i in np.flatnonzero(member):
        if ids[i] not in best or s[i] > s[best[ids[i]]]:
            best[ids[i]] = i
    ranked = sorted(best.items(), key=lambda kv: -s[kv[1]])[:n]
    return [{"patient_id": str(pid), "index": int(i), "score": float(s[i]),
             "label": None if labels is None else int(np.asarray(labels)[i])} for pid, i in ranked]


def check_tpr_below_bound(result: MembershipResult, *, attack: str = "lira_online",
                          fpr: float = 0.001) -> tuple[bool, OperatingPoint, float]:
    """Whether the attack's TPR at ``fpr`` is consistent with the DP bound.

    Both rates are estimates: consistent means the lower end of the TPR's Clopper–Pearson
    interval is at most the bound at the upper end of the FPR's interval (the bound is
    non-decreasing in FPR). With many non-members that upper end is close to ``fpr``.
    Returns (ok, operating point, bound at the FPR's upper end).
    """
    if attack not in result.tpr_at or fpr not in result.tpr_at[attack]:
        raise InvalidParameterError(f"`attack` must be one of {ATTACKS} and `fpr` one of "
                                    f"{REPORT_FPRS}; got {attack!r}, {fpr!r}.")
    op = result.tpr_at[attack][fpr]
    bound = result.bound_at(min(op.fpr_high, 1 - 1e-9))
    return op.tpr_low <= bound + 1e-12, op, bound


__all__ = ["ATTACKS", "BOUND_FPR_GRID", "MembershipExperiment", "MembershipResult", "NOT_PRIVATE",
           "Progress", "REPORT_FPRS", "ShadowBank", "TargetModel", "check_tpr_below_bound",
           "evaluate_utility", "most_vulnerable", "NotComputedYet", "RocCurve"]
