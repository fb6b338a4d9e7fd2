"""FedAvg rounds as a cached, stoppable stage: one :class:`Progress` per round.

::

    fed = Federation(FederationSettings(rounds=20, secure_aggregation=True),
                     ledgers=site_ledgers(folder, settings, epsilon=4.0))
    for p in fed.run(cache=store, stop=token):      # p.partial: a RoundRecord
        print(p.message)
    result = p.partial                              # FederationResult on the last record

A round, in a few visible lines (:meth:`Federation.compute`): each hospital that is not locked
charges its own privacy ledger for the round (a refused charge locks it: it drops out, visibly,
and the others go on), trains locally (:mod:`.site`), weights (and under site-level DP clips)
its change; the server aggregates (:mod:`.server`, securely when asked) and steps the global
model; the global model and each hospital's local model are scored on the common test X-rays.
A round that cannot be securely aggregated is abandoned (the global model stays as it was, and
the record says why); nothing partial is ever averaged in.

Ledgers and the cache: the key holds each ledger's budget and what it had spent when the run
began, so a run on a fresh budget and one on a half-spent budget never share a result. A cache
hit spends nothing (looking at a released model again is post-processing), as for
:class:`~medpriv_widgets.experiments.TrainModel`.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from ..cache import ResultStore
from ..device import choose_device, device_label
from ..errors import (BudgetExhausted, DatasetLocked, InvalidParameterError,
                      SecureAggregationError)
from ..experiments.speed import probe_seconds
from ..experiments.stage import Stage
from ..experiments.threads import TRAINING_THREADS
from ..privacy.accounting import dpsgd_epsilon
from ..progress import Progress
from ..stopping import StopToken, stop_requested
from ..training import TrainConfig, evaluate, load_test, predict_proba, roc_auc
from ..training.loop import build_model
from .hospitals import Hospital, make_hospitals
from .server import aggregate
from .settings import FederationSettings
from .site import clip_update, flatten, load_flat, local_plan, train_locally

#: Statuses of a hospital in a round.
TRAINED, DROPPED, LOCKED_NOW, LOCKED = "trained", "dropped out", "budget spent now", "locked"


@dataclass
class SiteRound:
    """One hospital in one round (what the lab's table and bars show).

    status : 'trained', 'dropped out' (trained, but its change never arrived), 'budget spent
        now' (its ledger refused this round: locked from now on) or 'locked'.
    loss : mean local training loss (nats; NaN when it did not train).
    auc : test AUC of its locally trained model (NaN when it did not train).
    epsilon : example-level ε spent so far (its ledger's total, else the accountant's; inf when
        not private); budget : its ledger's ε budget (None without a ledger).
    update_norm : L2 norm of its change before any clipping.
    message : the ledger's sentence when it was locked this round, else ''.
    """

    name: str
    n_images: int
    status: str
    loss: float = math.nan
    auc: float = math.nan
    epsilon: float = math.inf
    budget: float | None = None
    update_norm: float = math.nan
    message: str = ""

    @property
    def budget_fraction(self) -> float:
        """Share of its ε budget spent, in [0, 1] (NaN without a budget)."""
        if self.budget is None:
            return math.nan
        if self.status in (LOCKED, LOCKED_NOW):
            return 1.0
        return min(1.0, self.epsilon / self.budget) if math.isfinite(self.epsilon) else 1.0


@dataclass
class RoundRecord:
    """What one round produced (``partial`` of each round's Progress).

    round, rounds : this round (1-based) and the planned number.
    sites : one :class:`SiteRound` per hospital, in the settings' order.
    metrics : test metrics of the global model after this round (auc, sensitivity, …).
    secure : secure aggregation was used; abandoned : why the round was not aggregated ('').
    site_epsilon : site-level ε of DP-FedAvg so far (inf when off).
    view_site : index of the hospital whose update is shown; view_update : its weighted change
        (float64, d); view_received : what the server received from it (the same numbers, or
        masked noise in [−½, ½) with secure aggregation); None when it did not send.
    sum_error : fixed-point error bound of the secure sum (0 otherwise).
    seconds : wall time so far; seconds_aggregation : of this round's aggregation alone.
    """

    round: int
    rounds: int
    sites: list
    metrics: dict
    secure: bool
    abandoned: str = ""
    site_epsilon: float = math.inf
    view_site: int | None = None
    view_update: np.ndarray | None = None
    view_received: np.ndarray | None = None
    sum_error: float = 0.0
    seconds: float = 0.0
    seconds_aggregation: float = 0.0

    @property
    def auc(self) -> float:
        return float(self.metrics.get("auc", math.nan))

    def message(self) -> str:
        active = sum(s.status == TRAINED for s in self.sites)
        text = (f"round {self.round} of {self.rounds} · global AUC {self.auc:.3f} · "
                f"{active} of {len(self.sites)} hospitals")
        return text + (" · round abandoned" if self.abandoned else "")


@dataclass
class FederationResult:
    """Everything a finished (or stopped) federation produced; what the cache stores.

    history : one :class:`RoundRecord` per round (without the per-round update vectors but the
    last). state_dict : the global model (CPU tensors of a SmallCNN; see :meth:`model`).
    test_metrics : of the final global model. hospitals : (name, images, patients, pneumonia
    rate) per site. ended : why it ended before ``rounds`` ('' when it ran them all).
    """

    settings: dict
    history: list
    state_dict: dict
    test_metrics: dict
    hospitals: list
    seconds: float
    device: str
    stopped: bool = False
    ended: str = ""
    data_caption: str = ""
    synthetic: bool = False

    @property
    def auc(self) -> float:
        return float(self.test_metrics.get("auc", math.nan))

    @property
    def rounds_done(self) -> int:
        return len(self.history)

    def model(self) -> torch.nn.Module:
        """The final global model (CPU, eval mode)."""
        s = self.settings
        cfg = TrainConfig(size=s["size"], seed=s["seed"], width=s["width"], standardize=True,
                          zero_head=True, optimizer="sgd", batch_size=1, lr=1.0, epochs=1,
                          augment=False, ema=0.0)
        model = build_model(cfg)
        model.load_state_dict(self.state_dict)
        return model.eval()


def _ledger_state(ledger) -> dict:
    eps, dlt = ledger.budget
    spent = ledger.spent()
    return {"budget": [eps, dlt], "spent": [round(spent[0], 9), round(spent[1], 12)],
            "locked": bool(ledger.locked)}


#: Costs in probe units (:mod:`medpriv_widgets.experiments.speed`), measured at 28 px, width
#: 16, one thread, probe 0.0125 s: a local step on one X-ray (plain SGD 0.98 ms, DP-SGD with
#: per-example gradients 1.56 ms), scoring one test X-ray (0.51 ms), a hospital's ledger
#: entry per round (PRV accounting of its whole history; fitted to lesson 06's DP lab, 80 s
#: for 39 site-rounds and 42 ledger entries), and loading the data. Lesson 06's federation of
#: 4 hospitals × 20 rounds took 63 s against 66 s estimated.
_UNITS_PER_IMAGE_STEP = {False: 0.078, True: 0.125}
_UNITS_PER_TEST_IMAGE = 0.041
_UNITS_LEDGER = 40.0
_UNITS_FIXED = 150.0


@dataclass(frozen=True)
class Federation(Stage):
    """Run (or read) the federation of ``settings`` on ``pool`` (default: the size's 'train'
    split), scored on ``test_data`` (default: the official 'test' split).

    ``ledgers``: {site name: PrivacyLedger} (see :func:`.ledgers.site_ledgers`), charged per
    round; needs ``settings.noise_multiplier`` (DP-SGD) — a hospital cannot spend a finite
    budget on training without noise. Result: :class:`FederationResult`.
    """

    settings: FederationSettings
    pool: Any = field(default=None, compare=False, repr=False, metadata={"key": False})
    test_data: Any = field(default=None, compare=False, repr=False, metadata={"key": False})
    ledgers: Any = field(default=None, compare=False, repr=False, metadata={"key": False})

    namespace: ClassVar[str] = "federated"
    # One CPU thread, as every training stage (experiments/threads.py): two threads on a busy
    # 2-core machine wait on each other, and the numbers would differ between machines.
    cpu_threads: ClassVar[int | None] = TRAINING_THREADS

    def __post_init__(self) -> None:
        if not isinstance(self.settings, FederationSettings):
            raise InvalidParameterError(
                f"`settings` must be a FederationSettings; got {type(self.settings).__name__}.")
        if self.ledgers is not None:
            if not isinstance(self.ledgers, Mapping):
                raise InvalidParameterError("`ledgers` must map each hospital's name to its "
                                            "PrivacyLedger.")
            missing = [n for n in self.settings.site_names if n not in self.ledgers]
            if missing:
                raise InvalidParameterError(
                    f"`ledgers` has no ledger for {missing}; every hospital needs its own budget "
                    f"(medpriv_widgets.federated.site_ledgers makes them).")
            if not self.settings.private:
                raise InvalidParameterError(
                    "Hospitals with a privacy budget cannot train without DP-SGD: one model "
                    "trained without noise would spend the whole budget. Set `noise_multiplier` "
                    "(e.g. 1.0), or run without ledgers on data you may use freely.")

    @property
    def title(self) -> str:
        s = self.settings
        extra = " + secure aggregation" if s.secure_aggregation else ""
        dp = f", DP-SGD σ = {s.noise_multiplier:g}" if s.private else ""
        return f"FedAvg ({len(s.sites)} hospitals, {s.rounds} rounds{dp}{extra})"

    @functools.cached_property
    def _data(self) -> tuple:
        from ..data import load_dataset

        pool = (self.pool if self.pool is not None
                else load_dataset(size=self.settings.size, split="train", seed=self.settings.seed))
        test = (self.test_data if self.test_data is not None
                else load_test(TrainConfig(size=self.settings.size, seed=self.settings.seed)))
        if pool.size != self.settings.size:
            raise InvalidParameterError(f"The X-rays are {pool.size} px but `size` is "
                                        f"{self.settings.size}; load data of the same size.")
        return pool, test

    @functools.cached_property
    def hospitals(self) -> tuple[Hospital, ...]:
        """The sites (their X-rays never leave them)."""
        s = self.settings
        return make_hospitals(self._data[0], sites=s.sites, n_images=s.n_images, seed=s.seed)

    def key(self) -> dict:
        pool, test = self._data
        key = {"stage": "Federation", "settings": self.settings.to_dict(),
               "data": pool.fingerprint, "test": test.fingerprint,
               "synthetic": bool(pool.synthetic)}
        if self.ledgers is not None:
            key["ledgers"] = {n: _ledger_state(self.ledgers[n]) for n in self.settings.site_names}
        return key

    def estimate_units(self) -> float:
        """Cost of :meth:`compute` in units of the machine-speed probe
        (:mod:`medpriv_widgets.experiments.speed`): per round, every training hospital's local
        steps and its model's test AUC, the global model's test metrics, and with budgets each
        hospital's ledger entry — for as many rounds as its budget pays."""
        s = self.settings
        px = (s.size / 28) ** 2 * (s.width / 16)
        test = len(self._data[1]) * _UNITS_PER_TEST_IMAGE * px
        site = s.local_steps * s.batch_size * _UNITS_PER_IMAGE_STEP[s.private] * px + test
        units = _UNITS_FIXED + s.rounds * test
        for h in self.hospitals:
            rounds = self._rounds_paid(h)
            units += rounds * site
            if self.ledgers is not None:
                # the round that finds the budget spent still asks the ledger
                units += min(s.rounds, rounds + 1) * _UNITS_LEDGER
        return units

    def _rounds_paid(self, h: Hospital) -> int:
        """Rounds hospital ``h`` will train: all, or (with a ledger) about as many as its budget
        pays. Worked out with RDP — fast, but its ε is larger than the ledger's PRV, so this
        errs short (lesson 06: 30 site-rounds predicted, 39 trained)."""
        s = self.settings
        if self.ledgers is None or not s.private:
            return s.rounds
        ledger = self.ledgers[h.name]
        if ledger.locked:
            return 0
        left = float(ledger.budget[0]) - float(ledger.spent()[0])
        plan = local_plan(s.local_config(), h.n_images, s.local_steps)
        rounds = 0
        while rounds < s.rounds and dpsgd_epsilon(
                noise_multiplier=plan.noise_multiplier, sample_rate=plan.sample_rate,
                steps=s.local_steps * (rounds + 1), delta=s.delta, accountant="rdp") <= left:
            rounds += 1
        return min(s.rounds, rounds + 1)

    def estimate_seconds(self) -> float:
        """Expected wall seconds on this machine now (probe-scaled, one CPU thread)."""
        return self.estimate_units() * probe_seconds()

    def run(self, *, cache: ResultStore | None, stop: StopToken | None = None,
            device=None) -> Iterator[Progress]:
        if self.ledgers is not None:
            locked = [n for n in self.settings.site_names if self.ledgers[n].locked]
            if len(locked) == len(self.settings.sites):
                raise DatasetLocked(
                    "Every hospital's privacy budget is used up, so no hospital may train: the "
                    "federation cannot start. An instructor can reset the budgets "
                    "(ledger.reset(confirm=True)).")
        yield from super().run(cache=cache, stop=stop, device=device)

    def _close(self, site: str, round_: int, refusal: Exception) -> str:
        """Lock ``site``'s ledger (what is left cannot pay for a round) and say so, in words."""
        ledger = self.ledgers[site]
        ledger.lock(reason=f"what is left of its budget cannot pay for round {round_}")
        try:
            ledger.check_open()
        except DatasetLocked as closed:
            return str(closed)
        return str(refusal)

    # ------------------------------------------------------------------ the rounds
    def compute(self, *, cache, stop, device=None) -> Iterator[Progress]:
        s = self.settings
        dev = choose_device(str(device)) if device is not None else choose_device()
        pool, test = self._data
        hospitals = self.hospitals
        config = s.local_config()
        model = build_model(config).to(dev).eval()
        theta = flatten(model)
        rng = np.random.default_rng(np.random.SeedSequence([s.seed, 4242]))
        steps_done = [0] * len(hospitals)
        locked = [False] * len(hospitals)
        eps_now = [0.0 if s.private else math.inf] * len(hospitals)
        if self.ledgers is not None:
            locked = [bool(self.ledgers[h.name].locked) for h in hospitals]
            eps_now = [float(self.ledgers[h.name].spent()[0]) for h in hospitals]
        history: list[RoundRecord] = []
        t0 = time.perf_counter()
        stopped, ended = False, ""
        title = self.title
        for r in range(1, s.rounds + 1):
            if stop_requested(stop):
                stopped = True
                break
            sites, contributions, weights = [], {}, {}
            for k, h in enumerate(hospitals):
                row = SiteRound(h.name, h.n_images, LOCKED if locked[k] else TRAINED,
                                budget=(self.ledgers[h.name].budget[0]
                                        if self.ledgers is not None else None))
                sites.append(row)
                row.epsilon = eps_now[k]
                if locked[k]:
                    continue
                plan = local_plan(config, h.n_images, s.local_steps)
                if self.ledgers is not None:
                    try:
                        spent = self.ledgers[h.name].spend_dpsgd(
                            noise_multiplier=plan.noise_multiplier, sample_rate=plan.sample_rate,
                            steps=s.local_steps,
                            note=f"federated round {r}: {s.local_steps} DP-SGD steps at {h.name}")
                    except (BudgetExhausted, DatasetLocked) as exc:
                        # What is left cannot pay for a round: the hospital is closed for good.
                        locked[k] = True
                        row.status, row.message = LOCKED_NOW, self._close(h.name, r, exc)
                        continue
                    row.epsilon = eps_now[k] = float(spent["total_epsilon"])
                local = train_locally(global_model=model, images=h.data.images,
                                      labels=h.data.labels, config=config, steps=s.local_steps,
                                      seed=s.seed * 1_000_003 + r * 1009 + k, device=dev, stop=stop)
                if stop_requested(stop):
                    stopped = True
                    break
                steps_done[k] += local.steps
                if self.ledgers is None:
                    row.epsilon = eps_now[k] = self._epsilon(h, steps_done[k], config)
                row.loss = local.loss
                row.auc = roc_auc(predict_proba(local.model, test.images), test.labels.numpy())
                contribution, row.update_norm = (clip_update(local.delta, s.site_clip)
                                                 if s.site_clip is not None
                                                 else (local.delta, float(np.linalg.norm(local.delta))))
                weight = 1.0 if s.site_clip is not None else float(h.n_images)
                contributions[k], weights[k] = contribution * weight, weight
                if k in s.dropped_in(r):
                    row.status = DROPPED
            if stopped:
                break
            record = RoundRecord(r, s.rounds, sites, {}, s.secure_aggregation)
            t_agg = time.perf_counter()
            if not contributions:
                ended = ("Every hospital's privacy budget is used up, so the federation stops "
                         f"after round {r - 1}.")
                record.abandoned = ended
            else:
                try:
                    agg = aggregate(contributions, weights, secure=s.secure_aggregation,
                                    dropped=s.dropped_in(r), threshold=s.threshold,
                                    noise_std=(s.site_noise_multiplier * s.site_clip
                                               if s.site_private else 0.0),
                                    rng=rng, round_id=r, max_parties=max(2, len(hospitals)))
                except SecureAggregationError as exc:
                    record.abandoned = str(exc)
                except InvalidParameterError as exc:  # every change was lost on the way
                    record.abandoned = str(exc)
                else:
                    theta = theta + s.server_lr * agg.step
                    load_flat(model, theta)
                    record.sum_error = agg.max_error
                    first = min(contributions)
                    record.view_site = first
                    record.view_update = contributions[first]
                    record.view_received = agg.received.get(first)
            record.seconds_aggregation = time.perf_counter() - t_agg
            record.metrics = evaluate(model, test)
            record.site_epsilon = self._site_epsilon(r)
            record.seconds = time.perf_counter() - t0
            if history:  # keep the update vectors of the latest round only
                history[-1].view_update = history[-1].view_received = None
            history.append(record)
            if ended:
                break
            if r < s.rounds:
                yield Progress(title, r, s.rounds, record.message(), partial=record)
        result = FederationResult(
            settings=s.to_dict(),
            state_dict={k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
            history=history, test_metrics=evaluate(model, test),
            hospitals=[(h.name, h.n_images, h.n_patients, h.pneumonia_rate) for h in hospitals],
            seconds=time.perf_counter() - t0, device=device_label(dev), stopped=stopped,
            ended=ended, data_caption=pool.caption,
            synthetic=bool(pool.synthetic or test.synthetic))
        done = len(history)
        words = (f"stopped after {done} of {s.rounds} rounds" if stopped else
                 ended or f"done: global test AUC {result.auc:.3f}")
        yield Progress(title, s.rounds if not stopped else done, s.rounds, words,
                       partial=result, stopped=stopped)

    def _epsilon(self, h: Hospital, steps: int, config: TrainConfig) -> float:
        """Example-level ε of a hospital after ``steps`` local DP-SGD steps (no ledger)."""
        s = self.settings
        if not s.private:
            return math.inf
        if steps == 0:
            return 0.0
        plan = local_plan(config, h.n_images, steps)
        return dpsgd_epsilon(noise_multiplier=plan.noise_multiplier, sample_rate=plan.sample_rate,
                             steps=steps, delta=s.delta, accountant=s.accountant)

    def _site_epsilon(self, rounds: int) -> float:
        """Site-level ε of DP-FedAvg after ``rounds`` rounds (every hospital, every round)."""
        s = self.settings
        if not s.site_private:
            return math.inf
        return dpsgd_epsilon(noise_multiplier=s.site_noise_multiplier, sample_rate=1.0,
                             steps=rounds, delta=s.delta, accountant=s.accountant)


__all__ = ["DROPPED", "Federation", "FederationResult", "LOCKED", "LOCKED_NOW", "RoundRecord",
           "SiteRound", "TRAINED"]
