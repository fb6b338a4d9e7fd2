"""Benchmark: every lesson's Run All (FAST off) from an empty cache and warm, in a fresh kernel.

``medpriv bench lessons [--quick] [--json]``. Target (issue 16): each lesson's Run All takes
≤ 3 min on 2 CPU cores, FAST off, from an empty cache; what cannot fit is computed in the
widget on demand, with an up-front estimate within ±30 % of the measured time.

For each notebook in ``notebooks/`` (``--quick``: lessons 00 and 02 only) the benchmark runs it
top to bottom with nbclient in a fresh kernel — as a reader's Run All does — with
``MEDPRIV_FAST`` unset, ``MEDPRIV_CACHE_DIR`` and ``MEDPRIV_LEDGER_DIR`` empty temporary
folders (``cold_s``), then again in a new kernel with the cache the first run left (``warm_s``).
``kernel_peak_rss_mb`` is the kernel's own peak resident memory (``VmHWM``), read by a cell
appended to the copy that runs. A cell that raises ends that lesson's runs (``error``).

On demand (full run only): what the labs compute when a reader presses their button, each in
a fresh process on an empty cache, timed against the estimate the lab showed before
(``estimate_s``, ``measured_s``, ``ratio`` = measured / estimate; the target is 0.7–1.3):
lesson 01's "Train the network", lesson 03's Train at ε = 8 (the model without privacy first,
then ε = 8), lesson 05's Compute (the shadow models and the target), then lesson 07's Compute
(the rest of its dashboard, on the cache lesson 05 left), lesson 06's Train, "Compare with
centralised" and "Attack the server's view" (in that order, on one cache) and its DP lab's
Train. Data must be present (``MEDPRIV_DATA_DIR`` or a download);
otherwise the lessons run on synthetic phantoms and the result says ``synthetic``.

Context: ``device``, ``torch_threads`` (the kernels' default; the training stages pin one
thread, see :mod:`medpriv_widgets.experiments.threads`), ``load_average_1min`` before and
after, ``peak_rss_mb`` (this process).
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from pathlib import Path

from . import peak_rss_mb

#: Run All of one lesson, FAST off, from an empty cache (seconds, 2 CPU cores).
TARGET_S = 180.0
#: The estimate a lab shows before it computes must be within this factor of the measured time.
ESTIMATE_RANGE = (0.7, 1.3)
QUICK_LESSONS = ("00_start_here", "02_differential_privacy_basics")
_RSS_TAG = "MEDPRIV_KERNEL_PEAK_RSS_MB"


def notebooks_dir() -> Path:
    """The lessons of this checkout (``notebooks/`` beside the package)."""
    return Path(__file__).resolve().parents[2] / "notebooks"


def _load() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return float("nan")


def _say(progress: bool, text: str) -> None:
    if progress:
        print(f"[bench lessons] {text}", file=sys.stderr, flush=True)


def run_notebook(path: Path, *, env: dict, timeout_s: float = 1800) -> dict:
    """Run one notebook top to bottom in a fresh kernel with ``env``; seconds, peak RSS, error."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "from medpriv_widgets.bench import peak_rss_mb as _peak\n"
        f"print('{_RSS_TAG}', _peak())"))
    client = NotebookClient(nb, timeout=int(timeout_s), kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    error = None
    try:
        client.execute(env=env)
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else repr(exc)
    except Exception as exc:  # a kernel that died, a timeout: reported, the benchmark goes on
        error = f"{type(exc).__name__}: {exc}"[:300]
    seconds = time.perf_counter() - t0
    rss = None
    for out in nb.cells[-1].get("outputs", []):
        m = re.search(rf"{_RSS_TAG} ([0-9.]+)", out.get("text", ""))
        if m:
            rss = float(m.group(1))
    return {"seconds": round(seconds, 1), "kernel_peak_rss_mb": rss, "error": error}


def lesson_times(names, *, progress: bool = True) -> dict:
    """{lesson: {cold_s, warm_s, kernel_peak_rss_mb, within_target, error}}."""
    out = {}
    for name in names:
        path = notebooks_dir() / f"{name}.ipynb"
        with tempfile.TemporaryDirectory(prefix=f"medpriv-bench-{name[:2]}-") as tmp:
            env = dict(os.environ, MEDPRIV_CACHE_DIR=str(Path(tmp) / "cache"),
                       MEDPRIV_LEDGER_DIR=str(Path(tmp) / "ledgers"))
            env.pop("MEDPRIV_FAST", None)
            _say(progress, f"{name}: from an empty cache …")
            cold = run_notebook(path, env=env)
            _say(progress, f"{name}: {cold['seconds']} s; again, warm …")
            warm = (run_notebook(path, env=env) if cold["error"] is None
                    else {"seconds": None, "kernel_peak_rss_mb": None, "error": "not run"})
            _say(progress, f"{name}: warm {warm['seconds']} s")
        rss = [r["kernel_peak_rss_mb"] for r in (cold, warm) if r["kernel_peak_rss_mb"]]
        out[name] = {"cold_s": cold["seconds"], "warm_s": warm["seconds"],
                     "kernel_peak_rss_mb": max(rss) if rss else None,
                     "within_target": cold["error"] is None and cold["seconds"] <= TARGET_S,
                     "error": cold["error"] or warm["error"]}
    return out


# ------------------------------------------------------------------------------ on demand
_ON_DEMAND = r'''
import json, sys, time, warnings
warnings.simplefilter("ignore")
what = sys.argv[1]
if what == "03_train":
    from medpriv_widgets.training import TrainConfig
    from medpriv_widgets.widgets.private_training import PrivateTrainingLab
    lab = PrivateTrainingLab(config=TrainConfig(size=64), epsilon=8.0)
    est = lab.seconds_to_train(8.0)
    t0 = time.perf_counter(); lab.run(epsilon=8.0, wait=True); t = time.perf_counter() - t0
    ok = lab.result is not None and not lab.result.stopped
    synthetic = bool(lab.result is not None and lab.result.synthetic)
elif what == "05_compute":
    from medpriv_widgets.widgets.membership import MembershipLab
    lab = MembershipLab(profile="binder")
    est = sum(s.seconds_left(lab.cache) for s in lab._stages(lab.eps_picker.value))
    t0 = time.perf_counter(); lab.compute(wait=True); t = time.perf_counter() - t0
    ok, synthetic = lab.result is not None, bool(lab.result is not None and lab.result.synthetic)
elif what == "01_train":
    from medpriv_widgets.attacks.reidentification import ReidSettings
    from medpriv_widgets.widgets.reidentification import XrayLookupLab
    lab = XrayLookupLab(settings=ReidSettings(size=64, epochs=8))
    est = lab.stage.seconds_left(lab.cache)
    t0 = time.perf_counter(); lab.train(wait=True); t = time.perf_counter() - t0
    ok, synthetic = lab.result is not None, bool(lab.result and lab.result["synthetic"])
elif what.startswith("06_"):
    from medpriv_widgets.federated import FederationSettings, default_sites
    from medpriv_widgets.widgets.federated import FederatedLab
    if what == "06_dp_train":
        lab = FederatedLab(settings=FederationSettings(
            sites=default_sites(4), rounds=20, noise_multiplier=1.5, batch_size=64,
            local_steps=10, lr=0.1), budget=2.0)
    else:
        lab = FederatedLab(settings=FederationSettings(sites=default_sites(4), rounds=20))
    button = {"06_train": "train", "06_dp_train": "train", "06_compare": "compare",
              "06_attack": "attack"}[what]
    est = lab.seconds_left()[button]
    act = {"train": lab.run, "compare": lab.compare, "attack": lab.attack}[button]
    t0 = time.perf_counter(); act(wait=True); t = time.perf_counter() - t0
    ok = {"06_compare": len(lab.baselines) == len(lab.settings.sites) + 1,
          "06_attack": len(lab.leakage) == 2}.get(
        what, lab.result is not None and not lab.result.stopped)
    synthetic = bool(lab.stage()._data[0].synthetic)
else:
    from medpriv_widgets.widgets.tradeoff import RiskUtilityDashboard
    dash = RiskUtilityDashboard(profile="binder")
    est = sum(s.seconds_left(dash.cache) for s in dash.stages)
    t0 = time.perf_counter(); dash.compute(wait=True); t = time.perf_counter() - t0
    ok = dash.compute_button.disabled
    synthetic = bool(dash.shadows.population.data.synthetic)
print("MEDPRIV_ON_DEMAND", json.dumps({"estimate_s": round(est, 1), "measured_s": round(t, 1),
                                       "ok": bool(ok), "synthetic": synthetic}))
'''


def on_demand_times(*, progress: bool = True) -> dict:
    """Estimate vs measured seconds of what the labs compute when asked (fresh processes)."""
    import json
    import subprocess

    out = {}
    with tempfile.TemporaryDirectory(prefix="medpriv-bench-demand-") as tmp:
        for what, cache in (("01_train", "c01"), ("03_train", "c03"), ("05_compute", "c05"),
                            ("07_compute", "c05"), ("06_train", "c06"), ("06_compare", "c06"),
                            ("06_attack", "c06"), ("06_dp_train", "c06dp")):
            env = dict(os.environ, MEDPRIV_CACHE_DIR=str(Path(tmp) / cache),
                       MEDPRIV_LEDGER_DIR=str(Path(tmp) / "ledgers"))
            env.pop("MEDPRIV_FAST", None)
            _say(progress, f"on demand: {what} …")
            proc = subprocess.run([sys.executable, "-c", _ON_DEMAND, what], env=env,
                                  capture_output=True, text=True, timeout=4 * 3600)
            line = next((ln for ln in proc.stdout.splitlines()
                         if ln.startswith("MEDPRIV_ON_DEMAND ")), None)
            if line is None:
                out[what] = {"error": (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]}
                continue
            r = json.loads(line.split(" ", 1)[1])
            r["ratio"] = round(r["measured_s"] / r["estimate_s"], 2) if r["estimate_s"] else None
            r["within_range"] = (r["ratio"] is not None
                                 and ESTIMATE_RANGE[0] <= r["ratio"] <= ESTIMATE_RANGE[1])
            r["load_average_1min"] = _load()
            out[what] = r
            _say(progress, f"on demand: {what}: {r}")
    return out


def run(*, quick: bool = False, progress: bool = True) -> dict:
    import torch

    from ..device import device_label

    load_before = _load()
    names = (QUICK_LESSONS if quick else
             tuple(p.stem for p in sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))))
    lessons = lesson_times(names, progress=progress)
    result = {
        "lessons": lessons,
        "target_s": TARGET_S,
        "all_within_target": all(v["within_target"] for v in lessons.values()),
        "slowest": max(lessons, key=lambda k: lessons[k]["cold_s"] or 0.0),
        "quick": quick,
    }
    if not quick:
        result["on_demand"] = on_demand_times(progress=progress)
        result["estimate_range"] = list(ESTIMATE_RANGE)
    result.update(device=device_label(), torch_threads=torch.get_num_threads(),
                  load_average_1min=load_before, load_average_1min_after=_load(),
                  peak_rss_mb=peak_rss_mb())
    return result
