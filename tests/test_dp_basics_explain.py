"""Lesson 02's sentences: the words follow the numbers (no "overlap" where answers separate)."""

from __future__ import annotations

import math

import pytest

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.explain.dp_basics import counting_statement, spread_text, survey_statement


@pytest.mark.parametrize("eps, verdict", [(0.05, "overlap"), (1.0, "overlap"), (1.5, "partly"),
                                          (3.0, "partly"), (3.01, "apart"), (10.0, "apart")])
def test_counting_verdict_follows_the_shared_probability(eps, verdict):
    said = counting_statement(epsilon=eps, count_d=3494, count_d_prime=3493)
    assert said.numbers["verdict"] == verdict
    # Laplace answers one child apart share e^(-ε/2) of their probability: the words say
    # "overlap a lot" only while most of it is shared, "hardly" once almost none is.
    shared = math.exp(-eps / 2)
    if verdict == "overlap":
        assert shared > 0.6 and "overlap a lot" in said.text
    if verdict == "apart":
        assert shared < 0.23 and "hardly overlap" in said.text and "give the child away" in said.text
    assert "3,494" in said.text and "3,493" in said.text


def test_counting_ratio_is_rounded_up():
    assert counting_statement(epsilon=1.0, count_d=1, count_d_prime=0).numbers["ratio"] == "2.8"
    assert "22,027×" in counting_statement(epsilon=10.0, count_d=1, count_d_prime=0).numbers["readout"]


def test_spread_in_percentage_points():
    assert spread_text(0.0105) == "±1.1 percentage points"
    assert spread_text(1.66) == "±166 percentage points"  # a spread may pass 100
    with pytest.raises(InvalidParameterError):
        spread_text(-0.1)


def test_survey_estimate_outside_the_unit_interval_is_shown_inside_and_said():
    said = survey_statement(n=30, yes=20, truth_probability=0.53, estimate=1.9, std_error=1.57,
                            true_fraction=0.3, epsilon=0.11)
    assert said.numbers["shown"] == 1.0 and said.numbers["noise"]
    assert "<b>100%</b>" in said.text and "above 100%" in said.text
    assert "mostly coin flips" in said.text and "±157 percentage points" in said.text
    fine = survey_statement(n=1000, yes=318, truth_probability=0.95, estimate=0.3,
                            std_error=0.016, true_fraction=0.3, epsilon=3.0)
    assert not fine.numbers["noise"] and "coin flips" not in fine.text
    assert "<b>30%</b> ±1.6 percentage points" in fine.text


def test_survey_statement_refuses_impossible_counts():
    with pytest.raises(InvalidParameterError, match="yes"):
        survey_statement(n=10, yes=11, truth_probability=0.7, estimate=0.5, std_error=0.1,
                         true_fraction=0.5, epsilon=1.0)
