"""Benchmark: re-identifying patients from chest X-rays alone, training time and held-out AUC.

``medpriv bench reid``: trains the lesson's embedding network (:class:`ReidSettings` defaults:
pediatric set, 64 px, 8 epochs, one CPU thread) from an empty temporary cache on
patient-disjoint splits, and reports on held-out patients the verification AUC, precision@1
and @5 of the learned embedding, the pixel-correlation baseline, and both after "anonymising"
the query X-ray. With the NIH ChestX-ray14 sample in ``MEDPRIV_DATA_DIR`` the same is reported
for it under ``nih``.

Targets (issue 10), two CPU cores at 64 px: training ≤ 3 min; the learned embedding beats the
pixel baseline; verification AUC ≥ 0.90 on held-out patients. ``--quick``: 28 px, 2 epochs —
shows that the code runs, not what it reaches.
"""

from __future__ import annotations

import os
import time

import torch

from . import peak_rss_mb
from ..device import choose_device, device_label


def _one(settings, device, progress: bool) -> dict:
    from ..attacks.reidentification import ReidTraining
    from ..experiments.speed import probe_seconds
    from ..progress import final_result

    stage = ReidTraining.for_settings(settings)
    probe = probe_seconds(max_age_s=0.0)   # measured now; the estimate below reuses it
    estimate = stage.estimate_seconds()
    t0 = time.perf_counter()

    def records():
        for p in stage.run(cache=None, device=device):
            if progress:
                print(f"  [{time.perf_counter() - t0:5.0f} s] {p.message}", flush=True)
            yield p

    result = final_result(records())
    m = result["metrics"]
    return {
        "verification_auc": m["embedding"]["verification_auc"],
        "precision_at_1": m["embedding"]["precision_at_1"],
        "precision_at_5": m["embedding"]["precision_at_5"],
        "hit_at_5": m["embedding"]["hit_at_5"],
        "baseline_verification_auc": m["pixel"]["verification_auc"],
        "baseline_precision_at_1": m["pixel"]["precision_at_1"],
        "anonymised_precision_at_1": m["embedding_anonymised"]["precision_at_1"],
        "anonymised_verification_auc": m["embedding_anonymised"]["verification_auc"],
        "baseline_anonymised_precision_at_1": m["pixel_anonymised"]["precision_at_1"],
        "train_seconds": round(result["train_seconds"], 1),
        "total_seconds": round(time.perf_counter() - t0, 1),
        "estimate_seconds": round(estimate, 1),
        "estimate_ratio": round((time.perf_counter() - t0) / estimate, 2),
        "probe_seconds": round(probe, 5),
        "patients": result["n_patients"], "images": result["n_images"],
        "held_out_patients": result["n_test_patients"],
        "held_out_queries": m["embedding"]["n_queries"], "size": settings.size,
        "epochs": settings.epochs, "data": result["caption"], "synthetic": result["synthetic"],
    }


def run(*, quick: bool = False, progress: bool = True) -> dict:
    from ..attacks.reidentification import ReidSettings
    from ..errors import DataUnavailableError

    device = choose_device()
    settings = ReidSettings(size=28, epochs=2) if quick else ReidSettings()
    out = _one(settings, device, progress)
    if progress:
        print(f"pediatric: AUC {out['verification_auc']:.3f}, P@1 {out['precision_at_1']:.3f} "
              f"(pixels {out['baseline_precision_at_1']:.3f}), {out['train_seconds']} s")
    try:
        nih = ReidSettings(source="nih", epochs=4 if quick else 60, batch_patients=32)
        out["nih"] = _one(nih, device, progress)
    except DataUnavailableError as exc:
        out["nih"] = {"skipped": str(exc)}
    out.update(device=device_label(device), torch_threads=torch.get_num_threads(),
               load_average_1min=round(os.getloadavg()[0], 2), peak_rss_mb=peak_rss_mb(),
               targets={"train_seconds_max": 180, "verification_auc_min": 0.90,
                        "beats_pixel_baseline": True},
               beats_pixel_baseline=out["precision_at_1"] > out["baseline_precision_at_1"])
    return out
