"""Benchmark: privacy-ledger spends per second with 1 and 8 concurrent writers, and their latency.

``medpriv bench ledger [--quick] [--json]``. A classroom of 100 spending from one budget at once
is the case (issue 15, item 9): each spend used to rewrite and fsync the whole JSON file, 0.02 s
at first and 0.64 s after 4,000 spends. Targets: a spend's cost does not grow with the ledger's
length (one commit, one fsync), and with 8 writers no spend waits long (p99 well under a
second). Writers take turns, so 8 together cannot beat one writer's commit rate; they lose what
handing the lock on costs.

What runs: a ledger is filled with ``prefill`` basic spends (4,000 as in the audit; 500 with
``quick``), then (a) one process makes ``n`` spends, (b) 8 processes (forked, each with its own
``PrivacyLedger`` on the same file, as 8 notebook kernels would have) make ``n // 8`` each, all
released at once. Every spend is timed from call to return (lock wait included); throughput is
all spends over the wall time from release to the last return. Then the ledger is opened afresh
(full hash-chain check) and its history read, at its final length.

Disk speed decides most of it: each spend is one SQLite commit with ``synchronous=FULL`` (one
fsync of the write-ahead log). ``fsync_ms`` is a plain append+fsync of 200 bytes in the same
folder, measured first, so numbers from different disks can be compared.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import peak_rss_mb

WRITERS = 8


def _say(progress: bool, text: str) -> None:
    if progress:
        print(f"[bench ledger] {text}", file=sys.stderr, flush=True)


def _open(path: Path):
    from ..privacy.ledger import PrivacyLedger

    return PrivacyLedger(path, dataset="classroom", institution="bench")


def _spend_many(path: str, n: int, name: str, start, out) -> None:
    """A writer process: wait for the start signal, make ``n`` spends, report latencies (s)."""
    led = _open(Path(path))
    start.wait()
    lat = []
    for i in range(n):
        t0 = time.perf_counter()
        led.spend(1e-6, note=f"{name}-{i}", mechanism="laplace")
        lat.append(time.perf_counter() - t0)
    out.put((name, lat, time.perf_counter()))


def _fsync_ms(folder: Path, repeats: int = 50) -> float:
    probe = folder / "fsync-probe"
    times = []
    with open(probe, "ab") as fh:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fh.write(b"x" * 200)
            fh.flush()
            os.fsync(fh.fileno())
            times.append(time.perf_counter() - t0)
    probe.unlink()
    return round(1000 * statistics.median(times), 2)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _run_writers(path: Path, writers: int, per_writer: int) -> dict:
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_spend_many, args=(str(path), per_writer, f"w{k}", start, out))
             for k in range(writers)]
    for p in procs:
        p.start()
    time.sleep(1.0)  # every writer has opened the ledger and waits
    t0 = time.perf_counter()
    start.set()
    results = [out.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    lat = [x for _, lats, _ in results for x in lats]
    wall = max(end for _, _, end in results) - t0
    return {"spends": len(lat), "seconds": round(wall, 2),
            "spends_per_second": round(len(lat) / wall, 1),
            "latency_p50_ms": round(1000 * statistics.median(lat), 2),
            "latency_p99_ms": round(1000 * _percentile(lat, 0.99), 2),
            "latency_max_ms": round(1000 * max(lat), 2)}


def run(*, quick: bool = False, progress: bool = True) -> dict:
    """Spends/second and latency with 1 and 8 writers (see the module docstring)."""
    from ..privacy.ledger import PrivacyLedger

    prefill, n = (500, 400) if quick else (4000, 2000)
    with tempfile.TemporaryDirectory(prefix="medpriv-bench-ledger-") as folder:
        folder = Path(folder)
        fsync = _fsync_ms(folder)
        path = folder / "classroom.sqlite"
        led = PrivacyLedger(path, epsilon=1e6, delta=1e-5, dataset="classroom",
                            institution="bench")
        _say(progress, f"filling the ledger with {prefill:,} spends (fsync {fsync} ms)")
        t0 = time.perf_counter()
        for i in range(prefill):
            led.spend(1e-6, note=f"prefill-{i}")
        prefill_s = time.perf_counter() - t0
        _say(progress, f"1 writer, {n:,} spends")
        one = _run_writers(path, 1, n)
        _say(progress, f"{WRITERS} writers, {n // WRITERS:,} spends each")
        many = _run_writers(path, WRITERS, n // WRITERS)
        length = prefill + one["spends"] + many["spends"]
        t0 = time.perf_counter()
        again = _open(path)
        open_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        history = again.history
        history_s = time.perf_counter() - t0
        if len(history) != length:
            raise RuntimeError(f"The ledger holds {len(history):,} spends, not {length:,}: a spend went missing.")
        filesystem = _filesystem(folder)
    import torch

    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    return {
        "prefill_spends": prefill,
        "prefill_spends_per_second": round(prefill / prefill_s, 1),
        "one_writer": one,
        "eight_writers": many,
        "ledger_length_at_end": length,
        "open_and_verify_s": round(open_s, 3),
        "read_history_s": round(history_s, 3),
        "fsync_ms": fsync,
        "filesystem": filesystem,
        "peak_rss_mb": peak_rss_mb(),
        "device": "cpu (disk-bound; no accelerator involved)",
        "torch_threads": torch.get_num_threads(),
        "load_average_1min": load,
    }


def _filesystem(folder: Path) -> str:
    try:
        best = ""
        with open("/proc/mounts") as fh:
            for line in fh:
                _, mount, fstype, *_ = line.split()
                if str(folder.resolve()).startswith(mount) and len(mount) > len(best):
                    best, kind = mount, fstype
        return f"{kind} at {best}" if best else "unknown"
    except OSError:
        return "unknown"
