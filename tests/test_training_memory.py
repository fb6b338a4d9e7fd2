"""Bounded training memory: batches split into physical chunks (``max_physical_batch_size``)
give the same model as one pass, keep the loop's bookkeeping per logical step, and lower the
peak memory of a DP-SGD step; freed memory is handed back to the operating system; the
benchmark's training child reports its own peak.

Equivalence runs use small synthetic phantoms at 28 px; memory is measured in fresh child
processes, because ``ru_maxrss`` is a process-lifetime maximum.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch

import medpriv_widgets.training.loop as loop
from medpriv_widgets.bench import peak_rss_mb
from medpriv_widgets.data import make_phantoms
from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.models.cnn import SmallCNN, make_model
from medpriv_widgets.privacy.accounting import dpsgd_epsilon
from medpriv_widgets.stopping import StopToken
from medpriv_widgets.training import TrainConfig, run_to_end, train
from medpriv_widgets.training.loop import release_freed_memory


def small(**kw) -> TrainConfig:
    base = dict(size=28, epochs=2, batch_size=48, lr=3e-3, seed=1, width=8, accountant="rdp")
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture
def forward_sizes(monkeypatch):
    """Batch sizes of every training-mode forward pass with gradients (eval passes ignored)."""
    sizes: list[int] = []
    original = SmallCNN.forward

    def spy(self, x):
        if self.training and torch.is_grad_enabled():
            sizes.append(int(x.shape[0]))
        return original(self, x)

    monkeypatch.setattr(SmallCNN, "forward", spy)
    return sizes


def assert_same_model(a, b, *, rtol=1e-4, atol=1e-5, auc_abs=1e-4, loss_rel=1e-4):
    assert a.state_dict.keys() == b.state_dict.keys()
    for k in a.state_dict:
        assert torch.allclose(a.state_dict[k], b.state_dict[k], rtol=rtol, atol=atol), k
    assert a.test_metrics["auc"] == pytest.approx(b.test_metrics["auc"], abs=auc_abs)
    assert [h["loss"] for h in a.history] == pytest.approx([h["loss"] for h in b.history],
                                                           rel=loss_rel)
    assert (a.steps, a.epsilon, a.noise_multiplier) == (b.steps, b.epsilon, b.noise_multiplier)


# ------------------------------------------------------------------ config

@pytest.mark.parametrize("value", [0, -3, 2.5, True, "64"])
def test_bad_max_physical_batch_size_rejected(value):
    with pytest.raises(InvalidParameterError, match="max_physical_batch_size"):
        small(max_physical_batch_size=value)


def test_max_physical_batch_size_default_and_cache_key():
    assert TrainConfig().max_physical_batch_size == 128
    assert small(max_physical_batch_size=None).max_physical_batch_size is None
    a, b = small().to_dict(), small(max_physical_batch_size=16).to_dict()
    assert a["max_physical_batch_size"] == 128 and b["max_physical_batch_size"] == 16


# ------------------------------------------------------------------ same model, split or not

@pytest.mark.parametrize("private", [True, False])
def test_split_batches_give_the_same_model(pool, test_set, forward_sizes, private):
    # DP: clipped per-image gradients summed over chunks, noise drawn once per logical step.
    # Non-private (Adam, augmentation): chunk losses weighted by their share of the batch.
    kw = {"noise_multiplier": 1.0} if private else {}
    whole = run_to_end(small(max_physical_batch_size=None, **kw), data=pool, test_data=test_set)
    n_whole = list(forward_sizes)
    forward_sizes.clear()
    split = run_to_end(small(max_physical_batch_size=13, **kw), data=pool, test_data=test_set)
    assert max(forward_sizes) <= 13 and max(n_whole) > 13  # it really was split
    assert sum(forward_sizes) == sum(n_whole)  # the same images were used
    assert len(forward_sizes) > len(n_whole) == whole.steps
    if private:
        assert_same_model(whole, split)
    else:
        # Adam divides by the root of its second moment, which magnifies float summation-order
        # differences (threads, chunking) in near-zero gradient components to ~1e-4 after a few
        # dozen steps; the exact per-step equality is checked in the gradient test below.
        assert_same_model(whole, split, rtol=1e-3, atol=1e-3, auc_abs=1e-3, loss_rel=1e-3)


def test_nonprivate_chunks_give_the_whole_batch_gradient(pool):
    # lr = 0: the step leaves the weights alone, so p.grad is the gradient logical_step built
    grads = []
    for chunk in (None, 7):
        model = make_model(size=28, seed=0, width=8)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        opt.zero_grad(set_to_none=True)
        loop.logical_step(model, opt, torch.nn.CrossEntropyLoss(), pool.images[:30],
                          pool.labels[:30], private=False, max_physical_batch_size=chunk)
        grads.append([p.grad.clone() for p in model.parameters()])
    for whole, split in zip(*grads):
        assert torch.allclose(whole, split, rtol=1e-5, atol=1e-7)


def test_equivalence_tolerance_tells_models_apart(pool, test_set):
    # guard against a vacuous equivalence test: another seed's model is outside the tolerance
    cfg = small(epochs=1, noise_multiplier=1.0)
    whole = run_to_end(cfg.with_(max_physical_batch_size=None), data=pool, test_data=test_set)
    other = run_to_end(cfg.with_(max_physical_batch_size=None, seed=2), data=pool,
                       test_data=test_set)
    assert not all(torch.allclose(whole.state_dict[k], other.state_dict[k], rtol=1e-4, atol=1e-5)
                   for k in whole.state_dict)


def test_ema_and_step_counter_follow_logical_steps(pool, test_set, monkeypatch, forward_sizes):
    calls: list[int] = []
    original = loop._EMA.update

    def spy(self, model, step):
        calls.append(step)
        return original(self, model, step)

    monkeypatch.setattr(loop._EMA, "update", spy)
    cfg = small(noise_multiplier=1.0, ema=0.9, max_physical_batch_size=10)
    records = list(train(cfg, data=pool, test_data=test_set))
    res = records[-1].partial
    assert len(forward_sizes) > res.steps  # several chunks per step
    assert calls == list(range(1, res.steps + 1))  # once per logical step, numbered by it
    assert [r.done for r in records] == [res.steps // 2, res.steps]
    assert [h["step"] for h in res.history] == [res.steps // 2, res.steps]
    assert res.epsilon == pytest.approx(dpsgd_epsilon(
        noise_multiplier=res.noise_multiplier, sample_rate=res.sample_rate, steps=res.steps,
        delta=res.delta, accountant="rdp"))
    assert all(r["step_seconds"] > 0 for r in res.history)


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


def test_stop_lands_between_logical_steps(pool, test_set, forward_sizes):
    cfg = small(epochs=3, noise_multiplier=1.0, max_physical_batch_size=8)
    last = list(train(cfg, data=pool, test_data=test_set, stop=StopAfterChecks(k=3)))[-1]
    assert last.stopped and last.done == 2
    # both steps ran all their chunks: every image sampled for them went through the network
    assert len(forward_sizes) >= 2 * 3 and max(forward_sizes) <= 8
    res = last.partial
    assert res.epsilon == pytest.approx(dpsgd_epsilon(
        noise_multiplier=res.noise_multiplier, sample_rate=res.sample_rate, steps=2,
        delta=res.delta, accountant="rdp"))


def test_empty_poisson_batches_with_splitting(monkeypatch):
    # 12 images, expected batch 1: about a third of the Poisson batches are empty
    data = make_phantoms(n=12, size=28, seed=5)
    test = make_phantoms(n=20, size=28, seed=6, split="test", id_start=10_000)
    taken: list[int] = []
    original = loop.logical_step

    def spy(*args, **kwargs):
        taken.append(int(args[3].shape[0]))
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "logical_step", spy)
    cfg = small(batch_size=1, val_fraction=0.0, noise_multiplier=1.0)
    split = run_to_end(cfg.with_(max_physical_batch_size=1), data=data, test_data=test)
    # DP-SGD takes every step, an empty batch as a noise-only step (what the accountant assumes)
    assert split.steps == 24 and len(taken) == split.steps
    assert min(taken) == 0 and max(taken) > 1  # some batches were empty, some were split
    assert all(torch.isfinite(v).all() for v in split.state_dict.values() if v.is_floating_point())
    whole = run_to_end(cfg.with_(max_physical_batch_size=None), data=data, test_data=test)
    assert_same_model(whole, split)


# ------------------------------------------------------------------ memory

_STEP_PEAK = r"""
import json, math, sys, warnings
import torch
torch.set_num_threads(1)
from torch import nn
from medpriv_widgets.bench import peak_rss_mb
from medpriv_widgets.training import TrainConfig
from medpriv_widgets.training.loop import (PrivacyPlan, make_optimizer, make_private,
                                           build_model, logical_step)
mpb = None if sys.argv[1] == "none" else int(sys.argv[1])
cfg = TrainConfig(size=64, target_epsilon=8.0, max_physical_batch_size=mpb).effective()
g = torch.Generator().manual_seed(0)
x, y = torch.rand(192, 1, 64, 64, generator=g), torch.randint(0, 2, (192,), generator=g)
model = build_model(cfg)
opt = make_optimizer(cfg, model)
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=192)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    model, opt, _ = make_private(cfg, PrivacyPlan(True, 1.0, 1.0, 1, 1, 1e-5, math.inf, 1.0),
                                  model, opt, loader, 0)
before = peak_rss_mb()
opt.zero_grad(set_to_none=True)
logical_step(model, opt, nn.CrossEntropyLoss(), x, y, private=True, max_physical_batch_size=mpb)
after = peak_rss_mb()
print(json.dumps({"step_mib": after - before}))
"""


def _step_peak_mib(max_physical: str) -> float:
    """Rise of a fresh process's peak RSS (MiB) during one 64 px DP-SGD step on 192 images."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", _STEP_PEAK, max_physical], capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])["step_mib"]


@pytest.mark.slow  # two fresh processes importing torch and Opacus (~10 s each on 2 cores)
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmHWM (Linux)")
def test_split_dp_step_needs_less_memory():
    # the peak before the step is this fresh process's imports and model only, so the rise is
    # the step's own extra memory (per-image gradients and activations of the images in flight);
    # VmHWM, not ru_maxrss, which Linux carries over from this (large) pytest process
    whole, split = _step_peak_mib("none"), _step_peak_mib("32")
    assert whole > 150  # the unsplit step really needs memory (~390 MiB measured)
    assert split < 0.5 * whole  # ~90 MiB measured in chunks of 32


@pytest.mark.skipif(not release_freed_memory(), reason="needs glibc's malloc_trim")
def test_release_freed_memory_returns_heap_holes():
    def rss_mib() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    release_freed_memory()
    # 3000 blocks of 64 KiB live in glibc's heap (below the mmap threshold); a block allocated
    # after them keeps the heap from shrinking at its top when they are freed
    blocks = [torch.ones(16 * 1024) for _ in range(3000)]
    pin = torch.ones(16 * 1024)
    del blocks
    held = rss_mib()
    assert release_freed_memory()
    assert held - rss_mib() > 100  # ~190 MiB of holes went back to the system
    del pin


@pytest.mark.slow  # a spawned process importing torch and Opacus, then a small run
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmRSS (Linux)")
def test_train_in_child_reports_its_own_peak(no_data_dir):
    from medpriv_widgets.bench.dpsgd import train_in_child

    def rss_mib() -> float:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmRSS:"))

    # make this process large while the child starts: a peak read with ru_maxrss, which Linux
    # carries over fork and exec, would then be at least this process's size
    ballast = torch.ones(192 * 2**20)  # 768 MiB, every page written
    parent = rss_mib()
    cfg = small(epochs=1, n_train=100, noise_multiplier=1.0)
    result, baseline, peak = train_in_child(cfg, name="test", device="cpu")
    del ballast
    assert result.synthetic and result.steps == 3 and math.isfinite(result.epsilon)
    assert 0 < baseline <= peak
    assert peak < parent - 300  # a small 28 px run: its own peak, not this process's size
