"""ε lower bounds: statistics checked by simulation, and a real one-run audit of DP-SGD."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.experiments.audit import CanaryAudit, make_canaries
from medpriv_widgets.privacy.audit import epsilon_lower_bound, one_run_audit, one_run_p_value


def canary_audit(**settings):
    """Run one audit without a cache (each test's numbers come from a fresh training run)."""
    return CanaryAudit(**settings).result(cache=None)


# --------------------------------------------------------------------------- from TPR / FPR

def test_epsilon_lower_bound_formula_and_ordering():
    res = epsilon_lower_bound(tpr=0.5, fpr=0.05, n_members=1000, n_nonmembers=1000)
    assert res.epsilon_point == pytest.approx(math.log(0.5 / 0.05))
    assert 0 < res.epsilon_lower < res.epsilon_point
    assert res.tpr_lower < 0.5 and res.fpr_upper > 0.05
    # The mirror-image test counts: low FNR at moderate FPR.
    res2 = epsilon_lower_bound(tpr=0.99, fpr=0.5, n_members=1000, n_nonmembers=1000)
    assert res2.epsilon_point == pytest.approx(math.log(0.5 / 0.01))
    # More data, tighter; more confidence, looser; δ lowers the bound.
    big = epsilon_lower_bound(tpr=0.5, fpr=0.05, n_members=100_000, n_nonmembers=100_000)
    assert res.epsilon_lower < big.epsilon_lower < big.epsilon_point
    strict = epsilon_lower_bound(tpr=0.5, fpr=0.05, n_members=1000, n_nonmembers=1000,
                                 confidence=0.999)
    assert strict.epsilon_lower < res.epsilon_lower
    with_delta = epsilon_lower_bound(tpr=0.5, fpr=0.05, n_members=1000, n_nonmembers=1000,
                                     delta=0.1)
    assert with_delta.epsilon_lower < res.epsilon_lower
    # No better than guessing: nothing to report.
    assert epsilon_lower_bound(tpr=0.3, fpr=0.3, n_members=100, n_nonmembers=100).epsilon_lower == 0
    perfect = epsilon_lower_bound(tpr=0.5, fpr=0.0, n_members=10, n_nonmembers=10)
    assert perfect.epsilon_point == math.inf and math.isfinite(perfect.epsilon_lower)


def test_epsilon_lower_bound_covers_the_truth():
    # An attacker that is exactly ε-DP randomised response: TPR = e^ε/(1+e^ε), FPR = 1 − TPR.
    # Over many simulated experiments the 95 % lower bound may exceed ε at most ~5 % of the time.
    rng = np.random.default_rng(0)
    eps, n = 1.5, 400
    p = math.exp(eps) / (1 + math.exp(eps))
    tp = rng.binomial(n, p, size=400)
    fp = rng.binomial(n, 1 - p, size=400)
    lows = [epsilon_lower_bound(tpr=a / n, fpr=b / n, n_members=n, n_nonmembers=n).epsilon_lower
            for a, b in zip(tp, fp)]
    lows = np.array(lows)
    assert np.mean(lows > eps) <= 0.05
    assert np.median(lows) > 0.5 * eps  # and it is not vacuous


# --------------------------------------------------------------------------- one-run audit

def _reference_p_value(m, r, v, eps, delta):
    """Steinke, Nasr & Jagielski (2023), appendix algorithm, written as a plain loop."""
    q = 1 / (1 + math.exp(-eps))
    tail = binom.sf(v - 1, r, q)
    alpha, total = 0.0, 0.0
    for i in range(1, v + 1):
        total += binom.pmf(v - i, r, q)
        alpha = max(alpha, total / i)
    return min(1.0, tail + alpha * delta * 2 * m)


@pytest.mark.parametrize("m,r,v,eps,delta", [
    (100, 50, 40, 1.0, 0.0), (100, 50, 40, 1.0, 1e-5), (1000, 200, 150, 0.5, 1e-3),
    (10, 10, 10, 3.0, 1e-2)])
def test_one_run_p_value_matches_reference(m, r, v, eps, delta):
    got = one_run_p_value(epsilon=eps, guesses_correct=v, guesses_made=r, n_canaries=m,
                          delta=delta)
    assert got == pytest.approx(_reference_p_value(m, r, v, eps, delta), rel=1e-9, abs=1e-15)


def test_one_run_audit_closed_form_and_monotonicity():
    # All r guesses right, δ = 0: p(ε)^r = β  ⇒  ε̂ = logit(β^{1/r}).
    for r in (10, 50, 200):
        p = 0.05 ** (1 / r)
        expected = math.log(p / (1 - p))
        assert one_run_audit(guesses_correct=r, guesses_made=r) == pytest.approx(expected, rel=1e-6)
    # At the returned ε the p-value is β (it is the boundary).
    e = one_run_audit(guesses_correct=70, guesses_made=100)
    assert one_run_p_value(epsilon=e, guesses_correct=70, guesses_made=100) == pytest.approx(0.05,
                                                                                          rel=1e-4)
    # Half right is what chance gives: no evidence.
    assert one_run_audit(guesses_correct=50, guesses_made=100) == 0.0
    # More correct → higher; δ > 0 → lower; more confidence → lower.
    assert (one_run_audit(guesses_correct=80, guesses_made=100)
            > one_run_audit(guesses_correct=70, guesses_made=100))
    assert (one_run_audit(guesses_correct=80, guesses_made=100, n_canaries=1000, delta=1e-3)
            < one_run_audit(guesses_correct=80, guesses_made=100))
    assert (one_run_audit(guesses_correct=80, guesses_made=100, confidence=0.99)
            < one_run_audit(guesses_correct=80, guesses_made=100))


def test_one_run_audit_covers_the_truth():
    # Guesses from exact ε-randomised response: the audited bound exceeds ε at most ~β of the time.
    rng = np.random.default_rng(1)
    eps, r = 1.0, 100
    v = rng.binomial(r, math.exp(eps) / (1 + math.exp(eps)), size=300)
    audit = {int(k): one_run_audit(guesses_correct=int(k), guesses_made=r) for k in np.unique(v)}
    lows = np.array([audit[int(k)] for k in v])
    assert np.mean(lows > eps) <= 0.05 + 0.03
    assert np.mean(lows > 0) > 0.5


# --------------------------------------------------------------------------- end to end

def test_canaries_are_deterministic_and_balanced():
    a, la = make_canaries(n=10, size=28, seed=3)
    b, lb = make_canaries(n=10, size=28, seed=3)
    assert a.shape == (10, 1, 28, 28) and a.dtype.is_floating_point
    assert bool((a == b).all()) and bool((la == lb).all())
    assert int(la.sum()) == 5
    assert not bool((make_canaries(n=10, size=28, seed=4)[0] == a).all())


# ≥ 10 DP configurations: noise, sampling rate (batch size), epochs, clipping, learning rate,
# model and seed all varied; claimed ε from ~0.4 to several hundred.
DP_CONFIGS = [
    dict(noise_multiplier=3.0, epochs=3),
    dict(noise_multiplier=2.0, epochs=5, batch_size=16),
    dict(noise_multiplier=1.5, epochs=10, lr=0.2),
    dict(noise_multiplier=1.0, epochs=5),
    dict(noise_multiplier=1.0, epochs=15, batch_size=64, max_grad_norm=5.0, seed=1),
    dict(noise_multiplier=0.7, epochs=10, seed=2),
    dict(noise_multiplier=0.5, epochs=10),
    dict(noise_multiplier=0.4, epochs=20, lr=0.2, seed=3),
    dict(noise_multiplier=0.3, epochs=20, lr=0.2),
    dict(noise_multiplier=0.2, epochs=30, lr=0.5, max_grad_norm=10.0),
    dict(noise_multiplier=0.5, epochs=3, model="cnn", lr=0.5),
]


@pytest.mark.slow
def test_audit_never_exceeds_claimed_epsilon_and_catches_a_non_private_model():
    results = [canary_audit(**cfg) for cfg in DP_CONFIGS]
    for cfg, res in zip(DP_CONFIGS, results):
        assert math.isfinite(res.epsilon_claimed) and res.epsilon_claimed > 0
        assert res.epsilon_lower <= res.epsilon_claimed, (cfg, res.epsilon_lower,
                                                          res.epsilon_claimed)
        assert res.guesses_made == 50 and 0 <= res.guesses_correct <= 50
    claims = [r.epsilon_claimed for r in results]
    assert min(claims) < 1.0 < 100.0 < max(claims)  # the sweep spans strong and weak privacy
    # Stronger claims cannot be beaten even though weak ones leave visible leakage.
    assert max(r.epsilon_lower for r in results) > 0

    # The same pipeline without noise memorises the canaries: a clearly positive bound.
    nonprivate = canary_audit(noise_multiplier=0.0, epochs=10)
    assert nonprivate.epsilon_claimed == math.inf
    assert nonprivate.epsilon_lower > 1.0
    assert nonprivate.guesses_correct >= 45
    # Same seed, same numbers.
    again = canary_audit(noise_multiplier=0.0, epochs=10)
    assert again.guesses_correct == nonprivate.guesses_correct
    assert np.array_equal(again.losses, nonprivate.losses)


def test_tiny_run_survives_empty_poisson_batches():
    # 2 base images + ~2 canaries, batch 1: about a third of the Poisson batches are empty.
    res = canary_audit(noise_multiplier=1.0, n_train=2, n_canaries=4, batch_size=1, epochs=3,
                       n_guesses=2)
    assert res.steps == 3 * round(1 / res.sample_rate)
    assert np.isfinite(res.losses).all()
    assert 0.0 <= res.epsilon_lower <= res.epsilon_claimed < math.inf


@pytest.mark.shared_data
def test_canary_audit_on_real_xrays(shared_data):
    from medpriv_widgets.data import load_dataset

    data = load_dataset(size=28, split="train")
    res = canary_audit(noise_multiplier=1.0, epochs=2, data=data, n_train=200)
    assert res.epsilon_lower <= res.epsilon_claimed
    assert res.train_accuracy > 0.6  # the DP model still learns the real task


@pytest.mark.parametrize("call", [
    lambda: epsilon_lower_bound(tpr=1.2, fpr=0.1, n_members=10, n_nonmembers=10),
    lambda: epsilon_lower_bound(tpr=0.55, fpr=0.1, n_members=10, n_nonmembers=10),
    lambda: epsilon_lower_bound(tpr=0.5, fpr=0.1, n_members=0, n_nonmembers=10),
    lambda: epsilon_lower_bound(tpr=0.5, fpr=0.1, n_members=10, n_nonmembers=10, confidence=1.0),
    lambda: one_run_audit(guesses_correct=11, guesses_made=10),
    lambda: one_run_audit(guesses_correct=5, guesses_made=10, delta=1e-5),
    lambda: one_run_audit(guesses_correct=5, guesses_made=10, n_canaries=5),
    lambda: one_run_audit(guesses_correct=5, guesses_made=10, confidence=0.0),
    lambda: canary_audit(noise_multiplier=-1.0),
    lambda: canary_audit(noise_multiplier=1.0, n_canaries=1),
    lambda: canary_audit(noise_multiplier=1.0, model="resnet"),
    lambda: canary_audit(noise_multiplier=1.0, n_guesses=500),
])
def test_bad_input_is_refused_with_a_sentence(call):
    with pytest.raises(InvalidParameterError) as info:
        call()
    assert str(info.value).endswith(".") and "`" in str(info.value)
