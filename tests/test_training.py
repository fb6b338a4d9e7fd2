"""Training core: metrics, DP-SGD accounting, determinism, stopping, ledger, cache, bad input.

All runs use small synthetic phantoms at 28 px so the file stays fast on two cores; most DP runs
give σ directly, because solving σ for a target ε takes seconds.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from medpriv_widgets.errors import (BudgetExhausted, DatasetLocked, InvalidParameterError)
from medpriv_widgets.privacy.accounting import dpsgd_epsilon
from medpriv_widgets.privacy.ledger import PrivacyLedger
from medpriv_widgets.stopping import StopToken
from medpriv_widgets.cache import ResultStore
from medpriv_widgets.experiments import training as stage_mod
from medpriv_widgets.experiments.training import TrainModel
from medpriv_widgets.training import (EpochRecord, TrainConfig, TrainResult, binary_metrics,
                                      default_delta, load_model, plan_privacy, predict_proba,
                                      roc_auc, run_to_end, train)


def small(**kw) -> TrainConfig:
    base = dict(size=28, epochs=2, batch_size=32, lr=3e-3, seed=1, width=8, accountant="rdp")
    base.update(kw)
    return TrainConfig(**base)


# ------------------------------------------------------------------ metrics

def brute_force_auc(scores, labels) -> float:
    pos = [s for s, y in zip(scores, labels) if y == 1]
    neg = [s for s, y in zip(scores, labels) if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(5))
def test_auc_equals_brute_force_pair_count(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    labels = rng.integers(0, 2, n)
    labels[:2] = [0, 1]
    scores = rng.integers(0, 6, n) / 5.0  # many ties
    assert roc_auc(scores, labels) == pytest.approx(brute_force_auc(scores, labels), abs=1e-12)


def test_auc_edge_cases():
    assert math.isnan(roc_auc([0.1, 0.2], [1, 1]))
    assert roc_auc([0.9, 0.1], [1, 0]) == 1.0
    with pytest.raises(InvalidParameterError, match="same length"):
        roc_auc([0.1, 0.2], [1])
    with pytest.raises(InvalidParameterError, match="0 .normal. or 1"):
        roc_auc([0.1, 0.2], [1, 2])
    with pytest.raises(InvalidParameterError, match="NaN"):
        roc_auc([0.1, float("nan")], [1, 0])


def test_threshold_metrics_count_by_hand():
    labels = np.array([1, 1, 1, 0, 0])
    probs = np.array([0.9, 0.6, 0.2, 0.7, 0.1])
    m = binary_metrics(probs, labels)
    tp = sum((p >= 0.5) and y == 1 for p, y in zip(probs, labels))
    tn = sum((p < 0.5) and y == 0 for p, y in zip(probs, labels))
    assert m["sensitivity"] == tp / 3 and m["specificity"] == tn / 2
    assert m["accuracy"] == (tp + tn) / 5
    assert m["balanced_accuracy"] == pytest.approx((tp / 3 + tn / 2) / 2)
    assert m["auc"] == pytest.approx(brute_force_auc(probs, labels))


# ------------------------------------------------------------------ training

def test_nonprivate_training_decreases_loss(pool, test_set):
    records = list(train(small(epochs=3, ema=0.9), data=pool, test_data=test_set))
    # one Progress per epoch; the epochs' records, the last one's inside the result's history
    assert all(isinstance(r.partial, EpochRecord) for r in records[:-1])
    assert records[-1].finished and isinstance(records[-1].partial, TrainResult)
    res = records[-1].partial
    epochs = res.history
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    assert [r.partial.epoch for r in records[:-1]] == [1, 2]
    assert [r.done for r in records] == sorted(r.done for r in records)
    assert epochs[-1]["loss"] < epochs[0]["loss"]
    assert all(math.isinf(e["epsilon_spent"]) for e in epochs)
    assert set(res.test_metrics) >= {"auc", "accuracy", "balanced_accuracy", "sensitivity",
                                     "specificity"}
    assert res.n_train + res.n_val == len(pool) and res.n_test == len(test_set)


@pytest.mark.slow  # solving σ for a target ε takes several seconds
def test_dp_run_meets_target_epsilon(pool, test_set):
    cfg = small(epochs=2, target_epsilon=3.0, accountant="rdp")
    records = list(train(cfg, data=pool, test_data=test_set))
    res = records[-1].partial
    eps = [e["epsilon_spent"] for e in res.history]
    assert eps == sorted(eps) and eps[0] > 0
    assert res.epsilon <= 3.0 * (1 + 1e-3)
    assert res.epsilon >= 3.0 * 0.95  # σ is not needlessly large
    again = dpsgd_epsilon(noise_multiplier=res.noise_multiplier, sample_rate=res.sample_rate,
                          steps=res.steps, delta=res.delta, accountant="rdp")
    assert again == pytest.approx(res.epsilon)


def test_same_config_same_numbers(pool, test_set):
    cfg = small(epochs=1, noise_multiplier=1.0)
    a = run_to_end(cfg, data=pool, test_data=test_set)
    b = run_to_end(cfg, data=pool, test_data=test_set)
    assert a.test_metrics == b.test_metrics
    assert all(torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict)
    assert a.history[0]["loss"] == b.history[0]["loss"]


class StopAfterChecks(StopToken):
    """Becomes 'requested' on its k-th check, i.e. while the k-th batch is about to start."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k, self.checks = k, 0

    @property
    def requested(self) -> bool:
        self.checks += 1
        if self.checks >= self.k:
            self.request()
        return super().requested


@pytest.mark.parametrize("private", [False, True])
def test_stop_ends_within_one_batch(pool, test_set, private):
    cfg = small(epochs=3, batch_size=16, **({"noise_multiplier": 1.0} if private else {}))
    stop = StopAfterChecks(k=5)
    records = list(train(cfg, data=pool, test_data=test_set, stop=stop))
    last = records[-1]
    assert last.stopped and not last.finished and last.partial.stopped
    assert last.done == 4 and last.partial.steps == 4  # the 5th batch never ran
    if private:
        spent = last.partial.history[-1]["epsilon_spent"]
        assert 0 < spent < plan_privacy(cfg, last.partial.n_train).target_epsilon


# ------------------------------------------------------------------ ledger

def test_locked_dataset_refuses_training(tmp_path, pool, test_set):
    ledger = PrivacyLedger(tmp_path / "l.json", epsilon=1.0, delta=1e-5)
    with pytest.raises(BudgetExhausted):
        ledger.spend(5.0, note="too much")  # refused; the dataset stays open ...
    ledger.spend(1.0, note="all of it")     # ... until its budget is used up
    with pytest.raises(DatasetLocked):
        train(small(noise_multiplier=1.0), data=pool, test_data=test_set, ledger=ledger)


def test_training_spend_is_recorded_up_front(tmp_path, pool, test_set):
    ledger = PrivacyLedger(tmp_path / "l.json", epsilon=50.0, delta=1e-3)
    cfg = small(epochs=1, noise_multiplier=1.0)
    gen = train(cfg, data=pool, test_data=test_set, ledger=ledger)
    assert ledger.history == []  # nothing spent before training starts
    first = next(gen)
    hist = ledger.history
    assert len(hist) == 1 and hist[0]["mechanism"] == "dpsgd"
    plan = plan_privacy(cfg, first.partial.n_train)
    assert hist[0]["params"]["steps"] == plan.steps
    assert hist[0]["params"]["noise_multiplier"] == pytest.approx(plan.noise_multiplier)
    assert ledger.spent()[0] > 0


def test_nonprivate_training_refused_against_a_ledger(tmp_path, pool, test_set):
    ledger = PrivacyLedger(tmp_path / "l.json", epsilon=5.0, delta=1e-5)
    with pytest.raises(InvalidParameterError, match="finite ε"):
        train(small(), data=pool, test_data=test_set, ledger=ledger)
    assert not ledger.locked


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("kw, name", [
    ({"target_epsilon": 0.0}, "target_epsilon"), ({"target_epsilon": -1.0}, "target_epsilon"),
    ({"target_epsilon": float("nan")}, "target_epsilon"), ({"delta": 1.0}, "delta"),
    ({"delta": 0.0}, "delta"), ({"noise_multiplier": 0.0}, "noise_multiplier"),
    ({"max_grad_norm": -1.0}, "max_grad_norm"), ({"batch_size": 0}, "batch_size"),
    ({"size": 32}, "size"), ({"lr": float("inf")}, "lr"),
    ({"target_epsilon": 2.0, "noise_multiplier": 1.0}, "noise_multiplier"),
    ({"ema": 1.0}, "ema"), ({"val_fraction": 0.7}, "val_fraction"), ({"augment": "yes"}, "augment"),
])
def test_bad_config_rejected(kw, name):
    with pytest.raises(InvalidParameterError, match=name):
        small(**kw)


def test_delta_must_be_below_one_over_n(pool, test_set):
    with pytest.raises(InvalidParameterError, match="1/N"):
        train(small(target_epsilon=1.0, delta=0.01), data=pool, test_data=test_set)
    assert default_delta(4708) == 1e-5 and default_delta(200) < 1 / 200


def test_sample_rate_outside_unit_interval_rejected(pool, test_set):
    with pytest.raises(InvalidParameterError, match="batch_size"):
        train(small(batch_size=10_000, noise_multiplier=1.0), data=pool, test_data=test_set)


# ------------------------------------------------------------------ cache

def test_cache_hit_returns_same_result_without_training(pool, test_set, monkeypatch, tmp_path):
    store = ResultStore(tmp_path / "store")
    cfg = small(epochs=1)
    first = TrainModel(cfg, data=pool, test_data=test_set).result(cache=store)

    def boom(*a, **k):
        raise AssertionError("trained although cached")

    monkeypatch.setattr(stage_mod, "train", boom)
    second = TrainModel(cfg, data=pool, test_data=test_set).result(cache=store)
    assert second.test_metrics == first.test_metrics and second.history == first.history
    model = load_model(second)
    p = predict_proba(model, test_set.images)
    assert binary_metrics(p, test_set.labels.numpy())["auc"] == first.test_metrics["auc"]
    with pytest.raises(AssertionError, match="trained although cached"):
        TrainModel(cfg.with_(seed=5), data=pool, test_data=test_set).result(cache=store)
    # other data never answer from this entry
    with pytest.raises(AssertionError, match="trained although cached"):
        TrainModel(cfg, data=pool.subset(range(100)), test_data=test_set).result(cache=store)


def test_a_stopped_run_is_not_cached(pool, test_set, tmp_path):
    store = ResultStore(tmp_path / "store")
    stage = TrainModel(small(epochs=2, batch_size=16), data=pool, test_data=test_set)
    stop = StopAfterChecks(k=3)
    last = list(stage.run(cache=store, stop=stop))[-1]
    assert last.stopped and last.partial.stopped
    assert not stage.is_done(store)


def test_the_sigma_of_a_target_epsilon_is_solved_once_per_cache(pool, tmp_path, monkeypatch):
    from medpriv_widgets.training import loop

    store = ResultStore(tmp_path / "store")
    cfg = small(target_epsilon=2.0)
    plan = plan_privacy(cfg, 120, cache=store)
    monkeypatch.setattr(loop, "noise_multiplier_for_epsilon",
                        lambda **kw: pytest.fail("σ solved again although cached"))
    assert plan_privacy(cfg, 120, cache=store).noise_multiplier == plan.noise_multiplier
