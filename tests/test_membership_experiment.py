"""End-to-end LiRA on real 28 px X-rays (the 'fast' precompute profile: 120 images, 4 shadow
models, a deliberately overfit non-private target and DP targets at ε = 1 and 8)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from medpriv_widgets.attacks.membership import (ATTACKS, REPORT_FPRS, NotComputedYet,
                                                check_tpr_below_bound)
from medpriv_widgets.precompute import PROFILES, membership_experiment


pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


def test_overfit_target_is_exposed(fast_cache):  # noqa: F811
    exp = membership_experiment("fast")
    res = exp.result(epsilon=math.inf)
    # An overfit non-private model: the attacks clearly separate members from non-members.
    assert res.auc["lira_online"] > 0.6 and res.auc["loss"] > 0.6, res.auc
    assert res.n_members + res.n_nonmembers == len(exp.population())
    assert set(res.tpr_at) == set(ATTACKS) and set(res.tpr_at["loss"]) == set(REPORT_FPRS)
    assert res.vulnerable and res.vulnerable[0]["score"] >= res.vulnerable[-1]["score"]
    bank = exp.bank()
    assert all(bank.target_member[v["index"]] for v in res.vulnerable)  # ranking lists members only
    members, non_members = exp.split()
    assert not set(bank.patient_ids[members]) & set(bank.patient_ids[non_members])


@pytest.mark.parametrize("epsilon", [eps for eps in PROFILES["fast"]["epsilons"] if math.isfinite(eps)])
def test_dp_target_never_above_its_bound(fast_cache, epsilon):  # noqa: F811
    res = membership_experiment("fast").result(epsilon=epsilon)
    assert res.private and res.noise_multiplier > 0 and res.steps > 0
    # The accounted curve is at least as tight as the generic (ε, δ) region everywhere.
    assert np.all(res.bound_tpr <= res.region_tpr + 1e-6)
    for attack in ATTACKS:
        for fpr in REPORT_FPRS:
            ok, op, bound = check_tpr_below_bound(res, attack=attack, fpr=fpr)
            assert ok, (attack, fpr, op, bound)


def test_results_answer_from_cache_and_say_what_is_missing(fast_cache):  # noqa: F811
    a, b = membership_experiment("fast"), membership_experiment("fast")
    assert a.result(epsilon=8.0).auc == b.result(epsilon=8.0).auc   # same numbers, no training
    assert not a.has_target(epsilon=4.0)
    with pytest.raises(NotComputedYet, match="not computed yet"):
        a.result(epsilon=4.0)


def test_overfit_target_leaks_more_than_dp_targets(fast_cache):  # noqa: F811
    exp = membership_experiment("fast")
    open_auc = exp.result(epsilon=math.inf).auc["lira_online"]
    for eps in (e for e in PROFILES["fast"]["epsilons"] if math.isfinite(e)):
        res = exp.result(epsilon=eps)
        # The same attack, the same members: DP-SGD pulls the attack towards chance.
        assert res.auc["lira_online"] < open_auc, (eps, res.auc, open_auc)
        assert 0.0 <= res.utility["auc"] <= 1.0
