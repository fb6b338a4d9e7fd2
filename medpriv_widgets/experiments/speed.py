"""How fast this machine is *now*: a short probe that time estimates are scaled by.

A stage's ``estimate_seconds()`` is its cost in probe units (calibrated by measurement: the
probe and the real work timed together, on the same machine, under the same load) times the
probe's seconds now. A laptop, a shared Binder machine and a CPU busy with other jobs differ
by factors of 2–5 in how fast the same training runs; the probe sees that, so an estimate
made on a busy machine is as good as one made on a quiet one.

The probe is the lessons' typical work on one thread: a forward and backward pass of the
28 px SmallCNN (width 8) on 32 images, timed five times (median) after a warm-up; about
0.02–0.1 s in all. Its value is kept for :data:`MAX_AGE_S` seconds, so a dashboard asking
for many estimates probes once.
"""

from __future__ import annotations

import statistics
import threading
import time

from .._validate import check_real
from .threads import TRAINING_THREADS

#: Seconds a probe's value is reused.
MAX_AGE_S = 30.0

_lock = threading.Lock()
_last: tuple[float, float] | None = None  # (monotonic time, probe seconds)


def _probe_once() -> float:
    import torch

    from ..models import make_model

    before = torch.get_num_threads()
    torch.set_num_threads(TRAINING_THREADS)
    try:
        gen = torch.Generator().manual_seed(0)
        model = make_model(size=28, seed=0, width=8, activation="tanh")
        x = torch.rand(32, 1, 28, 28, generator=gen)
        y = torch.randint(0, 2, (32,), generator=gen)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step() -> float:
            t0 = time.perf_counter()
            model.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            return time.perf_counter() - t0

        step()  # warm-up: allocations
        return statistics.median(step() for _ in range(5))
    finally:
        torch.set_num_threads(before)


def probe_seconds(*, max_age_s: float = MAX_AGE_S) -> float:
    """Seconds the probe takes on this machine now (reused for ``max_age_s`` seconds)."""
    global _last
    max_age_s = check_real("max_age_s", max_age_s, low=0.0, allow_inf=True,
                           hint="It is how long a measured probe is reused, in seconds.")
    with _lock:
        now = time.monotonic()
        if _last is None or now - _last[0] > max_age_s:
            _last = (now, _probe_once())
        return _last[1]


__all__ = ["MAX_AGE_S", "probe_seconds"]
