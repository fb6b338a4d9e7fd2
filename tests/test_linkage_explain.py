"""Lesson 01 sentences say what the numbers say."""

from __future__ import annotations

import pytest

from medpriv_widgets.errors import InvalidParameterError
from medpriv_widgets.explain.linkage import (homogeneity_statement, k_anonymity_statement,
                                             pseudonym_statement, reidentification_statement,
                                             uniqueness_statement,
                                             xray_reidentification_statement)


def test_reidentification_counts_names():
    s = reidentification_statement(share=0.669, n_rows=2000, columns=["postcode", "birth_date"])
    assert "1,338 of the 2,000" in s.text and "postcode + birth date" in s.text
    assert s.numbers["named"] == 1338
    assert "could not put a name" in str(reidentification_statement(share=0, n_rows=10,
                                                                     columns=["sex"]))
    with pytest.raises(InvalidParameterError):
        reidentification_statement(share=1.5, n_rows=10, columns=["sex"])


def test_uniqueness_quotes_the_anchor_with_its_citation():
    s = uniqueness_statement(share=0.97, anchor_share=0.87, anchor_claim="87 % of people",
                             citation="Sweeney 2000")
    assert "97%" in s.text and "87 % of people" in s.text and "Sweeney 2000" in s.text


def test_pseudonym_and_k_and_homogeneity_sentences():
    p = pseudonym_statement(share_recovered=0.75, seconds=0.016, n_candidates=2962,
                            keyed_share_recovered=0.0)
    assert "75%" in p.text and "2,962" in p.text and "does not stop linkage" in p.text
    k = k_anonymity_statement(k=5, k_reached=6, levels="birth date: year", suppressed=3,
                              n_rows=100, information_loss=0.48, reidentified=0.0)
    assert "at least 5 (reached: 6)" in k.text and "3 of 100 rows were removed" in k.text
    assert "coarsened: birth date: year" in k.text
    h = homogeneity_statement(n_disclosed=7, n_targets=1170, k=2)
    assert "7 of the 1,170" in h.text and "ℓ-diversity" in h.text
    assert "none of the" in homogeneity_statement(n_disclosed=0, n_targets=5, k=3).text


def test_xray_sentence_names_who_and_the_baseline():
    s = xray_reidentification_statement(precision_at_1=0.3, hit_at_5=0.46,
                                        baseline_precision_at_1=0.13, verification_auc=0.925,
                                        n_gallery=1753, who="patient")
    assert "patient's other X-ray" in s.text and "1,753" in s.text and "13%" in s.text
    assert "AUC 0.93" in s.text
