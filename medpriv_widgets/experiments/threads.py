"""How many CPU threads the training stages use: one, whatever the machine offers.

Why one (measured on the project machine, 2 cores shared with other jobs, load 9–12):

- Speed. A DP-SGD step of the lessons' 64 px model (batch 512, chunks of 128) took a median
  4.1 s on one thread and 14.9 s on two; the non-private step (batch 128) 1.07 s and 2.3 s.
  With two threads, each waits for the other at every operation's barrier while the other
  waits for a core, so a busy machine pays 2–4× in wall time (issue 16: the shadow models of
  lesson 05 used 4–6× the CPU time). On a quiet 2-core machine two threads are faster (0.63 s
  for the DP step, ``medpriv bench dpsgd``), but lessons run on shared Binder machines and on
  laptops busy with a browser, where one thread is the robust choice.
- Reproducibility. The same settings give different numbers on one and on two threads (float
  sums are split differently: LiRA AUC 0.6465 on one thread, 0.6348 on two). With the thread
  count fixed by the stage, a cached result is the same on every CPU, and the figures say
  which device computed it (``device_label``: "CPU (1 thread)").

A GPU is unaffected (it has its own parallelism). A stage asks for it by setting
``cpu_threads = TRAINING_THREADS``; :meth:`Stage.run <.stage.Stage.run>` then runs its
computation inside :func:`with_threads`. The setting is scoped: :func:`with_threads` sets it while its generator runs and puts the previous value back when it ends, is closed or
raises (torch's thread count is per process, so code that runs in between — another widget's
callback, say — sees the pinned value too while a stage runs).
"""

from __future__ import annotations

from collections.abc import Iterator

#: Threads of the training stages on a CPU (see the module docstring for the measurements).
TRAINING_THREADS = 1


def with_threads(records: Iterator, *, threads: int = TRAINING_THREADS,
                 device=None) -> Iterator:
    """Iterate ``records`` (a progress generator) with torch using ``threads`` CPU threads;
    restore the previous count afterwards. ``device``: nothing changes on a GPU."""
    import torch

    from ..device import choose_device

    dev = choose_device(str(device)) if device is not None else choose_device()
    if dev.type != "cpu":
        yield from records
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield from records
    finally:
        torch.set_num_threads(before)


__all__ = ["TRAINING_THREADS", "with_threads"]
