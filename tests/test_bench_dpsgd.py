"""``medpriv bench dpsgd --quick --json`` prints one JSON object with the agreed keys."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

KEYS = {"dp_step_s", "nonprivate_step_s", "ratio", "epsilon", "auc_private", "auc_nonprivate",
        "device", "size", "epochs", "n_train", "sigma", "peak_rss_mb"}


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
