"""Training stages use one CPU thread whatever the machine offers (same numbers everywhere),
and their time estimates scale with a probe of how fast the machine is now."""

from __future__ import annotations

import math

import pytest
import torch

from medpriv_widgets.experiments import TrainModel
from medpriv_widgets.experiments import speed
from medpriv_widgets.experiments.threads import TRAINING_THREADS, with_threads
from medpriv_widgets.progress import last_record
from medpriv_widgets.training import TrainConfig


def _tiny(**kw) -> TrainConfig:
    return TrainConfig(size=28, epochs=1, batch_size=32, width=8, lr=3e-3, accountant="rdp", **kw)


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_with_threads_pins_and_restores_even_when_closed_early(two_threads):
    seen = []

    def work():
        for i in range(3):
            seen.append(torch.get_num_threads())
            yield i

    gen = with_threads(work(), device="cpu")
    assert next(gen) == 0
    gen.close()  # a stopped widget closes its generator mid-way
    assert seen == [TRAINING_THREADS] and torch.get_num_threads() == 2
    assert list(with_threads(work(), device="cpu")) == [0, 1, 2]
    assert torch.get_num_threads() == 2


def test_training_gives_the_same_model_whatever_the_thread_count(pool, test_set, two_threads):
    """The same settings, started with 2 threads and with 1: bit-identical weights, and the
    result names the one thread it ran on."""
    a = last_record(TrainModel(_tiny(), data=pool, test_data=test_set).run(
        cache=None, stop=None)).partial
    torch.set_num_threads(1)
    b = last_record(TrainModel(_tiny(), data=pool, test_data=test_set).run(
        cache=None, stop=None)).partial
    assert a.device == b.device == "CPU (1 thread)"
    for k in a.state_dict:
        assert torch.equal(a.state_dict[k], b.state_dict[k]), k


def test_estimates_follow_the_probe(pool, test_set, monkeypatch, tmp_path):
    stage = TrainModel(_tiny(target_epsilon=4.0), data=pool, test_data=test_set)
    monkeypatch.setattr(speed, "_probe_once", lambda: 0.01)
    speed._last = None
    quiet = stage.estimate_seconds()
    monkeypatch.setattr(speed, "_probe_once", lambda: 0.04)
    speed._last = None
    busy = stage.estimate_seconds()
    assert busy == pytest.approx(4 * quiet) and quiet > 0
    # σ already solved and cached: the estimate drops by the solve's share.
    from medpriv_widgets.cache import ResultStore

    store = ResultStore(tmp_path / "cache")
    before = stage.seconds_left(store)
    stage.plan(cache=store)
    assert stage.seconds_left(store) < before
    speed._last = None


def test_the_probe_measures_and_is_reused():
    speed._last = None
    first = speed.probe_seconds()
    assert 0 < first < 5 and speed.probe_seconds() == first  # reused within MAX_AGE_S
    assert math.isfinite(speed.probe_seconds(max_age_s=0))


def test_nonprivate_estimate_has_no_accounting_share(pool, test_set):
    private = TrainModel(_tiny(target_epsilon=4.0), data=pool, test_data=test_set)
    plain = TrainModel(_tiny(), data=pool, test_data=test_set)
    assert private.estimate_units() > plain.estimate_units() > 0
