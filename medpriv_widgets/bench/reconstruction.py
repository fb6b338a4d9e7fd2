"""Benchmark: gradient inversion of one real 64 px chest X-ray from one FedSGD update.

``medpriv bench reconstruction [--quick] --json`` prints ``size``, ``device``,
``seconds_to_30db`` (attack time until the reconstruction first scores ≥ 30 dB PSNR; null if
never), ``final_psnr``, ``iterations`` (L-BFGS iterations to 30 dB, or all of them),
``defended_psnr`` (σ = 0.01, C = 1, one DP-SGD step), ``peak_rss_mb`` and context (threads,
machine load, one-off import time). Setting: sigmoid LeNet (untrained, seed 0), batch of 1,
Inverting Gradients (cosine + TV, L-BFGS, float64), label inferred from the gradient.

Targets on two CPU cores: ≥ 30 dB within 10 s undefended; ≤ 12 dB defended; ≤ 1 s on a GPU.
Scoring time (PSNR/SSIM of each frame) is excluded from the attack time.
"""

from __future__ import annotations

import math
import os
import time

import torch

from ..attacks.reconstruction import (Defense, client_update, make_scorer, make_victim_model,
                                      reconstruct, verdict)
from ..device import choose_device, device_label
from . import peak_rss_mb

IMAGE_INDEX = 0
SIZE = 64


def _timed_attack(model, update, truth, *, iterations, device, progress, desc):
    score = make_scorer(truth)
    scoring = [0.0]

    def timed_score(img):
        t = time.perf_counter()
        out = score(img)
        scoring[0] += time.perf_counter() - t
        return out

    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=iterations, desc=desc, leave=False)
    t0 = time.perf_counter()
    t30 = it30 = None
    frame = None
    for frame in reconstruct(model=model, update=update, iterations=iterations, frame_every=5,
                             device=device, score=timed_score):
        elapsed = time.perf_counter() - t0 - scoring[0]
        if t30 is None and frame.psnr >= 30.0:
            t30, it30 = elapsed, frame.iteration
        if bar is not None:
            bar.n = frame.iteration
            bar.set_postfix(psnr=f"{frame.psnr:.1f} dB")
            bar.refresh()
    if bar is not None:
        bar.close()
    return frame, t30, it30, time.perf_counter() - t0 - scoring[0]


def run(*, quick: bool = False, progress: bool = True) -> dict:
    from ..data import load_dataset  # the real test split (or phantoms, announced, when absent)

    data = load_dataset(size=SIZE, split="test")
    truth = data.images[IMAGE_INDEX:IMAGE_INDEX + 1]
    label = data.labels[IMAGE_INDEX:IMAGE_INDEX + 1]
    device = choose_device()
    t = time.perf_counter()
    # One-off: torch.optim imports torch._dynamo on first use (seconds); not part of the attack.
    torch.optim.LBFGS([torch.zeros(1, requires_grad=True)])
    warmup = time.perf_counter() - t
    model = make_victim_model(size=SIZE, kind="lenet", seed=0)
    iterations = 150 if quick else 300

    update = client_update(model=model, images=truth, labels=label)
    frame, t30, it30, total = _timed_attack(model, update, truth, iterations=iterations,
                                            device=device, progress=progress, desc="undefended")
    defended = client_update(model=model, images=truth, labels=label, seed=0,
                             defense=Defense(clip_norm=1.0, noise_multiplier=0.01))
    dframe, _, _, dtotal = _timed_attack(model, defended, truth,
                                         iterations=60 if quick else 200, device=device,
                                         progress=progress, desc="defended σ=0.01")
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return {
        "size": SIZE,
        "device": (device_label(device) if device.type != "cpu"
                   else f"CPU (attack on 1 thread, {os.cpu_count()} cores)"),
        "image": f"{data.caption}, split 'test', index {IMAGE_INDEX}",
        "synthetic": bool(data.synthetic),
        "seconds_to_30db": None if t30 is None else round(t30, 2),
        "final_psnr": round(frame.psnr, 2),
        "final_ssim": round(frame.ssim, 3),
        "iterations": it30 if it30 is not None else frame.iteration,
        "iterations_total": frame.iteration,
        "attack_seconds_total": round(total, 2),
        "verdict": verdict(frame.psnr, frame.ssim),
        "defended_psnr": round(dframe.psnr, 2),
        "defended_ssim": round(dframe.ssim, 3),
        "defended_verdict": verdict(dframe.psnr, dframe.ssim),
        "defended_seconds": round(dtotal, 2),
        "settings": "LeNet (sigmoid, untrained, seed 0), B=1, inverting_gradients "
                    "(cosine + TV 5e-5, L-BFGS, float64); defended: clip C=1, σ=0.01",
        "warmup_seconds": round(warmup, 2),
        "load_average_1min": round(load[0], 2),
        "peak_rss_mb": peak_rss_mb(),
    }
