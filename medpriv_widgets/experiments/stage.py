"""A stage: one cached, stoppable step of an experiment, described by a frozen dataclass.

Every experiment is a frozen settings dataclass (checked once, like
:class:`~medpriv_widgets.training.TrainConfig`) plus stages. A stage is itself a frozen
dataclass — the settings and the few parameters of this step — so it *is* its cache key. It
says what it costs before it runs and yields :class:`~medpriv_widgets.progress.Progress` while
it runs::

    stage = ShadowBank(settings)            # nothing computed yet
    stage.estimate_seconds()                # on 2 CPU cores
    for p in stage.run(cache=store, stop=token):
        bar.update(p.fraction, p.message)
    bank = stage.load(store)                # instant from now on

``run`` is the same for every stage: read the cache, else ``compute`` and store the result of
a run that finished (never of a stopped one). Subclasses write ``compute`` and
``estimate_seconds`` only. ``compute`` receives the same ``cache`` so that it can use the results
of other stages (a DP target needs a trained model, training needs the σ of its ε): it calls
``OtherStage(...).result(cache=cache)`` or iterates ``OtherStage(...).run(cache=cache, …)``. The CLI, the widgets and the tests all drive stages this way, alone
or as a list (:func:`run_stages`).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from collections.abc import Iterable, Iterator, Sequence
from numbers import Real
from typing import Any, ClassVar

from ..cache import ResultStore
from ..errors import InvalidParameterError
from ..progress import Progress
from ..stopping import StopToken, stop_requested
from .threads import with_threads


def _plain(value: Any) -> Any:
    """Dataclasses, tuples and floats as plain JSON-friendly values for a cache key."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.metadata.get("key", True)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class Stage:
    """Base class of every stage (subclasses are ``@dataclass(frozen=True)``).

    Subclasses set ``namespace`` (the cache folder of this kind of result) and define
    :meth:`title`, :meth:`compute` and :meth:`estimate_seconds`; they may extend :meth:`key`
    with what the data are (a fingerprint), which is not a field. Training stages set
    ``cpu_threads`` (see :mod:`.threads`).
    """

    namespace: ClassVar[str] = ""
    #: CPU threads torch may use while :meth:`compute` runs (restored afterwards; None: leave
    #: the setting alone; nothing changes on a GPU). Training stages use
    #: :data:`~.threads.TRAINING_THREADS`: faster on a busy machine, the same numbers everywhere.
    cpu_threads: ClassVar[int | None] = None

    # ------------------------------------------------------------------ to define
    @property
    def title(self) -> str:
        """A few words for progress bars and plans, e.g. 'DP target at ε = 8'."""
        return type(self).__name__

    def compute(self, *, cache: ResultStore | None, stop: StopToken | None,
                device=None) -> Iterator[Progress]:
        """The work. The last record of a run that finished has ``done == total`` and the
        result in ``partial``; a stopped run ends with ``stopped=True``. ``cache`` is for the
        results of other stages this one needs (its own result is stored by :meth:`run`)."""
        raise NotImplementedError

    def estimate_seconds(self) -> float:
        """Expected wall seconds of :meth:`compute` on 2 CPU cores (ignores the cache)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ provided
    def key(self) -> dict:
        """The cache key: the stage's name and every field (nested settings as dicts)."""
        return {"stage": type(self).__name__, **_plain(self)}

    def load(self, cache: ResultStore | None) -> Any | None:
        """The cached result, or None (always None without a cache)."""
        if cache is None:
            return None
        return cache.namespace(self.namespace).get(self.key())

    def is_done(self, cache: ResultStore | None) -> bool:
        return cache is not None and self.key() in cache.namespace(self.namespace)

    def seconds_left(self, cache: ResultStore | None) -> float:
        """0 when cached, else :meth:`estimate_seconds`."""
        return 0.0 if self.is_done(cache) else float(self.estimate_seconds())

    def run(self, *, cache: ResultStore | None, stop: StopToken | None = None,
            device=None) -> Iterator[Progress]:
        """Yield progress; the last record carries the result (from the cache when there)."""
        if cache is not None and not isinstance(cache, ResultStore):
            raise InvalidParameterError(
                f"`cache` must be a ResultStore (medpriv_widgets.cache.default_store()) or None; "
                f"got {type(cache).__name__}.")
        hit = self.load(cache)
        if hit is not None:
            yield Progress(self.title, 1, 1, f"{self.title}: read from the cache.", partial=hit)
            return
        records = self.compute(cache=cache, stop=stop, device=device)
        if self.cpu_threads is not None:
            records = with_threads(records, threads=self.cpu_threads, device=device)
        last = None
        for last in records:
            yield last
        if last is None or last.stopped or stop_requested(stop) and not last.finished:
            if last is None or not last.stopped:
                yield Progress(self.title, 0 if last is None else last.done,
                               1 if last is None else last.total,
                               f"{self.title}: stopped; nothing was cached.", stopped=True)
            return
        if cache is not None:
            cache.namespace(self.namespace).put(self.key(), last.partial)

    def result(self, *, cache: ResultStore | None, stop: StopToken | None = None, device=None):
        """Run to the end (or read the cache) and return the result; StoppedEarly if stopped."""
        from ..progress import final_result

        return final_result(self.run(cache=cache, stop=stop, device=device))


@dataclass(frozen=True)
class StageUpdate:
    """The ``partial`` of every record :func:`run_stages` yields: which stage it came from
    (``stage``, its position ``index``), that stage's own partial (``value``: an epoch record,
    a frame, or on a finished stage its result) and whether that stage has just ``finished``."""

    stage: Stage
    index: int
    value: Any
    finished: bool


def run_stages(stages: Sequence[Stage], *, cache: ResultStore | None,
               stop: StopToken | None = None, device=None) -> Iterator[Progress]:
    """Run several stages in order as one computation (what ``medpriv precompute``, the
    dashboards' "Compute" buttons and the tests iterate).

    Yields each stage's records on one scale: ``done``/``total`` are estimated seconds over all
    stages (cached stages count 0, so the bar moves with the real work), ``stage`` and
    ``message`` are the running stage's, and ``partial`` is a :class:`StageUpdate` (the
    stage's own partial, and ``finished`` on its last record, whose ``value`` is its result).
    Ends with ``stopped=True`` when stopped, or with a record ``done == total`` whose partial
    is the list of finished titles.
    """
    if isinstance(stages, Stage) or not isinstance(stages, Iterable) \
            or isinstance(stages, (str, bytes)):
        raise InvalidParameterError(f"`stages` must be a list of Stage objects; got "
                                    f"{type(stages).__name__}. Wrap a single stage as [stage].")
    try:
        stages = list(stages)
    except TypeError as exc:  # an object that claims to be iterable but is not (a 0-d tensor)
        raise InvalidParameterError(f"`stages` must be a list of Stage objects; got "
                                    f"{type(stages).__name__} ({exc}).") from None
    for s in stages:
        if not isinstance(s, Stage):
            raise InvalidParameterError(f"`stages` must hold Stage objects; got {type(s).__name__}.")
    weights = [max(s.seconds_left(cache), 0.0) for s in stages]
    total = sum(weights) or 1.0
    before = 0.0
    finished: list[str] = []
    t0 = time.perf_counter()
    for index, (stage, w) in enumerate(zip(stages, weights)):
        if stop_requested(stop):
            yield Progress(stage.title, before, total, "Stopped before "
                           f"{stage.title}; what finished is cached.", stopped=True)
            return
        for rec in stage.run(cache=cache, stop=stop, device=device):
            update = StageUpdate(stage, index, rec.partial, rec.finished)
            if rec.stopped:
                yield rec.with_(done=before + w * rec.fraction, total=total, partial=update)
                return
            done = before + (w if rec.finished else w * min(rec.fraction, 0.999))
            yield rec.with_(done=done, total=total, partial=update)
        before += w
        finished.append(stage.title)
    yield Progress("all", total, total,
                   f"{len(finished)} of {len(stages)} pieces ready in "
                   f"{human_seconds(time.perf_counter() - t0)}.", partial=finished)


def human_seconds(seconds: float) -> str:
    """'45 s', '3 min', '1.5 h' — for estimates and timings shown to people; 'unknown time' for
    NaN or infinity."""
    if isinstance(seconds, bool) or not isinstance(seconds, Real):
        raise InvalidParameterError(f"`seconds` must be a real number of seconds; got "
                                    f"{seconds!r:.80}.")
    try:
        seconds = float(seconds)
    except OverflowError:  # an int beyond float range: longer than anything can take
        seconds = math.inf
    if not math.isfinite(seconds):
        return "unknown time"
    if seconds < 90:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = ["Stage", "StageUpdate", "human_seconds", "run_stages"]
