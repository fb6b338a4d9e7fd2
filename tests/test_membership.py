"""Membership inference: ROC helpers, LiRA maths, splits, bad input, cache versions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy.stats import binomtest

from medpriv_widgets.attacks.membership import (StackedModels,
                                                clopper_pearson, complementary_halves,
                                                fit_gaussians, lira_scores, logit_confidence,
                                                loss_threshold_scores, model_scores, roc_auc,
                                                roc_curve, stacked_scores, tpr_at_fpr,
                                                train_stacked)
from medpriv_widgets.cache import ResultStore
from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.experiments.membership import (DPTarget, MembershipSettings, ShadowModels,
                                                    member_split)
from medpriv_widgets.models import make_model


# ------------------------------------------------------------------ ROC helpers, hand-checked
def test_roc_curve_small_case():
    # Ranked: 4 (member), 3 (non), 2 (member), 1 (non).
    curve = roc_curve(scores=[1, 4, 2, 3], is_member=[False, True, True, False])
    np.testing.assert_allclose(curve.fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(curve.tpr, [0, 0.5, 0.5, 1, 1])
    assert curve.thresholds[0] == np.inf and curve.thresholds[1] == 4


def test_roc_ties_form_one_point_and_auc_counts_half():
    curve = roc_curve(scores=[1, 1], is_member=[True, False])
    np.testing.assert_allclose(curve.fpr, [0, 1])
    np.testing.assert_allclose(curve.tpr, [0, 1])
    assert roc_auc(scores=[1, 1], is_member=[True, False]) == 0.5
    assert roc_auc(scores=[1, 4, 2, 3], is_member=[False, True, True, False]) == 0.75
    assert roc_auc(scores=[2, 1], is_member=[True, False]) == 1.0


def test_tpr_at_fpr_picks_best_threshold_within_fpr():
    # 10 non-members with scores 0..9, 4 members with scores 9.5, 8.5, 3.5, -1.
    scores = list(range(10)) + [9.5, 8.5, 3.5, -1]
    member = [False] * 10 + [True] * 4
    op = tpr_at_fpr(scores=scores, is_member=member, fpr=0.1)   # one false positive allowed
    assert (op.tpr, op.fpr, op.true_positives, op.false_positives) == (0.5, 0.1, 2, 1)
    op0 = tpr_at_fpr(scores=scores, is_member=member, fpr=0.05)  # no false positive allowed
    assert (op0.tpr, op0.fpr) == (0.25, 0.0)
    assert op0.tpr_low <= op0.tpr <= op0.tpr_high
    assert op0.fpr_high > 0.05  # 0 of 10 does not prove a small FPR


@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (17, 2354), (1, 1)])
def test_clopper_pearson_matches_scipy(k, n):
    low, high = clopper_pearson(successes=k, trials=n, confidence=0.95)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert low == pytest.approx(ci.low, abs=1e-9) and high == pytest.approx(ci.high, abs=1e-9)


@pytest.mark.parametrize("fpr", [0, 1, -0.1, 1.5, float("nan"), "0.01"])
def test_fpr_outside_open_unit_interval_rejected(fpr):
    with pytest.raises(InvalidParameterError, match="fpr"):
        tpr_at_fpr(scores=[1, 2], is_member=[True, False], fpr=fpr)


def test_scores_need_members_and_nonmembers():
    with pytest.raises(InvalidParameterError, match="both members and non-members"):
        roc_curve(scores=[1, 2], is_member=[True, True])


# ------------------------------------------------------------------ LiRA maths
def _synthetic_bank(k=16, n=400, shift=1.5, seed=0):
    """Shadow scores where being 'in' raises an example's score by ``shift``; a target likewise."""
    rng = np.random.default_rng(seed)
    difficulty = rng.normal(0, 2, size=n)          # per-example offset: why LiRA beats the loss attack
    in_mask = np.zeros((k, n), bool)
    for j in range(k // 2):
        half = rng.random(n) < 0.5
        in_mask[2 * j], in_mask[2 * j + 1] = half, ~half
    shadow = difficulty + shift * in_mask + rng.normal(0, 0.5, size=(k, n))
    member = rng.random(n) < 0.5
    target = difficulty + shift * member + rng.normal(0, 0.5, size=n)
    return shadow, in_mask, target, member


def test_lira_separates_and_beats_loss_attack_on_synthetic_scores():
    shadow, in_mask, target, member = _synthetic_bank()
    online = lira_scores(target_scores=target, shadow_scores=shadow, in_mask=in_mask, online=True)
    offline = lira_scores(target_scores=target, shadow_scores=shadow, in_mask=in_mask, online=False)
    loss = loss_threshold_scores(target_scores=target)
    auc_on, auc_off = roc_auc(scores=online, is_member=member), roc_auc(scores=offline, is_member=member)
    auc_loss = roc_auc(scores=loss, is_member=member)
    assert auc_on > 0.9 and auc_off > 0.85
    assert auc_on > auc_loss + 0.1  # calibrating per example removes the difficulty offset


def test_lira_online_equals_gaussian_log_likelihood_ratio():
    shadow = np.array([[0.0], [1.0], [2.0], [3.0]])        # K=4, N=1
    in_mask = np.array([[True], [True], [False], [False]])
    fit = fit_gaussians(shadow_scores=shadow, in_mask=in_mask, fix_variance=False)
    assert fit.mean_in[0, 0] == 0.5 and fit.mean_out[0, 0] == 2.5
    assert fit.std_in[0, 0] == pytest.approx(math.sqrt(0.5))
    s = lira_scores(target_scores=[1.0], shadow_scores=shadow, in_mask=in_mask, fix_variance=False)
    from scipy.stats import norm
    want = norm.logpdf(1.0, 0.5, math.sqrt(0.5)) - norm.logpdf(1.0, 2.5, math.sqrt(0.5))
    assert s[0] == pytest.approx(want)


@pytest.mark.parametrize("online,k_in,k_out", [(True, 1, 3), (True, 3, 1), (False, 4, 1)])
def test_too_few_shadow_models_rejected(online, k_in, k_out):
    in_mask = np.array([[True] * k_in + [False] * k_out]).T.repeat(5, axis=1)
    shadow = np.zeros(in_mask.shape)
    with pytest.raises(InvalidParameterError, match="Too few shadow models"):
        lira_scores(target_scores=np.zeros(5), shadow_scores=shadow, in_mask=in_mask, online=online)


def test_experiment_rejects_too_few_shadows_and_bad_epsilon():
    with pytest.raises(InvalidParameterError, match="n_shadows"):
        MembershipSettings(n_shadows=2)
    settings = MembershipSettings(n_shadows=4)
    for bad in (0, -1.0, float("nan"), math.inf):
        with pytest.raises(InvalidParameterError, match="epsilon"):
            DPTarget(settings, bad)


def test_offline_needs_only_out_models():
    in_mask = np.array([[True], [False], [False]]).repeat(3, axis=1)
    s = lira_scores(target_scores=np.zeros(3), shadow_scores=np.random.default_rng(0).normal(size=(3, 3)),
                    in_mask=in_mask, online=False)
    assert s.shape == (3,) and np.isfinite(s).all()


# ------------------------------------------------------------------ stacked models
@pytest.mark.parametrize("activation", ["relu", "tanh", "elu"])
def test_stacked_models_equal_separate_models(activation):
    # The stacked network pools before the activation (cheaper); outputs must not change.
    models = [make_model(size=28, seed=k, width=8, activation=activation) for k in range(3)]
    stacked = StackedModels(models)
    x = torch.rand(4, 1, 28, 28)
    want = torch.stack([m(x) for m in models])
    torch.testing.assert_close(stacked(x), want, atol=1e-5, rtol=1e-4)
    per_model = torch.rand(3, 4, 1, 28, 28)
    torch.testing.assert_close(stacked(per_model)[1], models[1](per_model[1]), atol=1e-5, rtol=1e-4)
    fresh = make_model(size=28, seed=99, width=8, activation=activation)
    fresh.load_state_dict(stacked.state_dicts()[2])
    torch.testing.assert_close(fresh(x), want[2], atol=1e-5, rtol=1e-4)


def test_model_scores_match_stacked_scores_and_honour_standardisation():
    models = [make_model(size=28, seed=k, width=8, activation="tanh") for k in range(2)]
    sds = [m.state_dict() for m in models]
    x, y = torch.rand(10, 1, 28, 28), torch.randint(0, 2, (10,))
    stacked = stacked_scores(state_dicts=sds, images=x, labels=y, size=28, width=8,
                             activation="tanh", augment=True, batch_size=4)
    single = model_scores(state_dict=sds[1], images=x, labels=y, size=28, width=8,
                          activation="tanh", augment=True, batch_size=3)
    assert stacked.shape == (2, 10, 2) and single.shape == (10, 2)
    np.testing.assert_allclose(single, stacked[1], atol=1e-4)
    models[1].set_standardize(True)  # the DP-SGD recipe's models standardise each image
    want = logit_confidence(models[1](x), y).double().detach().numpy()
    got = model_scores(state_dict=models[1].state_dict(), images=x, labels=y, size=28, width=8,
                       activation="tanh")
    np.testing.assert_allclose(got[:, 0], want, atol=1e-4)
    assert not np.allclose(got[:, 0], stacked[1, :, 0], atol=1e-3)


def test_train_stacked_rejects_unknown_schedule_and_cosine_trains():
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 2, (16,))
    mask = np.array([[True] * 8 + [False] * 8, [False] * 8 + [True] * 8])
    with pytest.raises(InvalidParameterError, match="schedule"):
        list(train_stacked(images=x, labels=y, in_mask=mask, size=28, width=4, schedule="step"))
    progress = list(train_stacked(images=x, labels=y, in_mask=mask, size=28, width=4, epochs=3,
                                  batch_size=8, schedule="cosine"))
    assert progress[-1].done == progress[-1].total == 3 and progress[-1].finished
    assert len(progress[-1].partial) == 2                     # one state_dict per model


def test_logit_confidence_is_log_odds_of_true_class():
    logits = torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    s = logit_confidence(logits, torch.tensor([0, 0]))
    p = torch.softmax(logits, 1)[:, 0]
    torch.testing.assert_close(s, torch.log(p / (1 - p)))


# ------------------------------------------------------------------ patient-disjoint splits
def test_complementary_halves_are_patient_disjoint_and_balanced():
    ids = np.repeat([f"p{i}" for i in range(60)], 3)[:170]   # patients with 1-3 images
    mask = complementary_halves(ids, n_models=6, seed=3)
    assert mask.shape == (6, 170)
    np.testing.assert_array_equal(mask[0], ~mask[1])
    assert (mask.sum(0) == 3).all()                           # every image in exactly half
    for row in mask:
        for pid in np.unique(ids):
            assert len(set(row[ids == pid])) == 1             # a patient is wholly in or out


def test_experiment_member_split_is_by_patient():
    ids = np.repeat([f"p{i}" for i in range(40)], 3)
    members, non = member_split(ids, n=120, seed=0)
    assert len(np.intersect1d(members, non)) == 0 and len(members) + len(non) == 120
    assert not set(ids[members]) & set(ids[non])


# ------------------------------------------------------------------ cache from another version
def test_cache_from_other_version_is_computed_again(no_data_dir, tmp_path):
    store = ResultStore(tmp_path / "store")
    stage = ShadowModels(MembershipSettings(n_shadows=4, n_population=40, shadow_epochs=1,
                                            width=8, batch_size=16))
    first = stage.result(cache=store)
    entry = store.namespace(stage.namespace).path_for(stage.key())
    meta = json.loads((entry / "meta.json").read_text())
    meta["version"] = "0.0.0-old"
    (entry / "meta.json").write_text(json.dumps(meta))
    fresh = ShadowModels(stage.settings)
    assert fresh.load(store) is None   # a miss, not an error
    again = fresh.result(cache=store)
    np.testing.assert_array_equal(again.target_member, first.target_member)
    assert fresh.is_done(store)


# ------------------------------------------------------------------ uncertainty band of an ROC
def test_roc_band_is_clopper_pearson_at_every_point():
    from medpriv_widgets.attacks.membership.roc import roc_band

    rng = np.random.default_rng(3)
    member = np.r_[np.ones(59, bool), np.zeros(61, bool)]
    scores = rng.normal(size=120) + 0.8 * member
    curve = roc_curve(scores=scores, is_member=member)
    band = roc_band(curve=curve, n_members=59, n_nonmembers=61)
    assert band.tpr_low.shape == band.tpr_high.shape == curve.fpr.shape
    assert np.all(band.tpr_low <= curve.tpr) and np.all(curve.tpr <= band.tpr_high)
    for i in (0, 5, len(curve.fpr) // 2, len(curve.fpr) - 1):
        k, f = round(curve.tpr[i] * 59), round(curve.fpr[i] * 61)
        assert (band.tpr_low[i], band.tpr_high[i]) == pytest.approx(
            clopper_pearson(successes=k, trials=59))
        assert band.fpr_high[i] == pytest.approx(clopper_pearson(successes=f, trials=61)[1])
    # More members, narrower band (same rates: every count times 4).
    wide = roc_band(curve=roc_curve(scores=[3, 2, 1, 0], is_member=[1, 0, 1, 0]), n_members=2)
    narrow = roc_band(curve=roc_curve(scores=np.repeat([3, 2, 1, 0], 4),
                                      is_member=np.repeat([1, 0, 1, 0], 4)), n_members=8)
    np.testing.assert_allclose(wide.tpr, narrow.tpr)
    assert np.all(narrow.tpr_high - narrow.tpr_low <= wide.tpr_high - wide.tpr_low + 1e-12)
    assert np.any(narrow.tpr_high - narrow.tpr_low < wide.tpr_high - wide.tpr_low - 0.05)
    with pytest.raises(InvalidParameterError, match="n_members"):
        roc_band(curve=curve, n_members=58)   # the rates are not whole counts out of 58
    with pytest.raises(InvalidParameterError, match="n_members"):
        roc_band(curve=curve, n_members=0)


def test_compare_with_bound_tells_noise_from_a_real_excess():
    from medpriv_widgets.attacks.membership.roc import compare_with_bound, roc_band

    # 2 of 59 members found after 1 of 61 non-members was accused: TPR 3.4 % at FPR 1.6 %.
    curve = roc_curve(scores=np.r_[11, np.zeros(60) - 1, 10, 9, np.zeros(57) - 2],
                      is_member=np.r_[np.zeros(61, bool), np.ones(59, bool)])
    band = roc_band(curve=curve, n_members=59, n_nonmembers=61)
    grid = np.logspace(-5, 0, 50)
    low_bound = np.minimum(1.0, 1.8 * grid)          # 3 % at FPR 1.6 %: the curve pokes above
    check = compare_with_bound(band=band, bound_fpr=grid, bound_tpr=low_bound)
    assert check.above and check.within_band and check.within_fpr_range
    assert check.worst_fpr == pytest.approx(1 / 61)
    # Found before any false accusation (FPR 0): the TPR band alone does not reach the bound
    # there, the FPR's range (0 of 61 is consistent with up to 5.9 %) does.
    first = roc_curve(scores=np.r_[10, 9, 8, np.zeros(60) - 1, np.zeros(57) - 2],
                      is_member=np.r_[True, True, False, np.zeros(60, bool), np.ones(57, bool)])
    early = compare_with_bound(band=roc_band(curve=first, n_members=59, n_nonmembers=61),
                               bound_fpr=grid, bound_tpr=low_bound)
    assert early.above and not early.within_band and early.within_fpr_range
    assert early.worst_fpr == 0.0
    # A bound far below even the band's lower end (0.4 %) is a real excess.
    tiny = np.minimum(1.0, 0.01 * grid)
    bad = compare_with_bound(band=band, bound_fpr=grid, bound_tpr=tiny)
    assert bad.above and not bad.within_band and not bad.within_fpr_range
    # A generous bound: nothing to explain.
    ok = compare_with_bound(band=band, bound_fpr=grid, bound_tpr=np.ones_like(grid))
    assert not ok.above and math.isnan(ok.worst_fpr)
    # A grid stopping short of FPR 1 (as the experiment's does) is closed with (1, 1): the
    # curve's last point (1, 1) is not "above" a bound that ended at 0.9.
    short = grid[grid < 0.5]
    tail = compare_with_bound(band=band, bound_fpr=short, bound_tpr=np.minimum(0.9, 20 * short))
    assert not tail.above
    with pytest.raises(InvalidParameterError, match="bound_fpr"):
        compare_with_bound(band=band, bound_fpr=grid[::-1], bound_tpr=low_bound)
