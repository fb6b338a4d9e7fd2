"""Benchmark: the arena's default 28 px board from an empty cache, and read back warm.

``medpriv bench arena``: every cell of :class:`medpriv_widgets.arena.Board` on the
'pneumonia-28' scenario (7 defences × 5 attacks: the undefended model, DP-SGD at ε = 1 and 8,
clipping only, top-k pruning, large batches and FedAvg against the loss and LiRA offline /
online membership attacks, the reconstruction from one update and its re-identification), in a
fresh temporary cache (its own :class:`~medpriv_widgets.cache.ResultStore`), so the time is real
training time. ``seconds_from_empty`` starts after the X-rays are loaded; ``seconds_warm`` is
what a lesson opening the computed board costs: a new Board object reads the X-rays again and
every cell from the cache.

Targets (issue 12), on two CPU cores: the default board (≥ 4 defences × 2 membership attacks)
from empty in ≤ 10 min; warm ≤ 5 s. ``--quick``: the small scenario's board (4 defences × 5
attacks on 200 X-rays), about a minute; its numbers only show that the code runs.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import warnings

import torch

from . import peak_rss_mb
from ..device import choose_device, device_label


def run(*, quick: bool = False, progress: bool = True) -> dict:
    from ..arena.board import Board
    from ..cache import ResultStore

    scenario = "pneumonia-28-small" if quick else "pneumonia-28"
    device = choose_device()
    board = Board(scenario=scenario)
    with tempfile.TemporaryDirectory(prefix="medpriv-bench-arena-") as tmp:
        store = ResultStore(tmp)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            board.data.population, board.data.test  # loaded before the clock starts
            estimate = board.seconds_left(cache=store)
            t0, c0 = time.perf_counter(), time.process_time()
            shown = -1
            kinds: dict[str, float] = {}  # CPU seconds per kind of stage
            c_last = c0
            for p in board.run(cache=store, device=device):
                update = p.partial
                if getattr(update, "finished", False):
                    kind = type(update.stage).__name__
                    if kind == "DefendedTarget":
                        kind = f"DefendedTarget[{update.stage.defence.name}]"
                    now = time.process_time()
                    kinds[kind] = kinds.get(kind, 0.0) + now - c_last
                    c_last = now
                pct = int(p.fraction * 20)
                if progress and (pct != shown or p.finished):
                    shown = pct
                    print(f"[{time.perf_counter() - t0:6.1f} s] {p.fraction:4.0%} {p.message}",
                          flush=True)
            from_empty = time.perf_counter() - t0
            cpu_from_empty = time.process_time() - c0
            t1 = time.perf_counter()
            rows = Board(scenario=scenario).results(cache=store)
            warm = time.perf_counter() - t1
    cells = len(rows)
    summary = {}
    for r in rows:
        if r.attack == "lira_online" or r.attack == "reconstruction":
            d = summary.setdefault(r.defence, {"test_auc": round(r.utility_auc, 4),
                                               "epsilon_claimed": r.epsilon_claimed})
            if r.attack == "lira_online":
                d.update(lira_online_tpr_at_1pct=round(r.tpr_at_1pct, 4),
                         lira_online_tpr_at_0_1pct=round(r.tpr_at_0_1pct, 4),
                         lira_online_auc=round(r.mia_auc, 4),
                         epsilon_audited=round(r.epsilon_audited, 3))
            else:
                d.update(reconstruction_psnr_db=round(r.psnr_db, 2))
    first = rows[0]
    return {
        "scenario": scenario,
        "cells": cells,
        "defences": len(board.defences),
        "attacks": len(board.attacks),
        "seconds_from_empty": round(from_empty, 1),
        "seconds_per_cell": round(from_empty / cells, 2),
        # CPU time of this process: on a shared machine (other jobs on the same cores) it
        # shows what the board itself cost; close to seconds_from_empty when the machine is idle
        "cpu_seconds_from_empty": round(cpu_from_empty, 1),
        "cpu_seconds_by_stage": {k: round(v, 1) for k, v in
                                 sorted(kinds.items(), key=lambda kv: -kv[1])},
        "seconds_warm": round(warm, 2),
        "seconds_estimated": round(estimate, 1),
        "n_members": first.n_members if first.kind == "membership" else None,
        "n_nonmembers": next((r.n_nonmembers for r in rows if r.kind == "membership"), None),
        "resolved_0_1pct_fpr": next((r.resolved_0_1pct for r in rows
                                     if r.kind == "membership"), None),
        "defence_summary": summary,
        "synthetic": bool(first.synthetic),
        "target_from_empty_ok": bool(from_empty <= 600.0) if not quick else None,
        "target_warm_ok": bool(warm <= 5.0),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "device": device_label(device),
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "finite": all(math.isfinite(r.utility_auc) for r in rows),
    }
