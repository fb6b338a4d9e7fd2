"""Re-identification from the X-ray: metrics on hand-made embeddings, patient-disjoint splits,
anonymisation, the cached training stage (on phantoms: small and fast), and bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from medpriv_widgets.attacks.reidentification import (ReidSettings, ReidTraining,
                                                      anonymise_images, from_records,
                                                      load_reid_data, lookup, pixel_embeddings,
                                                      retrieval_metrics, split_patients,
                                                      verification_auc)
from medpriv_widgets.cache import ResultStore
from medpriv_widgets.data import make_phantoms
from medpriv_widgets.errors import DataError, DataUnavailableError, InvalidParameterError
from medpriv_widgets.progress import final_result
from medpriv_widgets.stopping import StopToken

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_auc_and_precision_on_hand_made_embeddings():
    ids = np.array(["a", "a", "b", "b", "c"])
    # a's two images identical, b's two identical, c alone: perfect.
    e = torch.tensor([[1.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]])
    m = retrieval_metrics(e, ids)
    assert m.verification_auc == 1.0 and m.precision_at_1 == 1.0 and m.hit_at_5 == 1.0
    assert m.n_queries == 4 and m.n_gallery == 4
    # precision@5 counts the share of the top 5 (here top 4 = the whole gallery) that match.
    assert m.precision_at_5 == pytest.approx(0.25)
    # Two patients, scores = dot products: positives (a,a) = 0.9 and (b,b) = 0.3; negatives
    # 0.5, 0.2, 0.1, 0.4 → positives beat 4 + 2 of the 8 (positive, negative) comparisons.
    e2 = np.array([[0.9, 0.0], [1.0, 0.0], [0.0, 0.3], [0.0, 1.0]])
    e2[1, 1] = 0.0
    ids2 = np.array(["a", "a", "b", "b"])
    s = e2 @ e2.T
    pos = [s[0, 1], s[2, 3]]
    neg = [s[i, j] for i, j in ((0, 2), (0, 3), (1, 2), (1, 3))]
    expect = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg) / 8
    assert verification_auc(e2, ids2) == pytest.approx(expect)


def test_auc_equals_the_pairwise_count_on_random_embeddings():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(30, 4))
    ids = rng.integers(0, 8, 30).astype(str)
    s = e @ e.T
    pairs = [(i, j) for i in range(30) for j in range(i + 1, 30)]
    pos = [s[i, j] for i, j in pairs if ids[i] == ids[j]]
    neg = [s[i, j] for i, j in pairs if ids[i] != ids[j]]
    expect = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg) / (len(pos) * len(neg))
    assert verification_auc(e, ids) == pytest.approx(expect)


def test_pixel_embedding_similarity_is_pearson_r():
    x = torch.rand(3, 1, 8, 8)
    p = pixel_embeddings(x)
    r = np.corrcoef(x.flatten(1).numpy())
    np.testing.assert_allclose((p @ p.T).numpy(), r, atol=1e-5)


def test_no_patient_with_two_images_is_a_sentence():
    with pytest.raises(InvalidParameterError, match="two images"):
        retrieval_metrics(torch.eye(3), np.array(["a", "b", "c"]))


def test_anonymise_crops_and_blurs_only_the_corners():
    x = torch.zeros(1, 1, 32, 32)
    x[..., ::2, :] = 1.0                     # stripes: blur flattens them
    y = anonymise_images(x, crop=0.0, corner=0.25, sigma=2.0)
    assert y.shape == x.shape
    assert y[..., :8, :8].std() < 0.2 * x[..., :8, :8].std()       # corner blurred
    assert torch.equal(y[..., 12:20, 12:20], x[..., 12:20, 12:20])  # centre untouched
    z = anonymise_images(torch.rand(2, 1, 32, 32), crop=0.1)
    assert z.shape == (2, 1, 32, 32) and z.min() >= 0 and z.max() <= 1
    with pytest.raises(InvalidParameterError, match="crop"):
        anonymise_images(x, crop=0.6)


@pytest.fixture(scope="module")
def phantoms():
    """Phantom X-rays with several images per phantom patient, as ReidData."""
    return from_records(make_phantoms(n=240, size=28, seed=1), source="pediatric")


def test_patient_disjoint_split_never_shares_a_patient(phantoms):
    s = ReidSettings(size=28, test_fraction=0.3)
    train, test = split_patients(phantoms, s)
    assert not set(phantoms.patient_ids[train]) & set(phantoms.patient_ids[test])
    assert len(train) + len(test) == len(phantoms)
    assert 0.2 < len(test) / len(phantoms) < 0.4


def test_patient_disjoint_split_of_the_pediatric_set(shared_data):
    data = load_reid_data(size=28)
    # 4,097 pseudo-patients; the 74 official test images of unknown source count one each.
    assert len(data) == 5856 and 4000 < data.n_patients <= 4097 + 74 and not data.synthetic
    train, test = split_patients(data, ReidSettings(size=28))
    assert not set(data.patient_ids[train]) & set(data.patient_ids[test])


def test_the_nih_sample_when_present(shared_data):
    data = load_reid_data(source="nih", size=64)
    assert len(data) == 1000 and data.n_patients == 264 and "NIH" in data.credit


def test_nih_absent_is_a_sentence(no_data_dir):
    with pytest.raises(DataUnavailableError, match="source='pediatric'"):
        load_reid_data(source="nih")


def test_data_without_patient_ids_says_how_to_get_them():
    rec = dataclasses.replace(make_phantoms(n=8, size=28, seed=0), patient_ids=None)
    with pytest.raises(DataError, match="pneumoniamnist_patients.csv"):
        from_records(rec)


def test_settings_are_checked():
    with pytest.raises(InvalidParameterError, match="epochs"):
        ReidSettings(epochs=0)
    with pytest.raises(InvalidParameterError, match="source"):
        ReidSettings(source="mri")


SMALL = ReidSettings(size=28, epochs=3, batch_patients=16, width=8, dim=32, test_fraction=0.4)


@pytest.fixture(scope="module")
def trained(phantoms, tmp_path_factory):
    store = ResultStore(tmp_path_factory.mktemp("reid-store"))
    stage = ReidTraining.for_data(SMALL, phantoms)
    records = list(stage.run(cache=store))
    return store, stage, records


def test_the_stage_trains_reports_and_caches(trained, phantoms):
    store, stage, records = trained
    assert [r.done for r in records if r.partial and "epoch" in r.partial] == [1, 2, 3]
    res = records[-1].partial
    assert records[-1].finished and stage.is_done(store)
    assert set(res["metrics"]) == {"embedding", "pixel", "embedding_anonymised",
                                   "pixel_anonymised"}
    m = res["metrics"]["embedding"]
    assert 0.0 <= m["precision_at_1"] <= 1.0 and m["n_queries"] > 0
    assert m["verification_auc"] > 0.55            # it learned something about phantom anatomy
    assert not set(phantoms.patient_ids[res["train_index"]]) & set(
        phantoms.patient_ids[res["test_index"]])
    assert res["test_embeddings"].shape == (len(res["test_index"]), 32)
    again = list(stage.run(cache=store))
    assert len(again) == 1 and "cache" in again[0].message
    # The data fingerprint is part of the key: other data, other result.
    other = ReidTraining.for_data(SMALL, from_records(make_phantoms(n=60, size=28, seed=9)))
    assert other.key() != stage.key() and not other.is_done(store)


def test_a_stopped_training_caches_nothing(phantoms, tmp_path):
    store = ResultStore(tmp_path / "s")
    stop = StopToken()
    stop.request()
    stage = ReidTraining.for_data(SMALL, phantoms)
    records = list(stage.run(cache=store, stop=stop))
    assert records[-1].stopped and not stage.is_done(store)


def test_lookup_marks_the_same_patient(trained, phantoms):
    _, _, records = trained
    res = records[-1].partial
    ids = phantoms.patient_ids
    test_ids = ids[res["test_index"]]
    q = next(i for i in range(len(test_ids)) if (test_ids == test_ids[i]).sum() > 1)
    found = lookup(res, ids, q, k=5)
    assert found.matches.shape == (5,) and q not in found.matches
    np.testing.assert_array_equal(found.same_patient, test_ids[found.matches] == test_ids[q])
    assert np.all(np.diff(found.similarity) <= 1e-9)
    if found.same_patient.any():
        assert found.rank == int(np.flatnonzero(found.same_patient)[0]) + 1
    assert lookup(res, ids, q, k=5, anonymised=True).matches.shape == (5,)
    with pytest.raises(InvalidParameterError, match="held-out"):
        lookup(res, ids, 10**6)


def test_estimate_is_positive_and_grows_with_epochs():
    a = ReidTraining(settings=ReidSettings(epochs=2)).estimate_seconds()
    b = ReidTraining(settings=ReidSettings(epochs=10)).estimate_seconds()
    assert 0 < a < b
