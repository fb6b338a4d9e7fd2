"""`medpriv bench linkage` and `medpriv bench reid` are found; the linkage benchmark's quick run
returns every number the issue asks for."""

from __future__ import annotations

import json

from medpriv_widgets.bench import BENCHMARKS, run_benchmark


def test_both_benchmarks_are_discovered():
    assert "reid" in BENCHMARKS and "re-identifying patients" in BENCHMARKS["reid"]
    assert "linkage" in BENCHMARKS and "linkage attack" in BENCHMARKS["linkage"].lower()


def test_linkage_quick_run():
    out = run_benchmark("linkage", quick=True, progress=False)
    json.dumps(out)
    assert out["rows"] == 10_000 and out["seconds"] > 0 and out["peak_rss_mb"] > 0
    per = out["reidentified"]
    assert per["sex"]["reidentified"] == 0.0
    assert per["postcode + birth_date + sex"]["reidentified"] > 0.5
    assert {"load_average_1min", "device", "anonymise_k10_seconds"} <= set(out)
