"""Sentences against the numbers they state, with generated bounds (issue 15, item 6).

Every number a sentence states about an upper bound is at least that bound ("at most 5 in
1,000" never reads below 0.005), and no coarser than the formatter's precision; δ keeps three
significant digits; nothing reads 'inf' for a finite number.
"""

from __future__ import annotations

import math
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from medpriv_widgets.explain import (epsilon_statement, format_delta, format_number,
                                     format_one_in, format_percent, membership_statement,
                                     posterior_statement, reconstruction_statement)

PROPS = settings(database=None, deadline=None, max_examples=400)
probabilities = st.floats(min_value=0.0, max_value=1.0)
rates = st.floats(min_value=1e-12, max_value=0.999999)
_IN = re.compile(r"([\d,.]+) in ([\d,]+)")
_PCT = re.compile(r"(\d[\d,]*\.?\d*(?:e-\d+)?)%")


def _pairs(text):
    return [(float(a.replace(",", "")), int(b.replace(",", ""))) for a, b in _IN.findall(text)]


def _number(text: str) -> float:
    return float(text.replace(",", ""))


@PROPS
@given(rates, probabilities)
def test_membership_sentence_never_states_less_than_the_bound(fpr, bound):
    st_ = membership_statement(tpr_bound=bound, fpr=fpr)
    (accused, d1), (k, d2) = _pairs(st_.text)[:2]
    assert d1 == d2 and k / d2 >= bound - 1e-12 and (k - 1) / d2 < bound + 1e-9
    # the attacker's chosen rate (not a bound), to one decimal of the count
    assert abs(accused - fpr * d1) <= 0.05 + 1e-9
    assert "patients who were not in the training data" in st_.text


@PROPS
@given(rates, probabilities)
def test_reconstruction_sentence_never_states_less_than_the_bound(kappa, extra):
    bound = kappa + (1 - kappa) * extra
    st_ = reconstruction_statement(kappa=kappa, bound=bound)
    (_, d1), (k, d2) = _pairs(st_.text)[:2]
    assert k / d2 >= bound - 1e-12
    shown = _number(_PCT.findall(st_.text)[-1])
    assert shown / 100 >= bound - 1e-12


@PROPS
@given(rates, probabilities, rates)
def test_posterior_sentence_never_states_less_than_the_posterior(prior, tpr, fpr):
    st_ = posterior_statement(prior=prior, tpr=tpr, fpr=fpr)
    shown = _number(_PCT.findall(st_.text)[-1])
    assert shown / 100 >= st_.numbers["posterior"] - 1e-12


@PROPS
@given(st.floats(min_value=0.0, max_value=1e4), st.one_of(st.none(), rates))
def test_epsilon_sentence_states_the_odds_and_posterior_rounded_up(eps, delta):
    st_ = epsilon_statement(eps, delta=delta)
    assert "inf" not in st_.text
    m = re.search(r"a factor of ([\d,.]+)( × 10\^([\d,]+))? in the odds", st_.text)
    factor = _number(m.group(1))
    log_shown = math.log(factor) + (math.log(10) * _number(m.group(3)) if m.group(2) else 0)
    assert log_shown >= eps - 1e-9
    if "at most" in st_.text.split("after seeing the model")[1]:
        shown = _number(_PCT.findall(st_.text.split("after seeing the model")[1])[0])
        assert shown / 100 >= st_.numbers["posterior_bound"] - 1e-12
    if delta:
        stated = float(re.search(r"δ = ([\d.e+-]+)\)", st_.text).group(1))
        assert delta * (1 - 1e-12) <= stated <= delta * 1.01 + 1e-300  # dust: see numbers


@PROPS
@given(st.floats(min_value=0.0, max_value=1.0))
def test_formatters_round_in_the_direction_asked(p):
    up, down = format_percent(p, rounding="up"), format_percent(p, rounding="down")
    assert _number(up[:-1]) / 100 >= p - 1e-15 and _number(down[:-1]) / 100 <= p + 1e-15
    if 0 < p < 1:
        assert up != "100%" or p > 0.99999999999
    d = format_delta(p) if p < 1 else None
    if d is not None:
        assert p * (1 - 1e-12) <= float(d) <= p * 1.01 + 1e-300
    if p > 0:
        n = int(format_one_in(p, rounding="up").split(" in ")[1].replace(",", ""))
        assert 1 / n >= p - 1e-15


@PROPS
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_format_number_up_and_down_bracket_the_value(x):
    up, down = float(format_number(x, rounding="up").replace(",", "")), \
        float(format_number(x, rounding="down").replace(",", ""))
    assert down <= x * (1 + 1e-12) + 1e-300 or down <= x
    assert up >= x * (1 - 1e-12) - 1e-300 or up >= x


def test_the_audits_sentences():
    assert "at most 5 in 1,000" in membership_statement(tpr_bound=0.00407, fpr=1e-3).text
    assert "at most 2 in 1,000" in membership_statement(tpr_bound=0.00149, fpr=1e-3).text
    assert "δ = 1.4e-5" in epsilon_statement(2.0, delta=1.4e-5).text
    assert "factor of 1.1 × 10^304" in epsilon_statement(700).text
