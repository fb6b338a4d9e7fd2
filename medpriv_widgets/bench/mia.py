"""Benchmark ``medpriv bench mia``: LiRA with K shadow models at 28 px, against a non-private
target and a DP target at ε = 8, with the DP bound at 0.1 % FPR.

Target (issue 5): 16 shadow models at 28 px in ≤ 5 min on two CPU cores; the empirical TPR is
never above the bound (within its confidence interval). ``--quick``: 8 shadow models on 1,000
images, under a minute. Runs in a fresh temporary cache so the time is a real training time.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import warnings

import torch

from ..device import choose_device, device_label


def run(*, quick: bool = False, progress: bool = True) -> dict:
    from ..attacks.membership import MembershipExperiment, check_tpr_below_bound

    device = choose_device()
    n_shadows = 8 if quick else (64 if device.type == "cuda" else 16)
    settings = dict(size=28, n_population=1000 if quick else None, n_shadows=n_shadows,
                    shadow_epochs=8 if quick else 20, batch_size=64, width=16, lr=3e-3,
                    dp_epochs=3 if quick else 10, dp_batch_size=128, seed=0)
    old = os.environ.get("MEDPRIV_CACHE_DIR")
    with tempfile.TemporaryDirectory(prefix="medpriv-bench-mia-") as tmp:
        os.environ["MEDPRIV_CACHE_DIR"] = tmp
        try:
            exp = MembershipExperiment(**settings)
            exp.population()
            exp.test_data()
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for p in exp.run_bank():
                    if progress and (p.fraction >= 1.0 or int(p.fraction * 100) % 10 == 0):
                        print(f"[{time.perf_counter() - t0:6.1f} s] {p.message}", flush=True)
                shadow_seconds = time.perf_counter() - t0
                for p in exp.run_target(epsilon=8.0):
                    if progress and p.fraction >= 1.0:
                        print(f"[{time.perf_counter() - t0:6.1f} s] {p.message}", flush=True)
            total = time.perf_counter() - t0
            nonprivate = exp.result(epsilon=math.inf)
            dp8 = exp.result(epsilon=8.0)
        finally:
            if old is None:
                os.environ.pop("MEDPRIV_CACHE_DIR", None)
            else:
                os.environ["MEDPRIV_CACHE_DIR"] = old
    ok, op8, bound8 = check_tpr_below_bound(dp8, attack="lira_online", fpr=0.001)
    return {
        "shadow_models": n_shadows,
        "seconds": round(shadow_seconds, 1),
        "seconds_with_dp_target": round(total, 1),
        "n_population": nonprivate.n_members + nonprivate.n_nonmembers,
        "tpr_at_0.1pct_fpr_nonprivate": round(nonprivate.tpr_at["lira_online"][0.001].tpr, 4),
        "tpr_at_1pct_fpr_nonprivate": round(nonprivate.tpr_at["lira_online"][0.01].tpr, 4),
        "tpr_at_0.1pct_fpr_eps8": round(op8.tpr, 4),
        "tpr_at_0.1pct_fpr_eps8_ci": [round(op8.tpr_low, 4), round(op8.tpr_high, 4)],
        "bound_at_0.1pct_fpr_eps8": round(dp8.bound_at(0.001), 4),
        "eps8_within_bound": bool(ok),
        "auc_nonprivate": round(nonprivate.auc["lira_online"], 4),
        "auc_loss_attack_nonprivate": round(nonprivate.auc["loss"], 4),
        "test_auc_nonprivate": round(nonprivate.utility["auc"], 4),
        "test_auc_eps8": round(dp8.utility["auc"], 4),
        "device": device_label(device),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
