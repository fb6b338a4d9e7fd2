"""Federated hospitals: the split, FedAvg rounds as a stage, budgets that lock a hospital, secure
aggregation inside the federation, what the server can rebuild, and bad input in words."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from medpriv_widgets.cache import ResultStore
from medpriv_widgets.data import make_phantoms
from medpriv_widgets.errors import DataError, DatasetLocked, InvalidParameterError
from medpriv_widgets.federated import (LOCKED, LOCKED_NOW, TRAINED, Federation,
                                       FederationSettings, Hospital, SiteSpec, default_sites,
                                       make_hospitals, site_ledgers)
from medpriv_widgets.progress import final_result
from medpriv_widgets.stopping import StopToken

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def fed_pool():
    """600 synthetic 28 px X-rays of about 300 phantom patients (half with pneumonia)."""
    return make_phantoms(n=600, size=28, seed=11)


@pytest.fixture(scope="module")
def fed_test():
    return make_phantoms(n=120, size=28, seed=12, split="test", id_start=50_000)


def small(**changes) -> FederationSettings:
    base = dict(size=28, sites=default_sites(3), n_images=300, rounds=3, local_steps=3,
                batch_size=8, lr=0.05)
    base.update(changes)
    return FederationSettings(**base)


# ---------------------------------------------------------------- hospitals

def test_hospitals_are_patient_disjoint_uneven_and_seeded(fed_pool):
    hs = make_hospitals(fed_pool, sites=default_sites(4), seed=3)
    ids = [set(h.data.patient_ids) for h in hs]
    assert all(not (a & b) for i, a in enumerate(ids) for b in ids[i + 1:])
    sizes = [h.n_images for h in hs]
    rates = [h.pneumonia_rate for h in hs]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > 2 * sizes[-1]
    assert max(rates) - min(rates) > 0.3           # deliberately non-IID
    for h, spec in zip(hs, default_sites(4)):
        # phantom patients may have both kinds of X-ray, and stay whole: near, not exact
        assert abs(h.pneumonia_rate - spec.pneumonia_rate) < 0.15
    again = make_hospitals(fed_pool, sites=default_sites(4), seed=3)
    assert [h.data.fingerprint for h in hs] == [h.data.fingerprint for h in again]
    other = make_hospitals(fed_pool, sites=default_sites(4), seed=4)
    assert [h.data.fingerprint for h in hs] != [h.data.fingerprint for h in other]


@pytest.mark.parametrize("sites", [(), default_sites(2)[:1]])
def test_zero_or_one_site_is_refused_in_words(fed_pool, sites):
    with pytest.raises(InvalidParameterError, match="nothing to federate"):
        make_hospitals(fed_pool, sites=sites)
    with pytest.raises(InvalidParameterError, match="at least two hospitals"):
        default_sites(len(sites))


def test_a_site_with_no_images_is_refused_in_words(fed_pool):
    with pytest.raises(InvalidParameterError, match="no images cannot take part"):
        SiteSpec("Empty clinic", 0.0, 0.5)
    with pytest.raises(DataError, match="holds no images"):
        Hospital("Empty clinic", fed_pool.subset(np.array([], dtype=np.int64)))
    with pytest.raises(DataError, match="no normal X-rays|no pneumonia X-rays"):
        make_hospitals(fed_pool.subset(np.arange(12)), sites=default_sites(6))


# ---------------------------------------------------------------- rounds

def test_rounds_stream_records_then_the_result_is_cached(fed_pool, fed_test, tmp_path):
    store = ResultStore(tmp_path / "cache")
    fed = Federation(small(), pool=fed_pool, test_data=fed_test)
    records = list(fed.run(cache=store))
    assert [r.partial.round for r in records[:-1]] == [1, 2]
    assert all(len(r.partial.sites) == 3 for r in records[:-1])
    result = records[-1].partial
    assert records[-1].finished and result.rounds_done == 3 and not result.stopped
    assert 0.0 <= result.auc <= 1.0 and result.synthetic
    last = result.history[-1]
    assert all(s.status == TRAINED and math.isfinite(s.auc) for s in last.sites)
    assert last.view_update is not None and np.array_equal(last.view_update, last.view_received)
    # cached: the same stage answers at once, with the same numbers
    again = list(Federation(small(), pool=fed_pool, test_data=fed_test).run(cache=store))
    assert len(again) == 1 and again[0].partial.auc == result.auc
    model = result.model()
    assert torch.equal(model.state_dict()["classifier.weight"], result.state_dict["classifier.weight"])


def test_secure_aggregation_gives_the_plain_federation_up_to_quantisation(fed_pool, fed_test):
    plain = Federation(small(rounds=2), pool=fed_pool, test_data=fed_test).result(cache=None)
    secure = Federation(small(rounds=2, secure_aggregation=True), pool=fed_pool,
                        test_data=fed_test).result(cache=None)
    for k, v in plain.state_dict.items():
        assert torch.allclose(v.float(), secure.state_dict[k].float(), atol=1e-5), k
    last = secure.history[-1]
    assert last.secure and last.sum_error > 0
    # the server held noise, not the update
    assert not np.allclose(last.view_received, last.view_update)
    assert np.abs(last.view_received).max() <= 0.5


def test_a_dropout_beyond_the_threshold_abandons_the_round_never_a_partial_sum(fed_pool, fed_test):
    settings = small(rounds=2, secure_aggregation=True, threshold=3, dropouts=((2, 1),))
    result = Federation(settings, pool=fed_pool, test_data=fed_test).result(cache=None)
    first, second = result.history
    assert not first.abandoned
    assert "nothing is released" in second.abandoned and "at least 3" in second.abandoned
    # the global model did not move in the abandoned round
    assert second.metrics["auc"] == pytest.approx(first.metrics["auc"])
    # one dropout within the threshold is recovered
    ok = Federation(small(rounds=2, secure_aggregation=True, dropouts=((2, 1),)),
                    pool=fed_pool, test_data=fed_test).result(cache=None)
    assert not ok.history[1].abandoned and ok.history[1].sites[1].status == "dropped out"


def test_stop_ends_after_the_current_hospital_and_caches_nothing(fed_pool, fed_test, tmp_path):
    store = ResultStore(tmp_path / "cache")
    token = StopToken()
    fed = Federation(small(rounds=5), pool=fed_pool, test_data=fed_test)
    records = []
    for p in fed.run(cache=store, stop=token):
        records.append(p)
        if getattr(p.partial, "round", 0) == 1:
            token.request()
    assert records[-1].stopped and records[-1].partial.stopped
    assert records[-1].partial.rounds_done == 1
    assert not fed.is_done(store)


# ---------------------------------------------------------------- privacy per hospital

def test_each_hospital_has_its_own_budget_and_a_spent_one_drops_out(fed_pool, fed_test, tmp_path):
    settings = small(rounds=3, noise_multiplier=1.0, local_steps=4)
    budgets = {"University hospital": 50.0, "Children's hospital": 50.0, "District hospital": 1.0}
    ledgers = site_ledgers(tmp_path / "ledgers", settings, epsilon=budgets)
    result = Federation(settings, pool=fed_pool, test_data=fed_test,
                        ledgers=ledgers).result(cache=None)
    statuses = [[s.status for s in r.sites] for r in result.history]
    assert statuses[0][2] == LOCKED_NOW                     # a small budget: locked at once
    assert all(row[2] == LOCKED for row in statuses[1:])   # and stays out
    assert all(row[:2] == [TRAINED, TRAINED] for row in statuses)  # the others go on
    msg = result.history[0].sites[2].message
    assert "District hospital" in msg and "locked" in msg
    assert ledgers["District hospital"].locked and not ledgers["University hospital"].locked
    eps = [r.sites[0].epsilon for r in result.history]
    assert eps == sorted(eps) and 0 < eps[0] < eps[-1] <= 50.0
    assert result.history[-1].sites[2].budget_fraction == 1.0
    # every budget spent: the federation refuses to start, in words
    for ledger in ledgers.values():
        if not ledger.locked:
            with pytest.raises(Exception):
                ledger.spend(1e6, note="too much")  # refused; what is left stays usable
            ledger.spend(ledger.remaining()[0], note="use it all")
            assert ledger.locked
    with pytest.raises(DatasetLocked, match="Every hospital's privacy budget is used up"):
        list(Federation(settings, pool=fed_pool, test_data=fed_test,
                        ledgers=ledgers).run(cache=None))


@pytest.mark.parametrize("budget", [0.0, -1.0, float("nan")])
def test_a_budget_of_zero_or_less_is_refused_in_words(tmp_path, budget):
    with pytest.raises(InvalidParameterError, match="positive, finite"):
        site_ledgers(tmp_path, small(noise_multiplier=1.0), epsilon=budget)


def test_ledgers_need_dp_sgd(tmp_path, fed_pool, fed_test):
    settings = small()
    ledgers = site_ledgers(tmp_path, small(noise_multiplier=1.0), epsilon=4.0)
    with pytest.raises(InvalidParameterError, match="cannot train without DP-SGD"):
        Federation(settings, pool=fed_pool, test_data=fed_test, ledgers=ledgers)


def test_site_level_dp_fedavg_reports_a_growing_epsilon(fed_pool, fed_test):
    settings = small(rounds=2, site_noise_multiplier=1.0, site_clip=0.5)
    result = Federation(settings, pool=fed_pool, test_data=fed_test).result(cache=None)
    eps = [r.site_epsilon for r in result.history]
    assert all(math.isfinite(e) for e in eps) and eps[0] < eps[1]
    from medpriv_widgets.privacy.accounting import dpsgd_epsilon
    assert eps[1] == pytest.approx(dpsgd_epsilon(noise_multiplier=1.0, sample_rate=1.0, steps=2,
                                                 delta=settings.delta))
    with pytest.raises(InvalidParameterError, match="needs a `site_clip`"):
        small(site_noise_multiplier=1.0)


def test_settings_refuse_bad_input_in_words():
    with pytest.raises(InvalidParameterError, match="`rounds`"):
        small(rounds=0)
    with pytest.raises(InvalidParameterError, match="threshold"):
        small(threshold=5)
    with pytest.raises(InvalidParameterError, match="dropout"):
        small(dropouts=((9, 0),))


# ---------------------------------------------------------------- what is left

def test_the_attack_rebuilds_one_site_but_not_the_secure_sum_of_four():
    from medpriv_widgets.federated.leakage import leakage_stages

    data = make_phantoms(n=8, size=28, seed=5)
    one, four = (final_result(s.run(cache=None)) for s in leakage_stages(
        images=data.images, labels=data.labels, n_sites=(1, 4), iterations=60))
    assert one.reconstruction.shape == (1, 1, 28, 28) and four.reconstruction.shape[0] == 4
    assert one.psnr > four.psnr + 5.0, (one.psnr, four.psnr)
    assert one.ssim > four.ssim
