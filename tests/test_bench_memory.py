"""`medpriv bench memory`: is discovered, and its quick run measures each lesson kernel's own
peak memory (a fresh kernel per lesson) and checks it against the Binder target."""

from __future__ import annotations

import pytest

from medpriv_widgets.bench import BENCHMARKS, run_benchmark


def test_memory_benchmark_is_discovered():
    assert "memory" in BENCHMARKS and BENCHMARKS["memory"].startswith("peak memory of every lesson")


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_quick_run_measures_each_lesson_kernel():
    result = run_benchmark("memory", quick=True, progress=False)
    peaks = result["peak_rss_mb_by_lesson"]
    assert set(peaks) == {"00_start_here", "02_differential_privacy_basics"}
    assert not result["errors"], result["errors"]
    # a kernel that imported torch and the widgets holds a few hundred MB, not the benchmark's
    for lesson, mb in peaks.items():
        assert 150 < mb < result["target_mb"], (lesson, mb)
    assert result["over_target"] == [] and result["fast"] is True
    assert {"device", "torch_threads", "load_average_1min", "peak_rss_mb", "binder_cache"} <= set(result)
