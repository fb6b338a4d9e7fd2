"""The stage protocol every experiment follows: cached once, stoppable, one progress type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from medpriv_widgets.cache import ResultStore
from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.experiments import (Progress, Stage, StoppedEarly, final_result,
                                         human_seconds, run_stages)
from medpriv_widgets.stopping import StopToken

CALLS: list[str] = []


@dataclass(frozen=True)
class Count(Stage):
    """Counts to n; stops when asked. Records every compute call in CALLS."""

    n: int
    label: str = "count"
    namespace: ClassVar[str] = "test-count"

    @property
    def title(self) -> str:
        return f"counting to {self.n}"

    def estimate_seconds(self) -> float:
        return float(self.n)

    def compute(self, *, cache, stop, device=None):
        CALLS.append(self.label)
        for i in range(1, self.n + 1):
            if stop is not None and stop.requested:
                yield Progress(self.title, i - 1, self.n, "stopped", partial=i - 1, stopped=True)
                return
            yield Progress(self.title, i, self.n, f"{i} of {self.n}",
                           partial=sum(range(i + 1)) if i == self.n else None)


@pytest.fixture
def store(tmp_path):
    CALLS.clear()
    return ResultStore(tmp_path / "store")


def test_a_stage_computes_once_then_reads_the_cache(store):
    stage = Count(4)
    assert not stage.is_done(store) and stage.seconds_left(store) == 4
    records = list(stage.run(cache=store))
    assert [r.done for r in records] == [1, 2, 3, 4] and records[-1].finished
    assert records[-1].partial == 10
    assert stage.is_done(store) and stage.seconds_left(store) == 0
    again = list(stage.run(cache=store))
    assert len(again) == 1 and again[0].partial == 10 and "cache" in again[0].message
    assert CALLS == ["count"]
    assert stage.result(cache=store) == 10 and CALLS == ["count"]


def test_the_key_holds_every_field_so_different_settings_never_share(store):
    assert Count(4).key() != Count(4, label="other").key()
    Count(4).result(cache=store)
    assert Count(4, label="other").load(store) is None


def test_without_a_cache_nothing_is_kept(store):
    assert Count(3).result(cache=None) == 6
    assert Count(3).result(cache=None) == 6
    assert CALLS == ["count", "count"]


def test_a_stopped_stage_is_not_cached_and_has_no_result(store):
    stop = StopToken()
    stop.request()
    records = list(Count(5).run(cache=store, stop=stop))
    assert records[-1].stopped
    assert not Count(5).is_done(store)
    with pytest.raises(StoppedEarly):
        Count(5).result(cache=store, stop=stop)


def test_run_stages_reports_one_monotone_scale_and_skips_cached(store):
    Count(2).result(cache=store)
    CALLS.clear()
    records = list(run_stages([Count(2), Count(3, label="b")], cache=store))
    fractions = [r.fraction for r in records]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert records[-1].finished and records[-1].partial == ["counting to 2", "counting to 3"]
    assert CALLS == ["b"]  # the cached stage was read, not computed
    done = [(r.partial.index, r.partial.value) for r in records[:-1] if r.partial.finished]
    assert done == [(0, 3), (1, 6)]  # each stage's result, once, as it finished


def test_run_stages_stops_between_and_inside_stages(store):
    stop = StopToken()
    seen = []
    for r in run_stages([Count(3, label="a"), Count(3, label="b")], cache=store, stop=stop):
        seen.append(r)
        if r.stage == "counting to 3" and r.done >= 1:
            stop.request()
    assert seen[-1].stopped
    assert not Count(3, label="a").is_done(store)


def test_bad_arguments_are_typed_errors(store):
    with pytest.raises(InvalidParameterError, match="ResultStore"):
        list(Count(2).run(cache="/tmp/somewhere"))
    with pytest.raises(InvalidParameterError, match="Stage"):
        list(run_stages([object()], cache=store))


def test_progress_fraction_and_human_seconds():
    assert Progress("x", 1, 4, "").fraction == 0.25
    assert Progress("x", 9, 4, "").fraction == 1.0
    assert final_result(iter([Progress("x", 1, 1, "", partial=3)])) == 3
    assert human_seconds(30) == "30 s" and human_seconds(600) == "10 min"
    assert human_seconds(float("inf")) == "unknown time"
