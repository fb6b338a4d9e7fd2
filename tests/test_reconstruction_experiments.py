"""ReconstructionSweep: the attacked X-ray named by data reference, its fingerprint in the key,
cached once, stoppable; trained victims come through the TrainModel stage."""

from __future__ import annotations

import warnings

import pytest
import torch

from medpriv_widgets.attacks.reconstruction import SweepResult
from medpriv_widgets.cache import ResultStore
from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.experiments.reconstruction import (ReconstructionSweep, victim_records,
                                                        victim_stage)
from medpriv_widgets.experiments.training import TrainModel
from medpriv_widgets.stopping import StopToken

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def store(tmp_path):
    return ResultStore(tmp_path / "store")


def _sweep(**changes):
    kw = dict(size=28, split="train", index=3, sigmas=(0.0, 0.1), iterations=40, seed=0)
    kw.update(changes)
    return ReconstructionSweep(**kw)


def test_the_dashboards_call_runs_once_then_reads_the_cache(store, no_data_dir):
    sweep = _sweep()  # the lead's form: size, split, index, sigmas, iterations, seed
    assert not sweep.is_done(store) and sweep.seconds_left(store) > 0
    records = list(sweep.run(cache=store))
    assert records[-1].finished
    done = [r.done for r in records]
    assert done == sorted(done)
    result = sweep.load(store)
    assert isinstance(result, SweepResult) and result.complete
    assert result.sigmas == [0.0, 0.1] and len(result.psnr) == len(result.verdicts) == 2
    assert result.images.shape == (2, 1, 1, 28, 28)
    assert result.psnr[0] > result.psnr[1] + 5  # noise σ = 0.1 ruins the reconstruction
    assert "X-ray #3 of the train split" in result.caption and "SYNTHETIC" in result.caption
    again = list(sweep.run(cache=store))
    assert len(again) == 1 and "cache" in again[0].message
    assert again[0].partial.psnr == result.psnr
    assert sweep.seconds_left(store) == 0.0


def test_synthetic_and_real_data_never_share_an_entry(monkeypatch, store, shared_data):
    real = _sweep().key()
    monkeypatch.delenv("MEDPRIV_DATA_DIR")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        synthetic = _sweep().key()
    assert real["data"] != synthetic["data"] and synthetic["synthetic"] and not real["synthetic"]
    fields = {k: v for k, v in real.items() if k not in ("data", "synthetic", "source", "public")}
    assert fields == {k: v for k, v in synthetic.items()
                      if k not in ("data", "synthetic", "source", "public")}


def test_every_setting_is_in_the_key(no_data_dir):
    base = _sweep().key()
    for change in (dict(index=4), dict(sigmas=(0.0, 0.2)), dict(iterations=41), dict(seed=1),
                   dict(arch="wide_head"), dict(attack="dlg"), dict(clip_norm=2.0),
                   dict(batch_size=2), dict(informed=False)):
        assert _sweep(**change).key() != base, change


def test_a_stopped_sweep_is_not_cached(store, no_data_dir):
    stop = StopToken()
    records = []
    for r in _sweep(sigmas=(0.0, 0.01, 0.1)).run(cache=store, stop=stop):
        records.append(r)
        stop.request()
    assert records[-1].stopped
    assert not _sweep(sigmas=(0.0, 0.01, 0.1)).is_done(store)


def test_other_attacks_through_the_same_stage(store, no_data_dir):
    wide = _sweep(arch="wide_head", attack="linear_head").result(cache=store)
    assert wide.verdicts[0] == "recognisable" and wide.psnr[0] >= 40
    imprint = _sweep(attack="imprint", batch_size=8, bins=64).result(cache=store)
    assert imprint.images.shape == (2, 8, 1, 28, 28)
    assert len(imprint.psnr_each[0]) == 8
    assert max(imprint.psnr_each[0]) == 100.0 and max(imprint.psnr_each[1]) < 30


def test_a_trained_victim_comes_from_the_training_stage(store, no_data_dir):
    stage = victim_stage(arch="classifier", state="one_epoch", size=28, n_train=300)
    assert isinstance(stage, TrainModel) and stage.config.epochs == 1
    assert victim_stage(arch="lenet", state="untrained", size=28) is None
    records = list(victim_records(arch="classifier", state="one_epoch", size=28, n_train=300,
                                  cache=store))
    model = records[-1].partial
    assert records[-1].finished and isinstance(model, torch.nn.Module)
    assert not all(p.requires_grad for p in model.parameters())
    assert stage.is_done(store)  # cached under the training stage's own key
    sweep = _sweep(arch="classifier", state="one_epoch", n_train=300, sigmas=(0.0,),
                   iterations=10)
    assert sweep.seconds_left(store) < sweep.estimate_seconds()  # the victim is cached
    assert sweep.key()["victim"] == stage.key()
    assert sweep.result(cache=store).complete


@pytest.mark.parametrize("changes,match", [
    (dict(index=100_000), "`index`"),
    (dict(split="holdout"), "`split`"),
    (dict(size=32), "`size`"),
    (dict(sigmas=()), "`sigmas`"),
    (dict(sigmas=(0.0, -1.0)), "`sigmas`"),
    (dict(sigmas=0.1), "`sigmas`"),
    (dict(iterations=0), "`iterations`"),
    (dict(arch="resnet"), "`arch`"),
    (dict(state="one_epoch"), "only the lessons' classifier"),
    (dict(attack="linear_head", batch_size=2), "ONE X-ray"),
    (dict(attack="imprint", batch_size=9, bins=8), "at most `bins`"),
    (dict(clip_norm=0.0), "`clip_norm`"),
])
def test_bad_settings_are_refused_with_a_sentence(no_data_dir, changes, match):
    with pytest.raises(InvalidParameterError, match=match):
        _sweep(**changes).key()
