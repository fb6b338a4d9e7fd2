"""Benchmark: DP-SGD vs non-private step time and test AUC on 64 px chest X-rays.

``medpriv bench dpsgd [--quick] [--json]``. Targets (issue 3): DP step ≤ 2× the non-private
step on the 64 px model; ε = 8 gives test AUC ≥ 0.90; non-private ≥ 0.95.

Step times are measured in this process, interleaved (non-private, DP, non-private, DP, …) on the
same real batch of the expected batch size, and the median is reported, so that a busy machine
slows both sides alike. A step is timed exactly as training takes it (``loop.logical_step``:
chunks of at most ``max_physical_batch_size`` images, then ``release_freed_memory``);
``dp_step_unsplit_s`` times the DP step in one chunk, for comparison. The AUCs come from two full
training runs (not read from the cache) on the official test split; the training pool is the
official 'train' + 'val' splits (``TrainConfig.use_val``), of which 5 % (by patient) is held out
for the validation curves. ``quick=True`` uses 600 training images and 2 epochs: its AUCs show the
pipeline works, not the targets.

Memory: each training run runs in a fresh child process (spawned, so it shares nothing with this
one) that imports the package, loads the data and trains, as a notebook kernel would.
``dp_peak_rss_mb`` / ``nonprivate_peak_rss_mb`` are that child's peak resident memory at its end
and ``train_baseline_rss_mb`` its peak before training (imports + data), read by
:func:`~medpriv_widgets.bench.peak_rss_mb`. A peak is a lifetime maximum, so differences of it
inside one process that has already done other work would say nothing about one run; a fresh
process per run is what makes the number that run's own. ``peak_rss_mb`` is this (parent) process: data and the
step timing, which holds several models at once and one unsplit DP step.
"""

from __future__ import annotations

import math
import multiprocessing
import statistics
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import torch
from torch import nn

from . import peak_rss_mb
from ..device import choose_device, device_label
from ..training import TrainConfig, evaluate, load_model, train
from ..training.loop import (PrivacyPlan, resolve_data, make_optimizer, make_private,
                             build_model, logical_step, release_freed_memory)

EPSILON = 8.0
_RECIPE_KEYS = ("epochs", "batch_size", "lr", "optimizer", "augment", "ema", "standardize",
                "zero_head", "use_val", "max_physical_batch_size")
#: Binder guarantees 1 GB and kills above 2 GB for the whole session (ECOSYSTEM.md). A notebook
#: kernel carries ~130 MB more than the training child (plotly, ipywidgets) and the Jupyter
#: server ~145 MB, so the child's peak should stay well below 2 GB minus those.
DP_PEAK_RSS_TARGET_MB = 1200.0


def _configs(quick: bool) -> tuple[TrainConfig, TrainConfig]:
    base = TrainConfig(size=64)
    if quick:
        base = base.with_(epochs=2, n_train=600, batch_size=128, accountant="rdp")
    # each side gets its own recipe (TrainConfig.effective): batch size, optimizer, augmentation
    return (base.with_(target_epsilon=math.inf).effective(),
            base.with_(target_epsilon=EPSILON).effective())


def _say(progress: bool, text: str) -> None:
    if progress:
        print(f"[bench dpsgd] {text}", file=sys.stderr, flush=True)


def step_times(config: TrainConfig, images: torch.Tensor, labels: torch.Tensor, *,
               repeats: int = 7, device=None, unsplit: bool = False) -> tuple[float, ...]:
    """Median seconds of one non-private and one DP-SGD step on the same batch, interleaved;
    with ``unsplit=True`` a third number: the DP step pushed through the network in one chunk.

    ``images`` (B, 1, S, S), ``labels`` (B,): B is the (expected) batch size. Both steps are
    taken as training takes them (chunks of ≤ ``config.max_physical_batch_size`` images).
    """
    config = config.effective()
    dev = device or choose_device()
    x, y = images.to(dev), labels.to(dev)
    loss_fn = nn.CrossEntropyLoss()
    # σ = 1 on one full batch (q = 1): the noise level does not change the cost of a step
    plan = PrivacyPlan(True, 1.0, 1.0, 1, 1, 1e-5, math.inf, config.max_grad_norm)

    def build(private: bool):
        model = build_model(config).to(dev)
        opt = make_optimizer(config, model)
        if private:
            loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y),
                                                 batch_size=len(y))
            model, opt, _ = make_private(config, plan, model, opt, loader, config.seed)
        return model, opt

    def one(model, opt, private: bool, max_physical=config.max_physical_batch_size) -> float:
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logical_step(model, opt, loss_fn, x, y, private=private,
                     max_physical_batch_size=max_physical)
        release_freed_memory()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain, private = build(False), build(True)
        whole = build(True) if unsplit else None
        # warm-up (allocations, hook registration)
        one(*plain, False), one(*private, True)
        if whole:
            one(*whole, True, None)
        t_np, t_dp, t_whole = [], [], []
        for _ in range(repeats):
            t_np.append(one(*plain, False))
            t_dp.append(one(*private, True))
            if whole:
                t_whole.append(one(*whole, True, None))
    times = (statistics.median(t_np), statistics.median(t_dp))
    return times + (statistics.median(t_whole),) if unsplit else times


def _train_child(config: TrainConfig, name: str, threads: int, device: str, progress: bool):
    """Body of the child process of :func:`train_in_child` (module level, so spawn can import
    it): load the data as a kernel would, train, and report this process's peak memory."""
    torch.set_num_threads(threads)
    pool, test = resolve_data(config)
    baseline = peak_rss_mb()
    last = None
    for last in train(config, data=pool, test_data=test, device=device):
        _say(progress, f"{name}: {last.message}")
    return last.partial, baseline, peak_rss_mb()


def train_in_child(config: TrainConfig, *, name: str = "run", device=None,
                   progress: bool = False):
    """Train ``config`` (with its default data) in a fresh spawned process.

    Returns ``(TrainResult, baseline_mb, peak_mb)``: the child's peak resident memory (MiB)
    after imports and data loading, and at the end of the run (its lifetime peak).
    """
    dev = str(device) if device is not None else str(choose_device())
    with ProcessPoolExecutor(max_workers=1,
                             mp_context=multiprocessing.get_context("spawn")) as ex:
        return ex.submit(_train_child, config, name, torch.get_num_threads(), dev,
                         progress).result()


def run(*, quick: bool = False, progress: bool = True) -> dict:
    """Measure step times and train both models; returns a JSON-serialisable dict."""
    t0 = time.perf_counter()
    cfg_np, cfg_dp = _configs(quick)
    dev = choose_device()
    pool, test = resolve_data(cfg_np)
    _say(progress, f"data: {pool.caption}, {len(pool)} train-pool / {len(test)} test images; "
                   f"device {device_label(dev)}")

    g = torch.Generator().manual_seed(0)
    # both timed on the DP recipe's (larger) batch: same images, same optimizer, only DP differs
    idx = torch.randperm(len(pool), generator=g)[:cfg_dp.batch_size]
    t_np, t_dp, t_whole = step_times(cfg_dp, pool.images[idx], pool.labels[idx],
                                     repeats=3 if quick else 7, device=dev, unsplit=True)
    _say(progress, f"step (batch {cfg_dp.batch_size}, chunks of ≤ {cfg_dp.max_physical_batch_size}): "
                   f"non-private {t_np * 1e3:.0f} ms, DP-SGD {t_dp * 1e3:.0f} ms, ratio "
                   f"{t_dp / t_np:.2f} (DP-SGD in one chunk {t_whole * 1e3:.0f} ms)")

    results, memory = {}, {}
    for name, cfg in (("nonprivate", cfg_np), ("private", cfg_dp)):
        # a fresh process per run: its lifetime peak memory is this run's alone
        results[name], base_mb, peak_mb = train_in_child(cfg, name=name, device=dev,
                                                         progress=progress)
        memory[name] = (base_mb, peak_mb)
        _say(progress, f"{name}: test AUC {results[name].test_metrics['auc']:.4f}, peak memory "
                       f"{peak_mb:.0f} MB (imports + data {base_mb:.0f} MB)")

    rp, rn = results["private"], results["nonprivate"]
    ratio = t_dp / t_np
    # On the 64 px stand-in, 74 of the 624 test positions hold substitutes, not the official
    # radiographs (PROVENANCE.md); the target concerns the official test images, so the AUC on
    # those alone is reported beside the pooled one and decides the AUC targets.
    official = test.official_mask()
    on_official = official.all() or not official.any()
    official_test = test if on_official else test.subset(official)
    auc_off = {name: evaluate(load_model(r), official_test)["auc"] for name, r in results.items()}
    return {
        "dp_step_s": round(t_dp, 5),
        "nonprivate_step_s": round(t_np, 5),
        "ratio": round(ratio, 3),
        "dp_step_unsplit_s": round(t_whole, 5),
        "epsilon": round(rp.epsilon, 4),
        "target_epsilon": EPSILON,
        "delta": rp.delta,
        "sigma": round(rp.noise_multiplier, 4),
        "max_grad_norm": cfg_dp.max_grad_norm,
        "sample_rate": round(rp.sample_rate, 6),
        "steps": rp.steps,
        "auc_private": round(rp.test_metrics["auc"], 4),
        "auc_nonprivate": round(rn.test_metrics["auc"], 4),
        "auc_private_official_images": round(auc_off["private"], 4),
        "auc_nonprivate_official_images": round(auc_off["nonprivate"], 4),
        "n_test_official_images": len(official_test),
        "sensitivity_private": round(rp.test_metrics["sensitivity"], 4),
        "specificity_private": round(rp.test_metrics["specificity"], 4),
        "sensitivity_nonprivate": round(rn.test_metrics["sensitivity"], 4),
        "specificity_nonprivate": round(rn.test_metrics["specificity"], 4),
        "train_s_private": round(rp.seconds, 1),
        "train_s_nonprivate": round(rn.seconds, 1),
        "device": device_label(dev),
        "size": cfg_dp.size,
        "epochs": cfg_dp.epochs,
        "batch_size": cfg_dp.batch_size,
        "max_physical_batch_size": cfg_dp.max_physical_batch_size,
        "lr": cfg_dp.lr,
        "optimizer": cfg_dp.optimizer,
        "recipe_nonprivate": {k: getattr(cfg_np, k) for k in _RECIPE_KEYS},
        "recipe_private": {k: getattr(cfg_dp, k) for k in _RECIPE_KEYS + ("max_grad_norm",)},
        "n_train": rp.n_train,
        "n_test": rp.n_test,
        "data": pool.caption,
        "synthetic": bool(pool.synthetic),
        "quick": quick,
        "targets_met": {
            "ratio_le_2": ratio <= 2.0,
            "auc_private_ge_0.90": auc_off["private"] >= 0.90,
            "auc_nonprivate_ge_0.95": auc_off["nonprivate"] >= 0.95,
            "dp_peak_rss_le_1200mb": memory["private"][1] <= DP_PEAK_RSS_TARGET_MB,
        },
        "dp_peak_rss_mb": memory["private"][1],
        "nonprivate_peak_rss_mb": memory["nonprivate"][1],
        "train_baseline_rss_mb": memory["private"][0],
        "peak_rss_mb": peak_rss_mb(),
        "seconds": round(time.perf_counter() - t0, 1),
    }
