"""``medpriv bench dpsgd --quick --json`` prints one JSON object with the agreed keys."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

KEYS = {"dp_step_s", "nonprivate_step_s", "ratio", "epsilon", "auc_private", "auc_nonprivate",
        "device", "size", "epochs", "n_train", "sigma", "peak_rss_mb", "dp_peak_rss_mb",
        "nonprivate_peak_rss_mb", "train_baseline_rss_mb", "dp_step_unsplit_s",
        "auc_private_official_images", "auc_nonprivate_official_images"}


@pytest.mark.slow
def test_bench_quick_json(shared_data):
    proc = subprocess.run([sys.executable, "-m", "medpriv_widgets.cli", "bench", "dpsgd", "--quick",
                           "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)  # stdout is pure JSON; progress went to stderr
    assert KEYS <= set(result)
    assert result["quick"] is True and result["size"] == 64
    assert result["ratio"] == pytest.approx(result["dp_step_s"] / result["nonprivate_step_s"], rel=1e-2)
    assert 0 < result["epsilon"] <= result["target_epsilon"] * 1.001
    assert all(0.0 <= result[k] <= 1.0 for k in ("auc_private", "auc_nonprivate"))
    assert math.isfinite(result["sigma"]) and result["sigma"] > 0
    assert 0 < result["train_baseline_rss_mb"] <= result["dp_peak_rss_mb"]
    # the stand-in's test split: 550 of its 624 positions hold the official radiographs
    assert result["n_test"] == 624 and result["n_test_official_images"] == 550
    assert all(0.0 <= result[k] <= 1.0 for k in ("auc_private_official_images",
                                                 "auc_nonprivate_official_images"))
