"""Benchmarks run by ``medpriv bench NAME [--quick] [--json]``.

Each benchmark is a module ``medpriv_widgets.bench.<name>`` with one function
``run(*, quick: bool = False, progress: bool = True) -> dict`` returning a JSON-serialisable dict.
Speed and memory targets live here, never in timed tests.
"""

from __future__ import annotations

import importlib
import resource
import sys

from ..errors import InvalidParameterError

BENCHMARKS = {
    "dpsgd": "DP-SGD vs non-private step time and test AUC (issue: DP core)",
    "reconstruction": "gradient-inversion attack: seconds to 30 dB, defended PSNR",
    "mia": "membership inference (LiRA): shadow-model time, TPR at 0.1% FPR vs the DP bound",
}


def run_benchmark(name: str, *, quick: bool = False, progress: bool = True) -> dict:
    """Import ``medpriv_widgets.bench.<name>`` and return its ``run(quick=...)`` result."""
    if name not in BENCHMARKS:
        raise InvalidParameterError(
            f"Unknown benchmark {name!r}. Choose one of: {', '.join(sorted(BENCHMARKS))}.")
    module = importlib.import_module(f"{__name__}.{name}")
    return module.run(quick=quick, progress=progress)


def peak_rss_mb() -> float:
    """Peak resident memory of this process's own address space so far, in MiB.

    ``VmHWM`` of /proc/self/status on Linux; elsewhere ``ru_maxrss``. Not ``ru_maxrss`` on
    Linux: it is carried over fork and exec, so a process started from a 1 GB parent reports at
    least 1 GB before it has done anything (measured here).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)
