"""The shared plumbing: boundary checks, device choice, result cache, stop token, job runner."""

from __future__ import annotations

import json
import math
import threading

import pytest
import torch

from medpriv_widgets import __version__
from medpriv_widgets._validate import (check_choice, check_int, check_open_unit, check_positive,
                                       check_real)
from medpriv_widgets.cache import ResultCache, config_key
from medpriv_widgets.device import choose_device, device_label
from medpriv_widgets.errors import CacheError, InvalidParameterError, MedprivError
from medpriv_widgets.stopping import StopToken, stop_requested


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), "1", None, True])
def test_check_positive_rejects(value):
    with pytest.raises(InvalidParameterError) as info:
        check_positive("epsilon", value)
    msg = str(info.value)
    assert "`epsilon`" in msg and repr(value) in msg  # names the parameter and what was given


def test_check_positive_accepts_and_inf_only_when_allowed():
    assert check_positive("epsilon", 2) == 2.0
    assert math.isinf(check_positive("epsilon", float("inf"), allow_inf=True))


@pytest.mark.parametrize("value", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_check_open_unit_rejects_edges(value):
    with pytest.raises(InvalidParameterError, match="delta"):
        check_open_unit("delta", value)


def test_check_int_and_choice():
    assert check_int("steps", 3, low=1) == 3
    for bad in (0, 2.5, True):
        with pytest.raises(InvalidParameterError, match="steps"):
            check_int("steps", bad, low=1)
    assert check_choice("size", 64, (28, 64, 128)) == 64
    with pytest.raises(InvalidParameterError, match="28, 64, 128"):
        check_choice("size", 32, (28, 64, 128))
    with pytest.raises(InvalidParameterError):
        check_real("x", 5, low=0, high=1)


def test_errors_are_value_errors_where_parameters_are_wrong():
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, MedprivError)


def test_device_override(monkeypatch):
    monkeypatch.setenv("MEDPRIV_DEVICE", "cpu")
    assert choose_device().type == "cpu"
    assert "CPU" in device_label(torch.device("cpu"))
    monkeypatch.setenv("MEDPRIV_DEVICE", "banana")
    with pytest.raises(InvalidParameterError, match="MEDPRIV_DEVICE"):
        choose_device()
    if not torch.cuda.is_available():
        monkeypatch.setenv("MEDPRIV_DEVICE", "cuda")
        with pytest.raises(InvalidParameterError, match="no CUDA GPU"):
            choose_device()


def test_device_default_prefers_cuda(monkeypatch):
    monkeypatch.delenv("MEDPRIV_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert choose_device().type == expected


def test_cache_roundtrip_and_key(tmp_path):
    cache = ResultCache("demo", root=tmp_path)
    config = {"epsilon": float("inf"), "sizes": (28, 64), "name": "x"}
    assert cache.get(config) is None and config not in cache
    cache.put(config, {"weights": torch.arange(3.0)})
    assert config in cache
    assert torch.equal(cache.get(config)["weights"], torch.arange(3.0))
    # The key covers every field and the package version.
    assert config_key(config) != config_key({**config, "name": "y"})
    assert config_key(config) != config_key(config, version=__version__ + ".dev")
    assert config_key({"a": 1, "b": 2}) == config_key({"b": 2, "a": 1})


def test_cache_get_or_compute_calls_once(tmp_path):
    cache = ResultCache("demo", root=tmp_path)
    calls = []
    for _ in range(3):
        assert cache.get_or_compute({"k": 1}, lambda: calls.append(1) or 42) == 42
    assert len(calls) == 1


def test_cache_from_other_version_is_a_miss_to_recompute(tmp_path):
    # An entry another package version wrote is recomputed and replaced, never an error.
    cache = ResultCache("demo", root=tmp_path)
    entry = cache.put({"k": 1}, 1)
    meta = json.loads((entry / "meta.json").read_text())
    meta["version"] = "0.0.1"
    (entry / "meta.json").write_text(json.dumps(meta))
    assert cache.get({"k": 1}) is None and cache.get_or_compute({"k": 1}, lambda: 2) == 2
    assert json.loads((entry / "meta.json").read_text())["version"] == __version__


def test_cache_corrupt_entry_is_refused(tmp_path):
    cache = ResultCache("demo", root=tmp_path)
    entry = cache.put({"k": 1}, torch.ones(100))
    (entry / "result.pt").write_bytes(b"not a torch file")
    with pytest.raises(CacheError, match="could not be read"):
        cache.get({"k": 1})


def test_cache_rejects_unhashable_config(tmp_path):
    with pytest.raises(CacheError, match="numbers, strings"):
        ResultCache("demo", root=tmp_path).get({"model": object()})


def test_cache_failed_write_leaves_nothing(tmp_path):
    cache = ResultCache("demo", root=tmp_path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle")

    with pytest.raises(RuntimeError):
        cache.put({"k": 1}, Unpicklable())
    assert cache.get({"k": 1}) is None
    assert list(cache.directory.iterdir()) == []


def test_stop_token_across_threads():
    token = StopToken()
    assert not stop_requested(token) and not stop_requested(None)
    t = threading.Thread(target=token.request)
    t.start(); t.join()
    assert stop_requested(token)
    token.reset()
    assert not token.requested


def test_background_job_runs_stops_and_reports_errors():
    from medpriv_widgets.widgets._common import BackgroundJob, MessageArea

    seen, done = [], []

    def counting(stop):
        for i in range(1000):
            if stop.requested:
                return
            yield i

    job = BackgroundJob()
    job.start(counting, on_item=lambda i: (seen.append(i), i == 4 and job.stop()),
              on_done=done.append, wait=True)
    assert seen == [0, 1, 2, 3, 4] and done == [True]

    area = MessageArea()

    def failing(stop):
        yield 1
        raise InvalidParameterError("`sigma` must be >= 0; got -1.")

    job.start(failing, on_item=lambda i: None, on_error=area.show_error)
    job.join(5)
    assert "sigma" in area.value and "must be" in area.value


def test_cache_concurrent_writers_of_one_key(tmp_path):
    # Sliders moved quickly start several threads that store the same result at once.
    cache = ResultCache("demo", root=tmp_path)
    errors = []

    def writer():
        try:
            for _ in range(20):
                cache.put({"k": 1}, torch.arange(1000.0))
                value = cache.get({"k": 1})  # None while another writer swaps the entry
                assert value is None or torch.equal(value, torch.arange(1000.0))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert torch.equal(cache.get({"k": 1}), torch.arange(1000.0))
    assert sorted(p.name for p in cache.directory.iterdir()) == [cache.path_for({"k": 1}).name]


def test_device_label_counts_threads_in_plain_english(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert device_label(torch.device("cpu")) == "CPU (1 thread)"
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert device_label(torch.device("cpu")) == "CPU (2 threads)"
