"""Clinician sentences: their numbers must be the bounds' numbers."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.explain import (
    CONCEPTS,
    epsilon_statement,
    format_count,
    format_one_in,
    format_percent,
    membership_statement,
    posterior_statement,
    reconstruction_statement,
)
from medpriv_widgets.privacy.bounds import eps_delta_region, rero_bound, tradeoff_curve

DPSGD = [dict(noise_multiplier=1.0, sample_rate=0.01, steps=1000),
         dict(noise_multiplier=0.6, sample_rate=0.05, steps=2000),
         dict(noise_multiplier=3.0, sample_rate=0.02, steps=500)]

_IN = re.compile(r"([\d,.]+) in ([\d,]+)")


def _pairs(text: str) -> list[tuple[float, int]]:
    return [(float(a.replace(",", "")), int(b.replace(",", ""))) for a, b in _IN.findall(text)]


@pytest.mark.parametrize("kw", DPSGD)
def test_membership_sentence_carries_the_bound(kw):
    bound = tradeoff_curve(**kw, fpr=1e-3)
    st = membership_statement(tpr_bound=bound, fpr=1e-3)
    assert st.text.startswith("An attacker who may wrongly accuse at most 1 in 1,000 patients "
                              "who were not in the training data can correctly pick out at most ")
    (accused, d1), (k, d2) = _pairs(st.text)[:2]
    assert (accused, d1, d2) == (1, 1000, 1000)
    # An upper bound is rounded up: the stated count is never below the bound.
    assert k == math.ceil(1000 * bound) == st.numbers["identified"]
    assert str(st) == st.text


def test_membership_sentence_other_rates_and_extremes():
    st = membership_statement(tpr_bound=0.2, fpr=0.05)
    assert _pairs(st.text)[:2] == [(5, 100), (20, 100)]
    st = membership_statement(tpr_bound=0.0025, fpr=0.0025)   # whole numbers, not "2.5 in"
    assert _pairs(st.text)[:2] == [(25, 10_000), (25, 10_000)]
    assert "no better than guessing" in st.text
    # The (ε,δ) region at ε = 8 allows almost everything (PRIVACY_FACTS: 99.97 %).
    st = membership_statement(tpr_bound=eps_delta_region(epsilon=8, delta=1e-5, fpr=1e-3),
                              fpr=1e-3)
    assert _pairs(st.text)[1] == (1000, 1000) and "does not stop" in st.text


def test_posterior_is_bayes_and_grows_with_the_bound():
    bound = tradeoff_curve(**DPSGD[0], fpr=1e-3)
    st = posterior_statement(prior=0.01, tpr=bound, fpr=1e-3)
    expected = 0.01 * bound / (0.01 * bound + 0.99 * 1e-3)
    assert st.numbers["posterior"] == pytest.approx(expected)
    assert format_percent(expected, rounding="up") in st.text and "1.0%" in st.text
    weaker = posterior_statement(prior=0.01, tpr=eps_delta_region(epsilon=8, delta=1e-5,
                                                                  fpr=1e-3), fpr=1e-3)
    assert weaker.numbers["posterior"] > st.numbers["posterior"]
    # A useless attack (TPR = FPR) leaves the prior unchanged.
    useless = posterior_statement(prior=0.2, tpr=0.3, fpr=0.3)
    assert useless.numbers["posterior"] == pytest.approx(0.2)


@pytest.mark.parametrize("kappa", [1e-4, 1e-3, 0.02])
def test_reconstruction_sentence_carries_the_bound(kappa):
    curve = lambda a: tradeoff_curve(**DPSGD[0], fpr=a)  # noqa: E731
    bound = rero_bound(kappa=kappa, tradeoff=curve)
    st = reconstruction_statement(kappa=kappa, bound=bound)
    (base, d1), (k, d2) = _pairs(st.text)[:2]
    assert d1 == d2 == st.numbers["denominator"]
    assert base == pytest.approx(kappa * d1)
    assert k == math.ceil(d2 * bound) == st.numbers["reconstructed"]
    assert format_percent(bound, rounding="up") in st.text


def test_epsilon_words_are_ordered_and_state_the_odds_factor():
    bands = [epsilon_statement(e).numbers["band"] for e in (0.5, 2, 5, 10, 50)]
    assert len(set(bands)) == 5
    st = epsilon_statement(2.0, delta=1e-5)
    assert st.numbers["odds_factor"] == pytest.approx(math.exp(2))
    assert "7.4" in st.text and "1e-5" in st.text and "rule of thumb" in st.text
    assert "No formal privacy" in epsilon_statement(math.inf).text
    assert set(CONCEPTS) == {"membership", "posterior", "reconstruction", "epsilon"}


def test_number_formatting():
    assert format_count(1000) == "1,000" and format_count(2.5) == "2.5"
    assert format_one_in(1e-3) == "1 in 1,000" and format_one_in(0.0027) == "1 in 370"
    # PRIVACY_FACTS worked numbers, as they should be printed.
    assert [format_percent(p) for p in (0.002728, 0.002385, 0.05461, 0.01518, 0.99966, 0.0772)] \
        == ["0.27%", "0.24%", "5.5%", "1.5%", "99.97%", "7.7%"]
    assert format_percent(0.0) == "0%" and format_percent(1.0) == "100%"
    assert format_percent(0.99999) != "100%"
    for p in np.logspace(-6, -0.01, 50):
        assert format_percent(float(p)).endswith("%")


@pytest.mark.parametrize("call", [
    lambda: membership_statement(tpr_bound=0.5, fpr=0.0),
    lambda: membership_statement(tpr_bound=1.5, fpr=0.1),
    lambda: posterior_statement(prior=1.0, tpr=0.5, fpr=0.1),
    lambda: reconstruction_statement(kappa=0.0, bound=0.5),
    lambda: reconstruction_statement(kappa=0.1, bound=0.05),
    lambda: epsilon_statement(-1.0),
    lambda: format_percent(1.5),
])
def test_bad_input_is_refused_with_a_sentence(call):
    with pytest.raises(InvalidParameterError) as info:
        call()
    assert str(info.value).endswith(".") and "`" in str(info.value)


@pytest.mark.parametrize("eps", [0.5, 1.0, 2.0, 8.0])
def test_epsilon_sentence_states_the_odds_factor_and_a_worked_example(eps):
    st = epsilon_statement(eps, delta=1e-5)
    odds = math.exp(eps)
    # the factor is an upper bound: rounded up (e^0.5 = 1.649 reads 1.7)
    odds_text = f"{math.ceil(odds * 10) / 10:,.1f}" if odds < 100 else f"{math.ceil(odds):,}"
    assert f"by at most a factor of {odds_text} in the odds" in st.text
    # Prior 1 in 10 → posterior odds at most e^ε · 1/9, back to a probability.
    post = odds * 0.1 / (odds * 0.1 + 0.9)
    assert st.numbers["posterior_bound"] == pytest.approx(post)
    assert "1 in 10 likely" in st.text and \
        f"at most {format_percent(post, rounding='up')} likely" in st.text
    assert "δ = 1e-5" in st.text and "δ" not in epsilon_statement(eps).text
    assert "X-ray" in epsilon_statement(1.0).text and "2.8" in epsilon_statement(1.0).text


def test_roc_uncertainty_sentence():
    from medpriv_widgets.explain import roc_uncertainty_statement

    kw = dict(worst_fpr=1 / 61, n_members=59, n_nonmembers=61)
    assert roc_uncertainty_statement(above=False, within_band=True, within_fpr_range=True,
                                     **kw).text == ""
    noise = roc_uncertainty_statement(above=True, within_band=True, within_fpr_range=True, **kw)
    assert "59 patients" in noise.text and "shaded range reaches below the bound" in noise.text
    assert "course team" not in noise.text
    fpr = roc_uncertainty_statement(above=True, within_band=False, within_fpr_range=True, **kw)
    assert "61 patients outside" in fpr.text and format_percent(1 / 61) in fpr.text
    real = roc_uncertainty_statement(above=True, within_band=False, within_fpr_range=False, **kw)
    assert "course team" in real.text and format_percent(1 / 61) in real.text
    with pytest.raises(InvalidParameterError, match="n_members"):
        roc_uncertainty_statement(above=True, within_band=True, within_fpr_range=True,
                                  worst_fpr=0.1, n_members=0, n_nonmembers=5)
