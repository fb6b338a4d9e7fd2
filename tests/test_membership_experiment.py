"""End-to-end LiRA on real 28 px X-rays (the 'fast' profile: 120 images, 4 shadow models, a
deliberately overfit non-private target and DP targets at ε = 1 and 8)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medpriv_widgets.attacks.membership import ATTACKS
from medpriv_widgets.cache import ResultStore
from medpriv_widgets.errors import NotComputedYet
from medpriv_widgets.experiments.membership import (REPORT_FPRS, DPTarget, ShadowModels,
                                                    check_tpr_below_bound, membership_result)
from medpriv_widgets.experiments.profiles import PROFILES, membership_settings

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]
SETTINGS = membership_settings("fast")


def test_overfit_target_is_exposed(fast_cache):  # noqa: F811
    store = ResultStore(fast_cache)
    res = membership_result(SETTINGS, epsilon=math.inf, cache=store)
    # An overfit non-private model: the attacks clearly separate members from non-members.
    assert res.auc["lira_online"] > 0.6 and res.auc["loss"] > 0.6, res.auc
    population = ShadowModels(SETTINGS).population
    assert res.n_members + res.n_nonmembers == len(population.data)
    assert set(res.tpr_at) == set(ATTACKS) and set(res.tpr_at["loss"]) == set(REPORT_FPRS)
    assert res.vulnerable and res.vulnerable[0]["score"] >= res.vulnerable[-1]["score"]
    bank = ShadowModels(SETTINGS).load(store)
    assert all(bank.target_member[v["index"]] for v in res.vulnerable)  # ranking lists members only
    members, non_members = population.members, population.non_members
    assert not set(bank.patient_ids[members]) & set(bank.patient_ids[non_members])


@pytest.mark.parametrize("epsilon", [eps for eps in PROFILES["fast"].epsilons if math.isfinite(eps)])
def test_dp_target_never_above_its_bound(fast_cache, epsilon):  # noqa: F811
    res = membership_result(SETTINGS, epsilon=epsilon, cache=ResultStore(fast_cache))
    assert res.private and res.noise_multiplier > 0 and res.steps > 0
    # The accounted curve is at least as tight as the generic (ε, δ) region everywhere.
    assert np.all(res.bound_tpr <= res.region_tpr + 1e-6)
    for attack in ATTACKS:
        for fpr in REPORT_FPRS:
            ok, op, bound = check_tpr_below_bound(res, attack=attack, fpr=fpr)
            assert ok, (attack, fpr, op, bound)


def test_results_answer_from_cache_and_say_what_is_missing(fast_cache):  # noqa: F811
    store = ResultStore(fast_cache)
    a = membership_result(SETTINGS, epsilon=8.0, cache=store)
    b = membership_result(SETTINGS, epsilon=8.0, cache=store)
    assert a.auc == b.auc   # same numbers, no training
    assert not DPTarget(SETTINGS, 4.0).is_done(store)
    with pytest.raises(NotComputedYet, match="not computed yet"):
        membership_result(SETTINGS, epsilon=4.0, cache=store)
    with pytest.raises(NotComputedYet, match="shadow models"):
        membership_result(SETTINGS.with_(seed=9), epsilon=math.inf, cache=store)


def test_overfit_target_leaks_more_than_dp_targets(fast_cache):  # noqa: F811
    store = ResultStore(fast_cache)
    open_auc = membership_result(SETTINGS, epsilon=math.inf, cache=store).auc["lira_online"]
    for eps in (e for e in PROFILES["fast"].epsilons if math.isfinite(e)):
        res = membership_result(SETTINGS, epsilon=eps, cache=store)
        # The same attack, the same members: DP-SGD pulls the attack towards chance.
        assert res.auc["lira_online"] < open_auc, (eps, res.auc, open_auc)
        assert 0.0 <= res.utility["auc"] <= 1.0


def test_a_dp_target_is_trained_through_the_one_training_path(fast_cache):  # noqa: F811
    store = ResultStore(fast_cache)
    target = DPTarget(SETTINGS, 8.0)
    model = target.training.load(store)     # the TrainModel stage's own cache entry
    stored = target.load(store)
    assert model is not None and stored.noise_multiplier == model.noise_multiplier
    assert stored.steps == model.steps and model.config["val_fraction"] == 0.0
