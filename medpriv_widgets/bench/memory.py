"""Benchmark: peak memory of every lesson's kernel on Binder (FAST off, Binder profile caches).

``medpriv bench memory [--quick] [--json]``. Target: every lesson's kernel stays at or below
:data:`TARGET_MB` (1.2 GB), inside Binder's guaranteed 1 GB plus headroom below its 2 GB kill
line (a JupyterLab server adds ~150 MB).

Each lesson notebook runs top to bottom in a fresh kernel with nbclient, as on Binder after
``postBuild``: ``MEDPRIV_FAST`` unset, the caches of ``MEDPRIV_CACHE_DIR`` (build them first
with ``medpriv precompute --profile binder``; the result says how many of the profile's pieces
were cached), a temporary ``MEDPRIV_LEDGER_DIR``. A last cell reads the kernel's own peak
resident memory (``VmHWM``; :func:`medpriv_widgets.bench.peak_rss_mb`). The exercise cells run
too (unanswered: they cost nothing). ``--quick``: lessons 00 and 02 with ``MEDPRIV_FAST=1``.

Result: ``peak_rss_mb_by_lesson`` (lesson → MB), ``seconds_by_lesson``, ``errors`` (lesson →
the last line of a cell that raised), ``over_target`` (lessons above the target),
``binder_cache`` ("N of M pieces"), and the context: ``device``, ``torch_threads``,
``load_average_1min``, ``peak_rss_mb`` (this process).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

from . import peak_rss_mb
from .lessons import QUICK_LESSONS, _load
from .lessons import notebooks_dir as _lessons_dir

TARGET_MB = 1200.0
_TAG = "MEDPRIV_KERNEL_PEAK_RSS_MB"


def kernel_peak(path: Path, *, env: dict, timeout_s: float = 3600) -> dict:
    """Run notebook ``path`` in a fresh kernel with ``env``: its peak RSS (MB), seconds, error."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        f"from medpriv_widgets.bench import peak_rss_mb\nprint('{_TAG}', peak_rss_mb())"))
    client = NotebookClient(nb, timeout=int(timeout_s), kernel_name="python3",
                            allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    error = None
    t0 = time.perf_counter()
    try:
        client.execute(env=env)
    except CellExecutionError as exc:
        lines = str(exc).strip().splitlines()
        error = (lines[-1] if lines else repr(exc))[:300]
    except Exception as exc:  # a dead kernel or a timeout is a result too
        error = f"{type(exc).__name__}: {exc}"[:300]
    seconds = round(time.perf_counter() - t0, 1)
    peak = None
    for out in nb.cells[-1].get("outputs", []):
        m = re.search(rf"{_TAG} ([0-9.]+)", out.get("text", ""))
        if m:
            peak = float(m.group(1))
    return {"peak_rss_mb": peak, "seconds": seconds, "error": error}


def _binder_cache_state() -> str:
    from ..cache import default_store
    from ..experiments.profiles import profile_stages

    store = default_store()
    stages = profile_stages("binder", parts=("sigma", "membership", "equal_epsilon",
                                             "reconstruction"))
    done = sum(s.is_done(store) for s in stages)
    return f"{done} of {len(stages)} pieces in {store.root}"


def run(*, quick: bool = False, progress: bool = True) -> dict:
    import torch

    from ..device import choose_device, device_label

    names = QUICK_LESSONS if quick else tuple(
        p.stem for p in sorted(_lessons_dir().glob("[0-9][0-9]_*.ipynb")))
    load_before = _load()
    cache_state = _binder_cache_state()
    peaks, seconds, errors = {}, {}, {}
    for name in names:
        with tempfile.TemporaryDirectory(prefix="medpriv-bench-memory-") as tmp:
            env = dict(os.environ, MEDPRIV_LEDGER_DIR=str(Path(tmp) / "ledgers"))
            env.pop("MEDPRIV_CLASSROOM_LEDGER", None)
            if quick:
                env["MEDPRIV_FAST"] = "1"
            else:
                env.pop("MEDPRIV_FAST", None)
            if progress:
                print(f"[bench memory] {name} …", file=sys.stderr, flush=True)
            r = kernel_peak(_lessons_dir() / f"{name}.ipynb", env=env)
        peaks[name], seconds[name] = r["peak_rss_mb"], r["seconds"]
        if r["error"]:
            errors[name] = r["error"]
        if progress:
            print(f"[bench memory] {name}: {r['peak_rss_mb']} MB, {r['seconds']} s"
                  + (f" — {r['error']}" if r["error"] else ""), file=sys.stderr, flush=True)
    return {
        "peak_rss_mb_by_lesson": peaks,
        "seconds_by_lesson": seconds,
        "errors": errors,
        "target_mb": TARGET_MB,
        "over_target": [n for n, mb in peaks.items() if mb is None or mb > TARGET_MB],
        "fast": quick,
        "binder_cache": cache_state,
        "device": device_label(choose_device()),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": load_before,
        "load_average_1min_after": _load(),
        "peak_rss_mb": peak_rss_mb(),
    }
