"""Benchmark: federated hospitals, FedAvg vs centralised vs one site alone, and the cost of secure aggregation.

``medpriv bench federated``: 4 hospitals at 28 px (the lessons' non-IID split of the 'train'
pool), 20 FedAvg rounds of 10 local SGD steps each, scored on the official test split; the same
federation again with secure aggregation (same seeds, so the same model up to the fixed-point
error); centralised training on the union of the hospitals' X-rays and each hospital alone
through :class:`~medpriv_widgets.experiments.TrainModel` (the project's recipe).

Targets (issue 11, 2 CPU cores): ``auc_federated`` within 0.03 of ``auc_centralised``;
``secagg_overhead_ratio`` (seconds per secure round / per plain round) ≤ 1.5;
``sum_max_abs_error`` (secure sum − plain sum of four real local updates) at most the
fixed-point bound ``sum_error_bound``. ``--quick``: 800 X-rays, 5 rounds, 3 baseline epochs.

Runs in a fresh temporary cache, so the times are real computing times.
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings

import numpy as np
import torch

from . import peak_rss_mb
from ..device import choose_device, device_label


def settings(*, quick: bool = False):
    from ..federated import FederationSettings, default_sites

    if quick:
        return FederationSettings(size=28, sites=default_sites(4), n_images=800, rounds=5)
    return FederationSettings(size=28, sites=default_sites(4), rounds=20)


def run(*, quick: bool = False, progress: bool = True) -> dict:
    from ..cache import ResultStore
    from ..federated import Federation, secure_sum
    from ..federated.baselines import CENTRALISED, baseline_stages
    from ..federated.site import train_locally

    device = choose_device()
    plain_settings = settings(quick=quick)
    secure_settings = plain_settings.with_(secure_aggregation=True)
    t_start = time.perf_counter()

    def say(text: str) -> None:
        if progress:
            print(f"[{time.perf_counter() - t_start:6.1f} s] {text}", flush=True)

    with tempfile.TemporaryDirectory(prefix="medpriv-bench-federated-") as tmp, \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = ResultStore(tmp)
        runs = {}
        for name, s in (("plain", plain_settings), ("secure", secure_settings)):
            fed = Federation(s)
            for p in fed.run(cache=store):
                say(f"{name}: {p.message}")
            runs[name] = p.partial
        fed = Federation(plain_settings)
        baselines = {}
        for name, stage in baseline_stages(plain_settings, fed.hospitals, fed._data[1],
                                           epochs=3 if quick else None).items():
            baselines[name] = stage.result(cache=store)
            say(f"{name}: test AUC {baselines[name].test_metrics['auc']:.3f}")
        # the error of the secure sum on four real local updates from the final model
        model = runs["plain"].model()
        config = plain_settings.local_config()
        deltas = {k: train_locally(global_model=model, images=h.data.images, labels=h.data.labels,
                                   config=config, steps=plain_settings.local_steps, seed=k,
                                   device=device).delta * h.n_images
                  for k, h in enumerate(fed.hospitals)}
        summed = secure_sum(deltas)
        plain_sum = np.sum(list(deltas.values()), axis=0)

    per_round = {k: r.seconds / max(r.rounds_done, 1) for k, r in runs.items()}
    agg = {k: float(np.mean([h.seconds_aggregation for h in r.history])) for k, r in runs.items()}
    singles = {k: v.test_metrics["auc"] for k, v in baselines.items() if k != CENTRALISED}
    best_site = max(singles, key=singles.get)
    return {
        "sites": len(plain_settings.sites),
        "rounds": plain_settings.rounds,
        "local_steps": plain_settings.local_steps,
        "n_images": [h.n_images for h in fed.hospitals],
        "pneumonia_rates": [round(h.pneumonia_rate, 3) for h in fed.hospitals],
        "seconds_per_round": round(per_round["plain"], 3),
        "seconds_per_secure_round": round(per_round["secure"], 3),
        "secagg_overhead_ratio": round(per_round["secure"] / per_round["plain"], 3),
        "seconds_aggregation_plain": round(agg["plain"], 4),
        "seconds_aggregation_secure": round(agg["secure"], 4),
        "auc_federated": round(runs["plain"].auc, 4),
        "auc_federated_secure": round(runs["secure"].auc, 4),
        "auc_centralised": round(baselines[CENTRALISED].test_metrics["auc"], 4),
        "auc_best_single_site": round(singles[best_site], 4),
        "best_single_site": best_site,
        "auc_single_sites": {k: round(v, 4) for k, v in singles.items()},
        "sum_max_abs_error": float(np.abs(summed.total - plain_sum).max()),
        "sum_error_bound": summed.max_error,
        "seconds": round(time.perf_counter() - t_start, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "device": device_label(device),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
