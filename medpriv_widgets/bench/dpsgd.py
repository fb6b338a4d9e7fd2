"""Benchmark: DP-SGD vs non-private step time and test AUC on 64 px chest X-rays.

``medpriv bench dpsgd [--quick] [--json]``. Targets (issue 3): DP step ≤ 2× the non-private
step on the 64 px model; ε = 8 gives test AUC ≥ 0.90; non-private ≥ 0.95.

Step times are measured in this process, interleaved (non-private, DP, non-private, DP, …) on the
same real batch of the expected batch size, and the median is reported, so that a busy machine
slows both sides alike. The AUCs come from two full training runs (not read from the cache) on
the official test split; the training pool is the official 'train' + 'val' splits
(``TrainConfig.use_val``), of which 5 % (by patient) is held out for the validation curves.
``quick=True`` uses 600 training images and 2 epochs: its AUCs show the
pipeline works, not the targets.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
import warnings

import torch
from torch import nn

from . import peak_rss_mb
from ..device import choose_device, device_label
from ..training import TrainConfig, train
from ..training.loop import (PrivacyPlan, resolve_data, _make_optimizer, _make_private,
                             build_model)

EPSILON = 8.0
_RECIPE_KEYS = ("epochs", "batch_size", "lr", "optimizer", "augment", "ema", "standardize",
                "zero_head", "use_val")


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
               repeats: int = 7, device=None) -> tuple[float, float]:
    """Median seconds of one non-private and one DP-SGD step on the same batch, interleaved.

    ``images`` (B, 1, S, S), ``labels`` (B,): B is the (expected) batch size.
    """
    config = config.effective()
    dev = device or choose_device()
    x, y = images.to(dev), labels.to(dev)
    loss_fn = nn.CrossEntropyLoss()
    # σ = 1 on one full batch (q = 1): the noise level does not change the cost of a step
    plan = PrivacyPlan(True, 1.0, 1.0, 1, 1, 1e-5, math.inf, config.max_grad_norm)

    def build(private: bool):
        model = build_model(config).to(dev)
        opt = _make_optimizer(config, model)
        if private:
            loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y),
                                                 batch_size=len(y))
            model, opt, _ = _make_private(config, plan, model, opt, loader, config.seed)
        return model, opt

    def one(model, opt) -> float:
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain, private = build(False), build(True)
        one(*plain), one(*private)  # warm-up (allocations, hook registration)
        t_np, t_dp = [], []
        for _ in range(repeats):
            t_np.append(one(*plain))
            t_dp.append(one(*private))
    return statistics.median(t_np), statistics.median(t_dp)


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
    t_np, t_dp = step_times(cfg_dp, pool.images[idx], pool.labels[idx],
                            repeats=3 if quick else 7, device=dev)
    _say(progress, f"step (batch {cfg_dp.batch_size}): non-private {t_np * 1e3:.0f} ms, "
                   f"DP-SGD {t_dp * 1e3:.0f} ms, ratio {t_dp / t_np:.2f}")

    results = {}
    for name, cfg in (("nonprivate", cfg_np), ("private", cfg_dp)):
        last = None
        for last in train(cfg, data=pool, test_data=test, device=dev):
            _say(progress, f"{name}: epoch {last.epoch}/{last.epochs} loss {last.loss:.3f} "
                           f"val AUC {last.val.get('auc', float('nan')):.3f} "
                           f"ε {last.epsilon_spent:.2f} ({last.seconds:.0f} s)")
        results[name] = last.result
        _say(progress, f"{name}: test AUC {last.result.test_metrics['auc']:.4f}")

    rp, rn = results["private"], results["nonprivate"]
    ratio = t_dp / t_np
    return {
        "dp_step_s": round(t_dp, 5),
        "nonprivate_step_s": round(t_np, 5),
        "ratio": round(ratio, 3),
        "epsilon": round(rp.epsilon, 4),
        "target_epsilon": EPSILON,
        "delta": rp.delta,
        "sigma": round(rp.noise_multiplier, 4),
        "max_grad_norm": cfg_dp.max_grad_norm,
        "sample_rate": round(rp.sample_rate, 6),
        "steps": rp.steps,
        "auc_private": round(rp.test_metrics["auc"], 4),
        "auc_nonprivate": round(rn.test_metrics["auc"], 4),
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
            "auc_private_ge_0.90": rp.test_metrics["auc"] >= 0.90,
            "auc_nonprivate_ge_0.95": rn.test_metrics["auc"] >= 0.95,
        },
        "peak_rss_mb": peak_rss_mb(),
        "seconds": round(time.perf_counter() - t0, 1),
    }
